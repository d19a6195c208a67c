//! Property tests: no input makes a request parser panic, and every refusal names a
//! field and carries the status of its class.

use chrono::{DateTime, TimeZone, Utc};
use leadq_pipeline::intake::{
    FieldMapping, IntakeError, MAX_BODY_BYTES, parse_events, parse_lead_submission, parse_outcome,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const SOURCES: [&str; 4] = ["generic", "hubspot", "typeform", "marketo"];
const CONTENT_TYPES: [Option<&str>; 5] = [
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("application/json; charset=utf-8"),
    Some("text/plain"),
    None,
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

fn check(result: Result<impl Sized, IntakeError>) {
    if let Err(error) = result {
        let problem = error.to_problem();
        assert!(matches!(problem.status, 400 | 413 | 415 | 422));
        assert!(!problem.errors.is_empty());
        assert!(
            problem
                .errors
                .iter()
                .all(|v| !v.field.is_empty() && !v.rule.is_empty())
        );
        assert!(!problem.to_json().is_empty());
    }
}

fn parse_all(body: &[u8], mapping: &FieldMapping) {
    for source in SOURCES {
        for ct in CONTENT_TYPES {
            check(parse_lead_submission(
                source,
                ct,
                body,
                Some("key"),
                mapping,
                now(),
            ));
        }
    }
    check(parse_events(body, now()));
    check(parse_outcome(body, now()));
}

/// Scalars that stress conversions: huge, negative, fractional, odd text.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|n| serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)),
        Just(json!(1e308)),
        Just(json!(-0.0)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "ana@acme.io",
            "x@gmail.com",
            "51-200",
            "1000+",
            "10k",
            "99999999999",
            "-1",
            "yes",
            "on",
            "https://www.acme.io/x?y",
            "2026-11-23T11:00:00Z",
            "1999-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "page_view",
            "won",
            "lost",
            "",
            " ",
            "Spain",
            "ÄÖÜ@ß.de",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Keys the parsers look at, and some they do not.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "email",
            "name",
            "first_name",
            "last_name",
            "title",
            "company",
            "website",
            "employees",
            "company_size",
            "country",
            "consent",
            "utm_source",
            "fields",
            "values",
            "name",
            "value",
            "objectTypeId",
            "submittedAt",
            "context",
            "pageUri",
            "legalConsentOptions",
            "consent",
            "communications",
            "event_type",
            "form_response",
            "answers",
            "definition",
            "field",
            "ref",
            "id",
            "type",
            "text",
            "choice",
            "choices",
            "labels",
            "hidden",
            "submitted_at",
            "events",
            "lead_id",
            "kind",
            "at",
            "minutes",
            "properties",
            "status",
            "amount",
            "closed_at",
        ])
        .prop_map(str::to_owned),
        ".{0,12}",
    ]
}

/// A plausible payload of each shape with arbitrary values in it.
fn shaped() -> impl Strategy<Value = Value> {
    let v = json_value;
    prop_oneof![
        prop::collection::vec((key(), v()), 0..10)
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        (prop::collection::vec((key(), v(), v()), 0..8), v(), v()).prop_map(|(fields, at, ctx)| {
            let fields: Vec<Value> = fields
                .into_iter()
                .map(|(name, value, object)| json!({"name": name, "value": value, "objectTypeId": object}))
                .collect();
            json!({"fields": fields, "submittedAt": at, "context": {"pageUri": ctx}})
        }),
        (prop::collection::vec((key(), key(), v()), 0..8), v()).prop_map(|(answers, at)| {
            let answers: Vec<Value> = answers
                .into_iter()
                .map(|(kind, reference, value)| {
                    json!({"type": kind, kind.clone(): value, "field": {"id": reference, "ref": reference}})
                })
                .collect();
            json!({"event_type": "form_response", "form_response": {"answers": answers, "submitted_at": at, "hidden": {"utm_source": "x"}}})
        }),
        prop::collection::vec(prop::collection::vec((key(), v()), 0..6), 0..6).prop_map(|items| {
            let events: Vec<Value> = items
                .into_iter()
                .map(|pairs| Value::Object(pairs.into_iter().collect()))
                .collect();
            json!({"events": events})
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_all(&body, &FieldMapping::default());
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        parse_all(value.to_string().as_bytes(), &FieldMapping::default());
    }

    #[test]
    fn shaped_payloads_never_panic(value in shaped()) {
        let body = value.to_string();
        parse_all(body.as_bytes(), &FieldMapping::default());
        let own = FieldMapping::from_toml("use_defaults = false\n[fields]\nref = \"company.employees\"\nid = \"person.email\"").unwrap();
        parse_all(body.as_bytes(), &own);
    }

    #[test]
    fn arbitrary_form_fields_never_panic(pairs in prop::collection::vec((key(), ".{0,30}"), 0..12)) {
        let body: String = form_encode(&pairs);
        for source in ["generic", "hubspot", "typeform"] {
            check(parse_lead_submission(source, Some("application/x-www-form-urlencoded"), body.as_bytes(), None, &FieldMapping::default(), now()));
        }
    }

    #[test]
    fn arbitrary_header_values_never_panic(source in ".{0,20}", ct in ".{0,60}", key in ".{0,300}") {
        check(parse_lead_submission(&source, Some(&ct), b"{\"email\":\"a@acme.io\"}", Some(&key), &FieldMapping::default(), now()));
    }
}

fn form_encode(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        for (i, part) in [k, v].into_iter().enumerate() {
            if i == 1 {
                out.push('=');
            }
            for b in part.bytes() {
                if b.is_ascii_alphanumeric() {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

#[test]
fn deep_nesting_and_huge_numbers_within_the_limit_are_refused_not_panicked() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(deep.len() <= MAX_BODY_BYTES);
    let deep_object = format!("{}1{}", "{\"a\":".repeat(40_000), "}".repeat(40_000));
    assert!(deep_object.len() <= MAX_BODY_BYTES);
    for body in [
        deep.as_str(),
        deep_object.as_str(),
        r#"{"email": "a@acme.io", "employees": 1e400}"#,
        r#"{"email": "a@acme.io", "employees": 123456789012345678901234567890}"#,
        r#"{"events": [{"lead_id": "L", "kind": "session", "minutes": 1e308, "at": "2026-11-23T11:00:00Z"}]}"#,
        r#"{"fields": [{"name": "email", "value": "a@acme.io"}], "submittedAt": 9223372036854775807}"#,
        r#"{"fields": [{"name": "email", "value": "a@acme.io"}], "submittedAt": "99999999999999999999999"}"#,
        r#"{"fields": [{"name": "email", "value": "a@acme.io"}], "submittedAt": -9223372036854775808}"#,
        r#"{"form_response": {"submitted_at": "+262143-12-31T23:59:59Z"}}"#,
        r#"{"lead_id": "L", "status": "won", "amount": 1.7976931348623157e308, "closed_at": "0000-01-01T00:00:00Z"}"#,
    ] {
        parse_all(body.as_bytes(), &FieldMapping::default());
    }
    let big_employees = r#"{"email": "a@acme.io", "employees": 4294967296}"#;
    let error = parse_lead_submission(
        "generic",
        Some("application/json"),
        big_employees.as_bytes(),
        None,
        &FieldMapping::default(),
        now(),
    )
    .unwrap_err();
    assert_eq!(error.status(), 422);
    assert_eq!(error.to_problem().errors[0].field, "employees");
}

//! The request parsers on real-shaped payloads (`events/payloads/`) and every refusal.

use chrono::{DateTime, TimeZone, Utc};
use leadq_pipeline::intake::{
    FieldMapping, IntakeError, LeadRef, MAX_BODY_BYTES, Problem, parse_events,
    parse_lead_submission, parse_outcome, require_json,
};
use leadq_scoring::{Company, Consent, EventKind, Lead, OutcomeStatus, Person, Utm};
use std::collections::BTreeMap;

const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded; charset=UTF-8");

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../events/payloads/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The status and the (field, rule) pairs of a refusal; also checks the problem body.
fn refusal(error: IntakeError) -> (u16, Vec<(String, String)>) {
    let problem = error.to_problem();
    let parsed: Problem = serde_json::from_str(&problem.to_json()).unwrap();
    assert_eq!(parsed, problem);
    assert_eq!(parsed.status, error.status());
    assert!(parsed.problem_type.starts_with("urn:leadq:problem:"));
    assert!(!parsed.title.is_empty() && !parsed.detail.is_empty());
    assert!(
        !parsed.errors.is_empty(),
        "a refusal names at least one field"
    );
    let pairs = parsed
        .errors
        .into_iter()
        .map(|v| (v.field, v.rule))
        .collect();
    (problem.status, pairs)
}

fn has(pairs: &[(String, String)], field: &str, rule: &str) -> bool {
    pairs.iter().any(|(f, r)| f == field && r == rule)
}

fn lead_refusal(source: &str, ct: Option<&str>, body: &[u8]) -> (u16, Vec<(String, String)>) {
    let error = parse_lead_submission(source, ct, body, None, &FieldMapping::default(), now())
        .expect_err("should be refused");
    refusal(error)
}

#[test]
fn hubspot_fixture_maps_fields_context_and_consent() {
    let body = fixture("hubspot-form-submission.json");
    let got = parse_lead_submission(
        "hubspot",
        JSON,
        &body,
        Some(" k-1 "),
        &FieldMapping::default(),
        now(),
    )
    .unwrap();
    let expected = Lead {
        id: String::new(),
        person: Person {
            email: s("Ana.Lopez+demo@Acme-Robotics.io"),
            name: s("Ana López"),
            title: s("VP Engineering"),
            phone: s("+34 600 123 456"),
            country: s("ES"),
            ..Person::default()
        },
        company: Company {
            domain: s("acme-robotics.io"),
            name: s("Acme Robotics"),
            industry: s("industrial automation"),
            employees: Some(201),
            ..Company::default()
        },
        source: s("hubspot"),
        utm: Utm {
            source: s("linkedin"),
            medium: s("paid_social"),
            campaign: s("q4-robotics"),
        },
        consent: Consent {
            email: Some(true),
            phone: None,
        },
        created_at: Some(now()),
    };
    assert_eq!(got.lead, expected);
    assert_eq!(got.email_key, "ana.lopez@acme-robotics.io");
    assert_eq!(got.idempotency_key.as_deref(), Some("k-1"));
    assert_eq!(got.events.len(), 1);
    let event = &got.events[0];
    assert_eq!(event.kind, EventKind::FormSubmit);
    assert_eq!(
        event.at,
        Utc.with_ymd_and_hms(2026, 11, 23, 11, 58, 12).unwrap()
    );
    assert_eq!(
        event.properties,
        props(&[
            ("page_name", "Book a demo | leadq"),
            ("page_uri", "https://www.leadq.dev/demo"),
            ("source", "hubspot"),
        ])
    );
}

#[test]
fn typeform_fixture_maps_refs_types_and_hidden_fields() {
    let body = fixture("typeform-form-response.json");
    let got = parse_lead_submission(
        "typeform",
        JSON,
        &body,
        None,
        &FieldMapping::default(),
        now(),
    )
    .unwrap();
    let expected = Lead {
        id: String::new(),
        person: Person {
            email: s("jonas.weber@brightline-analytics.de"),
            name: s("Jonas Weber"),
            phone: s("+4930123456789"),
            ..Person::default()
        },
        company: Company {
            domain: s("brightline-analytics.de"),
            name: s("Brightline Analytics GmbH"),
            employees: Some(51),
            ..Company::default()
        },
        source: s("typeform"),
        utm: Utm {
            source: s("google"),
            medium: s("cpc"),
            campaign: s("brand-emea"),
        },
        consent: Consent {
            email: Some(true),
            phone: None,
        },
        created_at: Some(now()),
    };
    assert_eq!(got.lead, expected);
    assert_eq!(got.email_key, "jonas.weber@brightline-analytics.de");
    assert_eq!(got.idempotency_key, None);
    assert_eq!(
        got.events[0].at,
        Utc.with_ymd_and_hms(2026, 11, 23, 11, 55, 2).unwrap()
    );
    assert_eq!(
        got.events[0].properties,
        props(&[("form_id", "lT4Z3j"), ("source", "typeform")])
    );
}

#[test]
fn a_mapping_from_toml_names_a_typeform_ref_and_a_title() {
    let mapping = FieldMapping::from_toml(
        r#"
        use_defaults = true
        [fields]
        "b2e7c4d1-58a9-4f3e-a6b0-9d1c2e3f4a5b" = "person.title"
        "Which products are you interested in?" = "company.industry"
        "#,
    )
    .unwrap();
    let body = fixture("typeform-form-response.json");
    let got = parse_lead_submission("typeform", JSON, &body, None, &mapping, now()).unwrap();
    assert_eq!(got.lead.person.title.as_deref(), Some("Head of Data"));
    assert_eq!(
        got.lead.company.industry.as_deref(),
        Some("scoring, routing")
    );
}

#[test]
fn generic_json_fixture_keeps_free_mail_out_of_the_company_domain() {
    let body = fixture("generic-form.json");
    let got = parse_lead_submission(
        "generic",
        JSON,
        &body,
        None,
        &FieldMapping::default(),
        now(),
    )
    .unwrap();
    let expected = Lead {
        id: String::new(),
        person: Person {
            email: s("bob.stone@gmail.com"),
            name: s("Bob Stone"),
            title: s("Head of Marketing"),
            country: s("GB"),
            ..Person::default()
        },
        company: Company {
            // from `website`, not from the gmail address
            domain: s("stoneco.co.uk"),
            name: s("Stone & Co"),
            industry: s("retail"),
            employees: Some(11),
            ..Company::default()
        },
        source: s("generic"),
        utm: Utm {
            source: s("google"),
            medium: s("cpc"),
            campaign: s("brand"),
        },
        consent: Consent {
            email: Some(true),
            phone: None,
        },
        created_at: Some(now()),
    };
    assert_eq!(got.lead, expected);
    assert_eq!(got.email_key, "bobstone@gmail.com");
    assert_eq!(got.events[0].at, now());

    for address in ["ana@gmail.com", "ana@mailinator.com"] {
        let body = format!(r#"{{"email": "{address}", "company": "Acme"}}"#);
        let got = parse_lead_submission(
            "generic",
            JSON,
            body.as_bytes(),
            None,
            &FieldMapping::default(),
            now(),
        )
        .unwrap();
        assert_eq!(
            got.lead.company.domain, None,
            "{address}: no domain is invented"
        );
    }
}

#[test]
fn generic_form_encoded_fixture() {
    let body = fixture("generic-form.txt");
    let got = parse_lead_submission(
        "generic",
        FORM,
        &body,
        None,
        &FieldMapping::default(),
        now(),
    )
    .unwrap();
    let expected = Lead {
        id: String::new(),
        person: Person {
            email: s("carla.ruiz@northwind-logistics.com"),
            name: s("Carla Ruiz"),
            title: s("Operations Manager"),
            phone: s("+49 40 1234567"),
            country: s("DE"),
            ..Person::default()
        },
        company: Company {
            domain: s("northwind-logistics.com"),
            name: s("Northwind Logistics"),
            employees: Some(1200),
            ..Company::default()
        },
        source: s("generic"),
        utm: Utm {
            source: s("newsletter"),
            medium: s("email"),
            campaign: s("nov-digest"),
        },
        consent: Consent {
            email: Some(true),
            phone: None,
        },
        created_at: Some(now()),
    };
    assert_eq!(got.lead, expected);
    // a HubSpot legacy form post is form-encoded too
    assert!(
        parse_lead_submission(
            "hubspot",
            FORM,
            &body,
            None,
            &FieldMapping::default(),
            now()
        )
        .is_ok()
    );
}

#[test]
fn own_field_names_without_defaults() {
    let mapping = FieldMapping::from_toml(
        r#"
        use_defaults = false
        [fields]
        "Work Email" = "person.email"
        "Head count" = "company.employees"
        "#,
    )
    .unwrap();
    let body = br#"{"work_email": "ana@acme.io", "head-count": 40, "job_title": "CTO"}"#;
    let got = parse_lead_submission("generic", JSON, body, None, &mapping, now()).unwrap();
    assert_eq!(got.lead.person.email.as_deref(), Some("ana@acme.io"));
    assert_eq!(got.lead.company.employees, Some(40));
    assert_eq!(got.lead.person.title, None, "defaults are off");
    assert!(FieldMapping::from_toml("[fields]\nx = \"person.shoe_size\"").is_err());
}

#[test]
fn oversized_bodies_are_413_everywhere() {
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(lead_refusal("generic", JSON, &body).0, 413);
    assert_eq!(refusal(parse_events(&body, now()).unwrap_err()).0, 413);
    let (status, pairs) = refusal(parse_outcome(&body, now()).unwrap_err());
    assert_eq!(status, 413);
    assert!(has(&pairs, "body", "max_size"));
}

#[test]
fn unsupported_content_types_are_415() {
    for ct in [
        None,
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json; charset=iso-8859-1"),
    ] {
        let (status, pairs) = lead_refusal("generic", ct, b"{}");
        assert_eq!(status, 415, "{ct:?}");
        assert!(has(&pairs, "content-type", "media_type"));
    }
    assert_eq!(lead_refusal("typeform", FORM, b"a=b").0, 415);
    assert_eq!(require_json(FORM).map_err(|e| e.status()), Err(415));
    assert_eq!(require_json(Some("application/json;charset=utf-8")), Ok(()));
}

#[test]
fn malformed_bodies_are_400() {
    let (status, pairs) = lead_refusal("generic", JSON, b"{\"email\": ");
    assert_eq!(status, 400);
    assert!(has(&pairs, "body", "syntax"));
    assert_eq!(
        refusal(parse_events(b"\xff\xfe", now()).unwrap_err()).0,
        400
    );
}

/// Source, content type, body, and the field and rule the refusal must name.
type LeadCase = (
    &'static str,
    Option<&'static str>,
    &'static [u8],
    &'static str,
    &'static str,
);

#[test]
fn lead_validation_refusals_name_field_and_rule() {
    let cases: &[LeadCase] = &[
        ("salesforce", JSON, b"{}", "source", "one_of"),
        ("generic", JSON, b"{\"name\": \"Ana\"}", "email", "required"),
        ("generic", JSON, b"{\"email\": \"ana@\"}", "email", "format"),
        ("generic", FORM, b"e_mail=not-an-address", "e_mail", "format"),
        ("generic", JSON, b"{\"email\": \"a@acme.io\", \"company_size\": \"lots\"}", "company_size", "employee_count"),
        ("generic", JSON, b"{\"email\": \"a@acme.io\", \"employees\": -3}", "employees", "employee_count"),
        ("generic", JSON, b"{\"email\": \"a@acme.io\", \"website\": \"not a site\"}", "website", "domain"),
        ("generic", JSON, b"{\"email\": \"a@acme.io\", \"consent\": \"maybe\"}", "consent", "boolean"),
        ("generic", JSON, b"{\"email\": \"a@acme.io\", \"title\": {\"x\": 1}}", "title", "type"),
        ("generic", JSON, b"[1, 2]", "body", "type"),
        ("hubspot", JSON, b"{\"submittedAt\": 1}", "fields", "required"),
        ("hubspot", JSON, b"{\"fields\": [{\"value\": \"x\"}]}", "fields[0].name", "required"),
        ("hubspot", JSON, b"{\"fields\": [{\"name\": \"email\", \"value\": \"a@acme.io\"}], \"submittedAt\": 4102444800000}", "submittedAt", "not_in_future"),
        ("hubspot", JSON, b"{\"fields\": [{\"name\": \"email\", \"value\": \"a@acme.io\"}], \"submittedAt\": \"soon\"}", "submittedAt", "format"),
        ("hubspot", JSON, b"{\"fields\": [{\"name\": \"email\", \"value\": \"a@acme.io\"}], \"submittedAt\": 5}", "submittedAt", "min"),
        ("typeform", JSON, b"{\"event_type\": \"form_response_partial\", \"form_response\": {}}", "event_type", "one_of"),
        ("typeform", JSON, b"{\"event_type\": \"form_response\"}", "form_response", "required"),
        ("typeform", JSON, b"{\"form_response\": {\"answers\": []}}", "email", "required"),
        ("typeform", JSON, b"{\"form_response\": {\"submitted_at\": \"2026-13-01\"}}", "form_response.submitted_at", "format"),
    ];
    for (source, ct, body, field, rule) in cases {
        let (status, pairs) = lead_refusal(source, *ct, body);
        assert_eq!(status, 422, "{source} {}", String::from_utf8_lossy(body));
        assert!(
            has(&pairs, field, rule),
            "{source} {}: {pairs:?}",
            String::from_utf8_lossy(body)
        );
    }
    let error = parse_lead_submission(
        "generic",
        JSON,
        b"{\"email\":\"a@acme.io\"}",
        Some("has space"),
        &FieldMapping::default(),
        now(),
    )
    .unwrap_err();
    assert!(has(&refusal(error).1, "Idempotency-Key", "format"));
    // every broken field is reported at once
    let (_, pairs) = lead_refusal(
        "generic",
        JSON,
        b"{\"email\": \"x\", \"employees\": \"many\", \"consent\": \"perhaps\"}",
    );
    assert_eq!(pairs.len(), 3, "{pairs:?}");
}

fn event_refusal(body: &str) -> Vec<(String, String)> {
    let (status, pairs) = refusal(parse_events(body.as_bytes(), now()).unwrap_err());
    assert_eq!(status, 422, "{body}");
    pairs
}

#[test]
fn events_are_read_and_tied_to_leads() {
    let body = br#"{"events": [
        {"lead_id": "L-1", "kind": "pricing_view", "at": "2026-11-23T11:00:00Z", "properties": {"url": "/pricing", "scroll": 80}},
        {"email": "Ana.Lopez+x@Acme.io", "kind": "session", "at": "2026-11-23T13:04:00+01:00", "minutes": 12.5, "id": "evt-7"},
        {"lead_id": "L-2", "kind": "consultation_request", "at": "2026-11-23T12:04:59Z"}
    ]}"#;
    let events = parse_events(body, now()).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].lead, LeadRef::Id("L-1".into()));
    assert_eq!(events[0].event.event.kind, EventKind::PricingView);
    assert_eq!(
        events[0].event.event.properties,
        props(&[("scroll", "80"), ("url", "/pricing")])
    );
    assert_eq!(
        events[1].lead,
        LeadRef::EmailKey("ana.lopez@acme.io".into())
    );
    assert_eq!(events[1].event.id.as_deref(), Some("evt-7"));
    assert_eq!(events[1].event.event.minutes, Some(12.5));
    assert_eq!(
        events[1].event.event.at,
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 4, 0).unwrap()
    );
    assert_eq!(events[2].event.event.kind, EventKind::DemoRequest);
}

#[test]
fn event_refusals_name_the_item_field_and_rule() {
    let ok = r#"{"lead_id": "L", "kind": "page_view", "at": "2026-11-23T11:00:00Z"}"#;
    let many = format!("{{\"events\": [{}]}}", vec![ok; 501].join(","));
    assert!(has(&event_refusal(&many), "events", "max_items"));
    let exactly = format!("{{\"events\": [{}]}}", vec![ok; 500].join(","));
    assert_eq!(parse_events(exactly.as_bytes(), now()).unwrap().len(), 500);

    let unlinked = format!(
        "{{\"events\": [{ok},{ok},{ok},{{\"kind\": \"page_view\", \"at\": \"2026-11-23T11:00:00Z\"}}]}}"
    );
    assert!(has(
        &event_refusal(&unlinked),
        "events[3].lead_id",
        "required"
    ));

    let error = parse_events(
        br#"{"events": [{"lead_id": "L", "kind": "tweet", "at": "2026-11-23T11:00:00Z"}]}"#,
        now(),
    )
    .unwrap_err();
    let problem = error.to_problem();
    assert_eq!(problem.errors[0].field, "events[0].kind");
    assert_eq!(problem.errors[0].rule, "one_of");
    assert!(
        problem.errors[0].message.contains("pricing_view")
            && problem.errors[0].message.contains("product_usage")
    );

    let cases = [
        (
            r#"{"lead_id": "L", "kind": "page_view", "at": "2026-11-23T12:05:01Z"}"#,
            "events[0].at",
            "not_in_future",
        ),
        (
            r#"{"lead_id": "L", "kind": "page_view", "at": "1999-12-31T23:59:59Z"}"#,
            "events[0].at",
            "min",
        ),
        (
            r#"{"lead_id": "L", "kind": "page_view", "at": "yesterday"}"#,
            "events[0].at",
            "format",
        ),
        (
            r#"{"lead_id": "L", "kind": "page_view"}"#,
            "events[0].at",
            "required",
        ),
        (
            r#"{"lead_id": "L", "at": "2026-11-23T11:00:00Z"}"#,
            "events[0].kind",
            "required",
        ),
        (
            r#"{"email": "nope", "kind": "page_view", "at": "2026-11-23T11:00:00Z"}"#,
            "events[0].email",
            "format",
        ),
        (
            r#"{"lead_id": 7, "kind": "page_view", "at": "2026-11-23T11:00:00Z"}"#,
            "events[0].lead_id",
            "format",
        ),
        (
            r#"{"lead_id": "L", "kind": "session", "minutes": -1, "at": "2026-11-23T11:00:00Z"}"#,
            "events[0].minutes",
            "range",
        ),
        (
            r#"{"lead_id": "L", "kind": "page_view", "at": "2026-11-23T11:00:00Z", "properties": {"a": [1]}}"#,
            "events[0].properties.a",
            "type",
        ),
        (r#""page_view""#, "events[0]", "type"),
    ];
    for (item, field, rule) in cases {
        let pairs = event_refusal(&format!("{{\"events\": [{item}]}}"));
        assert!(has(&pairs, field, rule), "{item}: {pairs:?}");
    }
    assert!(has(&event_refusal("{}"), "events", "required"));
    assert!(has(
        &event_refusal(r#"{"events": []}"#),
        "events",
        "min_items"
    ));
    assert!(has(&event_refusal(r#"{"events": {}}"#), "events", "type"));
}

#[test]
fn outcomes_are_read_and_checked() {
    let got = parse_outcome(br#"{"email": "Ana@Acme.io", "status": "won", "amount": 12000.5, "closed_at": "2026-11-20T09:00:00Z"}"#, now())
        .unwrap();
    assert_eq!(got.lead, LeadRef::EmailKey("ana@acme.io".into()));
    assert_eq!(got.status, OutcomeStatus::Won);
    assert_eq!(got.amount, Some(12000.5));
    assert_eq!(
        got.closed_at,
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
    );
    let lost = parse_outcome(
        br#"{"lead_id": "L-9", "status": "lost", "closed_at": "2026-11-20T09:00:00Z"}"#,
        now(),
    )
    .unwrap();
    assert_eq!((lost.status, lost.amount), (OutcomeStatus::Lost, None));

    let cases: [(&[u8], &str, &str); 7] = [
        (br#"{"lead_id": "L", "status": "pending", "closed_at": "2026-11-20T09:00:00Z"}"#, "status", "one_of"),
        (br#"{"lead_id": "L", "closed_at": "2026-11-20T09:00:00Z"}"#, "status", "required"),
        (br#"{"lead_id": "L", "status": "won"}"#, "closed_at", "required"),
        (br#"{"lead_id": "L", "status": "won", "closed_at": "2030-01-01T00:00:00Z"}"#, "closed_at", "not_in_future"),
        (br#"{"lead_id": "L", "status": "won", "amount": -5, "closed_at": "2026-11-20T09:00:00Z"}"#, "amount", "range"),
        (br#"{"lead_id": "L", "status": "won", "amount": "5", "closed_at": "2026-11-20T09:00:00Z"}"#, "amount", "type"),
        (br#"{"status": "won", "closed_at": "2026-11-20T09:00:00Z"}"#, "lead_id", "required"),
    ];
    for (body, field, rule) in cases {
        let (status, pairs) = refusal(parse_outcome(body, now()).unwrap_err());
        assert_eq!(status, 422);
        assert!(
            has(&pairs, field, rule),
            "{}: {pairs:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn events_and_outcome_fixtures() {
    let events = parse_events(&fixture("events-batch.json"), now()).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].lead, LeadRef::Id("lead_7f3c2a91".into()));
    assert_eq!(
        events[0].event.id.as_deref(),
        Some("evt_01JDGA1Q5V8W2X3Y4Z5A6B7C8D")
    );
    assert_eq!(
        events[1].lead,
        LeadRef::EmailKey("ana.lopez@acme-robotics.io".into())
    );
    assert_eq!(events[1].event.event.kind, EventKind::Session);
    assert_eq!(
        events[1].event.event.at,
        Utc.with_ymd_and_hms(2026, 11, 23, 11, 41, 30).unwrap()
    );
    assert_eq!(events[2].event.id, None);
    assert_eq!(events[2].event.event.kind, EventKind::EmailClick);

    let outcome = parse_outcome(&fixture("outcome-won.json"), now()).unwrap();
    assert_eq!(outcome.lead, LeadRef::Id("lead_7f3c2a91".into()));
    assert_eq!(
        (outcome.status, outcome.amount),
        (OutcomeStatus::Won, Some(24000.0))
    );
}

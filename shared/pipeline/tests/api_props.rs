//! Property tests of the router: arbitrary bodies, content types, query strings, paths
//! and header values never panic and never give a 5xx; every refusal is a problem body.

mod api_support;

use api_support::*;
use axum::body::Body;
use http::HeaderValue;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
enum Auth {
    Signed,
    Key(&'static str),
    RawKey(Vec<u8>),
    RawSignature(Vec<u8>),
    None,
}

#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    path: String,
    query: Vec<(String, String)>,
    content_type: Option<Vec<u8>>,
    idempotency_key: Option<Vec<u8>>,
    request_id: Option<Vec<u8>>,
    auth: Auth,
    body: Vec<u8>,
}

fn json_body() -> impl Strategy<Value = Vec<u8>> {
    let names = prop::sample::select(vec![
        "email",
        "work_email",
        "name",
        "first_name",
        "employees",
        "country",
        "website",
        "consent",
        "lead_id",
        "kind",
        "at",
        "minutes",
        "status",
        "amount",
        "closed_at",
        "submittedAt",
        "fields",
        "form_response",
        "event_type",
        "events",
        "properties",
        "id",
    ]);
    let value = prop_oneof![
        any::<String>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        prop::sample::select(vec![
            "ana@acme.io",
            "ANA@ACME.IO",
            "not an email",
            "2026-11-23T11:00:00Z",
            "9999-12-31T23:59:59Z",
            "page_view",
            "won",
            "lead_x",
            "form_response",
        ])
        .prop_map(serde_json::Value::from),
    ];
    let leaf = prop::collection::btree_map(names.clone(), value, 0..6).prop_map(|m| {
        serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.into(), v)).collect())
    });
    let nested = (names, prop::collection::vec(leaf.clone(), 0..4))
        .prop_map(|(name, items)| serde_json::json!({ name: items }));
    prop_oneof![leaf, nested].prop_map(|v| v.to_string().into_bytes())
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let fixtures = prop::sample::select(vec![
        "generic-form.json",
        "generic-form.txt",
        "hubspot-form-submission.json",
        "typeform-form-response.json",
        "events-batch.json",
        "outcome-won.json",
    ]);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        any::<String>().prop_map(String::into_bytes),
        json_body(),
        json_body(),
        (fixtures.clone(), any::<prop::sample::Index>(), any::<u8>()).prop_map(
            |(name, at, byte)| {
                let mut body = fixture(name);
                let i = at.index(body.len().max(1));
                if let Some(b) = body.get_mut(i) {
                    *b = byte;
                }
                body
            }
        ),
        fixtures.prop_map(fixture),
    ]
}

fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        "[ -~]{0,64}".prop_map(String::into_bytes),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let method = prop::sample::select(vec!["GET", "POST", "POST", "POST", "DELETE", "PUT"]);
    let path = prop_oneof![
        Just("/v1/leads".to_owned()),
        Just("/v1/leads".to_owned()),
        Just("/v1/events".to_owned()),
        Just("/v1/outcomes".to_owned()),
        "[a-zA-Z0-9_%.-]{0,20}".prop_map(|id| format!("/v1/leads/{id}")),
        "(/[a-z0-9%]{0,8}){0,4}",
    ];
    let query = prop::collection::vec(
        (
            prop_oneof![Just("source".to_owned()), "[a-zA-Z_]{0,8}"],
            prop_oneof![
                prop::sample::select(vec!["generic", "hubspot", "typeform", "HubSpot", ""])
                    .prop_map(str::to_owned),
                any::<String>(),
            ],
        ),
        0..3,
    );
    let content_type = prop::option::of(prop_oneof![
        prop::sample::select(vec![
            "application/json",
            "application/json; charset=utf-8",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin1",
            "text/plain",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        header_bytes(),
    ]);
    let auth = prop_oneof![
        4 => Just(Auth::Signed),
        2 => prop::sample::select(vec![ADMIN_KEY, HUBSPOT_KEY, TRACKER_KEY]).prop_map(Auth::Key),
        1 => header_bytes().prop_map(Auth::RawKey),
        1 => header_bytes().prop_map(Auth::RawSignature),
        1 => Just(Auth::None),
    ];
    (
        method,
        path,
        query,
        content_type,
        prop::option::of(header_bytes()),
        prop::option::of(header_bytes()),
        auth,
        body(),
    )
        .prop_map(
            |(method, path, query, content_type, idempotency_key, request_id, auth, body)| Case {
                method,
                path,
                query,
                content_type,
                idempotency_key,
                request_id,
                auth,
                body,
            },
        )
}

/// Well-formed requests of every endpoint (the fixtures, with at most one byte changed,
/// and generated JSON with a valid address), so cases get past authentication and
/// parsing as well as being refused by them.
fn coherent_case() -> impl Strategy<Value = Case> {
    let targets = prop::sample::select(vec![
        (
            "POST",
            "/v1/leads",
            "",
            "application/json",
            Some("generic-form.json"),
        ),
        (
            "POST",
            "/v1/leads",
            "generic",
            "application/x-www-form-urlencoded",
            Some("generic-form.txt"),
        ),
        (
            "POST",
            "/v1/leads",
            "hubspot",
            "application/json",
            Some("hubspot-form-submission.json"),
        ),
        (
            "POST",
            "/v1/leads",
            "typeform",
            "application/json",
            Some("typeform-form-response.json"),
        ),
        (
            "POST",
            "/v1/events",
            "",
            "application/json",
            Some("events-batch.json"),
        ),
        (
            "POST",
            "/v1/outcomes",
            "",
            "application/json",
            Some("outcome-won.json"),
        ),
        ("POST", "/v1/leads", "", "application/json", None),
        (
            "GET",
            "/v1/leads/lead_7f3c2a91",
            "",
            "application/json",
            None,
        ),
        (
            "DELETE",
            "/v1/leads/lead_7f3c2a91",
            "",
            "application/json",
            None,
        ),
    ]);
    let email = prop_oneof![
        prop::sample::select(vec!["ana@acme.io", "Ana+x@ACME.io", "bob@gmail.com"])
            .prop_map(str::to_owned),
        "[a-z]{1,8}@[a-z]{1,8}\\.(io|com)",
    ];
    (
        targets,
        any::<prop::sample::Index>(),
        prop::option::of(any::<u8>()),
        email,
        json_body(),
        prop::option::of("[a-z0-9-]{1,12}"),
    )
        .prop_map(
            |((method, path, source, content_type, name), at, byte, email, extra, key)| {
                let body = match name {
                    Some(name) => {
                        let mut body = fixture(name);
                        if let Some(byte) = byte {
                            let i = at.index(body.len().max(1));
                            if let Some(b) = body.get_mut(i) {
                                *b = byte;
                            }
                        }
                        body
                    }
                    None if method == "POST" => {
                        let mut fields: serde_json::Value = serde_json::from_slice(&extra)
                            .unwrap_or_else(|_| serde_json::json!({}));
                        if !fields.is_object() {
                            fields = serde_json::json!({});
                        }
                        fields["email"] = email.into();
                        fields.to_string().into_bytes()
                    }
                    None => Vec::new(),
                };
                let query = if source.is_empty() {
                    Vec::new()
                } else {
                    vec![("source".to_owned(), source.to_owned())]
                };
                Case {
                    method,
                    path: path.to_owned(),
                    query,
                    content_type: Some(content_type.as_bytes().to_vec()),
                    idempotency_key: key.map(String::into_bytes),
                    request_id: None,
                    auth: Auth::Signed,
                    body,
                }
            },
        )
}

/// The request of a case; headers that are not valid header values are left out.
fn request(case: &Case) -> Option<http::Request<Body>> {
    let mut uri = case.path.clone();
    if !case.query.is_empty() {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(case.query.iter())
            .finish();
        uri = format!("{uri}?{query}");
    }
    let uri: http::Uri = uri.parse().ok()?;
    let mut request = http::Request::builder()
        .method(case.method)
        .uri(uri)
        .body(Body::from(case.body.clone()))
        .ok()?;
    let headers = request.headers_mut();
    let mut set = |name: &'static str, value: &[u8]| {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.insert(name, value);
        }
    };
    if let Some(content_type) = &case.content_type {
        set("content-type", content_type);
    }
    if let Some(key) = &case.idempotency_key {
        set("idempotency-key", key);
    }
    if let Some(id) = &case.request_id {
        set("x-request-id", id);
    }
    match &case.auth {
        Auth::Signed => {
            let signature =
                leadq_pipeline::signature::sign(SECRET.as_bytes(), now().timestamp(), &case.body);
            set("x-leadq-signature", signature.as_bytes());
        }
        Auth::Key(key) => set("x-api-key", key.as_bytes()),
        Auth::RawKey(key) => set("x-api-key", key),
        Auth::RawSignature(signature) => set("x-leadq-signature", signature),
        Auth::None => {}
    }
    Some(request)
}

#[test]
fn arbitrary_requests_never_panic_nor_give_a_5xx() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // one app for all cases, so later cases meet the leads and keys of earlier ones
    let app = TestApp::new();
    let mut runner = TestRunner::new(Config {
        cases: 600,
        failure_persistence: None,
        ..Config::default()
    });
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    runner
        .run(&prop_oneof![case(), coherent_case()], |case| {
            let Some(request) = request(&case) else {
                return Ok(());
            };
            let reply = runtime.block_on(app.send(request));
            *statuses.borrow_mut().entry(reply.status).or_default() += 1;
            prop_assert!(
                (200..500).contains(&reply.status),
                "status {} for {case:?}: {}",
                reply.status,
                reply.json
            );
            if reply.status >= 400 {
                prop_assert_eq!(reply.content_type(), "application/problem+json");
                prop_assert_eq!(reply.json["status"].as_u64(), Some(u64::from(reply.status)));
            }
            prop_assert!(reply.headers.contains_key("x-request-id"));
            Ok(())
        })
        .expect("no case fails");
    // the generator reaches past authentication into every kind of answer
    let statuses = statuses.into_inner();
    for status in [200, 201, 401, 404, 415, 422] {
        assert!(
            statuses.contains_key(&status),
            "no {status} in {statuses:?}"
        );
    }
}

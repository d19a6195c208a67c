//! The Function URL fixtures of `events/http/`: what each holds and what the API answers.
//!
//! Shared by the handler tests (which replay the committed files and check they are what
//! this table generates) and by `examples/sign_fixtures.rs` (which writes them). Not part
//! of the library: the secrets below are test values, published in `events/README.md`.

use serde_json::{Value, json};

/// The secret the signed fixtures are signed with (`LEADQ_INGEST_SECRET` in the tests).
pub const FIXTURE_SECRET: &str = "leadq-fixture-secret-0123456789";
/// The secret of the wrongly signed fixture: right format, wrong key.
pub const WRONG_SECRET: &str = "not-the-leadq-fixture-secret-987";
/// When the fixtures were signed and sent: 2026-11-23T12:00:00Z.
pub const SIGNED_AT: i64 = 1_795_435_200;
/// The Function URL's id (the subdomain of `<id>.lambda-url.<region>.on.aws`).
const URL_ID: &str = "m4q7xkz2rj5tb3nw6vhc8yd9pa0lfueo";
/// Where the requests come from (a documentation address, RFC 5737).
const SOURCE_IP: &str = "203.0.113.47";
/// Body size of the oversized fixture: 4 KiB over the API's 256 KiB limit.
pub const OVERSIZED_BYTES: usize = 256 * 1024 + 4096;

/// How a fixture is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// `X-Leadq-Signature` over the body with [`FIXTURE_SECRET`] at [`SIGNED_AT`].
    Signed,
    /// The same header computed with [`WRONG_SECRET`].
    WrongSecret,
    /// No credential header at all.
    Unsigned,
}

/// One fixture: the request it holds and the answer expected.
#[derive(Debug, Clone, Copy)]
pub struct FixtureSpec {
    /// File name under `events/http/`.
    pub file: &'static str,
    /// `rawPath`.
    pub path: &'static str,
    /// `rawQueryString` (empty for none).
    pub query: &'static str,
    /// `content-type` header.
    pub content_type: &'static str,
    /// Body file under `events/payloads/`; `None` for the generated oversized body.
    pub payload: Option<&'static str>,
    /// How the request is signed.
    pub signing: Signing,
    /// Whether Lambda hands the body over base64-encoded (it does for form posts).
    pub base64: bool,
    /// The Lambda request id and the Function URL's `requestContext.requestId`.
    pub request_id: &'static str,
    /// The status the API answers with.
    pub status: u16,
    /// For a refusal: the field its problem body names.
    pub problem_field: Option<&'static str>,
}

/// Every fixture, in the order the tests replay them (leads first, so the events and
/// the outcome find theirs).
pub fn fixture_specs() -> Vec<FixtureSpec> {
    let lead = FixtureSpec {
        file: "",
        path: "/v1/leads",
        query: "",
        content_type: "application/json",
        payload: Some("generic-form.json"),
        signing: Signing::Signed,
        base64: false,
        request_id: "",
        status: 201,
        problem_field: None,
    };
    vec![
        FixtureSpec {
            file: "leads-generic-signed.json",
            request_id: "0f0c9a4e-6a53-4f27-9a3b-2d1c5e7b8a01",
            ..lead
        },
        FixtureSpec {
            file: "leads-generic-unsigned.json",
            signing: Signing::Unsigned,
            request_id: "0f0c9a4e-6a53-4f27-9a3b-2d1c5e7b8a02",
            status: 401,
            problem_field: Some("X-Leadq-Signature"),
            ..lead
        },
        FixtureSpec {
            file: "leads-generic-wrong-signature.json",
            signing: Signing::WrongSecret,
            request_id: "0f0c9a4e-6a53-4f27-9a3b-2d1c5e7b8a03",
            status: 401,
            problem_field: Some("X-Leadq-Signature"),
            ..lead
        },
        FixtureSpec {
            file: "leads-generic-oversized.json",
            payload: None,
            request_id: "0f0c9a4e-6a53-4f27-9a3b-2d1c5e7b8a04",
            status: 413,
            problem_field: Some("body"),
            ..lead
        },
        FixtureSpec {
            file: "leads-generic-wrong-content-type.json",
            content_type: "text/plain; charset=utf-8",
            request_id: "0f0c9a4e-6a53-4f27-9a3b-2d1c5e7b8a05",
            status: 415,
            problem_field: Some("content-type"),
            ..lead
        },
        FixtureSpec {
            file: "leads-form-urlencoded-signed.json",
            content_type: "application/x-www-form-urlencoded",
            payload: Some("generic-form.txt"),
            base64: true,
            request_id: "0f0c9a4e-6a53-4f27-9a3b-2d1c5e7b8a06",
            ..lead
        },
        FixtureSpec {
            file: "leads-hubspot-signed.json",
            query: "source=hubspot",
            payload: Some("hubspot-form-submission.json"),
            request_id: "0f0c9a4e-6a53-4f27-9a3b-2d1c5e7b8a07",
            ..lead
        },
        FixtureSpec {
            file: "leads-typeform-signed.json",
            query: "source=typeform",
            payload: Some("typeform-form-response.json"),
            request_id: "0f0c9a4e-6a53-4f27-9a3b-2d1c5e7b8a08",
            ..lead
        },
        FixtureSpec {
            file: "events-batch-signed.json",
            path: "/v1/events",
            payload: Some("events-batch.json"),
            request_id: "0f0c9a4e-6a53-4f27-9a3b-2d1c5e7b8a09",
            status: 200,
            ..lead
        },
        FixtureSpec {
            file: "outcome-won-signed.json",
            path: "/v1/outcomes",
            payload: Some("outcome-won.json"),
            request_id: "0f0c9a4e-6a53-4f27-9a3b-2d1c5e7b8a10",
            status: 200,
            ..lead
        },
    ]
}

/// The body of the oversized fixture: a generic JSON submission whose message is padded
/// past the limit (an attachment pasted into a text field).
pub fn oversized_body() -> Vec<u8> {
    let head = r#"{"email":"pat.kim@fabrikam.com","job_title":"Buyer","message":""#;
    let tail = r#""}"#;
    let padding = OVERSIZED_BYTES - head.len() - tail.len();
    let mut body = Vec::with_capacity(OVERSIZED_BYTES);
    body.extend_from_slice(head.as_bytes());
    body.extend(std::iter::repeat_n(b'A', padding));
    body.extend_from_slice(tail.as_bytes());
    body
}

/// The Function URL event (payload format 2.0) of `spec` carrying `body`.
pub fn function_url_request(spec: &FixtureSpec, body: &[u8]) -> Value {
    let host = format!("{URL_ID}.lambda-url.eu-west-1.on.aws");
    let user_agent = "leadq-webhook-sender/1.4 (+https://www.leadq.dev)";
    let mut headers = json!({
        "accept": "application/json",
        "content-length": body.len().to_string(),
        "content-type": spec.content_type,
        "host": host,
        "user-agent": user_agent,
        "x-amzn-tls-cipher-suite": "TLS_AES_128_GCM_SHA256",
        "x-amzn-tls-version": "TLSv1.3",
        "x-amzn-trace-id": format!("Root=1-{SIGNED_AT:x}-{}", &spec.request_id.replace('-', "")[..24]),
        "x-forwarded-for": SOURCE_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    });
    let secret = match spec.signing {
        Signing::Signed => Some(FIXTURE_SECRET),
        Signing::WrongSecret => Some(WRONG_SECRET),
        Signing::Unsigned => None,
    };
    if let (Some(secret), Some(map)) = (secret, headers.as_object_mut()) {
        let signature = leadq_pipeline::signature::sign(secret.as_bytes(), SIGNED_AT, body);
        map.insert("x-leadq-signature".into(), Value::String(signature));
    }
    let mut request = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": spec.path,
        "rawQueryString": spec.query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": URL_ID,
            "domainName": host,
            "domainPrefix": URL_ID,
            "http": {
                "method": "POST",
                "path": spec.path,
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": user_agent,
            },
            "requestId": spec.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:12:00:00 +0000",
            "timeEpoch": SIGNED_AT * 1000,
        },
        "body": if spec.base64 {
            base64(body)
        } else {
            String::from_utf8_lossy(body).into_owned()
        },
        "isBase64Encoded": spec.base64,
    });
    if let (Some((name, value)), Some(map)) = (spec.query.split_once('='), request.as_object_mut())
    {
        map.insert("queryStringParameters".into(), json!({ name: value }));
    }
    request
}

/// Standard base64 with padding (RFC 4648), as Lambda encodes binary bodies.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc_4648_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}

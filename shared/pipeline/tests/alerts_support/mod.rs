//! Shared helpers of the alert tests: a real HTTP receiver on 127.0.0.1 that answers from
//! a script and records every request, a scored lead, and a configuration pointing at it.
#![allow(dead_code)] // each test binary uses a different subset

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use leadq_pipeline::alerts::AlertConfig;
use leadq_pipeline::ports::LeadRecord;
use leadq_scoring::{Band, Dimension, Lead, NextAction, Reason, ScoreCard};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The generic webhook's signing secret.
pub const WEBHOOK_SECRET: &str = "whsec_alerts_0123456789abcdef";

/// The test's time: 2026-11-23T12:00:00Z.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .expect("valid time")
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its headers.
    pub headers: HeaderMap,
    /// Its raw body.
    pub body: Bytes,
    /// The status answered.
    pub answered: u16,
    /// When it arrived (system time: the signature is checked against it).
    pub at: DateTime<Utc>,
}

impl Received {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

#[derive(Default)]
struct Script {
    answers: VecDeque<u16>,
    delay: Duration,
    received: Vec<Received>,
}

/// An HTTP receiver on 127.0.0.1: answers the scripted statuses in order, then 200.
#[derive(Clone)]
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// Starts a receiver on a free port.
    pub async fn start(answers: &[u16]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        Receiver::serve(listener, answers).await
    }

    /// Starts a receiver on a port held closed until now (a "down" receiver comes back).
    pub async fn start_on(port: ClosedPort, answers: &[u16]) -> Receiver {
        let listener = port.socket.listen(1024).expect("listen on the held port");
        Receiver::serve(listener, answers).await
    }

    async fn serve(listener: tokio::net::TcpListener, answers: &[u16]) -> Receiver {
        let addr = listener.local_addr().expect("local addr");
        let script = Arc::new(Mutex::new(Script {
            answers: answers.iter().copied().collect(),
            ..Script::default()
        }));
        let app = Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&script));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Receiver {
            addr,
            script,
            task: Arc::new(task),
        }
    }

    /// The URL of its `/hook` path.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Makes every answer wait this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.script.lock().expect("script").delay = delay;
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.script.lock().expect("script").received.clone()
    }

    /// Requests answered 2xx so far.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    /// Stops listening (the port is then closed).
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Seconds a 429 answer asks the sender to wait (`Retry-After`).
pub const RETRY_AFTER_SECS: i64 = 3;

async fn receive(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (answer, delay) = {
        let mut script = script.lock().expect("script");
        (script.answers.pop_front().unwrap_or(200), script.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    script.lock().expect("script").received.push(Received {
        headers,
        body,
        answered: answer,
        at: Utc::now(),
    });
    let status = StatusCode::from_u16(answer).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::TOO_MANY_REQUESTS {
        (status, [("retry-after", RETRY_AFTER_SECS.to_string())]).into_response()
    } else {
        status.into_response()
    }
}

/// A loopback port bound but not listening: connecting is refused, and no other socket
/// can take the port meanwhile (a released port could be, by another test's `bind`).
pub struct ClosedPort {
    /// Its address.
    pub addr: SocketAddr,
    socket: tokio::net::TcpSocket,
}

/// A port nothing listens on, held until [`Receiver::start_on`] listens on it.
pub async fn closed_port() -> ClosedPort {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind 127.0.0.1");
    let addr = socket.local_addr().expect("local addr");
    ClosedPort { addr, socket }
}

/// A configuration with a Slack hook `sales` (hot leads) and a signed webhook `crm`
/// (sales_now), both at the given URLs, and the delivery section given.
pub fn config(slack_url: &str, webhook_url: &str, delivery: &str) -> AlertConfig {
    let text = format!(
        "lead_url = \"https://leadq.example.com/v1/leads/{{lead_id}}\"\n\
         [delivery]\n{delivery}\n\
         [hooks.sales]\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n\
         [hooks.crm]\nkind = \"webhook\"\nurl_env = \"CRM_URL\"\nsecret_env = \"CRM_SECRET\"\n\
         [[subscriptions]]\nhook = \"sales\"\nbands = [\"hot\"]\n\
         [[subscriptions]]\nhook = \"crm\"\nnext_actions = [\"sales_now\"]\n"
    );
    let slack_url = slack_url.to_owned();
    let webhook_url = webhook_url.to_owned();
    AlertConfig::from_toml_with_env(&text, move |name| match name {
        "SLACK_URL" => Some(slack_url.clone()),
        "CRM_URL" => Some(webhook_url.clone()),
        "CRM_SECRET" => Some(WEBHOOK_SECRET.to_owned()),
        _ => None,
    })
    .expect("valid alert config")
}

fn reason(dimension: Dimension, rule: &str, composite_points: f64) -> Reason {
    Reason {
        dimension,
        rule: rule.into(),
        points: composite_points * 2.0,
        composite_points,
        count: 0,
        decayed: 0.0,
    }
}

/// A lead scored hot with next action `sales_now` and four reasons.
pub fn hot_lead(id: &str) -> LeadRecord {
    let mut lead = Lead {
        id: id.into(),
        ..Lead::default()
    };
    lead.person.name = Some("Ada Lovelace".into());
    lead.person.title = Some("VP Marketing".into());
    lead.person.email = Some("ada@acme.io".into());
    lead.company.name = Some("Acme".into());
    lead.company.domain = Some("acme.io".into());
    lead.company.industry = Some("software".into());
    let mut record = LeadRecord::new(lead, Some("ada@acme.io".into()), now());
    let mut card = ScoreCard::empty();
    card.lead_id = id.into();
    card.model_version = Arc::from("default-2026.11");
    card.scored_at = now();
    card.composite = 87;
    card.band = Band::Hot;
    card.next_action = NextAction::SalesNow;
    card.reasons = vec![
        reason(Dimension::Intent, "demo_request", 15.0),
        reason(Dimension::Fit, "industry = software", 9.0),
        reason(Dimension::Stakeholder, "seniority = vp", 6.0),
        reason(Dimension::Behaviour, "page_view", 2.5),
    ];
    record.card = Some(card);
    record
}

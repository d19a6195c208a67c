//! `GET /v1/alerts` and `POST /v1/alerts/{id}/resend` through the router: a receiver down
//! past every retry leaves a failed alert that the API lists and re-sends.

mod alerts_support;
mod api_support;

use alerts_support::{Receiver, closed_port, config, hot_lead};
use api_support::{ADMIN_KEY, TRACKER_KEY, TestApp, keyed, now, signed};
use chrono::Duration as Span;
use leadq_pipeline::alerts::{HttpNotifier, alerts_for, deliver_due_alerts};
use leadq_pipeline::api::IngestAuth;
use leadq_pipeline::ports::{AlertState, LeadStore};
use std::sync::atomic::Ordering;

const QUICK: &str =
    "max_attempts = 3\ntimeout_ms = 2000\nbackoff_base_secs = 1\nbackoff_max_secs = 2";

fn get(uri: &str) -> http::Request<axum::body::Body> {
    keyed("GET", uri, "application/json", b"", ADMIN_KEY)
}

fn resend(id: &str) -> http::Request<axum::body::Body> {
    keyed(
        "POST",
        &format!("/v1/alerts/{id}/resend"),
        "application/json",
        b"",
        ADMIN_KEY,
    )
}

fn ids(reply: &api_support::Reply) -> Vec<String> {
    reply.json["alerts"]
        .as_array()
        .unwrap_or_else(|| panic!("no alerts in {}", reply.json))
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_failed_alert_is_listed_and_resending_it_delivers_it_once() {
    let app = TestApp::new();
    let down = closed_port().await;
    let addr = down.addr;
    let config = config(
        "http://127.0.0.1:9/unused",
        &format!("http://{addr}/hook"),
        QUICK,
    );
    let notifier = HttpNotifier::new(&config.delivery).expect("client");
    let alert = alerts_for(&hot_lead("lead-7"), &config, now())
        .into_iter()
        .find(|a| a.hook == "crm")
        .expect("crm alert");
    assert!(app.store.enqueue_alert(&alert).await.expect("enqueue"));

    // the receiver is down for longer than all three attempts
    let mut at = now();
    for _ in 0..10 {
        deliver_due_alerts(app.store.as_ref(), &notifier, &config, at, 10)
            .await
            .expect("deliver");
        at += Span::seconds(10);
    }
    let failed = app.send(get("/v1/alerts?state=failed")).await;
    assert_eq!(failed.status, 200, "{}", failed.json);
    assert_eq!(failed.json["state"], "failed");
    assert_eq!(ids(&failed), [alert.id.as_str()]);
    let listed = &failed.json["alerts"][0];
    assert_eq!(listed["lead_id"], "lead-7");
    assert_eq!(listed["hook"], "crm");
    assert_eq!(listed["state"], "failed");
    assert_eq!(listed["attempts"], 3);
    assert!(
        listed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot connect"))
    );
    assert!(listed.get("payload").is_none(), "the payload is not listed");
    assert!(ids(&app.send(get("/v1/alerts?state=pending")).await).is_empty());

    // the receiver is back; a person re-sends
    let receiver = Receiver::start_on(down, &[]).await;
    app.clock.set(at);
    let resent = app.send(resend(&alert.id)).await;
    assert_eq!(resent.status, 200, "{}", resent.json);
    assert_eq!(resent.json["state"], "pending");
    assert_eq!(resent.json["attempts"], 0);
    assert_eq!(resent.json["last_error"], serde_json::Value::Null);
    assert!(ids(&app.send(get("/v1/alerts?state=failed")).await).is_empty());
    assert_eq!(
        ids(&app.send(get("/v1/alerts?state=pending")).await),
        [alert.id.as_str()]
    );
    // resending twice is refused: it is no longer failed
    app.send(resend(&alert.id)).await.assert_problem(409, "id");

    let report = deliver_due_alerts(app.store.as_ref(), &notifier, &config, at, 10)
        .await
        .expect("deliver");
    assert_eq!(report.sent, 1);
    assert_eq!(receiver.accepted().len(), 1);
    let sent = app.send(get("/v1/alerts?state=sent&limit=5")).await;
    assert_eq!(ids(&sent), [alert.id.as_str()]);
    assert_eq!(sent.json["alerts"][0]["attempts"], 1);
    app.send(resend(&alert.id)).await.assert_problem(409, "id");
}

#[tokio::test]
async fn the_alert_list_refuses_a_bad_query() {
    let app = TestApp::new();
    app.send(get("/v1/alerts"))
        .await
        .assert_problem(400, "state");
    app.send(get("/v1/alerts?state=lost"))
        .await
        .assert_problem(400, "state");
    for limit in ["0", "1001", "ten", "-1"] {
        app.send(get(&format!("/v1/alerts?state=sent&limit={limit}")))
            .await
            .assert_problem(400, "limit");
    }
    app.send(get("/v1/alerts?state=sent&page=2"))
        .await
        .assert_problem(400, "page");
    let empty = app.send(get("/v1/alerts?state=failed&limit=1000")).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json["alerts"], serde_json::json!([]));
}

#[tokio::test]
async fn resending_an_unknown_alert_is_404_and_changes_nothing() {
    let app = TestApp::new();
    let reply = app.send(resend("alert_unknown")).await;
    reply.assert_problem(404, "id");
    assert_eq!(app.store.write_count(), 0);
    // a pending alert is not re-sent either
    let alert = alerts_for(
        &hot_lead("lead-1"),
        &config("http://127.0.0.1:9/a", "http://127.0.0.1:9/b", QUICK),
        now(),
    )
    .remove(0);
    app.store
        .inner
        .enqueue_alert(&alert)
        .await
        .expect("enqueue");
    let reply = app.send(resend(&alert.id)).await;
    reply.assert_problem(409, "id");
    assert!(
        reply.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("is pending"))
    );
    let stored = app
        .store
        .inner
        .alerts_in_state(AlertState::Pending, 10)
        .await
        .expect("list");
    assert_eq!(stored, vec![alert]);
}

#[tokio::test]
async fn alerts_need_a_credential_with_the_alerts_or_read_scope() {
    let app = TestApp::new();
    let unsigned = http::Request::builder()
        .method("GET")
        .uri("/v1/alerts?state=failed")
        .body(axum::body::Body::empty())
        .expect("request");
    app.send(unsigned)
        .await
        .assert_problem(401, "X-Leadq-Signature");
    // a tracker key may post events, nothing more
    app.send(keyed(
        "GET",
        "/v1/alerts?state=failed",
        "application/json",
        b"",
        TRACKER_KEY,
    ))
    .await
    .assert_problem(401, "X-Api-Key");
    app.send(keyed(
        "POST",
        "/v1/alerts/x/resend",
        "application/json",
        b"",
        TRACKER_KEY,
    ))
    .await
    .assert_problem(401, "X-Api-Key");
    // the shared secret signs for everything, like every other route
    let reply = app
        .send(signed(
            "GET",
            "/v1/alerts?state=failed",
            "application/json",
            b"",
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.json);

    let reader = "read_0123456789abcdef";
    let app = TestApp::with_auth(
        IngestAuth::from_config(None, &format!("crm:read:{reader}")).expect("valid keys"),
    );
    let listed = app
        .send(keyed(
            "GET",
            "/v1/alerts?state=sent",
            "application/json",
            b"",
            reader,
        ))
        .await;
    assert_eq!(listed.status, 200);
    app.send(keyed(
        "POST",
        "/v1/alerts/x/resend",
        "application/json",
        b"",
        reader,
    ))
    .await
    .assert_problem(401, "X-Api-Key");
}

#[tokio::test]
async fn a_store_failure_is_503_without_the_backend_words() {
    let app = TestApp::new();
    app.store.fail.store(true, Ordering::SeqCst);
    for request in [get("/v1/alerts?state=failed"), resend("alert_x")] {
        let reply = app.send(request).await;
        assert_eq!(reply.status, 503, "{}", reply.json);
        assert!(!reply.json.to_string().contains("leadq-secret-table"));
        assert!(!reply.json.to_string().contains("10.1.2.3"));
    }
}

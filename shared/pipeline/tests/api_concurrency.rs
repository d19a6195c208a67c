//! The same submission delivered 20 times at once, with the same and with different
//! Idempotency-Keys and the email in other cases: one lead, one `form_submit` event.

mod api_support;

use api_support::*;
use leadq_pipeline::envelope::Stage;
use leadq_pipeline::ports::LeadStore;
use leadq_scoring::EventKind;
use std::sync::Arc;

fn delivery(i: usize) -> http::Request<axum::body::Body> {
    // even deliveries share one key and so one body (a webhook retried); odd ones each
    // have their own key and one of three spellings of the same address
    let (key, email) = if i % 2 == 0 {
        ("delivery-shared".to_owned(), "ana.lopez@acme.io")
    } else {
        let spelling = [
            "ana.lopez@acme.io",
            "Ana.Lopez@Acme.IO",
            "ANA.LOPEZ@ACME.IO",
        ][i % 3];
        (format!("delivery-{i}"), spelling)
    };
    let body =
        format!(r#"{{"email":"{email}","name":"Ana Lopez","company":"Acme","page":"/demo"}}"#);
    let mut request = signed("POST", "/v1/leads", "application/json", body.as_bytes());
    request
        .headers_mut()
        .insert("idempotency-key", key.parse().expect("header"));
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_deliveries_make_one_lead_and_one_event() {
    for round in 0..3 {
        let app = Arc::new(TestApp::new());
        let mut tasks = Vec::new();
        for i in 0..20 {
            let app = Arc::clone(&app);
            tasks.push(tokio::spawn(
                async move { (i, app.send(delivery(i)).await) },
            ));
        }
        let mut replies = Vec::new();
        for task in tasks {
            replies.push(task.await.expect("task"));
        }

        let created: Vec<_> = replies.iter().filter(|(_, r)| r.status == 201).collect();
        assert_eq!(created.len(), 1, "round {round}: one 201");
        let lead_id = created[0].1.lead_id();
        for (i, reply) in &replies {
            match reply.status {
                201 | 200 => assert_eq!(reply.lead_id(), lead_id, "round {round}, delivery {i}"),
                409 => {
                    // only a shared key may still be in progress
                    assert_eq!(
                        i % 2,
                        0,
                        "round {round}: 409 for a delivery with its own key"
                    );
                    reply.assert_problem(409, "Idempotency-Key");
                    assert!(reply.headers.contains_key("retry-after"));
                }
                other => panic!(
                    "round {round}, delivery {i}: status {other}: {}",
                    reply.json
                ),
            }
        }

        let store = &app.store.inner;
        assert_eq!(
            store
                .find_lead_by_email("ana.lopez@acme.io")
                .await
                .expect("find"),
            Some(lead_id.clone())
        );
        let events = app.events(&lead_id).await;
        assert_eq!(events.len(), 1, "round {round}: one form_submit event");
        assert_eq!(events[0].event.kind, EventKind::FormSubmit);
        let record = app.lead(&lead_id).await.expect("lead");
        assert_eq!(record.aggregates.count, 1);
        // every delivery that stored or found the lead queued its enrichment
        let enrich = app.queue.sent_to(Stage::Enrich);
        assert!(!enrich.is_empty());
        assert!(enrich.iter().all(|e| e.lead_id == lead_id));
    }
}

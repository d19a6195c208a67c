//! The enrich Lambda: an SQS batch of enrich envelopes in, the ids of the failed
//! records out (`ReportBatchItemFailures`).
//!
//! Each envelope runs [`enrich_stage_handler`] (offline providers, then the lead is sent
//! on to scoring); work on an erased lead is done, not failed. `main.rs` only wires.
//!
//! The company directory is the one `leadq companies import` fills in the store's table;
//! configuration is the store's and queues' variables (see `leadq_aws::config`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use leadq_aws::lambda::{SqsBatchError, handle_sqs_batch};
use leadq_pipeline::stages::handlers::done_if_lead_gone;
use leadq_pipeline::stages::{CompanyDirectory, StageError, StagePorts, enrich_stage_handler};
use leadq_pipeline::{Clock, LeadStore, RetryPolicy, Stage, WorkQueue};
use std::sync::Arc;
use tracing::info;

/// The enrich function and the ports it runs over.
#[derive(Clone)]
pub struct EnrichFunction {
    /// The lead store.
    pub store: Arc<dyn LeadStore>,
    /// The work queues (enriched leads go on to the score queue).
    pub queue: Arc<dyn WorkQueue>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Company firmographics by domain.
    pub directory: Arc<dyn CompanyDirectory>,
    /// Retries of conflicting writes.
    pub policy: RetryPolicy,
    /// Records enriched at once within a batch.
    pub concurrency: usize,
}

impl EnrichFunction {
    /// Enriches every well-formed record of the batch; returns the ids to redeliver.
    ///
    /// The batch's metrics are flushed before it returns, so Lambda cannot freeze them.
    pub async fn handle(&self, event: &SqsEvent) -> Result<SqsBatchResponse, SqsBatchError> {
        let ports = StagePorts {
            store: self.store.as_ref(),
            queue: self.queue.as_ref(),
            clock: self.clock.as_ref(),
            policy: self.policy,
        };
        let (ports, directory) = (&ports, self.directory.as_ref());
        let response = handle_sqs_batch(
            Stage::Enrich,
            event,
            self.concurrency,
            |envelope| async move {
                let result = enrich_stage_handler(ports, directory, &envelope).await;
                // None: an erased lead, done (done_if_lead_gone logged it)
                if let Some(handled) = done_if_lead_gone(&envelope, result)? {
                    info!(
                        filled = ?handled.outcome.filled,
                        written = handled.outcome.written,
                        "lead enriched and sent on to scoring"
                    );
                }
                Ok::<(), StageError>(())
            },
        )
        .await;
        leadq_aws::metrics::flush();
        response
    }
}

/// Serves invocations until the Lambda runtime stops the process.
pub async fn run(function: EnrichFunction) -> Result<(), lambda_runtime::Error> {
    let function = &function;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        function
            .handle(&event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use leadq_pipeline::memory::{MemoryQueue, MemoryStore};
    use leadq_pipeline::stages::{CompanyFacts, DEFAULT_BATCH_CONCURRENCY, MemoryDirectory};
    use leadq_pipeline::{Envelope, FixedClock, LeadRecord};
    use leadq_scoring::{Lead, Person};
    use std::time::Duration;

    /// A batch of ten from the enrich queue; record 5 (index 4) is a truncated body.
    const BATCH: &str = include_str!("../../../events/sqs/enrich-batch-with-poison.json");
    const POISON_INDEX: usize = 4;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 5)
            .single()
            .unwrap_or_default()
    }

    fn batch() -> SqsEvent {
        serde_json::from_str(BATCH).expect("the fixture is an SQS event")
    }

    fn email(i: usize) -> String {
        format!("Person.{i}+Trial@Acme.com")
    }

    struct World {
        store: Arc<MemoryStore>,
        queue: Arc<MemoryQueue>,
        function: EnrichFunction,
    }

    /// The leads of the fixture's envelopes, stored with a work email and a title.
    async fn world(event: &SqsEvent) -> World {
        let store = Arc::new(MemoryStore::new());
        for (i, record) in event.records.iter().enumerate() {
            let Ok(envelope) = Envelope::parse(record.body.as_deref().unwrap_or("")) else {
                continue;
            };
            let lead = Lead {
                id: envelope.lead_id.clone(),
                person: Person {
                    email: Some(email(i)),
                    title: Some("VP Eng".into()),
                    ..Person::default()
                },
                ..Lead::default()
            };
            store
                .create_lead(&LeadRecord::new(lead, None, now()))
                .await
                .expect("store lead");
        }
        let queue = Arc::new(MemoryQueue::default());
        let directory = MemoryDirectory::with(vec![CompanyFacts {
            domain: "acme.com".into(),
            industry: Some("software".into()),
            employees: Some(450),
            ..CompanyFacts::default()
        }]);
        let function = EnrichFunction {
            store: store.clone(),
            queue: queue.clone(),
            clock: Arc::new(FixedClock::new(now())),
            directory: Arc::new(directory),
            policy: RetryPolicy::default(),
            concurrency: DEFAULT_BATCH_CONCURRENCY,
        };
        World {
            store,
            queue,
            function,
        }
    }

    async fn sent_to_score(queue: &MemoryQueue) -> Vec<Envelope> {
        let deliveries = queue
            .receive(Stage::Score, 100, Duration::from_secs(30))
            .await
            .expect("receive");
        deliveries
            .iter()
            .map(|d| Envelope::parse(&d.body).expect("envelope"))
            .collect()
    }

    #[tokio::test]
    async fn the_poison_record_fails_alone_and_nine_leads_are_enriched() {
        let event = batch();
        assert_eq!(event.records.len(), 10);
        let world = world(&event).await;
        let response = world.function.handle(&event).await.expect("per record");
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(
            failed,
            [event.records[POISON_INDEX]
                .message_id
                .as_deref()
                .expect("id")]
        );

        let sent = sent_to_score(&world.queue).await;
        assert_eq!(sent.len(), 9);
        for envelope in &sent {
            let record = world
                .store
                .get_lead(&envelope.lead_id)
                .await
                .expect("get")
                .expect("lead");
            assert_eq!(record.lead.company.domain.as_deref(), Some("acme.com"));
            assert_eq!(record.lead.company.industry.as_deref(), Some("software"));
            assert!(record.provenance.contains_key("company.industry"));
            assert!(record.lead.person.seniority.is_some());
        }
        // the response is what the Lambda service reads
        let json = serde_json::to_value(&response).expect("serialise");
        assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], failed[0]);
    }

    #[tokio::test]
    async fn an_erased_lead_is_acknowledged_not_retried() {
        let event = batch();
        let world = world(&SqsEvent::default()).await;
        // no lead of the batch exists: all were erased after their work was queued
        let response = world.function.handle(&event).await.expect("per record");
        assert_eq!(
            response.batch_item_failures.len(),
            1,
            "only the poison record"
        );
        assert!(sent_to_score(&world.queue).await.is_empty());
    }
}

//! The Lambda SQS event source mapping, played by a test against the emulator.
//!
//! AWS receives a batch, invokes the function with an [`SqsEvent`], deletes the messages
//! the [`SqsBatchResponse`] does not name and leaves the named ones to reappear after the
//! visibility timeout (and reach the dead-letter queue after maxReceiveCount). This does
//! the same over the real SQS wire protocol, except that it makes a failed message
//! visible again at once instead of waiting out the timeout, so tests stay fast.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use std::collections::{HashMap, HashSet};
use std::future::Future;

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Polled {
    /// Messages received and handed to the function.
    pub received: usize,
    /// Message ids the function reported as failed (left on the queue).
    pub failed: Vec<String>,
    /// Messages deleted because the function handled them.
    pub deleted: usize,
}

/// An event source mapping for one queue.
pub struct EventSource {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl EventSource {
    /// A mapping that feeds the queue at `queue_url` to a function.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> EventSource {
        EventSource {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Receives one batch (up to 10), invokes `function` with it and settles the messages
    /// as Lambda does. An empty queue invokes nothing.
    pub async fn poll_once<F, Fut>(&self, function: F) -> Result<Polled, String>
    where
        F: FnOnce(SqsEvent) -> Fut,
        Fut: Future<Output = SqsBatchResponse>,
    {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "ReceiveMessage: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(Polled::default());
        }
        let mut receipts = HashMap::new();
        let mut records = Vec::with_capacity(messages.len());
        for message in messages {
            let id = message
                .message_id
                .clone()
                .ok_or("a message without an id")?;
            let receipt = message
                .receipt_handle
                .clone()
                .ok_or("a message without a receipt")?;
            receipts.insert(id.clone(), receipt.clone());
            let mut record = SqsMessage::default();
            record.message_id = Some(id);
            record.receipt_handle = Some(receipt);
            record.body = message.body.clone();
            record.md5_of_body = message.md5_of_body.clone();
            record.attributes = message
                .attributes
                .unwrap_or_default()
                .into_iter()
                .map(|(name, value)| (name.as_str().to_string(), value))
                .collect();
            record.event_source = Some("aws:sqs".to_string());
            records.push(record);
        }
        let mut event = SqsEvent::default();
        event.records = records;
        let received = event.records.len();

        let response = function(event).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.clone())
            .collect();
        let failed_set: HashSet<&str> = failed.iter().map(String::as_str).collect();
        if let Some(unknown) = failed_set.iter().find(|id| !receipts.contains_key(**id)) {
            // Lambda fails the whole batch on an id it did not send.
            return Err(format!(
                "the function reported an unknown message id {unknown:?}"
            ));
        }
        let mut deleted = 0;
        for (id, receipt) in &receipts {
            let request = if failed_set.contains(id.as_str()) {
                self.client
                    .change_message_visibility()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            } else {
                deleted += 1;
                self.client
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            };
            request.map_err(|e| format!("settling message {id}: {e}"))?;
        }
        Ok(Polled {
            received,
            failed,
            deleted,
        })
    }

    /// Polls until the queue gives nothing back, at most `max_polls` times; returns every poll.
    pub async fn drain<F, Fut>(&self, max_polls: usize, function: F) -> Result<Vec<Polled>, String>
    where
        F: Fn(SqsEvent) -> Fut,
        Fut: Future<Output = SqsBatchResponse>,
    {
        let mut polls = Vec::new();
        for _ in 0..max_polls {
            let polled = self.poll_once(&function).await?;
            if polled.received == 0 {
                return Ok(polls);
            }
            polls.push(polled);
        }
        Ok(polls)
    }

    /// How many messages the queue at `url` holds (visible and in flight).
    pub async fn depth(client: &aws_sdk_sqs::Client, url: &str) -> Result<u64, String> {
        use aws_sdk_sqs::types::QueueAttributeName as Name;
        let attributes = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(Name::ApproximateNumberOfMessages)
            .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "GetQueueAttributes: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?
            .attributes
            .unwrap_or_default();
        let count = |name: &Name| {
            attributes
                .get(name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(count(&Name::ApproximateNumberOfMessages)
            + count(&Name::ApproximateNumberOfMessagesNotVisible))
    }
}

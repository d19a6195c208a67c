//! The work queues on SQS: one standard queue per stage, each with a dead-letter queue
//! whose redrive policy (maxReceiveCount) lives on the queue, not here.

use crate::batch::{Backoff, EntryFailure, send_chunks, send_with_retries};
use crate::config::{QueueConfig, QueueUrls};
use crate::error::{StoreOp, queue_sdk_error};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use leadq_pipeline::envelope::MAX_MESSAGE_BYTES;
use leadq_pipeline::{Delivery, Envelope, QueueError, Stage, WorkQueue};
use std::time::Duration;

/// Most messages one ReceiveMessage call returns.
pub const MAX_RECEIVE_MESSAGES: usize = 10;
/// Longest visibility timeout SQS accepts (12 hours).
const MAX_VISIBILITY_SECS: u64 = 43_200;

/// The work queues on SQS.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    config: QueueConfig,
    backoff: Backoff,
}

/// SQS visibility timeout in whole seconds: rounded up, at most 12 hours.
fn visibility_secs(visibility: Duration) -> i32 {
    let secs = visibility.as_secs() + u64::from(visibility.subsec_nanos() > 0);
    secs.min(MAX_VISIBILITY_SECS) as i32
}

fn too_large(lead_id: &str, size: usize) -> QueueError {
    QueueError::TooLarge {
        lead_id: lead_id.to_string(),
        size,
        limit: MAX_MESSAGE_BYTES,
    }
}

impl SqsQueue {
    /// Queues at the URLs of `config`, through `client`.
    pub fn new(client: Client, config: QueueConfig) -> SqsQueue {
        SqsQueue {
            client,
            config,
            backoff: Backoff::default(),
        }
    }

    /// Queues with a client built from an SDK configuration.
    pub fn from_sdk_config(sdk_config: &aws_config::SdkConfig, config: QueueConfig) -> SqsQueue {
        SqsQueue::new(Client::new(sdk_config), config)
    }

    /// Replaces the backoff of batch-entry retries.
    pub fn with_backoff(mut self, backoff: Backoff) -> SqsQueue {
        self.backoff = backoff;
        self
    }

    /// The SQS client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn urls(&self, op: StoreOp, stage: Stage) -> Result<&QueueUrls, QueueError> {
        self.config
            .queues
            .get(&stage)
            .ok_or_else(|| QueueError::Backend {
                operation: op,
                message: format!("no queue configured for stage {}", stage.name()),
            })
    }

    /// Sends bodies (already size-checked) in batches of at most 10 and 256 KiB.
    async fn send_bodies(
        &self,
        op: StoreOp,
        url: &str,
        bodies: Vec<String>,
    ) -> Result<(), QueueError> {
        let sizes: Vec<usize> = bodies.iter().map(String::len).collect();
        for range in send_chunks(&sizes, MAX_MESSAGE_BYTES) {
            let entries: Vec<(String, String)> = range
                .map(|i| (format!("m{i}"), bodies[i].clone()))
                .collect();
            send_with_retries(op, entries, self.backoff, |batch| {
                self.send_batch(op, url, batch)
            })
            .await?;
        }
        Ok(())
    }

    /// One SendMessageBatch call; returns the entries SQS refused.
    async fn send_batch(
        &self,
        op: StoreOp,
        url: &str,
        batch: Vec<(String, String)>,
    ) -> Result<Vec<EntryFailure>, QueueError> {
        let entries = batch
            .into_iter()
            .map(|(id, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(body)
                    .build()
                    .map_err(|e| QueueError::Backend {
                        operation: op,
                        message: format!("building the request failed: {e}"),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output = self
            .client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| queue_sdk_error(op, e))?;
        Ok(output
            .failed
            .into_iter()
            .map(|f| EntryFailure {
                id: f.id,
                sender_fault: f.sender_fault,
                code: f.code,
                message: f.message.unwrap_or_default(),
            })
            .collect())
    }

    /// Receives up to `max` messages from `url`, 10 per call, until the queue has no more.
    async fn receive_from(
        &self,
        op: StoreOp,
        url: &str,
        max: usize,
        visibility: i32,
    ) -> Result<Vec<Delivery>, QueueError> {
        let mut deliveries: Vec<Delivery> = Vec::new();
        while deliveries.len() < max {
            let want = (max - deliveries.len()).min(MAX_RECEIVE_MESSAGES) as i32;
            let output = self
                .client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(want)
                .visibility_timeout(visibility)
                .wait_time_seconds(self.config.receive_wait.as_secs() as i32)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(|e| queue_sdk_error(op, e))?;
            let messages = output.messages.unwrap_or_default();
            let mut new = 0;
            for message in messages {
                let (Some(message_id), Some(receipt)) =
                    (message.message_id, message.receipt_handle)
                else {
                    return Err(QueueError::Backend {
                        operation: op,
                        message: "received a message without id or receipt handle".into(),
                    });
                };
                // With visibility 0 a message can come back within one call sequence.
                if deliveries.iter().any(|d| d.message_id == message_id) {
                    continue;
                }
                let count = message
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse::<u32>().ok())
                    .ok_or_else(|| QueueError::Backend {
                        operation: op,
                        message: format!("message {message_id} has no ApproximateReceiveCount"),
                    })?;
                deliveries.push(Delivery {
                    message_id,
                    receipt,
                    body: message.body.unwrap_or_default(),
                    receive_count: count,
                });
                new += 1;
            }
            if new == 0 {
                break;
            }
        }
        Ok(deliveries)
    }
}

#[async_trait]
impl WorkQueue for SqsQueue {
    async fn send(&self, stage: Stage, envelopes: &[Envelope]) -> Result<(), QueueError> {
        const OP: StoreOp = "send";
        let url = &self.urls(OP, stage)?.url;
        let bodies: Vec<String> = envelopes.iter().map(Envelope::to_json).collect();
        // Check every body first: an oversized one fails the call before anything is sent.
        if let Some((envelope, body)) = envelopes
            .iter()
            .zip(&bodies)
            .find(|(_, b)| b.len() > MAX_MESSAGE_BYTES)
        {
            return Err(too_large(&envelope.lead_id, body.len()));
        }
        self.send_bodies(OP, url, bodies).await
    }

    async fn send_raw(&self, stage: Stage, body: &str) -> Result<(), QueueError> {
        const OP: StoreOp = "send_raw";
        let url = &self.urls(OP, stage)?.url;
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(too_large("(raw message)", body.len()));
        }
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| queue_sdk_error(OP, e))?;
        Ok(())
    }

    async fn receive(
        &self,
        stage: Stage,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        const OP: StoreOp = "receive";
        let url = &self.urls(OP, stage)?.url;
        self.receive_from(OP, url, max, visibility_secs(visibility))
            .await
    }

    async fn ack(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        const OP: StoreOp = "ack";
        let url = &self.urls(OP, stage)?.url;
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| queue_sdk_error(OP, e))?;
        Ok(())
    }

    async fn fail(&self, stage: Stage, receipt: &str) -> Result<(), QueueError> {
        const OP: StoreOp = "fail";
        let url = &self.urls(OP, stage)?.url;
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| queue_sdk_error(OP, e))?;
        Ok(())
    }

    async fn dead_letters(&self, stage: Stage, max: usize) -> Result<Vec<Delivery>, QueueError> {
        const OP: StoreOp = "dead_letters";
        let urls = self.urls(OP, stage)?;
        let dlq = urls.dlq_url.as_deref().ok_or_else(|| QueueError::Backend {
            operation: OP,
            message: format!("no dead-letter queue configured for stage {}", stage.name()),
        })?;
        // Visibility 0: inspecting leaves the messages where they are, for the next look.
        self.receive_from(OP, dlq, max, 0).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_rounds_up_to_whole_seconds() {
        assert_eq!(visibility_secs(Duration::ZERO), 0);
        assert_eq!(visibility_secs(Duration::from_millis(1)), 1);
        assert_eq!(visibility_secs(Duration::from_secs(30)), 30);
        assert_eq!(visibility_secs(Duration::from_secs(30 * 3600)), 43_200);
    }
}

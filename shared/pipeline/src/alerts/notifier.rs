//! The notifier port and its HTTP adapter.

use super::config::{DeliverySettings, Hook, HookKind};
use crate::api::IDEMPOTENCY_KEY_HEADER;
use crate::ports::{Alert, Clock, SystemClock};
use crate::signature::{SIGNATURE_HEADER, sign};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Longest part of a receiver's answer kept in an error (and so in the outbox).
const MAX_ERROR_BODY_CHARS: usize = 200;

/// Why one delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The receiver did not answer within the timeout.
    #[error("hook {hook}: no answer within {timeout_ms} ms")]
    Timeout {
        /// The hook's name.
        hook: String,
        /// The timeout.
        timeout_ms: u128,
    },
    /// The receiver could not be reached (refused, DNS, TLS).
    #[error("hook {hook}: cannot connect: {message}")]
    Unreachable {
        /// The hook's name.
        hook: String,
        /// What failed (never the URL).
        message: String,
    },
    /// The receiver answered with an error status.
    #[error("hook {hook}: answered {status}: {body}")]
    Refused {
        /// The hook's name.
        hook: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body.
        body: String,
        /// What the receiver's `Retry-After` asked for, in seconds.
        retry_after_secs: Option<u64>,
    },
    /// The request could not be made or its answer read.
    #[error("hook {hook}: {message}")]
    Request {
        /// The hook's name.
        hook: String,
        /// What failed.
        message: String,
    },
    /// The hook cannot be used as configured (for example a webhook without a secret).
    #[error("hook {hook}: {message}")]
    Misconfigured {
        /// The hook's name.
        hook: String,
        /// What is wrong.
        message: String,
    },
}

impl DeliveryError {
    /// Whether another attempt may succeed. A 4xx answer other than 408 (timeout) and
    /// 429 (slow down) says the request itself is wrong (revoked Slack hook, bad
    /// signature): retrying would be refused the same way, so the alert fails at once
    /// and waits for a person to fix the hook and re-send it.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Refused { status, .. } => {
                !(400..500).contains(status) || matches!(status, 408 | 429)
            }
            DeliveryError::Misconfigured { .. } => false,
            DeliveryError::Timeout { .. }
            | DeliveryError::Unreachable { .. }
            | DeliveryError::Request { .. } => true,
        }
    }

    /// The wait the receiver asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DeliveryError::Refused {
                retry_after_secs: Some(secs),
                ..
            } => Some(Duration::from_secs(*secs)),
            _ => None,
        }
    }
}

/// Sends an alert to a hook. One call is one attempt: retries belong to the outbox.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers `alert.payload` to `hook`; `Ok` once the receiver accepted it (2xx).
    async fn deliver(&self, hook: &Hook, alert: &Alert) -> Result<(), DeliveryError>;
}

/// Why an [`HttpNotifier`] could not be built.
#[derive(Debug, thiserror::Error)]
#[error("HTTP client for alerts: {0}")]
pub struct NotifierInitError(String);

/// Delivers alerts over HTTPS with reqwest (rustls): JSON bodies, a timeout per attempt,
/// no redirects; generic webhooks signed with `X-Leadq-Signature` like ingest, and every
/// request carrying the alert id as `Idempotency-Key`.
#[derive(Clone)]
pub struct HttpNotifier {
    client: reqwest::Client,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for HttpNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpNotifier")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpNotifier {
    /// A notifier with the delivery settings' timeout, signing with the system clock.
    pub fn new(settings: &DeliverySettings) -> Result<HttpNotifier, NotifierInitError> {
        HttpNotifier::with_clock(settings, Arc::new(SystemClock))
    }

    /// A notifier signing with `clock`'s time (the receiver checks it against its own).
    pub fn with_clock(
        settings: &DeliverySettings,
        clock: Arc<dyn Clock>,
    ) -> Result<HttpNotifier, NotifierInitError> {
        let client = crate::tls::http_client_builder()
            .map_err(|error| NotifierInitError(error.to_string()))?
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // a redirect could carry a signed body somewhere nobody configured
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("leadq/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| NotifierInitError(error.to_string()))?;
        Ok(HttpNotifier {
            client,
            timeout: settings.timeout,
            clock,
        })
    }
}

/// The error and its causes without the URL reqwest puts in its display (a Slack URL is
/// a credential, and these words end up in the outbox and the API).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut words = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        words.push_str(": ");
        words.push_str(&cause.to_string());
        source = cause.source();
    }
    words
}

/// The start of an error answer's body, read a chunk at a time so a huge or endless
/// body costs at most a few kilobytes and the timeout.
async fn body_start(mut response: reqwest::Response, timeout: Duration) -> String {
    let mut bytes = Vec::new();
    let read = async {
        while bytes.len() < MAX_ERROR_BODY_CHARS * 4 {
            match response.chunk().await {
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(timeout, read).await;
    String::from_utf8_lossy(&bytes)
        .trim()
        .chars()
        .take(MAX_ERROR_BODY_CHARS)
        .collect()
}

#[async_trait]
impl Notifier for HttpNotifier {
    async fn deliver(&self, hook: &Hook, alert: &Alert) -> Result<(), DeliveryError> {
        let body = alert.payload.clone().into_bytes();
        let mut request = self
            .client
            .post(hook.url())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_KEY_HEADER, &alert.id);
        if hook.kind == HookKind::Webhook {
            let Some(secret) = hook.secret() else {
                return Err(DeliveryError::Misconfigured {
                    hook: hook.name.clone(),
                    message: "a webhook needs a signing secret".into(),
                });
            };
            let signature = sign(secret, self.clock.now().timestamp(), &body);
            request = request.header(SIGNATURE_HEADER, signature);
        }
        let response = request.body(body).send().await.map_err(|error| {
            if error.is_timeout() {
                DeliveryError::Timeout {
                    hook: hook.name.clone(),
                    timeout_ms: self.timeout.as_millis(),
                }
            } else if error.is_connect() {
                DeliveryError::Unreachable {
                    hook: hook.name.clone(),
                    message: describe(error),
                }
            } else {
                DeliveryError::Request {
                    hook: hook.name.clone(),
                    message: describe(error),
                }
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after_secs = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        let body = body_start(response, self.timeout).await;
        Err(DeliveryError::Refused {
            hook: hook.name.clone(),
            status: status.as_u16(),
            body,
            retry_after_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, retry_after_secs: Option<u64>) -> DeliveryError {
        DeliveryError::Refused {
            hook: "crm".into(),
            status,
            body: String::new(),
            retry_after_secs,
        }
    }

    #[test]
    fn server_errors_timeouts_and_slow_down_are_retried_other_refusals_are_not() {
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(refused(status, None).is_retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 410, 422] {
            assert!(!refused(status, None).is_retryable(), "{status}");
        }
        let hook = "crm".to_owned();
        assert!(
            DeliveryError::Timeout {
                hook: hook.clone(),
                timeout_ms: 5
            }
            .is_retryable()
        );
        assert!(
            DeliveryError::Unreachable {
                hook: hook.clone(),
                message: "refused".into()
            }
            .is_retryable()
        );
        assert!(
            !DeliveryError::Misconfigured {
                hook,
                message: "no secret".into()
            }
            .is_retryable()
        );
    }

    #[test]
    fn retry_after_is_read_from_a_refusal_only() {
        assert_eq!(
            refused(429, Some(7)).retry_after(),
            Some(Duration::from_secs(7))
        );
        assert_eq!(refused(503, None).retry_after(), None);
        assert_eq!(
            DeliveryError::Timeout {
                hook: "x".into(),
                timeout_ms: 1
            }
            .retry_after(),
            None
        );
    }
}

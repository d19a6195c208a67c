//! Sales alerts: which verdicts each notification hook hears about, what the message
//! says, and the outbox that delivers it with timeouts, backoff and a failed state.
//!
//! - [`AlertConfig`]: hooks (Slack incoming webhooks, signed generic webhooks; URLs and
//!   secrets read from environment variables the file names), subscriptions by band and
//!   next action, delivery timeouts and retries;
//! - [`alerts_for`]: the alerts a lead's verdict calls for, one per subscribed hook, each
//!   with an id that is the same for the same verdict, so the route stage can put them in
//!   the outbox create-if-absent and a redelivered message adds nothing;
//! - [`Notifier`]: the port that makes one attempt; [`HttpNotifier`] on reqwest (rustls);
//! - [`deliver_alert`], [`deliver_due_alerts`], [`resend_alert`]: the outbox.

mod config;
mod notifier;
mod outbox;
mod payload;

pub use config::{
    AlertConfig, AlertConfigError, DeliverySettings, Hook, HookKind, LEAD_ID_PLACEHOLDER,
    Subscription,
};
pub use notifier::{DeliveryError, HttpNotifier, Notifier, NotifierInitError};
pub use outbox::{
    AlertError, DELIVERY_CONCURRENCY, DeliveryOutcome, DeliveryReport, SCAN_LIMIT, Skip,
    deliver_alert, deliver_due_alerts, list_alerts, resend_alert, state_from_name, state_name,
};
pub use payload::{
    TOP_REASONS, WEBHOOK_EVENT_TYPE, alert_id, alerts_for, hook_of, slack_message, webhook_body,
};

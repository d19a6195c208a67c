//! The alert configuration: notification hooks, who subscribes to which verdicts, and
//! how patiently deliveries are retried.
//!
//! Hook URLs and signing secrets are credentials (a Slack incoming-webhook URL lets
//! anyone post to the channel), so the file only names the environment variables that
//! hold them; they are read once, when the configuration is loaded.

use crate::api::MIN_SECRET_CHARS;
use crate::retry::RetryPolicy;
use leadq_scoring::{Band, NextAction};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The placeholder of [`AlertConfig::lead_url`] replaced by the lead's id.
pub const LEAD_ID_PLACEHOLDER: &str = "{lead_id}";

/// Why an alert configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertConfigError {
    /// The document is not valid TOML, has an unknown key or a value of the wrong type;
    /// the message names the key and the line.
    #[error("alert config: {0}")]
    Syntax(String),
    /// A key holds a value that breaks a rule.
    #[error("alert config: `{key}`: {rule}")]
    Invalid {
        /// Dotted path of the offending key, for example `hooks.crm.secret_env`.
        key: String,
        /// The rule it broke, in words (never a URL or a secret).
        rule: String,
    },
}

fn invalid(key: impl Into<String>, rule: impl Into<String>) -> AlertConfigError {
    AlertConfigError::Invalid {
        key: key.into(),
        rule: rule.into(),
    }
}

/// What kind of receiver a hook is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    /// A Slack incoming webhook: a Block Kit message.
    Slack,
    /// Any HTTP endpoint: JSON signed with `X-Leadq-Signature`.
    Webhook,
}

impl HookKind {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            HookKind::Slack => "slack",
            HookKind::Webhook => "webhook",
        }
    }
}

/// A notification hook, its URL and (for generic webhooks) its signing secret resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct Hook {
    /// The hook's name, as alerts refer to it.
    pub name: String,
    /// Slack or generic webhook.
    pub kind: HookKind,
    url: String,
    secret: Option<Vec<u8>>,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // a Slack webhook URL is itself a credential: print neither it nor the secret
        f.debug_struct("Hook")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl Hook {
    /// A Slack incoming webhook posting to `url`.
    pub fn slack(name: impl Into<String>, url: &str) -> Result<Hook, AlertConfigError> {
        let name = name.into();
        check_url(&format!("hooks.{name}.url_env"), url)?;
        Ok(Hook {
            name,
            kind: HookKind::Slack,
            url: url.to_owned(),
            secret: None,
        })
    }

    /// A generic webhook posting to `url`, signed with `secret` (at least 16 characters).
    pub fn webhook(
        name: impl Into<String>,
        url: &str,
        secret: &str,
    ) -> Result<Hook, AlertConfigError> {
        let name = name.into();
        check_url(&format!("hooks.{name}.url_env"), url)?;
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(invalid(
                format!("hooks.{name}.secret_env"),
                format!("the secret must be at least {MIN_SECRET_CHARS} characters"),
            ));
        }
        Ok(Hook {
            name,
            kind: HookKind::Webhook,
            url: url.to_owned(),
            secret: Some(secret.as_bytes().to_vec()),
        })
    }

    /// Where alerts are posted (a credential for Slack: do not log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The signing secret of a generic webhook.
    pub fn secret(&self) -> Option<&[u8]> {
        self.secret.as_deref()
    }
}

/// Only http(s) URLs with a host; the URL itself never appears in the error.
fn check_url(key: &str, url: &str) -> Result<(), AlertConfigError> {
    let parsed = reqwest::Url::parse(url).map_err(|error| {
        invalid(
            key,
            format!("the variable does not hold a valid URL ({error})"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(key, "the URL must use http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid(key, "the URL has no host"));
    }
    Ok(())
}

/// Which verdicts a hook hears about. An empty list matches anything; a subscription
/// names at least one band or next action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The hook's name.
    pub hook: String,
    /// The bands alerted on (empty: any band).
    pub bands: Vec<Band>,
    /// The next actions alerted on (empty: any next action).
    pub next_actions: Vec<NextAction>,
}

impl Subscription {
    /// Whether a verdict is one this subscription wants.
    pub fn matches(&self, band: Band, next_action: NextAction) -> bool {
        (self.bands.is_empty() || self.bands.contains(&band))
            && (self.next_actions.is_empty() || self.next_actions.contains(&next_action))
    }
}

/// How deliveries are attempted and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Attempts in total, the first included; the alert is `failed` after the last.
    pub max_attempts: u32,
    /// How long one HTTP attempt may take, connection included.
    pub timeout: Duration,
    /// Backoff ceiling after the first failed attempt; it doubles per failure (full jitter).
    pub backoff_base: Duration,
    /// Largest backoff ceiling.
    pub backoff_max: Duration,
}

impl Default for DeliverySettings {
    /// 6 attempts, 5 s each, backoff from 30 s doubling up to 30 min: about an hour in all.
    fn default() -> Self {
        DeliverySettings {
            max_attempts: 6,
            timeout: Duration::from_secs(5),
            backoff_base: Duration::from_secs(30),
            backoff_max: Duration::from_secs(30 * 60),
        }
    }
}

impl DeliverySettings {
    /// The backoff schedule as a [`RetryPolicy`] (same doubling and full jitter).
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts,
            base: self.backoff_base,
            max: self.backoff_max,
        }
    }

    /// How long a deliverer holds an attempt it claimed: the request's timeout plus a
    /// margin. Another deliverer may take the alert over only after that, so a crashed
    /// deliverer delays an alert but never loses it.
    pub fn lease(&self) -> Duration {
        self.timeout.saturating_mul(2) + Duration::from_secs(10)
    }
}

/// The alert configuration, validated, with every hook's URL and secret resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertConfig {
    /// Link to a lead, with `{lead_id}` where its id goes.
    pub lead_url: String,
    /// The hooks by name.
    pub hooks: BTreeMap<String, Hook>,
    /// Who hears about which verdicts.
    pub subscriptions: Vec<Subscription>,
    /// Timeouts and retries.
    pub delivery: DeliverySettings,
}

/// The document exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertDocument {
    lead_url: String,
    #[serde(default)]
    delivery: Option<DeliveryDocument>,
    #[serde(default)]
    hooks: BTreeMap<String, HookDocument>,
    #[serde(default)]
    subscriptions: Vec<SubscriptionDocument>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryDocument {
    max_attempts: Option<u32>,
    timeout_ms: Option<u64>,
    backoff_base_secs: Option<u64>,
    backoff_max_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HookDocument {
    kind: HookKind,
    url_env: String,
    #[serde(default)]
    secret_env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionDocument {
    hook: String,
    #[serde(default)]
    bands: Vec<String>,
    #[serde(default)]
    next_actions: Vec<String>,
}

const BANDS: [Band; 5] = [
    Band::Hot,
    Band::Warm,
    Band::Mql,
    Band::Cold,
    Band::Disqualified,
];

const NEXT_ACTIONS: [NextAction; 7] = [
    NextAction::SalesNow,
    NextAction::AccountFollowUp,
    NextAction::SdrReview,
    NextAction::EnrichAgain,
    NextAction::ManualReview,
    NextAction::Nurture,
    NextAction::Suppress,
];

fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> String {
    all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", ")
}

/// Most attempts accepted: beyond this an alert is news from another day.
const MAX_ATTEMPTS_LIMIT: u32 = 50;

impl AlertConfig {
    /// Parses and validates a configuration, reading hook URLs and secrets from the
    /// process environment.
    pub fn from_toml(text: &str) -> Result<AlertConfig, AlertConfigError> {
        AlertConfig::from_toml_with_env(text, |name| std::env::var(name).ok())
    }

    /// Reads and parses a configuration file (see [`AlertConfig::from_toml`]).
    pub fn from_file(path: &std::path::Path) -> Result<AlertConfig, AlertConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            AlertConfigError::Syntax(format!("{}: cannot be read: {error}", path.display()))
        })?;
        AlertConfig::from_toml(&text)
    }

    /// Parses and validates a configuration, looking environment variables up with `env`
    /// (tests pass a map instead of changing the process environment).
    pub fn from_toml_with_env(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<AlertConfig, AlertConfigError> {
        let document: AlertDocument =
            toml::from_str(text).map_err(|error| AlertConfigError::Syntax(error.to_string()))?;

        let lead_url = document.lead_url;
        if !lead_url.contains(LEAD_ID_PLACEHOLDER) {
            return Err(invalid(
                "lead_url",
                format!("must contain {LEAD_ID_PLACEHOLDER} where the lead's id goes"),
            ));
        }
        check_url("lead_url", &lead_url.replace(LEAD_ID_PLACEHOLDER, "x"))?;

        let delivery = delivery_settings(document.delivery)?;

        let mut hooks = BTreeMap::new();
        for (name, hook) in document.hooks {
            let key = |field: &str| format!("hooks.{name}.{field}");
            if name.trim().is_empty() || name.chars().any(char::is_whitespace) {
                return Err(invalid(
                    format!("hooks.{name}"),
                    "a hook name must be one word",
                ));
            }
            let url = read_env(&env, &key("url_env"), &hook.url_env)?;
            let resolved = match (hook.kind, &hook.secret_env) {
                (HookKind::Slack, None) => Hook::slack(name.clone(), &url)?,
                (HookKind::Slack, Some(_)) => {
                    return Err(invalid(
                        key("secret_env"),
                        "Slack incoming webhooks are not signed: remove secret_env",
                    ));
                }
                (HookKind::Webhook, Some(secret_env)) => {
                    let secret = read_env(&env, &key("secret_env"), secret_env)?;
                    Hook::webhook(name.clone(), &url, &secret)?
                }
                (HookKind::Webhook, None) => {
                    return Err(invalid(
                        key("secret_env"),
                        "a webhook is signed: name the environment variable holding its secret",
                    ));
                }
            };
            hooks.insert(name, resolved);
        }

        let mut subscriptions = Vec::new();
        for (index, subscription) in document.subscriptions.into_iter().enumerate() {
            let key = |field: &str| format!("subscriptions[{index}].{field}");
            if !hooks.contains_key(&subscription.hook) {
                return Err(invalid(
                    key("hook"),
                    format!("no hook named `{}` under [hooks]", subscription.hook),
                ));
            }
            if subscription.bands.is_empty() && subscription.next_actions.is_empty() {
                return Err(invalid(
                    format!("subscriptions[{index}]"),
                    "name bands or next_actions (or both): a subscription to everything is a mistake more often than a wish",
                ));
            }
            let bands = parse_all(&subscription.bands, &key("bands"), &BANDS, Band::name)?;
            let next_actions = parse_all(
                &subscription.next_actions,
                &key("next_actions"),
                &NEXT_ACTIONS,
                NextAction::name,
            )?;
            subscriptions.push(Subscription {
                hook: subscription.hook,
                bands,
                next_actions,
            });
        }

        Ok(AlertConfig {
            lead_url,
            hooks,
            subscriptions,
            delivery,
        })
    }

    /// The link to a lead.
    pub fn lead_link(&self, lead_id: &str) -> String {
        self.lead_url.replace(LEAD_ID_PLACEHOLDER, lead_id)
    }

    /// The hooks that want to hear about a verdict, each once, by name.
    pub fn hooks_for(&self, band: Band, next_action: NextAction) -> Vec<&Hook> {
        self.hooks
            .values()
            .filter(|hook| {
                self.subscriptions
                    .iter()
                    .any(|s| s.hook == hook.name && s.matches(band, next_action))
            })
            .collect()
    }
}

fn read_env(
    env: &impl Fn(&str) -> Option<String>,
    key: &str,
    variable: &str,
) -> Result<String, AlertConfigError> {
    if variable.trim().is_empty() {
        return Err(invalid(key, "name an environment variable"));
    }
    match env(variable) {
        Some(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        _ => Err(invalid(
            key,
            format!("environment variable {variable} is not set or empty"),
        )),
    }
}

fn parse_all<T: Copy + PartialEq>(
    written: &[String],
    key: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str + Copy,
) -> Result<Vec<T>, AlertConfigError> {
    let mut parsed = Vec::new();
    for value in written {
        let wanted = value.trim().to_ascii_lowercase();
        let found = all
            .iter()
            .copied()
            .find(|v| name(*v) == wanted)
            .ok_or_else(|| invalid(key, format!("`{value}` is not one of {}", names(all, name))))?;
        if !parsed.contains(&found) {
            parsed.push(found);
        }
    }
    Ok(parsed)
}

fn delivery_settings(
    document: Option<DeliveryDocument>,
) -> Result<DeliverySettings, AlertConfigError> {
    let defaults = DeliverySettings::default();
    let Some(document) = document else {
        return Ok(defaults);
    };
    let max_attempts = document.max_attempts.unwrap_or(defaults.max_attempts);
    if !(1..=MAX_ATTEMPTS_LIMIT).contains(&max_attempts) {
        return Err(invalid(
            "delivery.max_attempts",
            format!("must be between 1 and {MAX_ATTEMPTS_LIMIT}"),
        ));
    }
    let timeout = document
        .timeout_ms
        .map_or(defaults.timeout, Duration::from_millis);
    if !(Duration::from_millis(50)..=Duration::from_secs(60)).contains(&timeout) {
        return Err(invalid(
            "delivery.timeout_ms",
            "must be between 50 and 60000 (a receiver slower than a minute is down)",
        ));
    }
    let backoff_base = document
        .backoff_base_secs
        .map_or(defaults.backoff_base, Duration::from_secs);
    let backoff_max = document
        .backoff_max_secs
        .map_or(defaults.backoff_max.max(backoff_base), Duration::from_secs);
    if backoff_base > Duration::from_secs(24 * 3600) {
        return Err(invalid(
            "delivery.backoff_base_secs",
            "must be at most a day (86400)",
        ));
    }
    if backoff_max < backoff_base {
        return Err(invalid(
            "delivery.backoff_max_secs",
            "must be at least delivery.backoff_base_secs",
        ));
    }
    if backoff_max > Duration::from_secs(7 * 24 * 3600) {
        return Err(invalid(
            "delivery.backoff_max_secs",
            "must be at most a week (604800)",
        ));
    }
    Ok(DeliverySettings {
        max_attempts,
        timeout,
        backoff_base,
        backoff_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const EXAMPLE: &str = include_str!("../../../../examples/alerts.toml");

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn example_env() -> impl Fn(&str) -> Option<String> {
        env(&[
            (
                "LEADQ_SLACK_SALES_URL",
                "https://hooks.slack.com/services/T0/B0/xyzsecretpath",
            ),
            (
                "LEADQ_CRM_WEBHOOK_URL",
                "https://crm.example.com/hooks/leadq",
            ),
            ("LEADQ_CRM_WEBHOOK_SECRET", "whsec_crm_0123456789abcdef"),
        ])
    }

    fn refusal(text: &str, pairs: &[(&str, &str)]) -> (String, String) {
        match AlertConfig::from_toml_with_env(text, env(pairs)) {
            Err(AlertConfigError::Invalid { key, rule }) => (key, rule),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_example_loads_with_its_variables_set() {
        let config = AlertConfig::from_toml_with_env(EXAMPLE, example_env()).expect("loads");
        assert_eq!(config.hooks.len(), 2);
        assert_eq!(config.hooks["sales_slack"].kind, HookKind::Slack);
        assert_eq!(config.hooks["sales_slack"].secret(), None);
        assert_eq!(config.hooks["crm"].kind, HookKind::Webhook);
        assert_eq!(
            config.hooks["crm"].secret(),
            Some(&b"whsec_crm_0123456789abcdef"[..])
        );
        assert_eq!(
            config.hooks["crm"].url(),
            "https://crm.example.com/hooks/leadq"
        );
        assert_eq!(config.subscriptions.len(), 3);
        assert_eq!(config.delivery, DeliverySettings::default());
        assert_eq!(
            config.lead_link("lead-1"),
            "https://leadq.example.com/v1/leads/lead-1"
        );
    }

    #[test]
    fn subscriptions_pick_hooks_by_band_and_next_action() {
        let config = AlertConfig::from_toml_with_env(EXAMPLE, example_env()).expect("loads");
        let names = |band, action| -> Vec<String> {
            config
                .hooks_for(band, action)
                .into_iter()
                .map(|h| h.name.clone())
                .collect()
        };
        // hot by band, crm by band and action; each hook once though two subscriptions match
        assert_eq!(
            names(Band::Hot, NextAction::SalesNow),
            ["crm", "sales_slack"]
        );
        assert_eq!(names(Band::Hot, NextAction::Nurture), ["sales_slack"]);
        assert_eq!(names(Band::Warm, NextAction::SdrReview), ["crm"]);
        assert_eq!(
            names(Band::Warm, NextAction::AccountFollowUp),
            ["crm", "sales_slack"]
        );
        assert_eq!(
            names(Band::Mql, NextAction::SdrReview),
            Vec::<String>::new()
        );
        assert_eq!(names(Band::Cold, NextAction::Nurture), Vec::<String>::new());
    }

    #[test]
    fn debug_never_prints_a_url_or_a_secret() {
        let config = AlertConfig::from_toml_with_env(EXAMPLE, example_env()).expect("loads");
        let printed = format!("{config:?}");
        assert!(!printed.contains("xyzsecretpath"), "{printed}");
        assert!(!printed.contains("whsec_crm"), "{printed}");
        assert!(!printed.contains("crm.example.com"), "{printed}");
    }

    #[test]
    fn refusals_name_the_key() {
        let slack = "lead_url = \"https://x.io/{lead_id}\"\n[hooks.s]\nkind = \"slack\"\nurl_env = \"S_URL\"\n";
        let url = [("S_URL", "https://hooks.slack.com/services/abc")];

        assert_eq!(refusal(slack, &[]).0, "hooks.s.url_env");
        assert!(refusal(slack, &[]).1.contains("S_URL is not set"));
        let (key, rule) = refusal(slack, &[("S_URL", "ftp://hooks.slack.com/secretpath")]);
        assert_eq!(key, "hooks.s.url_env");
        assert!(!rule.contains("secretpath"), "{rule}");
        assert_eq!(
            refusal(slack, &[("S_URL", "not a url at all")]).0,
            "hooks.s.url_env"
        );

        let signed_slack = format!("{slack}secret_env = \"S_SECRET\"\n");
        assert_eq!(refusal(&signed_slack, &url).0, "hooks.s.secret_env");

        let webhook = "lead_url = \"https://x.io/{lead_id}\"\n[hooks.w]\nkind = \"webhook\"\nurl_env = \"W_URL\"\n";
        let w_url = ("W_URL", "https://crm.example.com/in");
        assert_eq!(refusal(webhook, &[w_url]).0, "hooks.w.secret_env");
        let with_secret = format!("{webhook}secret_env = \"W_SECRET\"\n");
        assert_eq!(refusal(&with_secret, &[w_url]).0, "hooks.w.secret_env");
        let (key, rule) = refusal(&with_secret, &[w_url, ("W_SECRET", "short")]);
        assert_eq!(key, "hooks.w.secret_env");
        assert!(
            rule.contains("16 characters") && !rule.contains("short"),
            "{rule}"
        );

        let no_placeholder = slack.replace("{lead_id}", "lead");
        assert_eq!(refusal(&no_placeholder, &url).0, "lead_url");

        let unknown_hook =
            format!("{slack}[[subscriptions]]\nhook = \"nope\"\nbands = [\"hot\"]\n");
        assert_eq!(refusal(&unknown_hook, &url).0, "subscriptions[0].hook");
        let everything = format!("{slack}[[subscriptions]]\nhook = \"s\"\n");
        assert_eq!(refusal(&everything, &url).0, "subscriptions[0]");
        let bad_band =
            format!("{slack}[[subscriptions]]\nhook = \"s\"\nbands = [\"hot\", \"boiling\"]\n");
        let (key, rule) = refusal(&bad_band, &url);
        assert_eq!(key, "subscriptions[0].bands");
        assert!(
            rule.contains("`boiling`") && rule.contains("hot, warm"),
            "{rule}"
        );
        let bad_action =
            format!("{slack}[[subscriptions]]\nhook = \"s\"\nnext_actions = [\"call\"]\n");
        assert_eq!(
            refusal(&bad_action, &url).0,
            "subscriptions[0].next_actions"
        );

        for (delivery, key) in [
            ("max_attempts = 0", "delivery.max_attempts"),
            ("max_attempts = 51", "delivery.max_attempts"),
            ("timeout_ms = 10", "delivery.timeout_ms"),
            ("timeout_ms = 600000", "delivery.timeout_ms"),
            (
                "backoff_base_secs = 60\nbackoff_max_secs = 30",
                "delivery.backoff_max_secs",
            ),
        ] {
            let text = format!("{slack}[delivery]\n{delivery}\n");
            assert_eq!(refusal(&text, &url).0, key, "{delivery}");
        }
    }

    #[test]
    fn syntax_errors_name_the_key_and_line() {
        let unknown = "lead_url = \"https://x.io/{lead_id}\"\n[delivery]\nretries = 3\n";
        match AlertConfig::from_toml_with_env(unknown, env(&[])) {
            Err(AlertConfigError::Syntax(message)) => {
                assert!(message.contains("retries"), "{message}");
                assert!(message.contains("line 3"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let wrong_kind =
            "lead_url = \"https://x.io/{lead_id}\"\n[hooks.s]\nkind = \"teams\"\nurl_env = \"X\"\n";
        assert!(matches!(
            AlertConfig::from_toml_with_env(wrong_kind, env(&[])),
            Err(AlertConfigError::Syntax(message)) if message.contains("teams")
        ));
        assert!(matches!(
            AlertConfig::from_toml_with_env("", env(&[])),
            Err(AlertConfigError::Syntax(message)) if message.contains("lead_url")
        ));
    }

    #[test]
    fn delivery_settings_back_off_and_lease() {
        let text = "lead_url = \"https://x.io/{lead_id}\"\n[delivery]\nmax_attempts = 4\ntimeout_ms = 200\nbackoff_base_secs = 2\nbackoff_max_secs = 5\n";
        let config = AlertConfig::from_toml_with_env(text, env(&[])).expect("loads");
        let d = config.delivery;
        assert_eq!(d.max_attempts, 4);
        assert_eq!(d.timeout, Duration::from_millis(200));
        let policy = d.retry_policy();
        assert_eq!(policy.ceiling(1), Duration::from_secs(2));
        assert_eq!(policy.ceiling(2), Duration::from_secs(4));
        assert_eq!(policy.ceiling(3), Duration::from_secs(5));
        assert!(d.lease() > d.timeout);
    }
}

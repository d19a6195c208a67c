//! What an alert says: one [`Alert`] per subscribed hook, with a Slack Block Kit message
//! or a generic webhook JSON body, and an id that is the same for the same verdict.

use super::config::{AlertConfig, Hook, HookKind};
use crate::ports::{Alert, AlertState, LeadRecord};
use chrono::{DateTime, SecondsFormat, Utc};
use leadq_scoring::{Band, NextAction, Reason, ScoreCard};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Reasons shown in an alert: enough to see why, short enough to read on a phone.
pub const TOP_REASONS: usize = 3;

/// The `type` of a generic webhook body.
pub const WEBHOOK_EVENT_TYPE: &str = "lead.alert";

/// Slack's limits: header text 150 characters, a section field 2000, section text 3000.
const SLACK_HEADER_CHARS: usize = 150;
const SLACK_FIELD_CHARS: usize = 1900;

/// The idempotency key of the alert about a lead's verdict (band and next action) to a
/// hook: the same verdict of the same lead to the same hook always gets the same id, so a
/// redelivered route message finds its alert already in the outbox.
pub fn alert_id(lead_id: &str, band: Band, next_action: NextAction, hook: &str) -> String {
    let mut digest = Sha256::new();
    // NUL separators: no lead id or hook name can make two different tuples collide
    for part in [
        "leadq-alert-v1",
        lead_id,
        band.name(),
        next_action.name(),
        hook,
    ] {
        digest.update(part.as_bytes());
        digest.update([0u8]);
    }
    let hex = hex::encode(digest.finalize());
    format!("alert_{}", &hex[..32])
}

/// The alerts a lead's current verdict calls for: one per hook subscribed to its band
/// and next action, pending and due at `now`. None for a lead not scored yet.
pub fn alerts_for(record: &LeadRecord, config: &AlertConfig, now: DateTime<Utc>) -> Vec<Alert> {
    let Some(card) = &record.card else {
        return Vec::new();
    };
    // a closed deal needs nobody's attention
    if record.closed.is_some() {
        return Vec::new();
    }
    config
        .hooks_for(card.band, card.next_action)
        .into_iter()
        .map(|hook| {
            let id = alert_id(record.id(), card.band, card.next_action, &hook.name);
            let link = config.lead_link(record.id());
            let payload = match hook.kind {
                HookKind::Slack => slack_message(record, card, &link),
                HookKind::Webhook => webhook_body(record, card, &link, &id, now),
            };
            Alert {
                id,
                lead_id: record.id().to_owned(),
                hook: hook.name.clone(),
                payload: payload.to_string(),
                state: AlertState::Pending,
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                version: 1,
                created_at: now,
            }
        })
        .collect()
}

/// The hook an alert goes to, if it is still configured.
pub fn hook_of<'a>(config: &'a AlertConfig, alert: &Alert) -> Option<&'a Hook> {
    config.hooks.get(&alert.hook)
}

/// Text as Slack's mrkdwn shows it literally: `&`, `<` and `>` escaped, so a name typed
/// into a form cannot mention `<!channel>` or smuggle a link.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

fn humane(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn who(record: &LeadRecord) -> String {
    let person = &record.lead.person;
    match (person.name.as_deref(), person.title.as_deref()) {
        (Some(name), Some(title)) => format!("{name}, {title}"),
        (Some(name), None) => name.to_owned(),
        (None, Some(title)) => format!("unnamed {title}"),
        (None, None) => "name unknown".to_owned(),
    }
}

fn company(record: &LeadRecord) -> String {
    let company = &record.lead.company;
    match (company.name.as_deref(), company.domain.as_deref()) {
        (Some(name), Some(domain)) => format!("{name} ({domain})"),
        (Some(name), None) => name.to_owned(),
        (None, Some(domain)) => domain.to_owned(),
        (None, None) => "company unknown".to_owned(),
    }
}

fn top_reasons(card: &ScoreCard) -> impl Iterator<Item = &Reason> {
    // the card lists reasons largest composite effect first
    card.reasons.iter().take(TOP_REASONS)
}

fn reason_line(reason: &Reason) -> String {
    format!(
        "{} ({:+.1} points, {})",
        reason.rule,
        reason.composite_points,
        reason.dimension.name()
    )
}

/// The Slack Block Kit message: header, who, company, score and band, next action, the
/// top three reasons and a button to the lead. `text` is the notification fallback.
pub fn slack_message(record: &LeadRecord, card: &ScoreCard, link: &str) -> Value {
    let person = slack_escape(&who(record));
    let firm = slack_escape(&company(record));
    let band = humane(card.band.name());
    let action = humane(card.next_action.name());
    let headline = clip(
        // Slack decodes the three entities in plain_text too, and escaping there keeps a
        // `<!channel>` typed into a form inert whatever the client does with a header
        &format!("{band} lead: {person}, {firm}"),
        SLACK_HEADER_CHARS,
    );
    let reasons: Vec<String> = top_reasons(card)
        .map(|reason| format!("• {}", slack_escape(&reason_line(reason))))
        .collect();
    let reasons = if reasons.is_empty() {
        "no rule or signal gave points".to_owned()
    } else {
        reasons.join("\n")
    };
    let field = |label: &str, value: &str| json!({"type": "mrkdwn", "text": clip(&format!("*{label}*\n{value}"), SLACK_FIELD_CHARS)});
    json!({
        "text": clip(
            &format!("{band} lead: {person} at {firm}, {}/100, next: {action}", card.composite),
            SLACK_FIELD_CHARS,
        ),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": headline, "emoji": false}},
            {"type": "section", "fields": [
                field("Who", &person),
                field("Company", &firm),
                field("Score", &format!("{}/100 ({})", card.composite, card.band.name())),
                field("Next action", &action),
            ]},
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(&format!("*Why*\n{reasons}"), SLACK_FIELD_CHARS)}},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Open lead"}, "url": link, "action_id": "open_lead"}
            ]},
        ],
    })
}

/// The generic webhook body: the lead, the verdict and its top reasons, the link, and
/// the alert id (also sent as the `Idempotency-Key` header).
pub fn webhook_body(
    record: &LeadRecord,
    card: &ScoreCard,
    link: &str,
    alert_id: &str,
    now: DateTime<Utc>,
) -> Value {
    let person = &record.lead.person;
    let company = &record.lead.company;
    let reasons: Vec<Value> = top_reasons(card)
        .map(|reason| {
            json!({
                "rule": reason.rule.as_ref(),
                "dimension": reason.dimension.name(),
                "points": reason.points,
                "composite_points": reason.composite_points,
            })
        })
        .collect();
    json!({
        "type": WEBHOOK_EVENT_TYPE,
        "alert_id": alert_id,
        "created_at": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "lead_id": record.id(),
        "lead_url": link,
        "person": {
            "name": person.name,
            "title": person.title,
            "country": person.country,
        },
        "company": {
            "name": company.name,
            "domain": company.domain,
            "industry": company.industry,
            "employees": company.employees,
            "country": company.country,
        },
        "verdict": {
            "composite": card.composite,
            "band": card.band.name(),
            "next_action": card.next_action.name(),
            "scores": {
                "fit": card.scores.fit,
                "stakeholder": card.scores.stakeholder,
                "behaviour": card.scores.behaviour,
                "intent": card.scores.intent,
            },
            "probability": card.probability,
            "model_version": card.model_version.as_ref(),
            "scored_at": card.scored_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "top_reasons": reasons,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use leadq_scoring::{Dimension, Lead};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .expect("valid time")
    }

    fn reason(rule: &str, points: f64) -> Reason {
        Reason {
            dimension: Dimension::Intent,
            rule: rule.into(),
            points,
            composite_points: points / 2.0,
            count: 1,
            decayed: 0.0,
        }
    }

    fn scored(name: &str) -> LeadRecord {
        let mut lead = Lead {
            id: "lead-1".into(),
            ..Lead::default()
        };
        lead.person.name = Some(name.into());
        lead.person.title = Some("VP Marketing".into());
        lead.person.email = Some("ada@acme.io".into());
        lead.company.name = Some("Acme & Sons".into());
        lead.company.domain = Some("acme.io".into());
        let mut record = LeadRecord::new(lead, Some("ada@acme.io".into()), now());
        let mut card = ScoreCard::empty();
        card.lead_id = "lead-1".into();
        card.composite = 87;
        card.band = Band::Hot;
        card.next_action = NextAction::SalesNow;
        card.scored_at = now();
        card.reasons = vec![
            reason("demo_request", 40.0),
            reason("pricing_view", 20.0),
            reason("industry = software", 10.0),
            reason("page_view", 4.0),
        ];
        record.card = Some(card);
        record
    }

    fn config() -> AlertConfig {
        let text = "lead_url = \"https://leadq.example.com/leads/{lead_id}\"\n\
            [hooks.sales]\nkind = \"slack\"\nurl_env = \"S\"\n\
            [hooks.crm]\nkind = \"webhook\"\nurl_env = \"W\"\nsecret_env = \"K\"\n\
            [[subscriptions]]\nhook = \"sales\"\nbands = [\"hot\"]\n\
            [[subscriptions]]\nhook = \"crm\"\nnext_actions = [\"sales_now\"]\n";
        AlertConfig::from_toml_with_env(text, |name| match name {
            "S" => Some("https://hooks.slack.com/services/x".into()),
            "W" => Some("https://crm.example.com/in".into()),
            "K" => Some("whsec_0123456789abcdef".into()),
            _ => None,
        })
        .expect("valid config")
    }

    #[test]
    fn one_pending_alert_per_subscribed_hook() {
        let alerts = alerts_for(&scored("Ada Lovelace"), &config(), now());
        let hooks: Vec<&str> = alerts.iter().map(|a| a.hook.as_str()).collect();
        assert_eq!(hooks, ["crm", "sales"]);
        for alert in &alerts {
            assert_eq!(alert.lead_id, "lead-1");
            assert_eq!(alert.state, AlertState::Pending);
            assert_eq!((alert.attempts, alert.version), (0, 1));
            assert_eq!(alert.next_attempt_at, now());
            assert_eq!(alert.created_at, now());
            assert!(alert.id.starts_with("alert_"));
        }
        assert_ne!(alerts[0].id, alerts[1].id);
    }

    #[test]
    fn no_alert_for_an_unscored_lead_or_an_unsubscribed_verdict() {
        let mut record = scored("Ada");
        record.card = None;
        assert!(alerts_for(&record, &config(), now()).is_empty());
        let mut cold = scored("Ada");
        if let Some(card) = cold.card.as_mut() {
            card.band = Band::Cold;
            card.next_action = NextAction::Nurture;
        }
        assert!(alerts_for(&cold, &config(), now()).is_empty());
        assert!(alerts_for(&scored("Ada"), &AlertConfig::default(), now()).is_empty());
    }

    #[test]
    fn the_id_is_stable_for_the_same_verdict_and_changes_with_it() {
        let first = alerts_for(&scored("Ada"), &config(), now());
        // later, rescored with a new composite and time but the same band and action
        let mut again = scored("Ada");
        if let Some(card) = again.card.as_mut() {
            card.composite = 91;
            card.scored_at = now() + chrono::Duration::hours(3);
        }
        let second = alerts_for(&again, &config(), now() + chrono::Duration::hours(3));
        let ids = |alerts: &[Alert]| alerts.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&first), ids(&second));

        let hot_now = alert_id("lead-1", Band::Hot, NextAction::SalesNow, "crm");
        assert_eq!(first[0].id, hot_now);
        assert_ne!(
            hot_now,
            alert_id("lead-1", Band::Hot, NextAction::AccountFollowUp, "crm")
        );
        assert_ne!(
            hot_now,
            alert_id("lead-1", Band::Warm, NextAction::SalesNow, "crm")
        );
        assert_ne!(
            hot_now,
            alert_id("lead-2", Band::Hot, NextAction::SalesNow, "crm")
        );
        assert_ne!(
            hot_now,
            alert_id("lead-1", Band::Hot, NextAction::SalesNow, "sales")
        );
        // separators: moving a character between lead id and hook name changes the id
        assert_ne!(
            alert_id("a", Band::Hot, NextAction::SalesNow, "bc"),
            alert_id("ab", Band::Hot, NextAction::SalesNow, "c")
        );
    }

    #[test]
    fn slack_text_from_a_form_cannot_ping_the_channel() {
        let record = scored("<!channel> Mallory");
        let alerts = alerts_for(&record, &config(), now());
        let slack = alerts
            .iter()
            .find(|a| a.hook == "sales")
            .expect("slack alert");
        assert!(!slack.payload.contains("<!channel>"), "{}", slack.payload);
        assert!(slack.payload.contains("&lt;!channel&gt; Mallory"));
        assert!(slack.payload.contains("Acme &amp; Sons"));
    }

    #[test]
    fn long_names_are_clipped_to_slack_limits() {
        let record = scored(&"A".repeat(500));
        let message = slack_message(&record, record.card.as_ref().expect("card"), "https://x/1");
        let header = message["blocks"][0]["text"]["text"]
            .as_str()
            .expect("header");
        assert_eq!(header.chars().count(), 150);
        assert!(header.ends_with('…'));
    }
}

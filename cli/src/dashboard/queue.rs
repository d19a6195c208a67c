//! `GET /`: the lead queue.
//!
//! # Response targets (SLA)
//! How soon someone should act on a verdict, by next action; a lead is **overdue** when
//! its verdict (the latest entry of its score history: when it last changed band or next
//! action) is older than the target. Actions without a target (enrich again, nurture, suppress) wait for
//! no person.
//!
//! | next action | target |
//! |---|---|
//! | sales_now | 1 h |
//! | account_follow_up | 4 h |
//! | sdr_review | 24 h |
//! | manual_review | 48 h |

use super::html::{
    ACTIONS, BANDS, Nav, action_words, age, band_badge, duration, esc, path_segment,
};
use super::{DashboardState, error_page, ok_page, store_failed};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use leadq_local::views::{QueueFilter, QueueRow};
use leadq_pipeline::routing::{Assignee, RoutingConfig};
use leadq_scoring::{Band, NextAction};
use std::fmt::Write;
use std::sync::Arc;

/// Most leads the queue lists; the rest are counted in a note.
pub const QUEUE_LIMIT: usize = 200;

/// The response target of a next action, in seconds (see the module docs).
pub fn sla_seconds(action: NextAction) -> Option<i64> {
    match action {
        NextAction::SalesNow => Some(3600),
        NextAction::AccountFollowUp => Some(4 * 3600),
        NextAction::SdrReview => Some(24 * 3600),
        NextAction::ManualReview => Some(48 * 3600),
        NextAction::EnrichAgain | NextAction::Nurture | NextAction::Suppress => None,
    }
}

/// The SLA cell of a lead: overdue by how long, or due in how long, or no target.
fn sla_cell(action: NextAction, verdict_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let (Some(target), Some(at)) = (sla_seconds(action), verdict_at) else {
        return "<span class=\"muted\">no target</span>".into();
    };
    let left = target - (now - at).num_seconds();
    if left < 0 {
        format!(
            "<span class=\"overdue\">overdue by {}</span>",
            duration(-left)
        )
    } else {
        format!("<span class=\"ok\">due in {}</span>", duration(left))
    }
}

/// Parses the filters; an unknown name or value is a plain-words 400.
fn parse_filter(pairs: &[(String, String)]) -> Result<QueueFilter, String> {
    let mut filter = QueueFilter::default();
    for (name, value) in pairs {
        match name.as_str() {
            "band" if value.is_empty() => filter.band = None,
            "band" => {
                filter.band = Some(BANDS.into_iter().find(|b| b.name() == value).ok_or_else(
                    || {
                        "band must be one of hot, warm, mql, cold, disqualified (or left out)"
                            .to_string()
                    },
                )?);
            }
            "action" if value.is_empty() => filter.action = None,
            "action" => {
                filter.action = Some(ACTIONS.into_iter().find(|a| a.name() == value).ok_or_else(
                    || {
                        "action must be one of sales_now, account_follow_up, sdr_review, \
                             manual_review, enrich_again, nurture, suppress (or left out)"
                            .to_string()
                    },
                )?);
            }
            _ => return Err("unknown filter: use band and action".to_string()),
        }
    }
    Ok(filter)
}

/// A link to the queue filtered by `band` and `action`.
fn filter_href(band: Option<Band>, action: Option<NextAction>) -> String {
    let mut parts = Vec::new();
    if let Some(band) = band {
        parts.push(format!("band={}", band.name()));
    }
    if let Some(action) = action {
        parts.push(format!("action={}", action.name()));
    }
    if parts.is_empty() {
        "/".into()
    } else {
        format!("/?{}", parts.join("&amp;"))
    }
}

/// The rep by name (its id when the routing rules no longer name it), or the queue.
fn assignee_cell(assignee: Option<&Assignee>, routing: &RoutingConfig) -> String {
    match assignee {
        Some(Assignee::Rep(rep)) => match routing.rep(rep).and_then(|(_, r)| r.name.as_deref()) {
            Some(name) => esc(name).to_string(),
            None => esc(rep).to_string(),
        },
        Some(Assignee::Queue(queue)) => {
            format!("<span class=\"muted\">queue</span> {}", esc(queue))
        }
        None => "<span class=\"muted\">not routed</span>".into(),
    }
}

fn lead_cell(row: &QueueRow) -> String {
    let name = row.name.as_deref().filter(|n| !n.trim().is_empty());
    let mut cell = format!(
        "<a href=\"/leads/{}\">{}</a>",
        path_segment(&row.id),
        match name {
            Some(name) => esc(name).to_string(),
            None => format!("<span class=\"muted\">{}</span>", esc(&row.id)),
        }
    );
    if let Some(company) = row.company.as_deref().filter(|c| !c.trim().is_empty()) {
        let _ = write!(cell, "<br><span class=\"muted\">{}</span>", esc(company));
    }
    cell
}

/// `GET /?band=&action=`.
pub async fn queue_page(
    State(state): State<Arc<DashboardState>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let filter = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| parse_filter(&q))
    {
        Ok(filter) => filter,
        Err(message) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "That filter is not valid",
                &message,
            );
        }
    };
    let counts = match state.store.verdict_counts().await {
        Ok(counts) => counts,
        Err(e) => return store_failed("verdict_counts", &e),
    };
    let page = match state.store.queue_page(filter, QUEUE_LIMIT).await {
        Ok(page) => page,
        Err(e) => return store_failed("queue_page", &e),
    };
    let now = state.clock.now();
    let mut body = String::new();
    let scored: usize = counts.by_verdict.values().sum();
    if scored == 0 && counts.unscored == 0 {
        body.push_str(
            "<h1>Lead queue</h1><div class=\"empty\">No leads yet. Send a form submission to \
             <code>POST /v1/leads</code> (for example with <code>leadq submit</code>), or run \
             <code>leadq demo</code> for a generated history; leads appear here once scored.</div>",
        );
        return ok_page("Lead queue", Nav::Queue, &body);
    }
    let _ = write!(
        body,
        "<h1>Lead queue</h1><p class=\"lede\">{scored} scored lead(s){}. Click a count to see \
         those leads; click a lead for its score card.</p>",
        if counts.unscored > 0 {
            format!(", {} waiting to be scored", counts.unscored)
        } else {
            String::new()
        }
    );
    // the band x next action matrix
    let actions: Vec<NextAction> = ACTIONS
        .into_iter()
        .filter(|a| counts.by_verdict.keys().any(|(_, x)| x == a))
        .collect();
    body.push_str("<h2>By band and next action</h2><table class=\"matrix\"><tr><th>band</th>");
    for action in &actions {
        let _ = write!(
            body,
            "<th><a href=\"{}\">{}</a></th>",
            filter_href(None, Some(*action)),
            action_words(*action)
        );
    }
    body.push_str("<th>all</th></tr>");
    for band in BANDS {
        let total: usize = counts
            .by_verdict
            .iter()
            .filter(|((b, _), _)| *b == band)
            .map(|(_, n)| n)
            .sum();
        let _ = write!(
            body,
            "<tr><td style=\"text-align:left\"><a href=\"{}\">{}</a></td>",
            filter_href(Some(band), None),
            band_badge(band)
        );
        for action in &actions {
            match counts.by_verdict.get(&(band, *action)) {
                Some(n) => {
                    let _ = write!(
                        body,
                        "<td><a href=\"{}\">{n}</a></td>",
                        filter_href(Some(band), Some(*action))
                    );
                }
                None => body.push_str("<td class=\"muted\">·</td>"),
            }
        }
        let _ = write!(body, "<td><b>{total}</b></td></tr>");
    }
    body.push_str("</table>");

    // the filters, as a plain GET form
    body.push_str("<h2>Leads</h2><form class=\"filters\" method=\"get\" action=\"/\"><label>Band <select name=\"band\"><option value=\"\">any</option>");
    for band in BANDS {
        let selected = if filter.band == Some(band) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            body,
            "<option value=\"{0}\"{selected}>{0}</option>",
            band.name()
        );
    }
    body.push_str("</select></label><label>Next action <select name=\"action\"><option value=\"\">any</option>");
    for action in ACTIONS {
        let selected = if filter.action == Some(action) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            body,
            "<option value=\"{}\"{selected}>{}</option>",
            action.name(),
            action_words(action)
        );
    }
    body.push_str("</select></label><button type=\"submit\">Show</button>");
    if filter != QueueFilter::default() {
        body.push_str(" <a href=\"/\">clear filters</a>");
    }
    body.push_str("</form>");

    if page.rows.is_empty() {
        body.push_str("<div class=\"empty\">No lead matches these filters. <a href=\"/\">Show every lead</a>.</div>");
    } else {
        if page.matching > page.rows.len() {
            let _ = write!(
                body,
                "<p class=\"warn\">Showing the best {} of {} matching leads; filter by band or \
                 next action to see the others.</p>",
                page.rows.len(),
                page.matching
            );
        }
        body.push_str(
            "<table><tr><th>lead</th><th class=\"num\">composite</th><th>band</th>\
             <th>next action</th><th>rep / queue</th><th>created</th><th>verdict since</th>\
             <th>SLA</th></tr>",
        );
        for row in &page.rows {
            let _ = write!(
                body,
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{} ago</td><td>{}</td><td>{}</td></tr>",
                lead_cell(row),
                row.composite,
                band_badge(row.band),
                action_words(row.next_action),
                assignee_cell(row.assignee.as_ref(), &state.routing),
                age(row.created_at, now),
                row.verdict_at
                    .map_or_else(|| "–".to_string(), |at| format!("{} ago", age(at, now))),
                sla_cell(row.next_action, row.verdict_at, now),
            );
        }
        body.push_str("</table>");
    }
    body.push_str(
        "<h3>Response targets</h3><table class=\"narrow\"><tr><th>next action</th><th>respond within</th></tr>",
    );
    for action in ACTIONS {
        let target = sla_seconds(action).map_or_else(|| "no target".to_string(), duration);
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{target}</td></tr>",
            action_words(action)
        );
    }
    body.push_str(
        "</table><p class=\"muted\">A lead is overdue when its verdict is older than its \
         target. The verdict's time is when the lead last changed band or next action.</p>",
    );
    ok_page("Lead queue", Nav::Queue, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
            .collect()
    }

    #[test]
    fn filters_are_validated() {
        assert_eq!(
            parse_filter(&pairs(&[("band", "hot"), ("action", "sales_now")])),
            Ok(QueueFilter {
                band: Some(Band::Hot),
                action: Some(NextAction::SalesNow)
            })
        );
        assert_eq!(
            parse_filter(&pairs(&[("band", ""), ("action", "")])),
            Ok(QueueFilter::default())
        );
        assert!(parse_filter(&pairs(&[("band", "lukewarm")])).is_err());
        assert!(parse_filter(&pairs(&[("action", "<x>")])).is_err());
        assert!(parse_filter(&pairs(&[("sort", "x")])).is_err());
    }

    #[test]
    fn sla_is_overdue_after_the_target() {
        let now: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().expect("time");
        let two_hours_ago = now - chrono::Duration::hours(2);
        assert!(
            sla_cell(NextAction::SalesNow, Some(two_hours_ago), now).contains("overdue by 1 h")
        );
        assert!(
            sla_cell(NextAction::AccountFollowUp, Some(two_hours_ago), now).contains("due in 2 h")
        );
        assert!(sla_cell(NextAction::Nurture, Some(two_hours_ago), now).contains("no target"));
    }
}

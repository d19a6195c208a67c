//! `GET /leads/{id}`: one lead's ScoreCard and what led to it.

use super::html::{Nav, action_words, age, band_badge, esc, num, path_segment, when};
use super::svg::score_bar;
use super::{DashboardState, error_page, ok_page, store_failed};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use leadq_pipeline::routing::Assignee;
use leadq_pipeline::{LeadRecord, LeadStore};
use leadq_scoring::{Reason, ScoreCard};
use std::fmt::Write;
use std::sync::Arc;

/// Most events the timeline lists (the newest).
const EVENT_LIMIT: usize = 200;

/// `GET /leads/{id}`; 404 for an unknown id.
pub async fn lead_page(
    State(state): State<Arc<DashboardState>>,
    Path(id): Path<String>,
) -> Response {
    let record = match state.store.get_lead(&id).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "No such lead",
                &format!(
                    "There is no lead with the id {id}: it may have been erased. \
                     The lead queue lists every stored lead."
                ),
            );
        }
        Err(e) => return store_failed("get_lead", &e),
    };
    let events = match state.store.list_events(&id).await {
        Ok(events) => events,
        Err(e) => return store_failed("list_events", &e),
    };
    let history = match state.store.list_history(&id).await {
        Ok(history) => history,
        Err(e) => return store_failed("list_history", &e),
    };
    let now = state.clock.now();
    let person = &record.lead.person;
    let company = &record.lead.company;
    let title = person
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("Lead {id}"));
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><a href=\"/\">← Lead queue</a></p><h1>{}</h1><p class=\"lede\">{}{}</p>",
        esc(&title),
        person
            .title
            .as_deref()
            .map(|t| format!("{} · ", esc(t)))
            .unwrap_or_default(),
        company
            .name
            .as_deref()
            .or(company.domain.as_deref())
            .map_or_else(|| "company unknown".to_string(), |c| esc(c).to_string()),
    );

    body.push_str("<div class=\"grid\"><div class=\"card\">");
    match &record.card {
        Some(card) => verdict(&mut body, card),
        None => body.push_str(
            "<h2>Not scored yet</h2><p>The score worker has not reached this lead; reload in a few seconds.</p>",
        ),
    }
    body.push_str("</div><div class=\"card\">");
    facts(&mut body, &record, now);
    body.push_str("</div></div>");

    if let Some(card) = &record.card {
        reasons(&mut body, card);
        missing(&mut body, card);
    }

    body.push_str("<h2>Assignment</h2>");
    match &record.assignment {
        Some(assignment) => {
            let who = match &assignment.assignee {
                Assignee::Rep(rep) => match state.routing.rep(rep).and_then(|(_, r)| r.name.as_deref()) {
                    Some(name) => format!("rep <b>{}</b> ({})", esc(name), esc(rep)),
                    None => format!("rep <b>{}</b>", esc(rep)),
                },
                Assignee::Queue(queue) => format!("the queue <b>{}</b>", esc(queue)),
            };
            let _ = write!(
                body,
                "<div class=\"card\"><dl class=\"facts\"><dt>assigned to</dt><dd>{who}</dd>\
                 <dt>team</dt><dd>{}</dd><dt>strategy</dt><dd>{}</dd><dt>rule</dt><dd>{}</dd>\
                 <dt>why</dt><dd>{}</dd><dt>when</dt><dd>{} ({} ago)</dd></dl></div>",
                assignment
                    .team
                    .as_deref()
                    .map_or_else(|| "none matched".to_string(), |t| esc(t).to_string()),
                assignment.strategy.map_or("–", |s| s.name()),
                esc(&assignment.rule),
                esc(&assignment.why),
                when(assignment.at),
                age(assignment.at, now),
            );
        }
        None => body.push_str(
            "<div class=\"empty\">Not routed yet: the route worker assigns a rep once the lead is scored.</div>",
        ),
    }

    body.push_str("<h2>Score changes</h2>");
    if history.is_empty() {
        body.push_str("<div class=\"empty\">No score history yet.</div>");
    } else {
        body.push_str(
            "<table><tr><th>when</th><th>band</th><th>next action</th><th class=\"num\">composite</th>\
             <th>cause</th><th>model version</th></tr>",
        );
        for entry in history.iter().rev() {
            let from = entry
                .from_band
                .map_or_else(|| "new".to_string(), band_badge);
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{from} → {}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                when(entry.at),
                band_badge(entry.to_band),
                action_words(entry.next_action),
                entry.composite,
                esc(&entry.cause),
                esc(&entry.model_version),
            );
        }
        body.push_str("</table>");
    }

    let _ = write!(body, "<h2>Events ({})</h2>", events.len());
    if events.is_empty() {
        body.push_str("<div class=\"empty\">No behavioural events recorded for this lead.</div>");
    } else {
        if events.len() > EVENT_LIMIT {
            let _ = write!(
                body,
                "<p class=\"muted\">The newest {EVENT_LIMIT} of {} events.</p>",
                events.len()
            );
        }
        body.push_str("<table><tr><th>when</th><th>kind</th><th class=\"num\">minutes</th><th>details</th></tr>");
        for stored in events.iter().rev().take(EVENT_LIMIT) {
            let details = stored
                .event
                .properties
                .iter()
                .map(|(k, v)| format!("{}={}", esc(k), esc(v)))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{details}</td></tr>",
                when(stored.event.at),
                esc(stored.event.kind.name()),
                num(stored.event.minutes, 0),
            );
        }
        body.push_str("</table>");
    }

    body.push_str("<h2>Where the data came from</h2>");
    if record.provenance.is_empty() {
        body.push_str(
            "<div class=\"empty\">No enriched field: everything shown came from the form.</div>",
        );
    } else {
        body.push_str("<table class=\"narrow\"><tr><th>field</th><th>provider</th><th class=\"num\">confidence</th><th>when</th></tr>");
        for (field, provenance) in &record.provenance {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.0}%</td><td>{}</td></tr>",
                esc(field),
                esc(&provenance.provider),
                provenance.confidence * 100.0,
                when(provenance.at),
            );
        }
        body.push_str("</table>");
    }
    ok_page(&title, Nav::None, &body)
}

fn verdict(body: &mut String, card: &ScoreCard) {
    let _ = write!(
        body,
        "<h2 style=\"margin-top:0\">Verdict</h2><div><span class=\"big\">{}</span> \
         <span class=\"muted\">/ 100</span> {} <b>{}</b></div>",
        card.composite,
        band_badge(card.band),
        action_words(card.next_action),
    );
    if let Some(probability) = card.probability {
        let _ = write!(
            body,
            "<p>Calibrated chance to convert: <b>{:.1}%</b></p>",
            probability * 100.0
        );
    }
    if let Some(by) = &card.disqualified_by {
        let _ = write!(body, "<p class=\"warn\">Disqualified by {}</p>", esc(by));
    }
    body.push_str("<table class=\"narrow\" style=\"margin-top:8px\"><tr><th>dimension</th><th class=\"num\">score</th><th></th></tr>");
    for (name, score) in [
        ("fit", card.scores.fit),
        ("stakeholder", card.scores.stakeholder),
        ("behaviour", card.scores.behaviour),
        ("intent", card.scores.intent),
    ] {
        let _ = write!(
            body,
            "<tr><td>{name}</td><td class=\"num\">{score:.0}</td><td>{}</td></tr>",
            score_bar(score, 180)
        );
    }
    if card.negative != 0.0 {
        let _ = write!(
            body,
            "<tr><td>negative signals</td><td class=\"num\">{:.1}</td><td class=\"muted\">composite points</td></tr>",
            card.negative
        );
    }
    let _ = write!(
        body,
        "</table><p class=\"muted\">Scored {} by model {}.</p>",
        when(card.scored_at),
        esc(&card.model_version)
    );
}

fn facts(body: &mut String, record: &LeadRecord, now: chrono::DateTime<chrono::Utc>) {
    let person = &record.lead.person;
    let company = &record.lead.company;
    body.push_str("<h2 style=\"margin-top:0\">Lead</h2><dl class=\"facts\">");
    let mut fact = |label: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            let _ = write!(body, "<dt>{label}</dt><dd>{}</dd>", esc(&value));
        }
    };
    fact("id", Some(record.id().to_string()));
    fact("email", person.email.clone());
    fact("title", person.title.clone());
    fact("country", person.country.clone());
    fact("company", company.name.clone());
    fact("domain", company.domain.clone());
    fact("industry", company.industry.clone());
    fact("employees", company.employees.map(|n| n.to_string()));
    fact("source", record.lead.source.clone());
    fact("campaign", record.lead.utm.campaign.clone());
    fact(
        "created",
        Some(format!(
            "{} ({} ago)",
            when(record.created_at),
            age(record.created_at, now)
        )),
    );
    body.push_str("</dl>");
}

fn reasons(body: &mut String, card: &ScoreCard) {
    body.push_str("<h2>Why: the reasons</h2>");
    if card.reasons.is_empty() {
        body.push_str("<div class=\"empty\">No rule or signal moved this score.</div>");
        return;
    }
    let mut sorted: Vec<&Reason> = card.reasons.iter().collect();
    sorted.sort_by(|a, b| {
        b.composite_points
            .abs()
            .total_cmp(&a.composite_points.abs())
    });
    body.push_str(
        "<table><tr><th>rule or signal</th><th>dimension</th><th class=\"num\">events</th>\
         <th class=\"num\">points in dimension</th><th class=\"num\">composite points</th>\
         <th class=\"num\">lost to decay</th></tr>",
    );
    for reason in sorted {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}</td>\
             <td class=\"num\"><b>{:+.1}</b></td><td class=\"num\">{}</td></tr>",
            esc(&reason.rule),
            reason.dimension.name(),
            if reason.count > 0 {
                reason.count.to_string()
            } else {
                "–".into()
            },
            reason.points,
            reason.composite_points,
            if reason.decayed > 0.0 {
                format!("{:.1}", reason.decayed)
            } else {
                "–".into()
            },
        );
    }
    body.push_str("</table>");
}

fn missing(body: &mut String, card: &ScoreCard) {
    body.push_str("<h2>Missing data that could change the band</h2>");
    if card.missing.is_empty() {
        body.push_str("<div class=\"empty\">Nothing missing could change this lead's band.</div>");
        return;
    }
    if let Some(span) = card.missing_span {
        let _ = write!(
            body,
            "<p>Once known, the band could land anywhere from {} to {}.</p>",
            band_badge(span.worst),
            band_badge(span.best)
        );
    }
    body.push_str(
        "<table class=\"narrow\"><tr><th>field</th><th class=\"num\">best case</th><th class=\"num\">worst case</th></tr>",
    );
    for item in &card.missing {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"num\">{:+.1}</td><td class=\"num\">{:+.1}</td></tr>",
            esc(&item.field),
            item.best_points,
            item.worst_points
        );
    }
    body.push_str("</table>");
}

/// A link to a lead's page.
pub fn lead_link(id: &str, label: &str) -> String {
    format!("<a href=\"/leads/{}\">{}</a>", path_segment(id), esc(label))
}

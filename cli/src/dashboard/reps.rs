//! `GET /reps`: each rep's load against its caps, and the fallback queue.

use super::html::{Nav, esc};
use super::svg::capacity_bar;
use super::{DashboardState, ok_page, store_failed};
use axum::extract::State;
use axum::response::Response;
use leadq_pipeline::RepLedger;
use std::fmt::Write;
use std::sync::Arc;

/// `GET /reps`.
pub async fn reps_page(State(state): State<Arc<DashboardState>>) -> Response {
    let now = state.clock.now();
    let ledger = state.store.ledger();
    let routing = &state.routing;
    let waiting = match state.store.queue_size(&routing.fallback_queue).await {
        Ok(n) => n,
        Err(e) => return store_failed("queue_size", &e),
    };
    let mut body = String::new();
    body.push_str(
        "<h1>Reps</h1><p class=\"lede\">Who holds how many leads, against the caps in the \
         routing rules (routing.toml). Open leads count against <i>max open</i>; leads given \
         today against <i>max new per day</i>.</p>",
    );
    let _ = write!(
        body,
        "<div class=\"card\">Fallback queue <b>{}</b>: <b>{waiting}</b> lead(s) waiting for a \
         person (no team matched, or every rep was full or off work). \
         <a href=\"/\">See the queue</a>.</div>",
        esc(&routing.fallback_queue)
    );
    if routing.teams.is_empty() {
        body.push_str(
            "<div class=\"empty\">No teams are configured, so every lead that needs a person waits \
             in the fallback queue. Add teams and reps to routing.toml in the directory given to \
             <code>leadq serve --config</code>, then restart it.</div>",
        );
        return ok_page("Reps", Nav::Reps, &body);
    }
    for team in &routing.teams {
        let _ = write!(
            body,
            "<h2>Team {} <span class=\"muted\" style=\"font-weight:400\">· {}</span></h2>",
            esc(&team.name),
            team.strategy.name().replace('_', " ")
        );
        if team.reps.is_empty() {
            body.push_str("<div class=\"empty\">This team has no reps.</div>");
            continue;
        }
        body.push_str(
            "<table><tr><th>rep</th><th class=\"num\">open</th><th>open against max</th>\
             <th class=\"num\">given today</th><th>today against max</th><th>at work now</th></tr>",
        );
        for rep in &team.reps {
            let load = match ledger.load(&rep.id, rep.day(now)).await {
                Ok(load) => load,
                Err(e) => return store_failed("rep load", &e),
            };
            let name = match &rep.name {
                Some(name) => format!(
                    "{} <span class=\"muted\">({})</span>",
                    esc(name),
                    esc(&rep.id)
                ),
                None => esc(&rep.id).to_string(),
            };
            let _ = write!(
                body,
                "<tr><td>{name}</td><td class=\"num\">{} / {}</td><td>{}</td>\
                 <td class=\"num\">{} / {}</td><td>{}</td><td>{}</td></tr>",
                load.open,
                rep.max_open_leads,
                capacity_bar(load.open, rep.max_open_leads, 220),
                load.new_today,
                rep.max_new_per_day,
                capacity_bar(load.new_today, rep.max_new_per_day, 160),
                if rep.is_working(now) {
                    "yes"
                } else {
                    "<span class=\"muted\">no (outside working hours)</span>"
                },
            );
        }
        body.push_str("</table>");
    }
    ok_page("Reps", Nav::Reps, &body)
}

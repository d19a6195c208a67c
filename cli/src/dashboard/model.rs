//! `GET /model`: the stored model versions, and for each trained one its holdout metrics,
//! calibration and lift charts and weight changes.

use super::html::{Nav, esc, num, when};
use super::svg::{calibration_chart, lift_chart};
use super::{DashboardState, ok_page, store_failed};
use axum::extract::State;
use axum::response::Response;
use leadq_pipeline::LeadStore;
use leadq_pipeline::api::list_versions;
use leadq_pipeline::stages::train::{HoldoutMetrics, VersionMetrics, version_metrics};
use std::fmt::Write;
use std::sync::Arc;

/// Weight changes listed per version (the largest).
const WEIGHT_CHANGES_SHOWN: usize = 15;

/// `GET /model`.
pub async fn model_page(State(state): State<Arc<DashboardState>>) -> Response {
    let list = match list_versions(&state.store).await {
        Ok(list) => list,
        Err(e) => return store_failed("list_versions", &e),
    };
    let stored = match state.store.list_model_versions().await {
        Ok(stored) => stored,
        Err(e) => return store_failed("list_model_versions", &e),
    };
    let mut body = String::new();
    body.push_str("<h1>Model</h1>");
    let _ = write!(
        body,
        "<p class=\"lede\">Leads are scored now by <b>{}</b>. A trained version learns from won \
         and lost outcomes (<code>POST /v1/outcomes</code>); it is promoted only if it ranks and \
         calibrates at least as well as the active one on the newest outcomes (the holdout). \
         <code>leadq models rollback</code> points back at an older version.</p>",
        list.active.as_deref().map_or_else(
            || "the shipped rules".to_string(),
            |v| format!("version {}", esc(v))
        )
    );
    if list.versions.is_empty() {
        body.push_str(
            "<div class=\"empty\">No model version is stored yet: leads are scored with the \
             shipped rules. Training runs once a day in <code>leadq serve</code>; it needs \
             enough won and lost outcomes first.</div>",
        );
        return ok_page("Model", Nav::Model, &body);
    }
    body.push_str(
        "<h2>Versions</h2><table><tr><th>version</th><th>kind</th><th>created</th><th>promoted</th>\
         <th class=\"num\">AUC</th><th class=\"num\">calibration error</th><th>why</th></tr>",
    );
    for v in &list.versions {
        let _ = write!(
            body,
            "<tr><td class=\"nowrap\">{}{}</td><td>{}</td><td class=\"nowrap\">{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&v.version),
            if v.active {
                " <span class=\"band band-mql\">active</span>"
            } else {
                ""
            },
            v.kind,
            when(v.created_at),
            if v.promoted { "yes" } else { "no" },
            num(v.auc, 3),
            num(v.ece, 3),
            esc(&v.reason),
        );
    }
    body.push_str("</table><h2>Trained versions</h2>");
    let mut first = true;
    let mut any = false;
    for version in &stored {
        let metrics = match version_metrics(version) {
            Ok(metrics) => metrics,
            Err(e) => {
                let _ = write!(
                    body,
                    "<p class=\"warn\">{}: its metrics cannot be read ({}).</p>",
                    esc(&version.version),
                    esc(&e.to_string())
                );
                continue;
            }
        };
        let Some(challenger) = metrics.challenger else {
            continue;
        };
        any = true;
        let active = list.active.as_deref() == Some(version.version.as_str());
        let _ = write!(
            body,
            "<details{}><summary>{}{} · created {} · {}</summary>",
            if first || active { " open" } else { "" },
            esc(&version.version),
            if active { " (active)" } else { "" },
            when(version.created_at),
            if version.promoted {
                "promoted"
            } else {
                "not promoted"
            },
        );
        first = false;
        trained(&mut body, &metrics, challenger);
        body.push_str("</details>");
    }
    if !any {
        body.push_str(
            "<div class=\"empty\">No trained version yet. Training needs won and lost outcomes \
             of leads scored before they closed; it runs once a day.</div>",
        );
    }
    ok_page("Model", Nav::Model, &body)
}

fn trained(body: &mut String, metrics: &VersionMetrics, challenger: HoldoutMetrics) {
    if let Some(data) = &metrics.data {
        let _ = write!(
            body,
            "<p>Trained on {} older outcomes ({} won); judged on the newest {} ({} won).</p>",
            data.train_rows, data.train_won, data.holdout_rows, data.holdout_won
        );
    }
    let then_active = metrics
        .based_on
        .as_deref()
        .map_or_else(|| "the shipped rules".to_string(), |v| esc(v).to_string());
    let _ = write!(
        body,
        "<table class=\"narrow\"><tr><th>on the holdout</th><th class=\"num\">this version</th>\
         <th class=\"num\">{then_active} (then active)</th><th>better is</th></tr>"
    );
    let before = metrics.active;
    for (name, now, then, better) in [
        (
            "AUC (ranking)",
            challenger.auc,
            before.map(|m| m.auc),
            "higher",
        ),
        (
            "log loss",
            challenger.log_loss,
            before.map(|m| m.log_loss),
            "lower",
        ),
        (
            "Brier score",
            challenger.brier,
            before.map(|m| m.brier),
            "lower",
        ),
        (
            "calibration error (ECE)",
            challenger.ece,
            before.map(|m| m.ece),
            "lower",
        ),
    ] {
        let _ = write!(
            body,
            "<tr><td>{name}</td><td class=\"num\"><b>{}</b></td><td class=\"num\">{}</td><td class=\"muted\">{better}</td></tr>",
            num(Some(now), 4),
            num(then, 4)
        );
    }
    body.push_str("</table><div class=\"grid\">");
    body.push_str("<div><h3>Calibration</h3>");
    match &metrics.holdout_calibration {
        Some(table) => {
            body.push_str(&calibration_chart(table));
            body.push_str("<p class=\"muted\">Each dot is a probability bin of the holdout; on the dashed diagonal, predicted equals observed.</p>");
        }
        None => body.push_str("<p class=\"muted\">Not stored for this version (trained before the dashboard kept the holdout's calibration table).</p>"),
    }
    body.push_str("</div><div><h3>Lift by decile</h3>");
    match &metrics.holdout_deciles {
        Some(table) => {
            body.push_str(&lift_chart(table));
            let _ = write!(
                body,
                "<p class=\"muted\">Won rate of each tenth of the holdout, highest predicted first; the top tenth converts {:.1}× the overall rate.</p>",
                table.top_lift
            );
        }
        None => body.push_str("<p class=\"muted\">Not stored for this version.</p>"),
    }
    body.push_str("</div></div><h3>Weight changes</h3>");
    if metrics.weight_changes.is_empty() {
        body.push_str("<p class=\"muted\">No weight changed.</p>");
        return;
    }
    body.push_str(
        "<table class=\"narrow\"><tr><th>rule or missing field</th><th class=\"num\">before</th>\
         <th class=\"num\">after</th><th class=\"num\">change</th></tr>",
    );
    for change in metrics.weight_changes.iter().take(WEIGHT_CHANGES_SHOWN) {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"num\">{:.4}</td><td class=\"num\">{:.4}</td><td class=\"num\"><b>{:+.4}</b></td></tr>",
            esc(&change.name),
            change.before,
            change.after,
            change.change
        );
    }
    body.push_str("</table>");
    if metrics.weight_changes.len() > WEIGHT_CHANGES_SHOWN {
        let _ = write!(
            body,
            "<p class=\"muted\">The largest {WEIGHT_CHANGES_SHOWN} of {} changes (log-odds per unit). \
             <code>leadq models show VERSION</code> lists them all.</p>",
            metrics.weight_changes.len()
        );
    } else {
        body.push_str("<p class=\"muted\">Log-odds per unit: per composite point for a rule, for being missing for a field.</p>");
    }
}

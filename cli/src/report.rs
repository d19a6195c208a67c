//! The backtest's HTML report: one self-contained page with inline SVG charts (decile rates,
//! calibration curve, score histogram by outcome, largest weights). No JavaScript, no
//! external assets.

use crate::backtest::BacktestReport;
use std::fmt::Write;

const POSITIVE: &str = "#2a9d8f";
const NEGATIVE: &str = "#e76f51";
const NEUTRAL: &str = "#264653";
const GRID: &str = "#d9d9d9";

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for SVG coordinates (finite, two decimals).
fn n(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "0".into()
    }
}

/// Chart frame: width, height and plot margins.
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn plot_w(&self) -> f64 {
        self.w - self.left - self.right
    }
    fn plot_h(&self) -> f64 {
        self.h - self.top - self.bottom
    }
    /// Y pixel of a value in `0..=max`.
    fn y(&self, v: f64, max: f64) -> f64 {
        self.top + self.plot_h() * (1.0 - if max > 0.0 { v / max } else { 0.0 })
    }
    fn open(&self, svg: &mut String, label: &str) {
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}" font-family="sans-serif" font-size="11">"#,
            self.w,
            self.h,
            self.w,
            self.h,
            escape(label)
        );
    }
    /// Horizontal grid lines with labels at `ticks` values of `0..=max`.
    fn y_axis(&self, svg: &mut String, max: f64, ticks: usize, format: impl Fn(f64) -> String) {
        for t in 0..=ticks {
            let v = max * t as f64 / ticks as f64;
            let y = self.y(v, max);
            let _ = write!(
                svg,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{GRID}"/><text x="{}" y="{}" text-anchor="end">{}</text>"#,
                n(self.left),
                n(y),
                n(self.w - self.right),
                n(y),
                n(self.left - 4.0),
                n(y + 4.0),
                escape(&format(v))
            );
        }
    }
}

fn nice_max(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= v {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn decile_chart(r: &BacktestReport) -> String {
    let f = Frame {
        w: 520.0,
        h: 260.0,
        left: 48.0,
        right: 12.0,
        top: 12.0,
        bottom: 36.0,
    };
    let mut svg = String::new();
    f.open(&mut svg, "Conversion rate per score decile");
    let rows = &r.holdout.deciles.rows;
    let max = nice_max(rows.iter().map(|d| d.rate).fold(0.0, f64::max));
    f.y_axis(&mut svg, max, 4, |v| format!("{:.0}%", v * 100.0));
    let slot = f.plot_w() / rows.len().max(1) as f64;
    for (i, d) in rows.iter().enumerate() {
        let x = f.left + slot * i as f64 + slot * 0.15;
        let y = f.y(d.rate, max);
        let _ = write!(
            svg,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{POSITIVE}"><title>decile {}: {:.1}% ({} of {}), lift {:.2}x</title></rect><text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            n(x),
            n(y),
            n(slot * 0.7),
            n(f.top + f.plot_h() - y),
            d.decile,
            d.rate * 100.0,
            d.positives,
            d.count,
            d.lift,
            n(x + slot * 0.35),
            n(f.h - f.bottom + 14.0),
            d.decile
        );
    }
    let base = f.y(r.holdout.deciles.base_rate, max);
    let _ = write!(
        svg,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{NEUTRAL}" stroke-dasharray="4 3"/><text x="{}" y="{}" text-anchor="end" fill="{NEUTRAL}">base rate {:.1}%</text><text x="{}" y="{}" text-anchor="middle">score decile (1 = highest scores)</text></svg>"#,
        n(f.left),
        n(base),
        n(f.w - f.right),
        n(base),
        n(f.w - f.right),
        n(base - 4.0),
        r.holdout.deciles.base_rate * 100.0,
        n(f.left + f.plot_w() / 2.0),
        n(f.h - 4.0)
    );
    svg
}

fn calibration_chart(r: &BacktestReport) -> String {
    let f = Frame {
        w: 320.0,
        h: 320.0,
        left: 44.0,
        right: 12.0,
        top: 12.0,
        bottom: 40.0,
    };
    let mut svg = String::new();
    f.open(&mut svg, "Calibration: predicted against observed rate");
    f.y_axis(&mut svg, 1.0, 5, |v| format!("{v:.1}"));
    let px = |v: f64| f.left + f.plot_w() * v;
    let _ = write!(
        svg,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{GRID}" stroke-dasharray="4 3"/>"#,
        n(px(0.0)),
        n(f.y(0.0, 1.0)),
        n(px(1.0)),
        n(f.y(1.0, 1.0))
    );
    let points: Vec<(f64, f64, usize)> = r
        .holdout
        .calibration
        .bins
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.mean_predicted, b.observed_rate, b.count))
        .collect();
    let path: Vec<String> = points
        .iter()
        .map(|&(p, o, _)| format!("{},{}", n(px(p)), n(f.y(o, 1.0))))
        .collect();
    let _ = write!(
        svg,
        r#"<polyline points="{}" fill="none" stroke="{POSITIVE}" stroke-width="2"/>"#,
        path.join(" ")
    );
    for (p, o, c) in points {
        let _ = write!(
            svg,
            r#"<circle cx="{}" cy="{}" r="4" fill="{POSITIVE}"><title>predicted {:.3}, observed {:.3}, {c} leads</title></circle>"#,
            n(px(p)),
            n(f.y(o, 1.0)),
            p,
            o
        );
    }
    for t in 0..=5 {
        let v = t as f64 / 5.0;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{v:.1}</text>"#,
            n(px(v)),
            n(f.h - f.bottom + 14.0)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">mean predicted probability (observed rate on the y axis)</text></svg>"#,
        n(f.left + f.plot_w() / 2.0),
        n(f.h - 6.0)
    );
    svg
}

fn histogram_chart(r: &BacktestReport) -> String {
    let f = Frame {
        w: 520.0,
        h: 260.0,
        left: 48.0,
        right: 12.0,
        top: 24.0,
        bottom: 36.0,
    };
    let mut svg = String::new();
    f.open(&mut svg, "Holdout probabilities by outcome");
    let max = nice_max(
        r.histogram_positive
            .iter()
            .chain(&r.histogram_negative)
            .copied()
            .max()
            .unwrap_or(0) as f64,
    );
    f.y_axis(&mut svg, max, 4, |v| format!("{v:.0}"));
    let bins = r.histogram_positive.len().max(1);
    let slot = f.plot_w() / bins as f64;
    for (i, (&pos, &neg)) in r
        .histogram_positive
        .iter()
        .zip(&r.histogram_negative)
        .enumerate()
    {
        let x = f.left + slot * i as f64;
        for (k, (count, color, what)) in [
            (neg, NEGATIVE, "not converted"),
            (pos, POSITIVE, "converted"),
        ]
        .into_iter()
        .enumerate()
        {
            let y = f.y(count as f64, max);
            let _ = write!(
                svg,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{color}"><title>{:.2}-{:.2}: {count} {what}</title></rect>"#,
                n(x + slot * (0.1 + 0.4 * k as f64)),
                n(y),
                n(slot * 0.4),
                n(f.top + f.plot_h() - y),
                i as f64 / bins as f64,
                (i + 1) as f64 / bins as f64
            );
        }
    }
    for t in 0..=5 {
        let v = t as f64 / 5.0;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{v:.1}</text>"#,
            n(f.left + f.plot_w() * v),
            n(f.h - f.bottom + 14.0)
        );
    }
    let _ = write!(
        svg,
        r#"<rect x="{}" y="6" width="10" height="10" fill="{POSITIVE}"/><text x="{}" y="15">converted</text><rect x="{}" y="6" width="10" height="10" fill="{NEGATIVE}"/><text x="{}" y="15">not converted</text><text x="{}" y="{}" text-anchor="middle">predicted probability</text></svg>"#,
        n(f.left),
        n(f.left + 14.0),
        n(f.left + 90.0),
        n(f.left + 104.0),
        n(f.left + f.plot_w() / 2.0),
        n(f.h - 4.0)
    );
    svg
}

fn weights_chart(r: &BacktestReport) -> String {
    let row_h = 20.0;
    let f = Frame {
        w: 640.0,
        h: 30.0 + row_h * r.top_weights.len() as f64,
        left: 300.0,
        right: 60.0,
        top: 6.0,
        bottom: 24.0,
    };
    let mut svg = String::new();
    f.open(&mut svg, "Largest weights");
    let max = r
        .top_weights
        .iter()
        .map(|w| w.weight.abs())
        .fold(0.0, f64::max)
        .max(1e-12);
    let mid = f.left + f.plot_w() / 2.0;
    let half = f.plot_w() / 2.0;
    for (i, w) in r.top_weights.iter().enumerate() {
        let y = f.top + row_h * i as f64;
        let len = half * w.weight.abs() / max;
        let (x, color) = if w.weight >= 0.0 {
            (mid, POSITIVE)
        } else {
            (mid - len, NEGATIVE)
        };
        let mut label = w.feature.clone();
        if label.chars().count() > 46 {
            label = label.chars().take(45).collect::<String>() + "…";
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{}" y="{}" width="{}" height="{}" fill="{color}"><title>{}: {:+.3}</title></rect><text x="{}" y="{}" text-anchor="{}">{:+.2}</text>"#,
            n(f.left - 6.0),
            n(y + 14.0),
            escape(&label),
            n(x),
            n(y + 3.0),
            n(len),
            n(row_h - 6.0),
            escape(&w.feature),
            w.weight,
            n(if w.weight >= 0.0 {
                x + len + 4.0
            } else {
                x - 4.0
            }),
            n(y + 14.0),
            if w.weight >= 0.0 { "start" } else { "end" },
            w.weight
        );
    }
    let _ = write!(
        svg,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{NEUTRAL}"/><text x="{}" y="{}" text-anchor="middle">weight (log-odds per standard deviation, or per category)</text></svg>"#,
        n(mid),
        n(f.top),
        n(mid),
        n(f.h - f.bottom),
        n(mid),
        n(f.h - 6.0)
    );
    svg
}

/// The whole report as one HTML document.
pub fn html(r: &BacktestReport) -> String {
    let mut h = String::new();
    let title = format!("leadq backtest: {}", r.csv);
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: right; }}
th {{ background: #f4f4f4; }} td:first-child, th:first-child {{ text-align: left; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 2em; }} figure {{ margin: 0; }}
figcaption {{ font-weight: bold; margin-bottom: 0.3em; }} .note {{ color: #666; }}
</style></head><body>
<h1>{}</h1>
<p class="note">Target <code>{}</code> = <code>{}</code>. Holdout: {}. Logistic regression, lambda {} ({} solver, {} iterations).</p>
"#,
        escape(&title),
        escape(&title),
        escape(&r.target),
        escape(&r.positive),
        escape(&r.split),
        r.lambda,
        escape(&r.solver),
        r.iterations
    );
    h.push_str("<h2>Metrics</h2><table><tr><th>metric</th><th>value</th></tr>");
    let mut row = |k: &str, v: String| {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td></tr>", escape(k), escape(&v));
    };
    row("rows (positive)", format!("{} ({})", r.rows, r.positives));
    row(
        "training / holdout rows",
        format!("{} / {}", r.train_rows, r.holdout.rows),
    );
    row(
        "features (columns used, skipped)",
        format!(
            "{} ({}, {})",
            r.features,
            r.input_columns - r.skipped.len(),
            r.skipped.len()
        ),
    );
    match (r.cv_auc_mean, r.cv_auc_sd) {
        (Some(m), Some(sd)) => row(
            &format!("CV AUC ({} folds)", r.folds),
            format!("{m:.4} ± {sd:.4}"),
        ),
        _ => row("CV AUC", "not run".into()),
    }
    row("holdout AUC", format!("{:.4}", r.holdout.auc));
    row("training AUC", format!("{:.4}", r.train_auc));
    row("log loss", format!("{:.4}", r.holdout.log_loss));
    row("Brier score", format!("{:.4}", r.holdout.brier));
    row(
        "expected calibration error",
        format!("{:.4}", r.holdout.calibration.ece),
    );
    row(
        "top-decile lift (over base rate)",
        format!("{:.2}x", r.holdout.deciles.top_lift),
    );
    row(
        "top over bottom decile",
        r.holdout
            .deciles
            .top_over_bottom
            .map_or("n/a".into(), |t| format!("{t:.1}x")),
    );
    let c = &r.holdout.confusion;
    row(
        "at p ≥ 0.5: TP / FP / TN / FN",
        format!(
            "{} / {} / {} / {}",
            c.true_positives, c.false_positives, c.true_negatives, c.false_negatives
        ),
    );
    row("fit time (s)", format!("{:.3}", r.fit_seconds));
    h.push_str("</table>");

    h.push_str(r#"<div class="charts">"#);
    let _ = write!(
        h,
        "<figure><figcaption>Conversion rate per score decile</figcaption>{}</figure>",
        decile_chart(r)
    );
    let _ = write!(
        h,
        "<figure><figcaption>Calibration (ECE {:.4})</figcaption>{}</figure>",
        r.holdout.calibration.ece,
        calibration_chart(r)
    );
    let _ = write!(
        h,
        "<figure><figcaption>Holdout probabilities by outcome</figcaption>{}</figure>",
        histogram_chart(r)
    );
    let _ = write!(
        h,
        "<figure><figcaption>The {} largest weights</figcaption>{}</figure>",
        r.top_weights.len(),
        weights_chart(r)
    );
    h.push_str("</div>");

    if !r.lambdas.is_empty() {
        h.push_str("<h2>Penalty chosen by cross-validation</h2><table><tr><th>lambda</th><th>CV AUC</th><th>sd</th><th>CV log loss</th></tr>");
        for l in &r.lambdas {
            let _ = write!(
                h,
                "<tr><td>{}{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                l.lambda,
                if l.lambda == r.lambda {
                    " (chosen)"
                } else {
                    ""
                },
                l.auc_mean,
                l.auc_sd,
                l.log_loss_mean
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Deciles</h2><table><tr><th>decile</th><th>leads</th><th>converted</th><th>rate</th><th>lift</th><th>scores</th></tr>");
    for d in &r.holdout.deciles.rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{:.2}x</td><td>{:.3}–{:.3}</td></tr>",
            d.decile,
            d.count,
            d.positives,
            d.rate * 100.0,
            d.lift,
            d.min_score,
            d.max_score
        );
    }
    h.push_str("</table><h2>Calibration</h2><table><tr><th>probability</th><th>leads</th><th>mean predicted</th><th>observed</th></tr>");
    for b in &r.holdout.calibration.bins {
        let _ = write!(
            h,
            "<tr><td>{:.1}–{:.1}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            b.lower, b.upper, b.count, b.mean_predicted, b.observed_rate
        );
    }
    h.push_str("</table>");
    if !r.skipped.is_empty() {
        h.push_str(
            "<h2>Columns left out by the encoder</h2><table><tr><th>column</th><th>why</th></tr>",
        );
        for s in &r.skipped {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(&s.column),
                escape(&s.reason)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    h
}

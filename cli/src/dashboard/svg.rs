//! Inline SVG charts: capacity and score bars, the calibration chart and the decile lift
//! chart. Pure functions from numbers to markup; no value here comes from a form, and the
//! few labels drawn are numbers formatted here.

use leadq_scoring::metrics::{CalibrationTable, DecileTable};
use std::fmt::Write;

const BLUE: &str = "#2d7dd2";
const RED: &str = "#d64545";
const AMBER: &str = "#e67e22";
const GRID: &str = "#e4e7eb";
const INK: &str = "#52606d";

/// A horizontal bar `width` pixels wide filled to `value / max`; amber from 80 %, red
/// when full. A zero `max` draws an empty red bar (no capacity at all).
pub fn capacity_bar(value: u32, max: u32, width: u32) -> String {
    let share = if max == 0 {
        1.0
    } else {
        (f64::from(value) / f64::from(max)).min(1.0)
    };
    let colour = if share >= 1.0 {
        RED
    } else if share >= 0.8 {
        AMBER
    } else {
        BLUE
    };
    let filled = (share * f64::from(width)).round();
    format!(
        "<svg width=\"{width}\" height=\"14\" viewBox=\"0 0 {width} 14\" role=\"img\" \
         aria-label=\"{value} of {max}\"><rect width=\"{width}\" height=\"14\" rx=\"3\" fill=\"{GRID}\"/>\
         <rect width=\"{filled}\" height=\"14\" rx=\"3\" fill=\"{colour}\"/></svg>"
    )
}

/// A 0-100 score as a bar `width` pixels wide.
pub fn score_bar(score: f64, width: u32) -> String {
    let score = if score.is_finite() {
        score.clamp(0.0, 100.0)
    } else {
        0.0
    };
    let filled = (score / 100.0 * f64::from(width)).round();
    format!(
        "<svg width=\"{width}\" height=\"12\" viewBox=\"0 0 {width} 12\" role=\"img\" \
         aria-label=\"{score:.0} of 100\"><rect width=\"{width}\" height=\"12\" rx=\"2\" fill=\"{GRID}\"/>\
         <rect width=\"{filled}\" height=\"12\" rx=\"2\" fill=\"{BLUE}\"/></svg>"
    )
}

/// Plot area of the square charts, inside a margin for the axes' labels.
const SIZE: f64 = 260.0;
const LEFT: f64 = 44.0;
const TOP: f64 = 18.0;
const BOTTOM: f64 = 40.0;

/// Predicted (x) against observed (y) conversion rate per probability bin on the
/// holdout: a perfectly calibrated model sits on the diagonal. Each bin with examples is
/// a dot whose area grows with its count.
pub fn calibration_chart(table: &CalibrationTable) -> String {
    let (w, h) = (LEFT + SIZE + 16.0, TOP + SIZE + BOTTOM);
    let x = |p: f64| LEFT + p.clamp(0.0, 1.0) * SIZE;
    let y = |p: f64| TOP + (1.0 - p.clamp(0.0, 1.0)) * SIZE;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"calibration chart\" font-size=\"11\" fill=\"{INK}\">"
    );
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = write!(
            out,
            "<line x1=\"{x0}\" y1=\"{yt}\" x2=\"{x1}\" y2=\"{yt}\" stroke=\"{GRID}\"/>\
             <line x1=\"{xt}\" y1=\"{y0}\" x2=\"{xt}\" y2=\"{y1}\" stroke=\"{GRID}\"/>\
             <text x=\"{lx}\" y=\"{ly}\" text-anchor=\"end\">{tick:.2}</text>\
             <text x=\"{xt}\" y=\"{bx}\" text-anchor=\"middle\">{tick:.2}</text>",
            x0 = x(0.0),
            x1 = x(1.0),
            yt = y(tick),
            xt = x(tick),
            y0 = y(0.0),
            y1 = y(1.0),
            lx = LEFT - 6.0,
            ly = y(tick) + 4.0,
            bx = y(0.0) + 16.0,
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#9aa5b1\" stroke-dasharray=\"4 4\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">predicted probability</text>\
         <text transform=\"translate(12 {}) rotate(-90)\" text-anchor=\"middle\">observed won rate</text>",
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0),
        LEFT + SIZE / 2.0,
        h - 6.0,
        TOP + SIZE / 2.0,
    );
    let most = table.bins.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let mut points = Vec::new();
    for bin in table.bins.iter().filter(|b| b.count > 0) {
        let (cx, cy) = (x(bin.mean_predicted), y(bin.observed_rate));
        points.push(format!("{cx:.1},{cy:.1}"));
        let r = 3.0 + 7.0 * (bin.count as f64 / most as f64).sqrt();
        let _ = write!(
            out,
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{r:.1}\" fill=\"{BLUE}\" fill-opacity=\"0.75\">\
             <title>{:.2}-{:.2}: {} leads, predicted {:.3}, observed {:.3}</title></circle>",
            bin.lower, bin.upper, bin.count, bin.mean_predicted, bin.observed_rate
        );
    }
    if points.len() > 1 {
        let _ = write!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{BLUE}\" stroke-width=\"1.5\"/>",
            points.join(" ")
        );
    }
    out.push_str("</svg>");
    out
}

/// The won rate of each probability decile on the holdout (1 = the highest tenth), as
/// bars, with the overall rate as a dashed line and each bar's lift over it on top.
pub fn lift_chart(table: &DecileTable) -> String {
    let (w, h) = (LEFT + 360.0 + 16.0, TOP + SIZE + BOTTOM);
    let top_rate = table
        .rows
        .iter()
        .map(|r| r.rate)
        .fold(table.base_rate, f64::max)
        .max(0.01);
    // headroom for the lift labels above the tallest bar, never past 100 %
    let scale = (top_rate * 1.15).min(1.0);
    let y = |rate: f64| TOP + (1.0 - (rate / scale).clamp(0.0, 1.0)) * SIZE;
    let n = table.rows.len().max(1) as f64;
    let slot = 360.0 / n;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"lift chart\" font-size=\"11\" fill=\"{INK}\">"
    );
    for step in 0..=4 {
        let rate = scale * f64::from(step) / 4.0;
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{yt:.1}\" x2=\"{x1}\" y2=\"{yt:.1}\" stroke=\"{GRID}\"/>\
             <text x=\"{lx}\" y=\"{ly:.1}\" text-anchor=\"end\">{pct:.0}%</text>",
            yt = y(rate),
            x1 = LEFT + 360.0,
            lx = LEFT - 6.0,
            ly = y(rate) + 4.0,
            pct = rate * 100.0,
        );
    }
    for (i, row) in table.rows.iter().enumerate() {
        let x0 = LEFT + slot * i as f64 + slot * 0.15;
        let bar_w = slot * 0.7;
        let top = y(row.rate);
        let colour = if row.lift >= 1.0 { BLUE } else { "#9aa5b1" };
        let _ = write!(
            out,
            "<rect x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{bar_w:.1}\" height=\"{hgt:.1}\" fill=\"{colour}\">\
             <title>decile {d}: {c} leads, {p} won ({rate:.1}%), lift {lift:.2}</title></rect>\
             <text x=\"{mx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\">{lift:.1}×</text>\
             <text x=\"{mx:.1}\" y=\"{by:.1}\" text-anchor=\"middle\">{d}</text>",
            hgt = (y(0.0) - top).max(0.0),
            d = row.decile,
            c = row.count,
            p = row.positives,
            rate = row.rate * 100.0,
            lift = row.lift,
            mx = x0 + bar_w / 2.0,
            ty = top - 4.0,
            by = y(0.0) + 16.0,
        );
    }
    let base = y(table.base_rate);
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{base:.1}\" x2=\"{x1}\" y2=\"{base:.1}\" stroke=\"{RED}\" stroke-dasharray=\"5 4\"/>\
         <text x=\"{mid}\" y=\"{bottom}\" text-anchor=\"middle\">decile of predicted probability (1 = highest); \
         <tspan fill=\"{RED}\">dashed: overall {pct:.1}%</tspan></text>",
        x1 = LEFT + 360.0,
        pct = table.base_rate * 100.0,
        mid = LEFT + 180.0,
        bottom = h - 6.0,
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadq_scoring::metrics::{calibration, deciles};

    #[test]
    fn bars_fill_in_proportion_and_turn_red_when_full() {
        assert!(capacity_bar(5, 10, 100).contains("width=\"50\""));
        assert!(capacity_bar(12, 10, 100).contains(RED));
        assert!(capacity_bar(0, 0, 100).contains(RED));
        assert!(score_bar(f64::NAN, 100).contains("width=\"0\""));
    }

    #[test]
    fn charts_draw_one_mark_per_bin_and_decile() {
        let probs = [0.1, 0.2, 0.15, 0.8, 0.9, 0.7, 0.3, 0.6, 0.05, 0.95];
        let won = [
            false, false, true, true, true, false, false, true, false, true,
        ];
        let table = calibration(&probs, &won, 10).expect("table");
        let chart = calibration_chart(&table);
        let bins = table.bins.iter().filter(|b| b.count > 0).count();
        assert_eq!(chart.matches("<circle").count(), bins);
        let lift = lift_chart(&deciles(&probs, &won).expect("deciles"));
        assert_eq!(lift.matches("<rect").count(), 10);
        assert!(lift.contains("overall 50.0%"));
    }
}

//! The dashboard's HTML helpers: escaping, the page layout (one inline stylesheet, the
//! nav bar) and the small formatters every page uses.
//!
//! Pages are built with `write!` into a `String`. Every value that did not come from this
//! source file goes through [`esc`] (text and attribute values alike: it escapes both
//! quote characters), so a name typed into a form can never become markup.

use chrono::{DateTime, Utc};
use leadq_scoring::{Band, NextAction};
use std::fmt::{self, Display, Write};

/// Text escaped for HTML element content and quoted attribute values.
pub struct Esc<'a>(&'a str);

/// Escapes `text` for HTML (`& < > " '`).
pub fn esc(text: &str) -> Esc<'_> {
    Esc(text)
}

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// `text` as a URL path segment: everything but unreserved characters percent-encoded,
/// so an id can neither leave its segment nor its attribute.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The nav bar's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The lead queue.
    Queue,
    /// The reps.
    Reps,
    /// The model versions.
    Model,
    /// The alert outbox.
    Alerts,
    /// A page not in the nav bar (a lead, an error).
    None,
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;background:#f5f7fa}
nav{background:#1f2933;padding:0 24px;display:flex;align-items:center;gap:4px;height:48px}
nav .brand{color:#fff;font-weight:700;margin-right:20px;font-size:16px}
nav a{color:#cbd2d9;text-decoration:none;padding:6px 12px;border-radius:4px}
nav a:hover{background:#323f4b;color:#fff}
nav a.here{background:#3e4c59;color:#fff}
main{max-width:1240px;margin:0 auto;padding:16px 24px 40px}
h1{font-size:22px;margin:8px 0 4px}
h2{font-size:17px;margin:24px 0 8px}
h3{font-size:15px;margin:16px 0 6px}
p.lede{margin:0 0 12px;color:#52606d}
.muted{color:#7b8794}
table{border-collapse:collapse;background:#fff;width:100%;margin:0 0 8px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{background:#e4e7eb;font-weight:600;font-size:13px}
td.nowrap{white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.matrix{width:auto}
table.matrix td{text-align:center;min-width:70px}
table.narrow{width:auto;min-width:420px}
a{color:#1f6feb}
.band{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.band-hot{background:#d64545}.band-warm{background:#e67e22}.band-mql{background:#2d7dd2}
.band-cold{background:#7b8794}.band-disqualified{background:#3e4c59}
.overdue{color:#b42318;font-weight:600}.ok{color:#217a3c}
.state-failed{color:#b42318;font-weight:600}.state-sent{color:#217a3c}.state-pending{color:#b7791f}
.card{background:#fff;padding:12px 16px;margin:0 0 12px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.big{font-size:32px;font-weight:700}
.notice{background:#e3f8ff;border-left:4px solid #1f6feb;padding:8px 12px;margin:8px 0}
.warn{background:#fff3c4;border-left:4px solid #b7791f;padding:8px 12px;margin:8px 0}
.empty{background:#fff;padding:16px;border:1px dashed #9aa5b1;color:#52606d}
form.filters{display:flex;gap:12px;align-items:center;margin:8px 0 12px}
select,button{font:inherit;padding:3px 6px}
button{cursor:pointer}
details{background:#fff;padding:8px 12px;margin:0 0 10px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
summary{cursor:pointer;font-weight:600}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dl.facts dt{color:#52606d}dl.facts dd{margin:0}
footer{color:#7b8794;font-size:12px;margin-top:32px}
"#;

/// A whole page: head with the stylesheet, the nav bar with `here` marked, `body`.
pub fn page(title: &str, here: Nav, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · leadq</title><style>{STYLE}</style></head><body>\
         <nav><span class=\"brand\">leadq</span>",
        esc(title)
    );
    for (nav, href, label) in [
        (Nav::Queue, "/", "Lead queue"),
        (Nav::Reps, "/reps", "Reps"),
        (Nav::Model, "/model", "Model"),
        (Nav::Alerts, "/alerts", "Alerts"),
    ] {
        let class = if nav == here { " class=\"here\"" } else { "" };
        let _ = write!(out, "<a href=\"{href}\"{class}>{label}</a>");
    }
    let _ = write!(
        out,
        "</nav><main>{body}<footer>leadq serve's local dashboard, served on this machine's \
         loopback address only. Times are UTC.</footer></main></body></html>"
    );
    out
}

/// The band as a coloured badge.
pub fn band_badge(band: Band) -> String {
    format!("<span class=\"band band-{0}\">{0}</span>", esc(band.name()))
}

/// A duration in plain words: `45 s`, `12 min`, `3 h 10 min`, `5 d 2 h`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => {
            let minutes = (s % 3600) / 60;
            if minutes == 0 {
                format!("{} h", s / 3600)
            } else {
                format!("{} h {minutes} min", s / 3600)
            }
        }
        _ => {
            let hours = (s % 86_400) / 3600;
            if hours == 0 {
                format!("{} d", s / 86_400)
            } else {
                format!("{} d {hours} h", s / 86_400)
            }
        }
    }
}

/// How long ago `then` was, from `now`.
pub fn age(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    duration((now - then).num_seconds())
}

/// A UTC time to the minute.
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// A next action in plain words.
pub fn action_words(action: NextAction) -> &'static str {
    match action {
        NextAction::SalesNow => "sales now",
        NextAction::AccountFollowUp => "account follow-up",
        NextAction::SdrReview => "SDR review",
        NextAction::EnrichAgain => "enrich again",
        NextAction::ManualReview => "manual review",
        NextAction::Nurture => "nurture",
        NextAction::Suppress => "suppress",
    }
}

/// Every band, best first.
pub const BANDS: [Band; 5] = [
    Band::Hot,
    Band::Warm,
    Band::Mql,
    Band::Cold,
    Band::Disqualified,
];

/// Every next action, most urgent first.
pub const ACTIONS: [NextAction; 7] = [
    NextAction::SalesNow,
    NextAction::AccountFollowUp,
    NextAction::SdrReview,
    NextAction::ManualReview,
    NextAction::EnrichAgain,
    NextAction::Nurture,
    NextAction::Suppress,
];

/// A number with a fixed count of decimals, or a dash when absent.
pub fn num(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "–".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\"").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(esc("plain").to_string(), "plain");
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("lead-1_a.b~"), "lead-1_a.b~");
        assert_eq!(path_segment("a/b\"<"), "a%2Fb%22%3C");
    }

    #[test]
    fn durations_read_plainly() {
        assert_eq!(duration(-5), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(600), "10 min");
        assert_eq!(duration(3600), "1 h");
        assert_eq!(duration(3600 + 120), "1 h 2 min");
        assert_eq!(duration(86_400 * 2 + 3600 * 5), "2 d 5 h");
    }
}

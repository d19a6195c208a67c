//! What a score means: the band and the next action.

use serde::{Deserialize, Serialize};

/// How good a lead is, from its composite score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Sales should talk to this lead now.
    Hot,
    /// Close to sales-ready.
    Warm,
    /// Marketing-qualified.
    Mql,
    /// Not ready.
    Cold,
    /// Not a prospect (or disqualified by a negative signal).
    Disqualified,
}

impl Band {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Band::Hot => "hot",
            Band::Warm => "warm",
            Band::Mql => "mql",
            Band::Cold => "cold",
            Band::Disqualified => "disqualified",
        }
    }
}

/// What should happen to a lead next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextAction {
    /// Strong fit, strong intent, clear buyer: a rep calls now.
    SalesNow,
    /// Strong fit but the person is unclear: work the account.
    AccountFollowUp,
    /// Good fit, moderate intent: an SDR qualifies.
    SdrReview,
    /// Good fit but data is missing that could change the verdict: enrich again.
    EnrichAgain,
    /// Weak fit but strong product usage: a human looks.
    ManualReview,
    /// Low fit and low intent: keep in marketing nurture.
    Nurture,
    /// Disqualified: no outreach.
    Suppress,
}

impl NextAction {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            NextAction::SalesNow => "sales_now",
            NextAction::AccountFollowUp => "account_follow_up",
            NextAction::SdrReview => "sdr_review",
            NextAction::EnrichAgain => "enrich_again",
            NextAction::ManualReview => "manual_review",
            NextAction::Nurture => "nurture",
            NextAction::Suppress => "suppress",
        }
    }
}

impl std::fmt::Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for NextAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

//! `score`: a lead and its events in, an explainable [`ScoreCard`] out.
//!
//! The composite is the weighted sum of four dimension scores (each 0-100) plus the
//! negative signals, clamped to 0-100 and rounded. Every point is traceable: the reasons
//! of a dimension add up to its score, and the composite points of all reasons add up to
//! the composite before rounding.

use crate::Event;
use crate::label::Label;
use crate::lead::{EventKind, JobFunction, Lead, Occupation, Seniority};
use crate::model::{
    Attribute, Dimension, Matcher, Model, Penalty, REPEAT_VISIT, Rule, SIGNAL_SLOTS,
};
use crate::verdict::{Band, NextAction};
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The four dimension scores, each 0-100.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DimensionScores {
    /// Company fit.
    pub fit: f64,
    /// The person's ability to buy.
    pub stakeholder: f64,
    /// Engagement behaviour.
    pub behaviour: f64,
    /// Buying intent.
    pub intent: f64,
}

impl DimensionScores {
    /// The scores in the order fit, stakeholder, behaviour, intent.
    pub fn as_array(&self) -> [f64; 4] {
        [self.fit, self.stakeholder, self.behaviour, self.intent]
    }

    /// The score of one dimension (0 for `Negative`, which is not a 0-100 score).
    pub fn get(&self, dimension: Dimension) -> f64 {
        match dimension {
            Dimension::Fit => self.fit,
            Dimension::Stakeholder => self.stakeholder,
            Dimension::Behaviour => self.behaviour,
            Dimension::Intent => self.intent,
            Dimension::Negative => 0.0,
        }
    }
}

/// One rule or signal that moved the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The dimension the points went to (`negative` for negative signals and adjustments).
    pub dimension: Dimension,
    /// What gave the points, for example `industry = software` or `pricing_view`.
    pub rule: Label,
    /// Points in its dimension (0-100 scale); for `negative`, points of the composite.
    pub points: f64,
    /// What those points are worth in the composite, after the dimension's weight.
    pub composite_points: f64,
    /// Events counted, for signals; 0 for rules.
    #[serde(default)]
    pub count: u32,
    /// Points the events lost to time decay.
    #[serde(default)]
    pub decayed: f64,
}

/// An unknown field that, alone or with the other unknown fields, could change the band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingData {
    /// The field, for example `company.industry`.
    pub field: Label,
    /// Composite points the field's best value would add.
    pub best_points: f64,
    /// Composite points the field's worst value would add (zero or less).
    pub worst_points: f64,
}

/// The bands a lead could land in once its missing data is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandSpan {
    /// The band if every missing field took its best value.
    pub best: Band,
    /// The band if every missing field took its worst value.
    pub worst: Band,
}

/// The verdict on one lead, with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreCard {
    /// The lead scored.
    pub lead_id: String,
    /// Version of the model that scored it.
    pub model_version: Arc<str>,
    /// The time the score was computed for (decay is relative to it).
    pub scored_at: DateTime<Utc>,
    /// The four dimension scores.
    pub scores: DimensionScores,
    /// Composite points taken by negative signals (zero or less).
    pub negative: f64,
    /// The composite score, 0-100.
    pub composite: u8,
    /// The band of the composite.
    pub band: Band,
    /// What should happen next.
    pub next_action: NextAction,
    /// Calibrated conversion probability, once a model has learned from outcomes.
    pub probability: Option<f64>,
    /// The negative signal that disqualified the lead, if any.
    pub disqualified_by: Option<Label>,
    /// Every rule and signal that moved the score, largest composite effect first.
    pub reasons: Vec<Reason>,
    /// Unknown fields that could change the band, most points at stake first.
    pub missing: Vec<MissingData>,
    /// Where the band could go once the missing fields are known; `None` when nothing
    /// missing could change it.
    pub missing_span: Option<BandSpan>,
}

impl ScoreCard {
    /// An empty card, to be filled by [`score_into`] (which reuses its buffers).
    pub fn empty() -> ScoreCard {
        ScoreCard {
            lead_id: String::new(),
            model_version: Arc::from(""),
            scored_at: DateTime::<Utc>::UNIX_EPOCH,
            scores: DimensionScores::default(),
            negative: 0.0,
            composite: 0,
            band: Band::Disqualified,
            next_action: NextAction::Nurture,
            probability: None,
            disqualified_by: None,
            reasons: Vec::new(),
            missing: Vec::new(),
            missing_span: None,
        }
    }

    /// The composite before rounding, as the reasons add it up (to the nearest 2^-30 of a
    /// point, which keeps floating-point noise from deciding the rounding): it rounds to
    /// [`ScoreCard::composite`].
    pub fn composite_exact(&self) -> f64 {
        snap(self.reasons.iter().map(|r| r.composite_points).sum())
    }

    /// A plain-text explanation that a person can read in a minute.
    pub fn explain(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let s = &self.scores;
        let _ = writeln!(
            out,
            "lead {}: {} ({}), next action {} [model {}]",
            self.lead_id, self.composite, self.band, self.next_action, self.model_version
        );
        let _ = writeln!(
            out,
            "  fit {:.1} | stakeholder {:.1} | behaviour {:.1} | intent {:.1} | negative {:.1}",
            s.fit, s.stakeholder, s.behaviour, s.intent, self.negative
        );
        if let Some(p) = self.probability {
            let _ = writeln!(out, "  conversion probability {:.1}%", p * 100.0);
        }
        if let Some(d) = &self.disqualified_by {
            let _ = writeln!(out, "  disqualified by: {d}");
        }
        for r in &self.reasons {
            let _ = write!(
                out,
                "  {:+6.1} composite  {:<12} {:+6.1}  {}",
                r.composite_points,
                r.dimension.name(),
                r.points,
                r.rule
            );
            if r.count > 0 {
                let _ = write!(out, " x{}", r.count);
            }
            if r.decayed > 0.005 {
                let _ = write!(out, " ({:.1} lost to decay)", r.decayed);
            }
            out.push('\n');
        }
        if let Some(span) = &self.missing_span {
            let _ = writeln!(
                out,
                "  missing data could make it {} at best, {} at worst:",
                span.best, span.worst
            );
            for m in &self.missing {
                let _ = writeln!(
                    out,
                    "    {:<22} {:+.1} to {:+.1} composite",
                    m.field, m.worst_points, m.best_points
                );
            }
        }
        out
    }
}

/// Scores one lead with its events as of `now`. Deterministic: the same input gives the
/// same card, whatever the order of `events`.
pub fn score(lead: &Lead, events: &[Event], model: &Model, now: DateTime<Utc>) -> ScoreCard {
    let mut card = ScoreCard::empty();
    score_into(&mut card, lead, events, model, now);
    card
}

/// Like [`score`], but fills `card` in place, reusing its buffers: after warm-up this
/// allocates nothing.
pub fn score_into(
    card: &mut ScoreCard,
    lead: &Lead,
    events: &[Event],
    model: &Model,
    now: DateTime<Utc>,
) {
    card.reasons.clear();
    card.missing.clear();
    card.lead_id.clear();
    card.lead_id.push_str(&lead.id);
    // the same model scores lead after lead: skip the atomic count when it is already set
    if !Arc::ptr_eq(&card.model_version, &model.version) {
        card.model_version = Arc::clone(&model.version);
    }
    card.scored_at = now;
    card.probability = None;

    // the reasons as they are found, on the stack; the card takes them once, sorted
    let mut drafts = [Draft::UNUSED; Found::CAPACITY];
    let mut found = Found::new(&mut drafts, model, &mut card.reasons);
    // raw dimension sums before clamping, in the order fit, stakeholder, behaviour, intent
    let mut raw = [0.0f64; 4];
    // rules whose attribute is unknown: (dimension index, best points, worst points, field)
    let mut unknown: [(usize, f64, f64, Attribute); 16] = [(0, 0.0, 0.0, Attribute::Industry); 16];
    let mut unknown_len = 0;

    for (dim, rules) in [(0usize, &model.fit), (1usize, &model.stakeholder)] {
        let dimension = if dim == 0 {
            Dimension::Fit
        } else {
            Dimension::Stakeholder
        };
        for rule in rules.iter() {
            match apply_rule(rule, lead, dimension, &mut found) {
                Some(points) => raw[dim] += points,
                None if unknown_len < unknown.len() => {
                    unknown[unknown_len] = (dim, rule.best, rule.worst, rule.attribute);
                    unknown_len += 1;
                }
                None => {}
            }
        }
    }

    let mut signals = SignalTotals {
        slots: [SignalSum::default(); SIGNAL_SLOTS],
        any_active: false,
    };
    // filled in place: returned, the 400 bytes of totals cost a `memcpy`
    accumulate_signals(&mut signals, events, model, now);
    let mut product_points = 0.0;
    for (slot, acc) in signals.slots.iter().enumerate() {
        let Some(signal) = model.signals[slot].as_ref() else {
            continue;
        };
        if acc.count == 0 {
            continue;
        }
        let quantity = if signal.per_minute {
            acc.minutes.value()
        } else {
            f64::from(acc.count)
        };
        let (full, decayed) = (signal.points * quantity, acc.decayed.value());
        let points = decayed.clamp(-signal.cap, signal.cap);
        let dim = if signal.dimension == Dimension::Intent {
            3
        } else {
            2
        };
        raw[dim] += points;
        if slot == EventKind::ProductUsage.index() || slot == EventKind::TrialSignup.index() {
            product_points += points;
        }
        found.push(
            signal.dimension,
            &signal.label,
            points,
            acc.count,
            (full - decayed).abs(),
        );
    }

    // clamp each dimension to 0..=100, explaining the clamp as a reason of its own
    let mut clamped = [0.0f64; 4];
    const DIMS: [Dimension; 4] = [
        Dimension::Fit,
        Dimension::Stakeholder,
        Dimension::Behaviour,
        Dimension::Intent,
    ];
    for d in 0..4 {
        clamped[d] = raw[d].clamp(0.0, 100.0);
        let adjustment = clamped[d] - raw[d];
        if adjustment != 0.0 {
            let label = if adjustment < 0.0 {
                &model.labels.cap[d]
            } else {
                &model.labels.floor[d]
            };
            found.push(DIMS[d], label, adjustment, 0, 0.0);
        }
    }

    let (negative, disqualified_by) =
        apply_negatives(lead, signals.any_active, model, now, &mut found);
    let weighted: f64 = (0..4).map(|d| clamped[d] * model.weights[d] / 100.0).sum();
    let mut exact = weighted + negative;
    if exact < 0.0 {
        found.push_negative(&model.labels.composite_floor, -exact);
        exact = 0.0;
    }
    if disqualified_by.is_some() {
        let (_, high) = model.band_range(Band::Disqualified);
        if exact > f64::from(high) {
            found.push_negative(&model.labels.disqualified_cap, f64::from(high) - exact);
            exact = f64::from(high);
        }
    }

    card.scores = DimensionScores {
        fit: clamped[0],
        stakeholder: clamped[1],
        behaviour: clamped[2],
        intent: clamped[3],
    };
    card.negative = exact - weighted;
    card.composite = round_composite(exact);
    card.band = if disqualified_by.is_some() {
        Band::Disqualified
    } else {
        model.band_of(card.composite)
    };
    card.disqualified_by = disqualified_by;

    card.missing_span = None;
    // the best fit the missing data could give, when it could change the band
    let mut fit_if_known = None;
    if card.disqualified_by.is_none() && unknown_len > 0 {
        // the composite if the unknown fields took the given points, others as they are
        let composite_with = |extra: &[f64; 4]| {
            let weighted_with: f64 = (0..4)
                .map(|d| (raw[d] + extra[d]).clamp(0.0, 100.0) * model.weights[d] / 100.0)
                .sum();
            (weighted_with + negative).max(0.0)
        };
        let (mut best_all, mut worst_all) = ([0.0f64; 4], [0.0f64; 4]);
        for &(dim, best, worst, _) in &unknown[..unknown_len] {
            best_all[dim] += best;
            worst_all[dim] += worst;
        }
        let best = model.band_of(round_composite(composite_with(&best_all)));
        let worst = model.band_of(round_composite(composite_with(&worst_all)));
        if best != card.band || worst != card.band {
            card.missing_span = Some(BandSpan { best, worst });
            fit_if_known = Some((raw[0] + best_all[0]).clamp(0.0, 100.0));
            let unknown = &unknown[..unknown_len];
            for (i, &(dim, best, worst, attribute)) in unknown.iter().enumerate() {
                let mut one = [0.0f64; 4];
                one[dim] = best;
                let alone_best = composite_with(&one) - exact;
                one[dim] = worst;
                let alone_worst = composite_with(&one) - exact;
                // what the field adds on top of all the others at their best (worst): a
                // dimension's clamp can hide a field alone but not in combination
                let (mut others_best, mut others_worst) = ([0.0f64; 4], [0.0f64; 4]);
                for (j, &(d, b, w, _)) in unknown.iter().enumerate() {
                    if j != i {
                        others_best[d] += b;
                        others_worst[d] += w;
                    }
                }
                let with_best = composite_with(&best_all) - composite_with(&others_best);
                let with_worst = composite_with(&worst_all) - composite_with(&others_worst);
                let best_points = alone_best.max(with_best);
                let worst_points = alone_worst.min(with_worst);
                if best_points != 0.0 || worst_points != 0.0 {
                    card.missing.push(MissingData {
                        field: model.labels.fields[attribute as usize].clone(),
                        best_points,
                        worst_points,
                    });
                }
            }
            card.missing.sort_unstable_by(|a, b| {
                (b.best_points - b.worst_points)
                    .total_cmp(&(a.best_points - a.worst_points))
                    .then_with(|| a.field.cmp(&b.field))
            });
        }
    }

    card.next_action = next_action(
        &card.scores,
        product_points,
        card.disqualified_by.is_some(),
        fit_if_known,
        model,
    );

    found.write_to_card();
}

/// The reasons of one card, in the order scoring finds them. They are kept on the stack as
/// [`Draft`]s (plain data, borrowing the model's labels) and written into the card once,
/// in order: sorting 56-byte [`Reason`]s in place cost a swap of each, a seventh of the
/// scoring time. A model with more reasons than fit here (a long tech-stack list) puts the
/// rest straight into the card, which is then sorted whole.
struct Found<'m, 'c> {
    /// On the caller's stack, not in `Found`: moving 2 KiB of drafts costs a `memcpy`.
    drafts: &'c mut [Draft<'m>; Found::CAPACITY],
    len: usize,
    weights: [f64; 4],
    /// The card's reasons: empty, until they overflow the stack or are written in order.
    card: &'c mut Vec<Reason>,
}

/// A [`Reason`] before it goes into the card.
#[derive(Clone, Copy)]
struct Draft<'m> {
    dimension: Dimension,
    /// `None` only in the slots not used yet: the empty stack is then all zero bits,
    /// which costs a `memset` rather than a loop.
    rule: Option<&'m Label>,
    points: f64,
    composite_points: f64,
    count: u32,
    decayed: f64,
}

impl Found<'_, '_> {
    /// Enough for the default model's most (42: 11 fit, 3 stakeholder, 16 signals, 4
    /// clamps, 8 negatives and adjustments); a key of the sort has 6 bits for the position.
    const CAPACITY: usize = 48;
}

impl<'m, 'c> Found<'m, 'c> {
    fn new(
        drafts: &'c mut [Draft<'m>; Found::CAPACITY],
        model: &Model,
        card: &'c mut Vec<Reason>,
    ) -> Found<'m, 'c> {
        Found {
            drafts,
            len: 0,
            weights: model.weights,
            card,
        }
    }

    /// Adds a reason; its composite points are its points at its dimension's weight, or
    /// the points themselves for a negative one.
    #[inline]
    fn push(
        &mut self,
        dimension: Dimension,
        rule: &'m Label,
        points: f64,
        count: u32,
        decayed: f64,
    ) {
        let composite_points = match self.weights.get(dimension as usize) {
            Some(weight) => points * weight / 100.0,
            None => points,
        };
        let draft = Draft {
            dimension,
            rule: Some(rule),
            points,
            composite_points,
            count,
            decayed,
        };
        match self.drafts.get_mut(self.len) {
            Some(slot) => {
                *slot = draft;
                self.len += 1;
            }
            None => self.card.push(draft.reason()),
        }
    }

    /// Adds a negative signal or adjustment: composite points.
    fn push_negative(&mut self, rule: &'m Label, points: f64) {
        self.push(Dimension::Negative, rule, points, 0, 0.0);
    }

    /// Writes the reasons into the card, largest composite effect first.
    fn write_to_card(&mut self) {
        let drafts = &self.drafts[..self.len];
        if self.card.is_empty() {
            let mut keys = [0u64; Found::CAPACITY];
            let keys = sort_keys(drafts, &mut keys);
            self.card
                .extend(keys.iter().map(|&key| drafts[key_index(key)].reason()));
        } else {
            self.card.extend(drafts.iter().map(Draft::reason));
            sort_reasons(self.card);
        }
    }
}

impl Draft<'_> {
    /// An unused slot: all zero bits, so that the empty stack costs a `memset`.
    const UNUSED: Draft<'static> = Draft {
        dimension: Dimension::Fit,
        rule: None,
        points: 0.0,
        composite_points: 0.0,
        count: 0,
        decayed: 0.0,
    };

    fn reason(&self) -> Reason {
        Reason {
            dimension: self.dimension,
            rule: self.rule.cloned().unwrap_or_default(),
            points: self.points,
            composite_points: self.composite_points,
            count: self.count,
            decayed: self.decayed,
        }
    }
}

/// What an unused [`Draft`] reads as.
static NO_LABEL: Label = Label::from_static("");

/// What the order of reasons reads, of a [`Reason`] or a [`Draft`].
trait Ranked {
    fn composite_points(&self) -> f64;
    fn dimension(&self) -> Dimension;
    fn rule(&self) -> &Label;
}

impl Ranked for Reason {
    fn composite_points(&self) -> f64 {
        self.composite_points
    }
    fn dimension(&self) -> Dimension {
        self.dimension
    }
    fn rule(&self) -> &Label {
        &self.rule
    }
}

impl Ranked for Draft<'_> {
    fn composite_points(&self) -> f64 {
        self.composite_points
    }
    fn dimension(&self) -> Dimension {
        self.dimension
    }
    fn rule(&self) -> &Label {
        self.rule.unwrap_or(&NO_LABEL)
    }
}

/// The order of reasons on a card: largest composite effect first, then by dimension and
/// rule.
fn reason_order<R: Ranked>(a: &R, b: &R) -> std::cmp::Ordering {
    b.composite_points()
        .abs()
        .total_cmp(&a.composite_points().abs())
        .then(a.dimension().cmp(&b.dimension()))
        .then_with(|| a.rule().cmp(b.rule()))
}

/// Sorts reasons by [`reason_order`]: by [`sort_keys`], each reason then moved once into
/// place; the plain sort for more than 64.
fn sort_reasons(reasons: &mut [Reason]) {
    let n = reasons.len();
    if n > 64 {
        reasons.sort_unstable_by(reason_order);
        return;
    }
    let mut keys = [0u64; 64];
    sort_keys(reasons, &mut keys);
    // position p takes the reason at key_index(keys[p]): walk each cycle of the permutation
    let mut placed = 0u64;
    for start in 0..n {
        let mut at = start;
        while placed & (1 << at) == 0 {
            placed |= 1 << at;
            let from = key_index(keys[at]);
            if from == start {
                break;
            }
            reasons.swap(at, from);
            at = from;
        }
    }
}

/// The position of the reason a key of [`sort_keys`] stands for.
fn key_index(key: u64) -> usize {
    (key & 0x3f) as usize
}

/// Sorts up to 64 reasons by [`reason_order`] without moving them: fills `keys` with one
/// `u64` per reason, in order, and returns them; [`key_index`] gives each one's position.
/// Comparing reasons costs a mispredicted branch each time; sorting integer keys does not,
/// and the ties the keys leave are settled by [`reason_order`] itself.
fn sort_keys<'k, R: Ranked>(reasons: &[R], keys: &'k mut [u64]) -> &'k mut [u64] {
    let n = reasons.len();
    // The bits of a non-negative float order like the float (as `total_cmp` does), so
    // inverted they sort the largest magnitude first. The lowest 9 bits make room for the
    // dimension and the position; magnitudes that differ only there tie, and each run of
    // ties is then sorted by `reason_order` itself.
    for (i, r) in reasons.iter().enumerate() {
        let magnitude = !r.composite_points().abs().to_bits() & !0x1ff;
        keys[i] = magnitude | (r.dimension() as u64) << 6 | i as u64;
    }
    let keys = &mut keys[..n];
    keys.sort_unstable();
    let order = |a: &u64, b: &u64| reason_order(&reasons[key_index(*a)], &reasons[key_index(*b)]);
    // ties are rare: look for the next one with one comparison of neighbours per key
    let tie = |a: u64, b: u64| (a ^ b) >> 9 == 0;
    let mut i = 1;
    while i < n {
        if !tie(keys[i - 1], keys[i]) {
            i += 1;
            continue;
        }
        let run = i - 1;
        while i < n && tie(keys[run], keys[i]) {
            i += 1;
        }
        keys[run..i].sort_unstable_by(order);
    }
    keys
}

/// `exact` to the nearest 2^-30 of a point (about 1e-9). The composite is computed once
/// from the dimension scores and once, in [`ScoreCard::composite_exact`], as the sum of the
/// reasons; the two differ in the last bits of an `f64`. Both are snapped before they are
/// rounded, so that this noise cannot decide the rounding of a composite on a half point
/// (4.5 is common: 15 fit points at a weight of 30).
fn snap(exact: f64) -> f64 {
    const GRID: f64 = 1_073_741_824.0; // 2^30
    (exact * GRID).round() / GRID
}

/// The composite score: `exact` snapped, rounded half up and clamped to 0..=100.
fn round_composite(exact: f64) -> u8 {
    snap(exact).round().clamp(0.0, 100.0) as u8
}

/// The next-action matrix, evaluated top to bottom; the first row that holds wins.
///
/// `fit_if_known` is `Some(best fit the unknown fields could give)` when missing data
/// could change the band, `None` otherwise. Enriching again pays for a known good fit
/// with gaps, and for an unknown company that could be a good fit and shows intent.
pub fn next_action(
    scores: &DimensionScores,
    product_points: f64,
    disqualified: bool,
    fit_if_known: Option<f64>,
    model: &Model,
) -> NextAction {
    let a = &model.actions;
    let (fit, intent, person) = (scores.fit, scores.intent, scores.stakeholder);
    if disqualified {
        NextAction::Suppress
    } else if fit >= a.strong_fit && intent >= a.strong_intent && person >= a.clear_stakeholder {
        NextAction::SalesNow
    } else if fit >= a.strong_fit && person < a.clear_stakeholder {
        NextAction::AccountFollowUp
    } else if fit_if_known.is_some_and(|potential| {
        fit >= a.good_fit || (potential >= a.good_fit && intent >= a.moderate_intent)
    }) {
        NextAction::EnrichAgain
    } else if fit >= a.good_fit && intent >= a.moderate_intent {
        NextAction::SdrReview
    } else if fit < a.good_fit && product_points >= a.strong_product_usage {
        NextAction::ManualReview
    } else {
        NextAction::Nurture
    }
}

/// Applies one fit or stakeholder rule, pushing its reasons; `None` when the attribute
/// is unknown.
fn apply_rule<'m>(
    rule: &'m Rule,
    lead: &Lead,
    dimension: Dimension,
    found: &mut Found<'m, '_>,
) -> Option<f64> {
    let mut push = |label: &'m Label, points: f64| {
        found.push(dimension, label, points, 0, 0.0);
        points
    };
    let person = &lead.person;
    let company = &lead.company;
    match &rule.matcher {
        Matcher::Text {
            entries,
            index,
            other,
        } => {
            let value = match rule.attribute {
                Attribute::Industry => company.industry.as_deref(),
                Attribute::RevenueBand => company.revenue_band.as_deref(),
                Attribute::BusinessModel => company.business_model.as_deref(),
                // a blank company country is unknown: fall back to the person's
                Attribute::Country => company
                    .country
                    .as_deref()
                    .filter(|c| !trim(c).is_empty())
                    .or(person.country.as_deref()),
                _ => None,
            }
            .map(trim)?;
            if value.is_empty() {
                return None;
            }
            let hit = index
                .get(value)
                .and_then(|i| entries.get(i as usize))
                .or(other.as_ref());
            Some(hit.map_or(0.0, |e| push(&e.label, e.points)))
        }
        Matcher::Ranges(ranges) => {
            let n = company.employees?;
            let hit = ranges.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&n));
            Some(hit.map_or(0.0, |(_, _, e)| push(&e.label, e.points)))
        }
        Matcher::List {
            entries,
            index,
            cap,
            cap_label,
        } => {
            let stack = company.tech_stack.as_deref()?;
            let mut total = 0.0;
            match index {
                Some(index) => {
                    // the entries the stack names, each once, pushed in the entries' order
                    let mut named = 0u64;
                    for t in stack {
                        if let Some(i) = index.get(trim(t)) {
                            named |= 1 << i;
                        }
                    }
                    while named != 0 {
                        let e = &entries[named.trailing_zeros() as usize];
                        total += push(&e.label, e.points);
                        named &= named - 1;
                    }
                }
                None => {
                    for e in entries {
                        if stack.iter().any(|t| trim(t).eq_ignore_ascii_case(&e.key)) {
                            total += push(&e.label, e.points);
                        }
                    }
                }
            }
            let limited = total.clamp(-cap, *cap);
            if limited != total {
                push(cap_label, limited - total);
            }
            Some(limited)
        }
        Matcher::Enum(table) => {
            let index = match rule.attribute {
                Attribute::Seniority => person.seniority? as usize,
                Attribute::Function => person.function? as usize,
                Attribute::Authority => person.authority? as usize,
                _ => return None,
            };
            Some(
                table[index]
                    .as_ref()
                    .map_or(0.0, |e| push(&e.label, e.points)),
            )
        }
    }
}

/// `text.trim()`, without its cost in the common case of nothing to trim: a text that
/// starts and ends with a printable ASCII character has no surrounding white space.
fn trim(text: &str) -> &str {
    let printable = |b: Option<&u8>| b.is_some_and(|b| (b'!'..=b'~').contains(b));
    let bytes = text.as_bytes();
    if printable(bytes.first()) && printable(bytes.last()) {
        text
    } else {
        text.trim()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct SignalSum {
    count: u32,
    /// Minutes of the events, for signals counted per minute.
    minutes: ExactSum,
    /// Points, after decay.
    decayed: ExactSum,
}

/// A sum of points that does not depend on the order of its terms. Floating-point addition
/// is not associative, so adding events' points as `f64` in the order the events come in
/// would change the last bits of the card when the same events come in another order.
/// The terms are added exactly, as integers in units of 2^-40 points (about 1e-12).
#[derive(Debug, Clone, Copy, Default)]
struct ExactSum(i64);

impl ExactSum {
    /// 2^40 units make one point.
    const UNITS: f64 = 1_099_511_627_776.0;

    /// Adds a term, truncated to whole units. A term beyond ±2^23 (8 million) points
    /// saturates, and so does the sum; NaN adds nothing. All the terms of one signal have
    /// the same sign, so saturation cannot depend on their order either.
    fn add(&mut self, points: f64) {
        self.0 = self.0.saturating_add((points * Self::UNITS) as i64);
    }

    fn value(self) -> f64 {
        self.0 as f64 / Self::UNITS
    }
}

struct SignalTotals {
    slots: [SignalSum; SIGNAL_SLOTS],
    any_active: bool,
}

/// Adds up every event's points by signal, with decay; sessions after the earliest
/// also count as repeat visits.
fn accumulate_signals(
    totals: &mut SignalTotals,
    events: &[Event],
    model: &Model,
    now: DateTime<Utc>,
) {
    let clock = Clock::new(now);
    let repeat = model.signals[REPEAT_VISIT].as_ref();
    // the earliest session so far (the first among equals) and its repeat-visit points: it
    // counts as a repeat visit only once an earlier session shows up, so the events are
    // read once
    let mut first_session: Option<(DateTime<Utc>, f64)> = None;
    for e in events {
        let age_ms = clock.age_ms(e.at);
        let slot = e.kind.index();
        if let Some(signal) = model.signals[slot].as_ref() {
            let quantity = if signal.per_minute {
                e.minutes
                    .filter(|m| m.is_finite() && *m > 0.0)
                    .unwrap_or(0.0)
            } else {
                1.0
            };
            let sum = &mut totals.slots[slot];
            if signal.per_minute {
                sum.minutes.add(quantity);
            }
            add(sum, signal.points * quantity, signal.half_life_ms, age_ms);
            totals.any_active |= signal.active;
        }
        if let (EventKind::Session, Some(signal)) = (e.kind, repeat) {
            let points = decay(signal.points, signal.half_life_ms, age_ms);
            let repeat_visit = match first_session {
                None => {
                    first_session = Some((e.at, points));
                    continue;
                }
                Some((at, first_points)) if e.at < at => {
                    first_session = Some((e.at, points));
                    first_points
                }
                Some(_) => points,
            };
            let sum = &mut totals.slots[REPEAT_VISIT];
            sum.count += 1;
            sum.decayed.add(repeat_visit);
            totals.any_active |= signal.active;
        }
    }
}

/// `now`, prepared once per lead so that an event's age costs no calendar arithmetic.
///
/// `DateTime::timestamp` turns a date into days through the 400-year Gregorian cycle, which
/// was about a twentieth of the scoring time with 20 events per lead. Nearly every event
/// happened this year or last year, so the start of those two years is computed once, and
/// an event's time since the epoch is that start plus its day of the year and its second
/// of the day. Any other year takes chrono's way ([`age_ms`]).
struct Clock {
    now: DateTime<Utc>,
    /// `now` in whole seconds since the epoch and nanoseconds.
    parts: (i64, u32),
    year: i32,
    /// Seconds since the epoch at the start of `year`, and of the year before.
    year_start: i64,
    last_year_start: i64,
}

impl Clock {
    fn new(now: DateTime<Utc>) -> Clock {
        let year = now.naive_utc().year();
        Clock {
            now,
            parts: (now.timestamp(), now.timestamp_subsec_nanos()),
            year,
            year_start: year_start(i64::from(year)),
            last_year_start: year_start(i64::from(year) - 1),
        }
    }

    /// What [`age_ms`] gives: whole milliseconds from `at` to `now`, 0 in the future.
    fn age_ms(&self, at: DateTime<Utc>) -> i64 {
        let (date, time) = (at.naive_utc().date(), at.naive_utc().time());
        let start = if date.year() == self.year {
            self.year_start
        } else if date.year() == self.year - 1 {
            self.last_year_start
        } else {
            return age_ms(self.now, self.parts, at);
        };
        let at_nanos = time.nanosecond();
        if self.parts.1 >= 1_000_000_000 || at_nanos >= 1_000_000_000 {
            return age_ms(self.now, self.parts, at); // a leap second
        }
        let at_secs = start
            + i64::from(date.ordinal0()) * 86_400
            + i64::from(time.num_seconds_from_midnight());
        // the nanoseconds' difference in whole milliseconds, rounded down: shifted by a
        // second to stay positive, it divides as an unsigned number (cheaper than
        // `div_euclid`)
        let nanos_ms = (self.parts.1 + 1_000_000_000 - at_nanos) / 1_000_000;
        ((self.parts.0 - at_secs) * 1000 + i64::from(nanos_ms) - 1000).max(0)
    }
}

/// Seconds since the epoch at 1 January of `year`, in the proleptic Gregorian calendar
/// chrono uses (a year 0, leap): 365 days a year plus the leap days before it.
fn year_start(year: i64) -> i64 {
    let y = year - 1;
    // days from 0001-01-01 to 1 January of `year`, less those to 1970-01-01
    let days = 365 * y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400) - 719_162;
    days * 86_400
}

/// Whole milliseconds from `at` to `now`, 0 for an event in the future: what
/// `now.signed_duration_since(at).num_milliseconds().max(0)` gives, at half the cost, since
/// `now` is split into seconds and nanoseconds since the epoch once per lead, not per event.
fn age_ms(now: DateTime<Utc>, (now_secs, now_nanos): (i64, u32), at: DateTime<Utc>) -> i64 {
    let at_nanos = at.timestamp_subsec_nanos();
    if now_nanos >= 1_000_000_000 || at_nanos >= 1_000_000_000 {
        // a leap second, which chrono counts its own way
        return now.signed_duration_since(at).num_milliseconds().max(0);
    }
    let secs = now_secs - at.timestamp();
    let nanos = i64::from(now_nanos) - i64::from(at_nanos);
    (secs * 1000 + nanos.div_euclid(1_000_000)).max(0)
}

fn add(sum: &mut SignalSum, points: f64, half_life_ms: f64, age_ms: i64) {
    sum.count += 1;
    sum.decayed.add(decay(points, half_life_ms, age_ms));
}

/// An event's points after decay: one half-life old counts half, `points x 2^-(age / half-life)`.
fn decay(points: f64, half_life_ms: f64, age_ms: i64) -> f64 {
    if half_life_ms.is_finite() {
        points * half_power(age_ms as f64 / half_life_ms)
    } else {
        points
    }
}

/// `2^-t` for `t >= 0` (0 for NaN), within about 2 ulp of the exact value above 2^-1022:
/// what `f64::exp2(-t)` gives to its last bit or two, at a fraction of its cost (no call
/// into libm, no errno, a short polynomial) and with the same result on every platform (no
/// fused multiply-add).
///
/// `t = 64k + r` splits into whole sixty-fourths, read from a table of `2^(-j/64)` and put
/// in the exponent, and a remainder of at most half a sixty-fourth, where a degree-5 Taylor
/// polynomial of `e^z` is exact to about 4e-17 (a third of an ulp).
fn half_power(t: f64) -> f64 {
    /// `2^(-j/64)` for j in 0..64, correctly rounded.
    const SIXTY_FOURTHS: [u64; 64] = [
        0x3ff0000000000000,
        0x3fefa7c1819e90d8,
        0x3fef50765b6e4540,
        0x3feefa1bee615a27,
        0x3feea4afa2a490da,
        0x3fee502ee78b3ff6,
        0x3fedfc97337b9b5f,
        0x3feda9e603db3285,
        0x3fed5818dcfba487,
        0x3fed072d4a07897c,
        0x3fecb720dcef9069,
        0x3fec67f12e57d14b,
        0x3fec199bdd85529c,
        0x3febcc1e904bc1d2,
        0x3feb7f76f2fb5e47,
        0x3feb33a2b84f15fb,
        0x3feae89f995ad3ad,
        0x3fea9e6b5579fdbf,
        0x3fea5503b23e255d,
        0x3fea0c667b5de565,
        0x3fe9c49182a3f090,
        0x3fe97d829fde4e50,
        0x3fe93737b0cdc5e5,
        0x3fe8f1ae99157736,
        0x3fe8ace5422aa0db,
        0x3fe868d99b4492ed,
        0x3fe82589994cce13,
        0x3fe7e2f336cf4e62,
        0x3fe7a11473eb0187,
        0x3fe75feb564267c9,
        0x3fe71f75e8ec5f74,
        0x3fe6dfb23c651a2f,
        0x3fe6a09e667f3bcd,
        0x3fe6623882552225,
        0x3fe6247eb03a5585,
        0x3fe5e76f15ad2148,
        0x3fe5ab07dd485429,
        0x3fe56f4736b527da,
        0x3fe5342b569d4f82,
        0x3fe4f9b2769d2ca7,
        0x3fe4bfdad5362a27,
        0x3fe486a2b5c13cd0,
        0x3fe44e086061892d,
        0x3fe4160a21f72e2a,
        0x3fe3dea64c123422,
        0x3fe3a7db34e59ff7,
        0x3fe371a7373aa9cb,
        0x3fe33c08b26416ff,
        0x3fe306fe0a31b715,
        0x3fe2d285a6e4030b,
        0x3fe29e9df51fdee1,
        0x3fe26b4565e27cdd,
        0x3fe2387a6e756238,
        0x3fe2063b88628cd6,
        0x3fe1d4873168b9aa,
        0x3fe1a35beb6fcb75,
        0x3fe172b83c7d517b,
        0x3fe1429aaea92de0,
        0x3fe11301d0125b51,
        0x3fe0e3ec32d3d1a2,
        0x3fe0b5586cf9890f,
        0x3fe0874518759bc8,
        0x3fe059b0d3158574,
        0x3fe02c9a3e778061,
    ];
    // 1/k! for k in 2..=5
    const C2: f64 = 0.5;
    const C3: f64 = f64::from_bits(0x3fc5555555555555);
    const C4: f64 = f64::from_bits(0x3fa5555555555555);
    const C5: f64 = f64::from_bits(0x3f81111111111111);
    // 2^-1075 and below round to 0; so does NaN, which fails the comparison
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(t < 1075.0) {
        return 0.0;
    }
    let parts = t * 64.0; // exact: a power of two
    // round to nearest (even) by adding 1.5 x 2^52, which leaves the integer in the low
    // bits of the sum; `round()` would be a call into libm on baseline x86-64, and a float
    // to integer conversion costs a dozen instructions
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let rounded = parts + ROUND;
    let k = rounded.to_bits() & 0x1_ffff; // 0..=68_800
    // |z| <= ln 2 / 128; both steps are exact but for the product with ln 2
    let z = ((rounded - ROUND) - parts) * (std::f64::consts::LN_2 / 64.0);
    let p = 1.0 + z * (1.0 + z * (C2 + z * (C3 + z * (C4 + z * C5))));
    let whole = (k >> 6) as i64; // 0..=1075
    let fraction = f64::from_bits(SIXTY_FOURTHS[(k & 63) as usize]) * p;
    // 2^-whole, in two steps when it is below the smallest normal number
    if whole <= 1022 {
        fraction * f64::from_bits(((1023 - whole) as u64) << 52)
    } else {
        fraction * f64::from_bits(1u64 << 52) * f64::from_bits(((1023 + 1022 - whole) as u64) << 52)
    }
}

/// Applies the negative signals; returns the composite points they take and the label
/// of the first disqualifying one.
fn apply_negatives<'m>(
    lead: &Lead,
    any_active: bool,
    model: &'m Model,
    now: DateTime<Utc>,
    found: &mut Found<'m, '_>,
) -> (f64, Option<Label>) {
    let n = &model.negatives;
    let person = &lead.person;
    let mut total = 0.0;
    let mut disqualified_by: Option<Label> = None;
    let mut fire = |p: &'m Penalty| {
        found.push_negative(&p.label, p.points);
        total += p.points;
        if p.disqualify && disqualified_by.is_none() {
            disqualified_by = Some(p.label.clone());
        }
    };
    let is_student = person.seniority == Some(Seniority::Student)
        || person.occupation == Some(Occupation::Student);
    if let (Some(p), true) = (&n.student, is_student) {
        fire(p);
    }
    if let (Some(p), true) = (
        &n.job_seeker,
        person.occupation == Some(Occupation::JobSeeker),
    ) {
        fire(p);
    }
    if let (Some(p), true) = (
        &n.consultant,
        person.function == Some(JobFunction::Consulting),
    ) {
        fire(p);
    }
    if let (Some(p), true) = (&n.unsubscribed, lead.consent.email == Some(false)) {
        fire(p);
    }
    if let Some((p, domains)) = &n.competitor {
        let email_domain = person.email.as_deref().and_then(|e| {
            // what `rsplit_once('@')` finds, without its general-purpose search: the
            // domain is a few bytes at the end
            let at = e.bytes().rposition(|b| b == b'@')?;
            Some(&e[at + 1..])
        });
        let company_domain = lead.company.domain.as_deref();
        let is_competitor = domains.iter().any(|d| {
            [email_domain, company_domain]
                .into_iter()
                .flatten()
                .any(|x| trim(x).eq_ignore_ascii_case(d))
        });
        if is_competitor {
            fire(p);
        }
    }
    if let (Some((p, after_days)), Some(created)) = (&n.passive_only, lead.created_at) {
        let known_days =
            now.signed_duration_since(created).num_milliseconds() as f64 / 86_400_000.0;
        if !any_active && known_days >= *after_days {
            fire(p);
        }
    }
    (total, disqualified_by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeDelta};

    #[test]
    fn age_ms_is_what_chrono_says() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        let instants = [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::UNIX_EPOCH,
            leap,
            leap + TimeDelta::milliseconds(700),
            leap - TimeDelta::nanoseconds(1),
            "2026-11-23T12:00:00Z".parse().unwrap(),
            "2026-11-23T12:00:00.000999999Z".parse().unwrap(),
            "2026-11-23T11:59:59.999000001Z".parse().unwrap(),
            "2026-11-22T12:00:00.0004Z".parse().unwrap(),
            "1969-12-31T23:59:59.9999Z".parse().unwrap(),
            "0001-01-01T00:00:00Z".parse().unwrap(),
        ];
        for now in instants {
            let parts = (now.timestamp(), now.timestamp_subsec_nanos());
            for at in instants {
                let chrono = now.signed_duration_since(at).num_milliseconds().max(0);
                assert_eq!(age_ms(now, parts, at), chrono, "now {now:?}, at {at:?}");
            }
        }
    }

    #[test]
    fn clock_ages_are_what_chrono_says() {
        // year starts, against chrono's calendar, over the whole range it covers
        for year in (-262_000..=262_000).step_by(997).chain(1890..=2110) {
            let chrono = NaiveDate::from_yo_opt(year, 1)
                .unwrap()
                .and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .timestamp();
            assert_eq!(year_start(i64::from(year)), chrono, "{year}");
        }
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let nows = [
            at("2026-11-23T12:00:00Z"),
            at("2026-01-01T00:00:00Z"),
            at("2025-01-01T00:00:00.0005Z"),
            at("2024-12-31T23:59:59.999999999Z"),
            at("2024-03-01T00:00:00Z"),
            at("2000-02-29T12:34:56.789Z"),
            at("1970-01-01T00:00:00Z"),
            at("1969-12-31T23:59:59.9999Z"),
            at("0000-03-01T00:00:00Z"),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ];
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        for now in nows.into_iter().chain([leap]) {
            let clock = Clock::new(now);
            let mut events: Vec<DateTime<Utc>> = nows.to_vec();
            events.push(leap);
            // every hour (and an odd millisecond) of the two years before and the one after
            let mut t =
                (now.checked_sub_signed(TimeDelta::days(800))).unwrap_or(DateTime::<Utc>::MIN_UTC);
            let end =
                (now.checked_add_signed(TimeDelta::days(400))).unwrap_or(DateTime::<Utc>::MAX_UTC);
            while t < end {
                events.push(t);
                t = match t.checked_add_signed(TimeDelta::milliseconds(3_600_007)) {
                    Some(next) => next,
                    None => break,
                };
            }
            for at in events {
                let chrono = now.signed_duration_since(at).num_milliseconds().max(0);
                assert_eq!(clock.age_ms(at), chrono, "now {now:?}, at {at:?}");
            }
        }
    }

    #[test]
    fn reasons_beyond_the_stack_are_sorted_in_the_card() {
        // 60 tools of a point each: more reasons than the stack holds
        let tools: Vec<String> = (0..60).map(|i| format!("tool{i:02}")).collect();
        let points: Vec<String> = tools.iter().map(|t| format!("{t} = 1")).collect();
        let text = crate::model::DEFAULT_MODEL_TOML.replace(
            "points = { salesforce = 8, hubspot = 8, segment = 5, snowflake = 5, aws = 3 }",
            &format!("points = {{ {} }}", points.join(", ")),
        );
        let model = Model::from_toml_str(&text).unwrap();
        let mut lead = Lead::default();
        lead.company.tech_stack = Some(tools.clone());
        lead.company.industry = Some("software".into());
        let now: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        let events: Vec<Event> = (0..20)
            .map(|i| {
                Event::new(
                    EventKind::ALL[i % EventKind::ALL.len()],
                    now - TimeDelta::hours(i as i64),
                )
            })
            .collect();
        let card = score(&lead, &events, &model, now);
        assert!(
            card.reasons.len() > Found::CAPACITY,
            "{}",
            card.reasons.len()
        );
        let tool_reasons = card
            .reasons
            .iter()
            .filter(|r| r.rule.contains("tool"))
            .count();
        assert_eq!(tool_reasons, 60);
        assert!(card.reasons.is_sorted_by(|a, b| reason_order(a, b).is_le()));
        assert_eq!(round_composite(card.composite_exact()), card.composite);
        // the same card from a reused one, whatever it held
        let mut reused = score(&Lead::default(), &events, &Model::default_model(), now);
        score_into(&mut reused, &lead, &events, &model, now);
        assert_eq!(reused, card);
    }

    #[test]
    fn exact_sums_ignore_the_order_of_their_terms() {
        let terms = [0.1, 0.2, 0.3, 1e-9, 7.123456789, 1e6, 2.5e-13];
        let (mut forward, mut backward) = (ExactSum::default(), ExactSum::default());
        terms.iter().for_each(|t| forward.add(*t));
        terms.iter().rev().for_each(|t| backward.add(*t));
        assert_eq!(forward.0, backward.0);
        assert!((forward.value() - terms.iter().sum::<f64>()).abs() < 1e-10);
        // a float sum does depend on the order
        assert_ne!(0.1 + 0.2 + 0.3, 0.3 + 0.2 + 0.1);
        let mut huge = ExactSum::default();
        huge.add(f64::INFINITY);
        huge.add(1.0);
        assert_eq!(huge.0, i64::MAX);
        huge.add(f64::NAN);
        assert_eq!(huge.0, i64::MAX);
    }

    #[test]
    fn sort_reasons_sorts_like_reason_order() {
        let reason = |dimension, rule: &str, composite_points: f64| Reason {
            dimension,
            rule: Label::from(rule),
            points: composite_points,
            composite_points,
            count: 0,
            decayed: 0.0,
        };
        // magnitudes equal, or equal but for the last bits, across dimensions and rules
        let nudged = f64::from_bits(9f64.to_bits() + 1);
        let mut reasons = vec![
            reason(Dimension::Intent, "b", nudged),
            reason(Dimension::Fit, "z", 9.0),
            reason(Dimension::Fit, "a", -9.0),
            reason(Dimension::Negative, "n", -nudged),
            reason(Dimension::Stakeholder, "s", 0.0),
            reason(Dimension::Behaviour, "c", 3.5),
            reason(Dimension::Behaviour, "a", 3.5),
            reason(Dimension::Behaviour, "b", 3.5),
            reason(Dimension::Fit, "y", 100.0),
            reason(Dimension::Fit, "x", f64::NAN),
            reason(Dimension::Fit, "w", f64::INFINITY),
            reason(Dimension::Fit, "v", -0.0),
        ];
        for rotation in 0..reasons.len() {
            reasons.rotate_left(1);
            let mut expected = reasons.clone();
            expected.sort_unstable_by(reason_order);
            let mut sorted = reasons.clone();
            sort_reasons(&mut sorted);
            let rules = |r: &[Reason]| r.iter().map(|r| r.rule.to_string()).collect::<Vec<_>>();
            assert_eq!(rules(&sorted), rules(&expected), "rotation {rotation}");
        }
        // more reasons than keys fit: the plain sort
        let mut many: Vec<Reason> = (0..100)
            .map(|i| reason(Dimension::Fit, &format!("r{i}"), f64::from(i % 7)))
            .collect();
        sort_reasons(&mut many);
        assert!(many.is_sorted_by(|a, b| reason_order(a, b).is_le()));
    }

    #[test]
    fn half_power_is_exp2_to_the_last_bits() {
        // whole half-lives are exact
        for n in 0..1075 {
            assert_eq!(half_power(f64::from(n)), (-f64::from(n)).exp2(), "2^-{n}");
        }
        let mut worst = 0.0f64;
        let mut t = 0.0;
        while t < 1075.0 {
            let (fast, libm) = (half_power(t), (-t).exp2());
            if libm >= f64::MIN_POSITIVE {
                worst = worst.max(((fast - libm) / libm).abs());
            } else {
                // subnormal: two roundings, each within half of the smallest step
                assert!((fast - libm).abs() <= 2.0 * f64::from_bits(1), "2^-{t}");
            }
            t += 0.000_731 + t * 1e-4;
        }
        assert!(worst <= 4.0 * f64::EPSILON, "relative error {worst}");
        for t in [1075.0, 1e6, f64::INFINITY, f64::NAN] {
            assert_eq!(half_power(t), 0.0, "2^-{t}");
        }
        assert_eq!(half_power(-0.0), 1.0);
    }

    #[test]
    fn trim_is_str_trim() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\tab\n",
            "ab",
            "\u{a0}x\u{a0}",
            "x\u{2003}",
            "~!",
            "é",
            "\u{85}y",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }
}

//! The scoring model as code: one TOML document holding the ideal customer profile, the
//! signal table, the negative signals, the weights, the bands and the next-action matrix.
//!
//! [`ModelConfig`] is the document as written; [`Model`] is the validated, compiled form
//! that [`crate::score`] reads. Compilation refuses anything ambiguous with an error that
//! names the key and the rule it broke.

use crate::label::Label;
use crate::lead::{Authority, EventKind, JobFunction, Seniority};
use crate::verdict::Band;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The model shipped with leadq, used until a team writes its own or a trained one exists.
pub const DEFAULT_MODEL_TOML: &str = include_str!("../model/default.toml");

/// Why a model document was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    /// The document is not valid TOML, has an unknown key or a value of the wrong type.
    /// The message names the key and the line.
    #[error("model file: {0}")]
    Syntax(String),
    /// A key holds a value that breaks a rule of the model.
    #[error("model file: `{key}`: {rule}")]
    Invalid {
        /// Dotted path of the offending key, for example `signals.email_open.half_life_days`.
        key: String,
        /// The rule it broke, in words.
        rule: String,
    },
}

fn invalid(key: impl Into<String>, rule: impl Into<String>) -> ModelError {
    ModelError::Invalid {
        key: key.into(),
        rule: rule.into(),
    }
}

/// The model document exactly as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Version label shown on every ScoreCard this model produces.
    pub version: String,
    /// Free text for humans.
    #[serde(default)]
    pub description: Option<String>,
    /// Weight of each dimension in the composite; they must add up to 100.
    pub weights: WeightsConfig,
    /// Composite ranges of each band; together they must cover 0..=100 exactly once.
    pub bands: BandsConfig,
    /// Named groups of country codes usable as keys of `fit.country`.
    #[serde(default)]
    pub regions: BTreeMap<String, Vec<String>>,
    /// Company fit rules (the ideal customer profile).
    #[serde(default)]
    pub fit: FitConfig,
    /// Rules about the person (seniority, function, authority).
    #[serde(default)]
    pub stakeholder: StakeholderConfig,
    /// Behaviour and intent signals, keyed by event kind (plus `repeat_visit`).
    #[serde(default)]
    pub signals: BTreeMap<String, SignalConfig>,
    /// Negative signals.
    #[serde(default)]
    pub negatives: NegativesConfig,
    /// Thresholds of the next-action matrix.
    pub actions: ActionsConfig,
}

/// Dimension weights, in points of the composite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsConfig {
    /// Weight of company fit.
    pub fit: f64,
    /// Weight of the stakeholder (person) score.
    pub stakeholder: f64,
    /// Weight of engagement behaviour.
    pub behaviour: f64,
    /// Weight of buying intent.
    pub intent: f64,
}

/// Inclusive composite ranges `[low, high]` of each band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandsConfig {
    /// Range of `hot`.
    pub hot: [u8; 2],
    /// Range of `warm`.
    pub warm: [u8; 2],
    /// Range of `mql`.
    pub mql: [u8; 2],
    /// Range of `cold`.
    pub cold: [u8; 2],
    /// Range of `disqualified`.
    pub disqualified: [u8; 2],
}

/// Points by attribute value; the key `other` scores a known value that is not listed.
pub type PointsTable = BTreeMap<String, f64>;

/// Company fit rules. Each is optional; an absent rule scores nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    /// Points by industry.
    pub industry: Option<PointsTable>,
    /// Points by employee count range.
    pub employees: Option<Vec<RangePoints>>,
    /// Points by revenue band.
    pub revenue_band: Option<PointsTable>,
    /// Points by country code or region name (company country, else person country).
    pub country: Option<PointsTable>,
    /// Points for each technology in the company's stack, summed and capped.
    pub tech_stack: Option<TechStackConfig>,
    /// Points by business model.
    pub business_model: Option<PointsTable>,
}

/// Points for a numeric range `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangePoints {
    /// Lowest value of the range.
    pub min: u32,
    /// Highest value of the range; absent means unbounded.
    #[serde(default)]
    pub max: Option<u32>,
    /// Points for a value in the range.
    pub points: f64,
}

/// Tech-stack rule: points per technology, summed, capped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TechStackConfig {
    /// Points by technology name.
    pub points: PointsTable,
    /// Most points the whole stack can give.
    pub cap: f64,
}

/// Rules about the person.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StakeholderConfig {
    /// Points by seniority.
    pub seniority: Option<BTreeMap<Seniority, f64>>,
    /// Points by job function.
    pub function: Option<BTreeMap<JobFunction, f64>>,
    /// Points by role in the buying decision.
    pub authority: Option<BTreeMap<Authority, f64>>,
}

/// Which dimension a signal feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// How well the company matches the ideal customer profile.
    Fit,
    /// How well the person can buy.
    Stakeholder,
    /// How engaged the lead is.
    Behaviour,
    /// How close the lead is to buying.
    Intent,
    /// Negative signals, counted against the composite itself.
    Negative,
}

impl Dimension {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Fit => "fit",
            Dimension::Stakeholder => "stakeholder",
            Dimension::Behaviour => "behaviour",
            Dimension::Intent => "intent",
            Dimension::Negative => "negative",
        }
    }
}

/// How a signal's points are counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// Points for each event.
    #[default]
    Event,
    /// Points for each minute of the event's `minutes`.
    Minute,
}

/// One behaviour or intent signal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalConfig {
    /// Points per event (or per minute); negative for signals that count against a lead.
    pub points: f64,
    /// `behaviour` or `intent`.
    pub dimension: Dimension,
    /// Days after which an event counts half; absent means it never decays.
    #[serde(default)]
    pub half_life_days: Option<f64>,
    /// Most points (in absolute value) all events of this signal can give together.
    #[serde(default)]
    pub cap: Option<f64>,
    /// Whether the signal shows active engagement (anything but passive reading).
    #[serde(default)]
    pub active: bool,
    /// `event` (default) or `minute`.
    #[serde(default)]
    pub per: Per,
}

/// A plain negative signal: points against the composite, optionally disqualifying.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PenaltyConfig {
    /// Composite points (zero or less).
    #[serde(default)]
    pub points: f64,
    /// Whether the signal alone puts the lead in the `disqualified` band.
    #[serde(default)]
    pub disqualify: bool,
}

/// A competitor rule: the listed domains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompetitorConfig {
    /// Composite points (zero or less).
    #[serde(default)]
    pub points: f64,
    /// Whether a competitor is disqualified outright.
    #[serde(default)]
    pub disqualify: bool,
    /// Competitors' domains, matched against the company and the email domain.
    pub domains: Vec<String>,
}

/// The passive-only rule: a lead known for a while that never did anything active.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveOnlyConfig {
    /// Composite points (zero or less).
    pub points: f64,
    /// Days since the lead was created before the rule applies.
    pub after_days: f64,
}

/// The negative signals. Each is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegativesConfig {
    /// Seniority or occupation `student`.
    pub student: Option<PenaltyConfig>,
    /// Occupation `job_seeker`.
    pub job_seeker: Option<PenaltyConfig>,
    /// Job function `consulting`.
    pub consultant: Option<PenaltyConfig>,
    /// Consent to email withdrawn.
    pub unsubscribed: Option<PenaltyConfig>,
    /// A competitor's domain.
    pub competitor: Option<CompetitorConfig>,
    /// Only passive engagement after a while.
    pub passive_only: Option<PassiveOnlyConfig>,
}

/// Thresholds of the next-action matrix, on the 0-100 dimension scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionsConfig {
    /// Fit at or above this is strong.
    pub strong_fit: f64,
    /// Fit at or above this is good.
    pub good_fit: f64,
    /// Intent at or above this is strong.
    pub strong_intent: f64,
    /// Intent at or above this is moderate.
    pub moderate_intent: f64,
    /// Stakeholder at or above this is a clear buyer.
    pub clear_stakeholder: f64,
    /// Behaviour points from product usage and trial signups at or above this are strong.
    pub strong_product_usage: f64,
}

/// A company or person attribute that a rule scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    /// `company.industry`.
    Industry,
    /// `company.employees`.
    Employees,
    /// `company.revenue_band`.
    RevenueBand,
    /// `company.country`, else `person.country`.
    Country,
    /// `company.tech_stack`.
    TechStack,
    /// `company.business_model`.
    BusinessModel,
    /// `person.seniority`.
    Seniority,
    /// `person.function`.
    Function,
    /// `person.authority`.
    Authority,
}

impl Attribute {
    /// The field of the lead this attribute reads, as a user would name it.
    pub fn field(self) -> &'static str {
        match self {
            Attribute::Industry => "company.industry",
            Attribute::Employees => "company.employees",
            Attribute::RevenueBand => "company.revenue_band",
            Attribute::Country => "company.country",
            Attribute::TechStack => "company.tech_stack",
            Attribute::BusinessModel => "company.business_model",
            Attribute::Seniority => "person.seniority",
            Attribute::Function => "person.function",
            Attribute::Authority => "person.authority",
        }
    }

    /// The key of the attribute in the model file.
    pub fn key(self) -> &'static str {
        match self {
            Attribute::Industry => "fit.industry",
            Attribute::Employees => "fit.employees",
            Attribute::RevenueBand => "fit.revenue_band",
            Attribute::Country => "fit.country",
            Attribute::TechStack => "fit.tech_stack",
            Attribute::BusinessModel => "fit.business_model",
            Attribute::Seniority => "stakeholder.seniority",
            Attribute::Function => "stakeholder.function",
            Attribute::Authority => "stakeholder.authority",
        }
    }
}

/// One scored value of a rule, with its precomputed reason label.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub points: f64,
    pub label: Label,
}

/// Finds a text among a rule's keys, ignoring ASCII case, with one hash of the text instead
/// of a comparison with every key: an open-addressing table of the lowercased keys.
#[derive(Debug, Clone)]
pub(crate) struct TextIndex {
    slots: Vec<Slot>,
}

#[derive(Debug, Clone)]
struct Slot {
    /// The key, lowercased.
    key: Box<str>,
    /// Its first eight bytes as one word (see [`Words`]): for a key of eight bytes or
    /// fewer (most are: `us`, `aws`, `b2b`), comparing this word and the length compares
    /// the whole key.
    head: u64,
    /// The index of its entry; an empty slot has none.
    entry: Option<u32>,
}

impl TextIndex {
    /// Indexes `(key, entry)` pairs; of keys equal but for case, the first one wins.
    fn new<'a>(keys: impl Iterator<Item = (&'a str, u32)>) -> TextIndex {
        let keys: Vec<(&str, u32)> = keys.collect();
        // at most half full, so a miss ends after a probe or two
        let size = (keys.len() * 2).next_power_of_two().max(4);
        let mut index = TextIndex {
            slots: vec![
                Slot {
                    key: Box::from(""),
                    head: 0,
                    entry: None,
                };
                size
            ],
        };
        for (key, entry) in keys {
            if index.get(key).is_none() {
                let mut at = hash(key.as_bytes()) as usize & (size - 1);
                while index.slots[at].entry.is_some() {
                    at = (at + 1) & (size - 1);
                }
                let key = key.to_ascii_lowercase();
                index.slots[at] = Slot {
                    head: Words::new(key.as_bytes()).next_word().unwrap_or(0),
                    key: Box::from(key),
                    entry: Some(entry),
                };
            }
        }
        index
    }

    /// The entry whose key equals `text` but for ASCII case.
    // inlined into the scoring loop, where a call cost more than the lookup
    #[inline(always)]
    pub fn get(&self, text: &str) -> Option<u32> {
        let bytes = text.as_bytes();
        let mask = self.slots.len() - 1;
        if bytes.len() <= 8 {
            // one word, lowercased once for both the hash and the comparison
            let word = Words::new(bytes).next_word().map_or(0, lowercase);
            let mut at = mix(0, word) as usize & mask;
            loop {
                let slot = &self.slots[at];
                let entry = slot.entry?;
                if slot.head == word && slot.key.len() == bytes.len() {
                    return Some(entry);
                }
                at = (at + 1) & mask;
            }
        }
        let mut at = hash(bytes) as usize & mask;
        loop {
            let slot = &self.slots[at];
            let entry = slot.entry?;
            if equal_lowercased(slot.key.as_bytes(), bytes) {
                return Some(entry);
            }
            at = (at + 1) & mask;
        }
    }
}

/// FxHash of the ASCII-lowercased bytes, eight at a time: a lead's texts (industry,
/// country, tech stack, ...) are hashed once per score, and byte by byte this was about a
/// tenth of the scoring time.
#[inline]
fn hash(bytes: &[u8]) -> u64 {
    let mut words = Words::new(bytes);
    // at least one word (zero for an empty text), so that a text of up to eight bytes
    // hashes to `mix(0, its word)`
    let mut h = mix(0, words.next_word().map_or(0, lowercase));
    while let Some(word) = words.next_word() {
        h = mix(h, lowercase(word));
    }
    h
}

/// One step of FxHash.
#[inline]
fn mix(h: u64, word: u64) -> u64 {
    (h.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// Whether `text` is `key` (lowercased) but for ASCII case, compared eight bytes at a time.
#[inline]
fn equal_lowercased(key: &[u8], text: &[u8]) -> bool {
    if key.len() != text.len() {
        return false;
    }
    let (mut key, mut text) = (Words::new(key), Words::new(text));
    while let (Some(k), Some(t)) = (key.next_word(), text.next_word()) {
        if k != lowercase(t) {
            return false;
        }
    }
    true
}

/// The bytes of a text as little-endian words of eight bytes, the last one padded with
/// zero bytes.
struct Words<'a>(&'a [u8]);

impl<'a> Words<'a> {
    fn new(bytes: &'a [u8]) -> Words<'a> {
        Words(bytes)
    }

    #[inline]
    fn next_word(&mut self) -> Option<u64> {
        if let Some((word, rest)) = self.0.split_first_chunk::<8>() {
            self.0 = rest;
            return Some(u64::from_le_bytes(*word));
        }
        // most keys are shorter than eight bytes (`us`, `aws`, `b2b`): their bytes are read
        // in two overlapping halves instead of one by one; a byte read twice lands on the
        // same place both times
        let bytes = std::mem::take(&mut self.0);
        let n = bytes.len();
        let word = match n {
            0 => return None,
            1..4 => {
                let at = |i: usize| u64::from(bytes[i]) << (8 * i);
                at(0) | at(n / 2) | at(n - 1)
            }
            _ => {
                let half = |i: usize| {
                    let four: [u8; 4] = bytes[i..i + 4].try_into().expect("four bytes");
                    u64::from(u32::from_le_bytes(four)) << (8 * i)
                };
                half(0) | half(n - 4)
            }
        };
        Some(word)
    }
}

/// `to_ascii_lowercase` of each of the eight bytes of `word` at once: 0x20 is added to
/// each byte from `A` to `Z`. No sum carries into the next byte: each adds at most 0x3f
/// to a byte's low seven bits.
#[inline]
fn lowercase(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = word & (0x7f * ONES);
    let from_a = low7 + (0x80 - u64::from(b'A')) * ONES; // top bit: at least `A`
    let past_z = low7 + (0x7f - u64::from(b'Z')) * ONES; // top bit: beyond `Z`
    let upper = from_a & !past_z & !word & (0x80 * ONES); // and ASCII
    word | (upper >> 2)
}

/// How a compiled rule matches a value.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// Case-insensitive text keys: listed values first, then the countries of region keys.
    Text {
        entries: Vec<Entry>,
        index: TextIndex,
        other: Option<Entry>,
    },
    /// Numeric ranges (sorted, not overlapping).
    Ranges(Vec<(u32, u32, Entry)>),
    /// A list of values, each scored, the sum capped.
    List {
        entries: Vec<Entry>,
        /// `None` when the entries are more than 64 or two keys differ only by case: then
        /// each entry is compared with each value, as each may match.
        index: Option<TextIndex>,
        cap: f64,
        cap_label: Label,
    },
    /// An enum, indexed by its discriminant.
    Enum(Vec<Option<Entry>>),
}

/// A compiled fit or stakeholder rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub attribute: Attribute,
    pub matcher: Matcher,
    /// Most points a value could give (for the missing-data analysis).
    pub best: f64,
    /// Fewest points a value could give.
    pub worst: f64,
}

/// A compiled signal.
#[derive(Debug, Clone)]
pub(crate) struct Signal {
    pub points: f64,
    pub per_minute: bool,
    pub dimension: Dimension,
    /// The half-life in milliseconds; infinite when the signal never decays.
    pub half_life_ms: f64,
    pub cap: f64,
    pub active: bool,
    pub label: Label,
}

/// Index of the derived `repeat_visit` signal in [`Model::signals`].
pub(crate) const REPEAT_VISIT: usize = EventKind::ALL.len();
/// Number of signal slots: every event kind plus `repeat_visit`.
pub(crate) const SIGNAL_SLOTS: usize = EventKind::ALL.len() + 1;

/// A compiled negative rule.
#[derive(Debug, Clone)]
pub(crate) struct Penalty {
    pub points: f64,
    pub disqualify: bool,
    pub label: Label,
}

/// Compiled negatives.
#[derive(Debug, Clone, Default)]
pub(crate) struct Negatives {
    pub student: Option<Penalty>,
    pub job_seeker: Option<Penalty>,
    pub consultant: Option<Penalty>,
    pub unsubscribed: Option<Penalty>,
    pub competitor: Option<(Penalty, Vec<String>)>,
    pub passive_only: Option<(Penalty, f64)>,
}

/// A validated, compiled scoring model.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) version: std::sync::Arc<str>,
    /// Weights in dimension order fit, stakeholder, behaviour, intent.
    pub(crate) weights: [f64; 4],
    /// Bands with their inclusive composite ranges, highest first.
    pub(crate) bands: [(Band, u8, u8); 5],
    pub(crate) fit: Vec<Rule>,
    pub(crate) stakeholder: Vec<Rule>,
    pub(crate) signals: Vec<Option<Signal>>,
    pub(crate) negatives: Negatives,
    pub(crate) actions: ActionsConfig,
    pub(crate) labels: Labels,
    config: ModelConfig,
}

/// Labels of the reasons that are not tied to one rule entry.
#[derive(Debug, Clone)]
pub(crate) struct Labels {
    pub cap: [Label; 4],
    pub floor: [Label; 4],
    pub composite_floor: Label,
    pub disqualified_cap: Label,
    /// Field names by `Attribute` discriminant.
    pub fields: [Label; 9],
}

impl Model {
    /// Parses and validates a model document.
    pub fn from_toml_str(text: &str) -> Result<Model, ModelError> {
        let config: ModelConfig = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        Model::compile(config)
    }

    /// The model shipped with leadq.
    pub fn default_model() -> Model {
        Model::from_toml_str(DEFAULT_MODEL_TOML).expect("the shipped default model is valid")
    }

    /// The version label of this model.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The document this model was compiled from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The band a composite score falls in.
    pub fn band_of(&self, composite: u8) -> Band {
        self.bands
            .iter()
            .find(|(_, low, high)| (*low..=*high).contains(&composite))
            .map(|(band, _, _)| *band)
            // compile() proved the bands cover 0..=100 and composites never exceed 100
            .unwrap_or(Band::Disqualified)
    }

    /// The inclusive composite range of a band.
    pub fn band_range(&self, band: Band) -> (u8, u8) {
        self.bands
            .iter()
            .find(|(b, _, _)| *b == band)
            .map(|(_, low, high)| (*low, *high))
            .unwrap_or((0, 0))
    }

    /// Validates a document and compiles it into the form the scorer reads.
    pub fn compile(config: ModelConfig) -> Result<Model, ModelError> {
        if config.version.trim().is_empty() {
            return Err(invalid("version", "must not be empty"));
        }
        let weights = compile_weights(&config.weights)?;
        let bands = compile_bands(&config.bands)?;
        let regions = compile_regions(&config.regions)?;
        let fit = compile_fit(&config.fit, &regions)?;
        let stakeholder = compile_stakeholder(&config.stakeholder)?;
        let signals = compile_signals(&config.signals)?;
        let negatives = compile_negatives(&config.negatives)?;
        check_actions(&config.actions)?;
        let dims = ["fit", "stakeholder", "behaviour", "intent"];
        let labels = Labels {
            cap: dims.map(|d| Label::interned(&format!("{d} capped at 100"))),
            floor: dims.map(|d| Label::interned(&format!("{d} floored at 0"))),
            composite_floor: Label::interned("composite floored at 0"),
            disqualified_cap: Label::interned("held in the disqualified band"),
            fields: [
                Attribute::Industry,
                Attribute::Employees,
                Attribute::RevenueBand,
                Attribute::Country,
                Attribute::TechStack,
                Attribute::BusinessModel,
                Attribute::Seniority,
                Attribute::Function,
                Attribute::Authority,
            ]
            .map(|a| Label::interned(a.field())),
        };
        Ok(Model {
            version: std::sync::Arc::from(config.version.as_str()),
            weights,
            bands,
            fit,
            stakeholder,
            signals,
            negatives,
            actions: config.actions,
            labels,
            config,
        })
    }
}

/// A TOML error, led by the dotted path of the key it is about (`signals.pricing_view.pointz`):
/// toml's own message shows only the line, where a leaf key such as `fit` is ambiguous.
fn syntax_error(text: &str, error: &toml::de::Error) -> ModelError {
    let message = error.to_string().trim().to_owned();
    match error.span().and_then(|span| key_path_at(text, span.start)) {
        Some(path) => ModelError::Syntax(format!("`{path}`: {message}")),
        None => ModelError::Syntax(message),
    }
}

/// The dotted path of the most specific key or value of the document covering byte `at`.
fn key_path_at(text: &str, at: usize) -> Option<String> {
    use toml::Spanned;
    use toml::de::{DeTable, DeValue};

    // the smallest covering span wins: a key or scalar value inside a covering table
    fn visit(
        key_span: Option<std::ops::Range<usize>>,
        value: &Spanned<DeValue<'_>>,
        path: String,
        at: usize,
        best: &mut Option<(usize, String)>,
    ) {
        for span in key_span.into_iter().chain([value.span()]) {
            let covers = span.contains(&at) || (span.is_empty() && span.start == at);
            if covers && best.as_ref().is_none_or(|(len, _)| span.len() <= *len) {
                *best = Some((span.len(), path.clone()));
            }
        }
        match value.get_ref() {
            DeValue::Table(table) => visit_table(table, &path, at, best),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    visit(None, item, format!("{path}[{i}]"), at, best);
                }
            }
            _ => {}
        }
    }
    fn visit_table(
        table: &DeTable<'_>,
        prefix: &str,
        at: usize,
        best: &mut Option<(usize, String)>,
    ) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            visit(Some(key.span()), value, path, at, best);
        }
    }

    let document = DeTable::parse(text).ok()?;
    let mut best = None;
    visit_table(document.get_ref(), "", at, &mut best);
    best.map(|(_, path)| path)
}

fn check_finite(key: &str, value: f64) -> Result<(), ModelError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(invalid(key, "must be a finite number"))
    }
}

fn check_points(key: &str, points: f64) -> Result<(), ModelError> {
    check_finite(key, points)?;
    if !(-100.0..=100.0).contains(&points) {
        return Err(invalid(key, "points must be between -100 and 100"));
    }
    Ok(())
}

fn check_threshold(key: &str, value: f64) -> Result<(), ModelError> {
    check_finite(key, value)?;
    if !(0.0..=100.0).contains(&value) {
        return Err(invalid(key, "must be between 0 and 100"));
    }
    Ok(())
}

fn compile_weights(w: &WeightsConfig) -> Result<[f64; 4], ModelError> {
    let named = [
        ("weights.fit", w.fit),
        ("weights.stakeholder", w.stakeholder),
        ("weights.behaviour", w.behaviour),
        ("weights.intent", w.intent),
    ];
    for (key, value) in named {
        check_finite(key, value)?;
        if value < 0.0 {
            return Err(invalid(key, "must not be negative"));
        }
    }
    let sum: f64 = named.iter().map(|(_, v)| v).sum();
    if (sum - 100.0).abs() > 1e-9 {
        return Err(invalid(
            "weights",
            format!("must add up to 100, they add up to {sum}"),
        ));
    }
    Ok([w.fit, w.stakeholder, w.behaviour, w.intent])
}

fn compile_bands(b: &BandsConfig) -> Result<[(Band, u8, u8); 5], ModelError> {
    let bands = [
        (Band::Hot, b.hot),
        (Band::Warm, b.warm),
        (Band::Mql, b.mql),
        (Band::Cold, b.cold),
        (Band::Disqualified, b.disqualified),
    ];
    for (band, [low, high]) in bands {
        let key = format!("bands.{}", band.name());
        if low > high {
            return Err(invalid(
                key,
                format!("low end {low} is above high end {high}"),
            ));
        }
        if high > 100 {
            return Err(invalid(key, "must lie within 0..=100"));
        }
    }
    // every composite 0..=100 must fall in exactly one band
    for score in 0..=100u8 {
        let holders: Vec<&str> = bands
            .iter()
            .filter(|(_, [low, high])| (*low..=*high).contains(&score))
            .map(|(band, _)| band.name())
            .collect();
        match holders.as_slice() {
            [_] => {}
            [] => {
                return Err(invalid(
                    "bands",
                    format!("no band covers the score {score}"),
                ));
            }
            many => {
                return Err(invalid(
                    format!("bands.{}", many[1]),
                    format!("overlaps bands.{} at the score {score}", many[0]),
                ));
            }
        }
    }
    // bands must be ordered: hot above warm above mql above cold above disqualified
    for pair in bands.windows(2) {
        let (upper, [upper_low, _]) = pair[0];
        let (lower, [_, lower_high]) = pair[1];
        if upper_low <= lower_high {
            return Err(invalid(
                format!("bands.{}", upper.name()),
                format!("must lie above bands.{}", lower.name()),
            ));
        }
    }
    Ok(bands.map(|(band, [low, high])| (band, low, high)))
}

fn compile_regions(
    regions: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<String>>, ModelError> {
    let mut out = BTreeMap::new();
    for (name, countries) in regions {
        if countries.is_empty() {
            return Err(invalid(
                format!("regions.{name}"),
                "must list at least one country",
            ));
        }
        for (i, c) in countries.iter().enumerate() {
            if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                return Err(invalid(
                    format!("regions.{name}[{i}]"),
                    format!("`{c}` is not a two-letter country code"),
                ));
            }
        }
        out.insert(
            name.to_ascii_lowercase(),
            countries.iter().map(|c| c.to_ascii_lowercase()).collect(),
        );
    }
    Ok(out)
}

fn entry(key: &str, points: f64, label: String) -> Entry {
    Entry {
        key: key.to_ascii_lowercase(),
        points,
        label: Label::interned(&label),
    }
}

fn best_worst<'a>(points: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    points.fold((0.0f64, 0.0f64), |(best, worst), p| {
        (best.max(*p), worst.min(*p))
    })
}

fn text_rule(
    attribute: Attribute,
    table: &PointsTable,
    regions: Option<&BTreeMap<String, Vec<String>>>,
) -> Result<Rule, ModelError> {
    let base = attribute.key();
    let name = base.rsplit('.').next().unwrap_or(base);
    let mut entries = Vec::new();
    let mut region_entries = Vec::new();
    let mut other = None;
    for (key, points) in table {
        check_points(&format!("{base}.{key}"), *points)?;
        let lower = key.to_ascii_lowercase();
        if lower == "other" {
            other = Some(entry(key, *points, format!("{name} = other (not listed)")));
        } else if let Some(countries) = regions.and_then(|r| r.get(&lower)) {
            region_entries.push((
                countries.clone(),
                entry(key, *points, format!("{name} in {key}")),
            ));
        } else {
            if attribute == Attribute::Country
                && (key.len() != 2 || !key.chars().all(|c| c.is_ascii_alphabetic()))
            {
                return Err(invalid(
                    format!("{base}.{key}"),
                    "is neither a two-letter country code nor a region defined under [regions]",
                ));
            }
            if entries.iter().any(|e: &Entry| e.key == lower) {
                return Err(invalid(
                    format!("{base}.{key}"),
                    "is listed twice (keys ignore case)",
                ));
            }
            entries.push(entry(key, *points, format!("{name} = {key}")));
        }
    }
    let (best, worst) = best_worst(table.values());
    // listed values win over regions, and an earlier region over a later one
    let listed = entries.len();
    let mut index_keys: Vec<(String, u32)> = (0..listed)
        .map(|i| (entries[i].key.clone(), i as u32))
        .collect();
    for (countries, region) in region_entries {
        let at = entries.len() as u32;
        index_keys.extend(countries.into_iter().map(|c| (c, at)));
        entries.push(region);
    }
    let index = TextIndex::new(index_keys.iter().map(|(k, i)| (k.as_str(), *i)));
    Ok(Rule {
        attribute,
        matcher: Matcher::Text {
            entries,
            index,
            other,
        },
        best,
        worst,
    })
}

fn compile_fit(
    fit: &FitConfig,
    regions: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<Rule>, ModelError> {
    let mut rules = Vec::new();
    if let Some(t) = &fit.industry {
        rules.push(text_rule(Attribute::Industry, t, None)?);
    }
    if let Some(ranges) = &fit.employees {
        let mut compiled: Vec<(u32, u32, Entry)> = Vec::new();
        for (i, r) in ranges.iter().enumerate() {
            let key = format!("fit.employees[{i}]");
            check_points(&format!("{key}.points"), r.points)?;
            let max = r.max.unwrap_or(u32::MAX);
            if r.min > max {
                return Err(invalid(key, format!("min {} is above max {max}", r.min)));
            }
            if let Some((j, _)) = compiled
                .iter()
                .enumerate()
                .find(|(_, (lo, hi, _))| r.min <= *hi && *lo <= max)
            {
                return Err(invalid(key, format!("overlaps fit.employees[{j}]")));
            }
            let label = match r.max {
                Some(m) => format!("employees {}-{m}", r.min),
                None => format!("employees {}+", r.min),
            };
            compiled.push((r.min, max, entry("", r.points, label)));
        }
        let (best, worst) = best_worst(ranges.iter().map(|r| &r.points));
        compiled.sort_by_key(|(lo, _, _)| *lo);
        rules.push(Rule {
            attribute: Attribute::Employees,
            matcher: Matcher::Ranges(compiled),
            best,
            worst,
        });
    }
    if let Some(t) = &fit.revenue_band {
        rules.push(text_rule(Attribute::RevenueBand, t, None)?);
    }
    if let Some(t) = &fit.country {
        rules.push(text_rule(Attribute::Country, t, Some(regions))?);
    }
    if let Some(stack) = &fit.tech_stack {
        check_finite("fit.tech_stack.cap", stack.cap)?;
        if stack.cap <= 0.0 || stack.cap > 100.0 {
            return Err(invalid(
                "fit.tech_stack.cap",
                "must be above 0 and at most 100",
            ));
        }
        let mut entries = Vec::new();
        for (key, points) in &stack.points {
            check_points(&format!("fit.tech_stack.points.{key}"), *points)?;
            entries.push(entry(key, *points, format!("tech_stack has {key}")));
        }
        let best = stack
            .points
            .values()
            .filter(|p| **p > 0.0)
            .sum::<f64>()
            .min(stack.cap);
        let worst = stack
            .points
            .values()
            .filter(|p| **p < 0.0)
            .sum::<f64>()
            .max(-stack.cap);
        let distinct = entries
            .iter()
            .enumerate()
            .all(|(i, e)| entries[..i].iter().all(|f| f.key != e.key));
        let index = (distinct && entries.len() <= 64)
            .then(|| TextIndex::new((0..).zip(&entries).map(|(i, e)| (e.key.as_str(), i))));
        rules.push(Rule {
            attribute: Attribute::TechStack,
            matcher: Matcher::List {
                entries,
                index,
                cap: stack.cap,
                cap_label: Label::interned("tech_stack capped"),
            },
            best,
            worst,
        });
    }
    if let Some(t) = &fit.business_model {
        rules.push(text_rule(Attribute::BusinessModel, t, None)?);
    }
    Ok(rules)
}

fn enum_rule<K: Copy + Serialize>(
    attribute: Attribute,
    table: &BTreeMap<K, f64>,
    index: impl Fn(K) -> usize,
    slots: usize,
) -> Result<Rule, ModelError> {
    let base = attribute.key();
    let name = base.rsplit('.').next().unwrap_or(base);
    let mut entries = vec![None; slots];
    for (key, points) in table {
        let key_name = serde_json_like_name(key);
        check_points(&format!("{base}.{key_name}"), *points)?;
        entries[index(*key)] = Some(entry(&key_name, *points, format!("{name} = {key_name}")));
    }
    let (best, worst) = best_worst(table.values());
    Ok(Rule {
        attribute,
        matcher: Matcher::Enum(entries),
        best,
        worst,
    })
}

/// The snake_case name serde gives a unit enum variant.
fn serde_json_like_name<K: Serialize>(key: &K) -> String {
    toml::Value::try_from(key)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn compile_stakeholder(s: &StakeholderConfig) -> Result<Vec<Rule>, ModelError> {
    let mut rules = Vec::new();
    if let Some(t) = &s.seniority {
        rules.push(enum_rule(Attribute::Seniority, t, |k| k as usize, 6)?);
    }
    if let Some(t) = &s.function {
        rules.push(enum_rule(Attribute::Function, t, |k| k as usize, 14)?);
    }
    if let Some(t) = &s.authority {
        rules.push(enum_rule(Attribute::Authority, t, |k| k as usize, 3)?);
    }
    Ok(rules)
}

fn compile_signals(
    signals: &BTreeMap<String, SignalConfig>,
) -> Result<Vec<Option<Signal>>, ModelError> {
    let mut out: Vec<Option<Signal>> = vec![None; SIGNAL_SLOTS];
    for (name, s) in signals {
        let base = format!("signals.{name}");
        let slot = if name == "repeat_visit" {
            REPEAT_VISIT
        } else {
            match EventKind::from_name(name) {
                Some(kind) => kind.index(),
                None => {
                    let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
                    return Err(invalid(
                        base,
                        format!(
                            "unknown signal; expected repeat_visit or one of {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        };
        check_points(&format!("{base}.points"), s.points)?;
        if !matches!(s.dimension, Dimension::Behaviour | Dimension::Intent) {
            return Err(invalid(
                format!("{base}.dimension"),
                "must be `behaviour` or `intent`",
            ));
        }
        let half_life_ms = match s.half_life_days {
            None => f64::INFINITY,
            Some(h) => {
                check_finite(&format!("{base}.half_life_days"), h)?;
                if h <= 0.0 {
                    return Err(invalid(
                        format!("{base}.half_life_days"),
                        format!("must be a positive number of days, got {h}"),
                    ));
                }
                h * 86_400_000.0
            }
        };
        let cap = match s.cap {
            None => f64::INFINITY,
            Some(c) => {
                check_finite(&format!("{base}.cap"), c)?;
                if c <= 0.0 || c > 100.0 {
                    return Err(invalid(
                        format!("{base}.cap"),
                        "must be above 0 and at most 100",
                    ));
                }
                c
            }
        };
        if s.per == Per::Minute && slot != EventKind::Session.index() {
            return Err(invalid(
                format!("{base}.per"),
                "`minute` applies only to the `session` signal",
            ));
        }
        out[slot] = Some(Signal {
            points: s.points,
            per_minute: s.per == Per::Minute,
            dimension: s.dimension,
            half_life_ms,
            cap,
            active: s.active,
            label: Label::interned(name),
        });
    }
    Ok(out)
}

fn penalty(key: &str, points: f64, disqualify: bool, label: &str) -> Result<Penalty, ModelError> {
    check_points(&format!("{key}.points"), points)?;
    if points > 0.0 {
        return Err(invalid(
            format!("{key}.points"),
            "a negative signal must not give positive points",
        ));
    }
    if points == 0.0 && !disqualify {
        return Err(invalid(
            key,
            "does nothing: give it negative points or `disqualify = true`",
        ));
    }
    Ok(Penalty {
        points,
        disqualify,
        label: Label::interned(label),
    })
}

fn compile_negatives(n: &NegativesConfig) -> Result<Negatives, ModelError> {
    let plain = |key: &str, p: &Option<PenaltyConfig>, label: &str| {
        p.as_ref()
            .map(|p| penalty(key, p.points, p.disqualify, label))
            .transpose()
    };
    let competitor = match &n.competitor {
        None => None,
        Some(c) => {
            if c.domains.is_empty() {
                return Err(invalid(
                    "negatives.competitor.domains",
                    "must list at least one domain",
                ));
            }
            for (i, d) in c.domains.iter().enumerate() {
                if !d.contains('.') || d.contains('@') || d.contains(' ') {
                    return Err(invalid(
                        format!("negatives.competitor.domains[{i}]"),
                        format!("`{d}` is not a domain"),
                    ));
                }
            }
            let p = penalty(
                "negatives.competitor",
                c.points,
                c.disqualify,
                "competitor domain",
            )?;
            Some((
                p,
                c.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            ))
        }
    };
    let passive_only = match &n.passive_only {
        None => None,
        Some(p) => {
            check_finite("negatives.passive_only.after_days", p.after_days)?;
            if p.after_days < 0.0 {
                return Err(invalid(
                    "negatives.passive_only.after_days",
                    "must not be negative",
                ));
            }
            let label = "only passive engagement";
            Some((
                penalty("negatives.passive_only", p.points, false, label)?,
                p.after_days,
            ))
        }
    };
    Ok(Negatives {
        student: plain("negatives.student", &n.student, "student")?,
        job_seeker: plain("negatives.job_seeker", &n.job_seeker, "job seeker")?,
        consultant: plain("negatives.consultant", &n.consultant, "consultant")?,
        unsubscribed: plain(
            "negatives.unsubscribed",
            &n.unsubscribed,
            "email consent withdrawn",
        )?,
        competitor,
        passive_only,
    })
}

fn check_actions(a: &ActionsConfig) -> Result<(), ModelError> {
    check_threshold("actions.strong_fit", a.strong_fit)?;
    check_threshold("actions.good_fit", a.good_fit)?;
    check_threshold("actions.strong_intent", a.strong_intent)?;
    check_threshold("actions.moderate_intent", a.moderate_intent)?;
    check_threshold("actions.clear_stakeholder", a.clear_stakeholder)?;
    check_threshold("actions.strong_product_usage", a.strong_product_usage)?;
    if a.good_fit > a.strong_fit {
        return Err(invalid(
            "actions.good_fit",
            "must not be above actions.strong_fit",
        ));
    }
    if a.moderate_intent > a.strong_intent {
        return Err(invalid(
            "actions.moderate_intent",
            "must not be above actions.strong_intent",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_lowercase_like_to_ascii_lowercase() {
        // every byte value in every position, among upper, lower and non-ASCII neighbours
        for fill in [b'x', b'Q', 0xc1, 0x5b] {
            for b in 0..=255u8 {
                for pos in 0..8 {
                    let mut bytes = [fill; 8];
                    bytes[pos] = b;
                    let expected = bytes.map(|c| c.to_ascii_lowercase());
                    assert_eq!(
                        lowercase(u64::from_le_bytes(bytes)),
                        u64::from_le_bytes(expected),
                        "{bytes:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn text_keys_match_and_hash_like_eq_ignore_ascii_case() {
        let texts = [
            "",
            "a",
            "A",
            "b",
            "Software",
            "SOFTWARE",
            "software",
            "softwarf",
            "Financial Services",
            "financial services",
            "financial servicex",
            "ÉCOLE",
            "école",
            "us",
            "US",
            "Us ",
            "tool01234567",
            "TOOL01234567",
            "tool0123456",
            "a\0",
        ];
        for a in texts {
            let key = a.to_ascii_lowercase();
            for b in texts {
                let equal = a.eq_ignore_ascii_case(b);
                assert_eq!(
                    equal_lowercased(key.as_bytes(), b.as_bytes()),
                    equal,
                    "{a:?} {b:?}"
                );
                if equal {
                    assert_eq!(hash(a.as_bytes()), hash(b.as_bytes()), "{a:?} {b:?}");
                }
            }
        }
        let index = TextIndex::new(texts.iter().enumerate().map(|(i, t)| (*t, i as u32)));
        for t in texts {
            let first = texts
                .iter()
                .position(|o| o.eq_ignore_ascii_case(t))
                .unwrap();
            assert_eq!(index.get(t), Some(first as u32), "{t:?}");
            assert_eq!(
                index.get(&t.to_ascii_uppercase()),
                Some(first as u32),
                "{t:?}"
            );
        }
        assert_eq!(index.get("retail"), None);
        // every length, a byte changed in every position: no longer equal
        let alphabet =
            |n: usize| -> String { (0..n).map(|i| char::from(b'a' + i as u8)).collect() };
        let keys: Vec<String> = (0..=17).map(alphabet).collect();
        let index = TextIndex::new(keys.iter().zip(0..).map(|(k, i)| (k.as_str(), i)));
        for (n, key) in keys.iter().enumerate() {
            assert_eq!(
                index.get(&key.to_ascii_uppercase()),
                Some(n as u32),
                "{key:?}"
            );
            for at in 0..n {
                let mut other = key.clone().into_bytes();
                other[at] = b'#';
                assert_eq!(index.get(std::str::from_utf8(&other).unwrap()), None);
            }
        }
        for n in 0..=17 {
            let text: String = (0..n).map(|i| char::from(b'a' + i as u8)).collect();
            let upper = text.to_ascii_uppercase();
            assert!(
                equal_lowercased(text.as_bytes(), upper.as_bytes()),
                "{text:?}"
            );
            assert_eq!(hash(text.as_bytes()), hash(upper.as_bytes()), "{text:?}");
            for at in 0..n {
                let mut other = upper.clone().into_bytes();
                other[at] = b'#';
                assert!(
                    !equal_lowercased(text.as_bytes(), &other),
                    "{text:?} at {at}"
                );
            }
        }
    }
}

//! The routing configuration: teams by territory and segment, their reps and caps,
//! working hours, strategies and the fallback queue, read from TOML.
//!
//! ```toml
//! fallback_queue = "unassigned"
//!
//! [regions]
//! emea = ["GB", "DE", "FR"]
//!
//! [size_bands]
//! smb = { max = 199 }
//! enterprise = { min = 1000 }
//!
//! [[teams]]
//! name = "emea-enterprise"
//! strategy = "weighted_round_robin"
//! regions = ["emea"]
//! size_bands = ["enterprise"]
//! hours = { utc_offset = "+01:00", days = ["mon", "tue", "wed", "thu", "fri"], start = "08:00", end = "18:00" }
//!
//! [[teams.reps]]
//! id = "ada"
//! weight = 3
//! max_open_leads = 10
//! max_new_per_day = 5
//! ```
//!
//! Every refusal names the key it is about (`teams[0].reps[1].max_open_leads`).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Utc, Weekday};
use leadq_scoring::NextAction;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Why a routing configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingConfigError {
    /// Not valid TOML, an unknown key, or a value of the wrong type (the message shows the
    /// line and names the key).
    #[error("routing config: {0}")]
    Syntax(String),
    /// A key holds a value that breaks a rule.
    #[error("routing config: `{key}`: {rule}")]
    Invalid {
        /// Dotted path of the offending key, for example `teams[0].reps[1].weight`.
        key: String,
        /// The rule it broke, in words.
        rule: String,
    },
    /// The file could not be read.
    #[error("routing config {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        message: String,
    },
}

fn invalid(key: impl Into<String>, rule: impl Into<String>) -> RoutingConfigError {
    RoutingConfigError::Invalid {
        key: key.into(),
        rule: rule.into(),
    }
}

/// How a team picks among its reps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Each rep gets new leads in proportion to its weight (counted per day).
    WeightedRoundRobin,
    /// The rep using the least of its open-lead cap gets the lead.
    LeastLoaded,
}

impl Strategy {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::WeightedRoundRobin => "weighted_round_robin",
            Strategy::LeastLoaded => "least_loaded",
        }
    }
}

/// When a rep takes leads: days of the week and a daily window, at a fixed UTC offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    /// The rep's offset from UTC.
    pub utc_offset: FixedOffset,
    /// Working days, each once, in the order written.
    pub days: Vec<Weekday>,
    /// Start of the window (inclusive), local time.
    pub start: NaiveTime,
    /// End of the window (exclusive), local time.
    pub end: NaiveTime,
}

impl WorkingHours {
    /// Whether `now` falls inside the window.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.utc_offset);
        let time = local.time();
        self.days.contains(&local.weekday()) && self.start <= time && time < self.end
    }
}

/// A rep of a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rep {
    /// Unique id (the ledger's key).
    pub id: String,
    /// Display name, if given.
    pub name: Option<String>,
    /// Share of new leads under weighted round robin (1 or more).
    pub weight: u32,
    /// Most leads the rep holds at once.
    pub max_open_leads: u32,
    /// Most new leads per (local) day.
    pub max_new_per_day: u32,
    /// When the rep takes leads; `None` means always.
    pub hours: Option<WorkingHours>,
}

impl Rep {
    /// The rep's local day at `now` (the day its new-lead cap counts): UTC without hours.
    pub fn day(&self, now: DateTime<Utc>) -> NaiveDate {
        match &self.hours {
            Some(hours) => now.with_timezone(&hours.utc_offset).date_naive(),
            None => now.date_naive(),
        }
    }

    /// Whether the rep is working at `now`.
    pub fn is_working(&self, now: DateTime<Utc>) -> bool {
        self.hours.as_ref().is_none_or(|hours| hours.contains(now))
    }
}

/// An employee-count range that names a segment (inclusive bounds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeBand {
    /// The band's name.
    pub name: String,
    /// Fewest employees.
    pub min: u32,
    /// Most employees; `None` for no upper bound.
    pub max: Option<u32>,
}

impl SizeBand {
    /// Whether `employees` falls in the band.
    pub fn contains(&self, employees: u32) -> bool {
        employees >= self.min && self.max.is_none_or(|max| employees <= max)
    }
}

/// A team: which leads it takes (territory, segment, actions) and its reps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// Unique name.
    pub name: String,
    /// How it picks among its reps.
    pub strategy: Strategy,
    /// Countries it covers (ISO alpha-2, upper case), regions expanded; empty = any.
    pub countries: BTreeSet<String>,
    /// Size bands it covers, by name; empty = any.
    pub size_bands: Vec<String>,
    /// Industries it covers (lower case); empty = any.
    pub industries: BTreeSet<String>,
    /// Next actions it takes; empty = every action that gets a person.
    pub actions: BTreeSet<NextAction>,
    /// Its reps, in the order ties are broken.
    pub reps: Vec<Rep>,
}

/// The routing rules (see the module docs for the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingConfig {
    /// Where leads go when no team matches or no rep has capacity.
    pub fallback_queue: String,
    /// Next actions that get a person.
    pub assign_actions: BTreeSet<NextAction>,
    /// Next actions that release a lead's rep (it dropped out of sales' hands).
    pub release_actions: BTreeSet<NextAction>,
    /// Regions by name: their countries.
    pub regions: BTreeMap<String, BTreeSet<String>>,
    /// Size bands, in file order.
    pub size_bands: Vec<SizeBand>,
    /// Teams, in the order their rules are tried.
    pub teams: Vec<Team>,
}

/// Next actions that get a person unless the file says otherwise.
pub const DEFAULT_ASSIGN_ACTIONS: [NextAction; 4] = [
    NextAction::SalesNow,
    NextAction::AccountFollowUp,
    NextAction::SdrReview,
    NextAction::ManualReview,
];

/// Next actions that release a rep unless the file says otherwise.
pub const DEFAULT_RELEASE_ACTIONS: [NextAction; 2] = [NextAction::Nurture, NextAction::Suppress];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    fallback_queue: String,
    assign_actions: Option<Vec<NextAction>>,
    release_actions: Option<Vec<NextAction>>,
    #[serde(default)]
    regions: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    size_bands: BTreeMap<String, RawBand>,
    #[serde(default)]
    teams: Vec<RawTeam>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    #[serde(default)]
    min: u32,
    max: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    name: String,
    strategy: Strategy,
    #[serde(default)]
    countries: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
    #[serde(default)]
    size_bands: Vec<String>,
    #[serde(default)]
    industries: Vec<String>,
    #[serde(default)]
    actions: Vec<NextAction>,
    hours: Option<RawHours>,
    #[serde(default)]
    reps: Vec<RawRep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRep {
    id: String,
    name: Option<String>,
    #[serde(default = "one")]
    weight: u32,
    max_open_leads: u32,
    max_new_per_day: u32,
    hours: Option<RawHours>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    #[serde(default = "utc")]
    utc_offset: String,
    days: Vec<String>,
    start: String,
    end: String,
}

fn utc() -> String {
    "+00:00".into()
}

impl RoutingConfig {
    /// Parses and checks a routing document.
    pub fn from_toml(text: &str) -> Result<RoutingConfig, RoutingConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| RoutingConfigError::Syntax(e.to_string()))?;
        RoutingConfig::check(raw)
    }

    /// Reads and parses a routing file.
    pub fn from_file(path: &std::path::Path) -> Result<RoutingConfig, RoutingConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| RoutingConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        RoutingConfig::from_toml(&text)
    }

    fn check(raw: RawConfig) -> Result<RoutingConfig, RoutingConfigError> {
        let fallback_queue = raw.fallback_queue.trim().to_string();
        if fallback_queue.is_empty() {
            return Err(invalid("fallback_queue", "must not be empty"));
        }
        let assign_actions = actions_set(
            "assign_actions",
            raw.assign_actions,
            &DEFAULT_ASSIGN_ACTIONS,
        )?;
        let release_actions = actions_set(
            "release_actions",
            raw.release_actions,
            &DEFAULT_RELEASE_ACTIONS,
        )?;
        if let Some(both) = assign_actions.intersection(&release_actions).next() {
            return Err(invalid(
                "release_actions",
                format!("{} is also in assign_actions", both.name()),
            ));
        }

        let mut regions = BTreeMap::new();
        for (name, countries) in raw.regions {
            let key = format!("regions.{name}");
            if countries.is_empty() {
                return Err(invalid(key, "a region needs at least one country"));
            }
            let mut set = BTreeSet::new();
            for (i, country) in countries.iter().enumerate() {
                set.insert(country_code(&format!("{key}[{i}]"), country)?);
            }
            regions.insert(name, set);
        }

        let mut size_bands: Vec<SizeBand> = Vec::new();
        for (name, band) in raw.size_bands {
            let key = format!("size_bands.{name}");
            if band.max.is_some_and(|max| max < band.min) {
                return Err(invalid(format!("{key}.max"), "must be at least min"));
            }
            let band = SizeBand {
                name,
                min: band.min,
                max: band.max,
            };
            if let Some(other) = size_bands.iter().find(|b| overlaps(b, &band)) {
                return Err(invalid(key, format!("overlaps size_bands.{}", other.name)));
            }
            size_bands.push(band);
        }

        let mut teams: Vec<Team> = Vec::new();
        let mut rep_ids: BTreeMap<String, String> = BTreeMap::new();
        for (t, team) in raw.teams.into_iter().enumerate() {
            let key = format!("teams[{t}]");
            let name = team.name.trim().to_string();
            if name.is_empty() {
                return Err(invalid(format!("{key}.name"), "must not be empty"));
            }
            if teams.iter().any(|other| other.name == name) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("{name} is used twice"),
                ));
            }
            let mut countries = BTreeSet::new();
            for (i, country) in team.countries.iter().enumerate() {
                countries.insert(country_code(&format!("{key}.countries[{i}]"), country)?);
            }
            for (i, region) in team.regions.iter().enumerate() {
                let members = regions.get(region).ok_or_else(|| {
                    invalid(
                        format!("{key}.regions[{i}]"),
                        format!("no region {region} in [regions]"),
                    )
                })?;
                countries.extend(members.iter().cloned());
            }
            for (i, band) in team.size_bands.iter().enumerate() {
                if !size_bands.iter().any(|b| &b.name == band) {
                    return Err(invalid(
                        format!("{key}.size_bands[{i}]"),
                        format!("no size band {band} in [size_bands]"),
                    ));
                }
            }
            let mut industries = BTreeSet::new();
            for (i, industry) in team.industries.iter().enumerate() {
                let industry = industry.trim().to_lowercase();
                if industry.is_empty() {
                    return Err(invalid(
                        format!("{key}.industries[{i}]"),
                        "must not be empty",
                    ));
                }
                industries.insert(industry);
            }
            let mut actions = BTreeSet::new();
            for (i, action) in team.actions.iter().enumerate() {
                if !assign_actions.contains(action) {
                    return Err(invalid(
                        format!("{key}.actions[{i}]"),
                        format!(
                            "{} is not in assign_actions, so never gets a person",
                            action.name()
                        ),
                    ));
                }
                actions.insert(*action);
            }
            let team_hours = team
                .hours
                .as_ref()
                .map(|h| working_hours(&format!("{key}.hours"), h))
                .transpose()?;
            if team.reps.is_empty() {
                return Err(invalid(
                    format!("{key}.reps"),
                    "a team needs at least one rep",
                ));
            }
            let mut reps = Vec::new();
            for (r, rep) in team.reps.iter().enumerate() {
                let key = format!("{key}.reps[{r}]");
                let id = rep.id.trim().to_string();
                if id.is_empty() {
                    return Err(invalid(format!("{key}.id"), "must not be empty"));
                }
                if let Some(other) = rep_ids.insert(id.clone(), name.clone()) {
                    // the ledger counts a rep's load once, so one rep belongs to one team
                    return Err(invalid(
                        format!("{key}.id"),
                        format!("rep {id} is already in team {other}"),
                    ));
                }
                if rep.weight == 0 {
                    return Err(invalid(format!("{key}.weight"), "must be 1 or more"));
                }
                let hours = match &rep.hours {
                    Some(h) => Some(working_hours(&format!("{key}.hours"), h)?),
                    None => team_hours.clone(),
                };
                reps.push(Rep {
                    id,
                    name: rep.name.clone(),
                    weight: rep.weight,
                    max_open_leads: rep.max_open_leads,
                    max_new_per_day: rep.max_new_per_day,
                    hours,
                });
            }
            teams.push(Team {
                name,
                strategy: team.strategy,
                countries,
                size_bands: team.size_bands,
                industries,
                actions,
                reps,
            });
        }
        Ok(RoutingConfig {
            fallback_queue,
            assign_actions,
            release_actions,
            regions,
            size_bands,
            teams,
        })
    }

    /// The size band `employees` falls in.
    pub fn size_band(&self, employees: u32) -> Option<&SizeBand> {
        self.size_bands.iter().find(|band| band.contains(employees))
    }

    /// The rep with this id and its team.
    pub fn rep(&self, rep_id: &str) -> Option<(&Team, &Rep)> {
        self.teams
            .iter()
            .find_map(|team| team.reps.iter().find(|r| r.id == rep_id).map(|r| (team, r)))
    }
}

fn actions_set(
    key: &str,
    given: Option<Vec<NextAction>>,
    default: &[NextAction],
) -> Result<BTreeSet<NextAction>, RoutingConfigError> {
    let Some(given) = given else {
        return Ok(default.iter().copied().collect());
    };
    let mut set = BTreeSet::new();
    for (i, action) in given.into_iter().enumerate() {
        if !set.insert(action) {
            return Err(invalid(
                format!("{key}[{i}]"),
                format!("{} is listed twice", action.name()),
            ));
        }
    }
    Ok(set)
}

fn country_code(key: &str, text: &str) -> Result<String, RoutingConfigError> {
    let code = text.trim().to_ascii_uppercase();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(invalid(
            key,
            format!("{text:?} is not an ISO 3166-1 alpha-2 country code"),
        ))
    }
}

fn overlaps(a: &SizeBand, b: &SizeBand) -> bool {
    let a_max = a.max.unwrap_or(u32::MAX);
    let b_max = b.max.unwrap_or(u32::MAX);
    a.min <= b_max && b.min <= a_max
}

fn working_hours(key: &str, raw: &RawHours) -> Result<WorkingHours, RoutingConfigError> {
    let utc_offset = utc_offset(&raw.utc_offset).ok_or_else(|| {
        invalid(
            format!("{key}.utc_offset"),
            format!(
                "{:?} is not an offset like +01:00 or -05:30",
                raw.utc_offset
            ),
        )
    })?;
    if raw.days.is_empty() {
        return Err(invalid(format!("{key}.days"), "needs at least one day"));
    }
    let mut days = Vec::new();
    for (i, day) in raw.days.iter().enumerate() {
        let day = weekday(day).ok_or_else(|| {
            invalid(
                format!("{key}.days[{i}]"),
                format!("{day:?} is not a day (mon, tue, wed, thu, fri, sat, sun)"),
            )
        })?;
        if !days.contains(&day) {
            days.push(day);
        }
    }
    let time = |field: &str, text: &str| {
        NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| {
            invalid(
                format!("{key}.{field}"),
                format!("{text:?} is not a time like 09:00"),
            )
        })
    };
    let start = time("start", &raw.start)?;
    let end = time("end", &raw.end)?;
    if end <= start {
        return Err(invalid(format!("{key}.end"), "must be after start"));
    }
    Ok(WorkingHours {
        utc_offset,
        days,
        start,
        end,
    })
}

fn utc_offset(text: &str) -> Option<FixedOffset> {
    let text = text.trim();
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

fn weekday(text: &str) -> Option<Weekday> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
fallback_queue = "unassigned"
[[teams]]
name = "all"
strategy = "least_loaded"
[[teams.reps]]
id = "ada"
max_open_leads = 10
max_new_per_day = 5
"#;

    fn refusal(text: &str) -> RoutingConfigError {
        match RoutingConfig::from_toml(text) {
            Ok(config) => panic!("accepted: {config:?}"),
            Err(error) => error,
        }
    }

    fn key_of(error: &RoutingConfigError) -> &str {
        match error {
            RoutingConfigError::Invalid { key, .. } => key,
            other => panic!("not an Invalid error: {other:?}"),
        }
    }

    #[test]
    fn minimal_file_gets_the_defaults() {
        let config = RoutingConfig::from_toml(MINIMAL).expect("valid");
        assert_eq!(config.fallback_queue, "unassigned");
        assert_eq!(
            config.assign_actions,
            DEFAULT_ASSIGN_ACTIONS.into_iter().collect()
        );
        assert_eq!(
            config.release_actions,
            DEFAULT_RELEASE_ACTIONS.into_iter().collect()
        );
        let rep = &config.teams[0].reps[0];
        assert_eq!((rep.weight, rep.hours.clone()), (1, None));
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../../../examples/routing.toml");
        let config = RoutingConfig::from_toml(text).expect("examples/routing.toml");
        assert!(config.teams.len() >= 2);
    }

    #[test]
    fn refusals_name_the_key() {
        let cases = [
            (
                MINIMAL.replace("max_open_leads = 10", "max_open_leads = 10\nweight = 0"),
                "teams[0].reps[0].weight",
            ),
            (
                MINIMAL.replace("name = \"all\"", "name = \"all\"\ncountries = [\"Germany\"]"),
                "teams[0].countries[0]",
            ),
            (
                MINIMAL.replace("name = \"all\"", "name = \"all\"\nregions = [\"emea\"]"),
                "teams[0].regions[0]",
            ),
            (
                MINIMAL.replace("name = \"all\"", "name = \"all\"\nsize_bands = [\"smb\"]"),
                "teams[0].size_bands[0]",
            ),
            (
                MINIMAL.replace("name = \"all\"", "name = \"all\"\nactions = [\"nurture\"]"),
                "teams[0].actions[0]",
            ),
            (
                MINIMAL.replace(
                    "max_new_per_day = 5",
                    "max_new_per_day = 5\nhours = { days = [\"mon\"], start = \"18:00\", end = \"09:00\" }",
                ),
                "teams[0].reps[0].hours.end",
            ),
            (
                MINIMAL.replace(
                    "max_new_per_day = 5",
                    "max_new_per_day = 5\nhours = { utc_offset = \"CET\", days = [\"mon\"], start = \"08:00\", end = \"09:00\" }",
                ),
                "teams[0].reps[0].hours.utc_offset",
            ),
            (
                MINIMAL.replace(
                    "max_new_per_day = 5",
                    "max_new_per_day = 5\nhours = { days = [\"monday\"], start = \"08:00\", end = \"09:00\" }",
                ),
                "teams[0].reps[0].hours.days[0]",
            ),
            (
                format!("{MINIMAL}[[teams.reps]]\nid = \"ada\"\nmax_open_leads = 1\nmax_new_per_day = 1\n"),
                "teams[0].reps[1].id",
            ),
            (
                MINIMAL.replace("fallback_queue = \"unassigned\"", "fallback_queue = \" \""),
                "fallback_queue",
            ),
            (
                format!("{MINIMAL}\n[size_bands]\nsmb = {{ max = 199 }}\nmid = {{ min = 100, max = 999 }}\n"),
                "size_bands.smb",
            ),
            (
                MINIMAL.replace(
                    "fallback_queue = \"unassigned\"",
                    "fallback_queue = \"q\"\nrelease_actions = [\"sales_now\"]",
                ),
                "release_actions",
            ),
        ];
        for (text, key) in cases {
            let error = refusal(&text);
            assert_eq!(key_of(&error), key, "{error}");
            assert!(error.to_string().contains(key), "{error}");
        }
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_syntax_errors_naming_the_key() {
        let error = refusal(&MINIMAL.replace("max_open_leads", "max_open"));
        assert!(
            matches!(&error, RoutingConfigError::Syntax(m) if m.contains("max_open")),
            "{error}"
        );
        let error = refusal(&MINIMAL.replace("\"least_loaded\"", "\"random\""));
        assert!(
            matches!(&error, RoutingConfigError::Syntax(m) if m.contains("strategy") || m.contains("random")),
            "{error}"
        );
        assert!(matches!(
            refusal("fallback_queue = "),
            RoutingConfigError::Syntax(_)
        ));
    }

    #[test]
    fn regions_expand_to_countries_and_bands_classify_sizes() {
        let text = r#"
fallback_queue = "q"
[regions]
dach = ["de", "AT", "CH"]
[size_bands]
smb = { max = 199 }
mid = { min = 200, max = 999 }
enterprise = { min = 1000 }
[[teams]]
name = "dach"
strategy = "least_loaded"
regions = ["dach"]
countries = ["nl"]
[[teams.reps]]
id = "ada"
max_open_leads = 1
max_new_per_day = 1
"#;
        let config = RoutingConfig::from_toml(text).expect("valid");
        let countries: Vec<&str> = config.teams[0]
            .countries
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(countries, ["AT", "CH", "DE", "NL"]);
        let band = |n| config.size_band(n).map(|b| b.name.as_str());
        assert_eq!(band(0), Some("smb"));
        assert_eq!(band(199), Some("smb"));
        assert_eq!(band(200), Some("mid"));
        assert_eq!(band(999), Some("mid"));
        assert_eq!(band(1000), Some("enterprise"));
        assert_eq!(band(u32::MAX), Some("enterprise"));
    }

    #[test]
    fn working_hours_use_the_local_day_and_time() {
        let text = MINIMAL.replace(
            "max_new_per_day = 5",
            "max_new_per_day = 5\nhours = { utc_offset = \"-05:00\", days = [\"mon\", \"tue\"], start = \"09:00\", end = \"17:00\" }",
        );
        let config = RoutingConfig::from_toml(&text).expect("valid");
        let rep = &config.teams[0].reps[0];
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .expect("a time")
        };
        // Monday 2026-11-23 14:00 UTC is 09:00 in New York
        assert!(rep.is_working(at("2026-11-23T14:00:00Z")));
        assert!(!rep.is_working(at("2026-11-23T13:59:59Z")));
        assert!(
            !rep.is_working(at("2026-11-23T22:00:00Z")),
            "17:00 local is closed"
        );
        // Wednesday is not a working day
        assert!(!rep.is_working(at("2026-11-25T15:00:00Z")));
        // 02:00 UTC on Tuesday is still Monday in New York
        assert_eq!(
            rep.day(at("2026-11-24T02:00:00Z")),
            NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date")
        );
    }
}

//! Routing: which team and rep work a lead, decided by rules in TOML.
//!
//! [`assign_rep`] is pure: from the rules, the lead, its verdict, its current assignment
//! and the reps' loads it says whether to keep, release or (re)assign, and for an
//! assignment the reps to try in order. The route stage then takes capacity through the
//! [`crate::ports::RepLedger`] (a rep may fill up between the read and the take) and
//! falls back to the queue when every candidate refuses.

mod config;

pub use config::{
    DEFAULT_ASSIGN_ACTIONS, DEFAULT_RELEASE_ACTIONS, Rep, RoutingConfig, RoutingConfigError,
    SizeBand, Strategy, Team, WorkingHours,
};

use crate::ports::{RepCaps, RepLoad};
use chrono::{DateTime, NaiveDate, Utc};
use leadq_scoring::{Band, Lead, NextAction, ScoreCard};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who a lead is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assignee {
    /// A rep, by id.
    Rep(String),
    /// A queue people pick from (the fallback queue), by name.
    Queue(String),
}

/// An assignment as stored on the lead, with why it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The rep or the fallback queue.
    pub assignee: Assignee,
    /// The team whose rule matched; `None` when no team's rule matched.
    pub team: Option<String>,
    /// The rule matched, in words (`teams[0] emea: country DE, ...`).
    pub rule: String,
    /// The team's strategy, when a team matched.
    pub strategy: Option<Strategy>,
    /// The rep's load right after the lead was given to it.
    pub rep_load: Option<RepLoad>,
    /// Band of the verdict the assignment was made for.
    pub band: Band,
    /// Next action of that verdict.
    pub next_action: NextAction,
    /// Composite score of that verdict.
    pub composite: u8,
    /// When the assignment was made.
    pub at: DateTime<Utc>,
    /// Why, in words.
    pub why: String,
}

impl Assignment {
    /// The rep, if assigned to one.
    pub fn rep(&self) -> Option<&str> {
        match &self.assignee {
            Assignee::Rep(rep) => Some(rep),
            Assignee::Queue(_) => None,
        }
    }
}

/// A rep the route stage may try, with what the caps are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The rep's id.
    pub rep: String,
    /// The rep's local day (its new-lead cap counts per day).
    pub day: NaiveDate,
    /// Its caps.
    pub caps: RepCaps,
    /// Its load as read before deciding.
    pub load: RepLoad,
}

/// An assignment to make: the reps to try in order, else the fallback queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The team whose rule matched.
    pub team: Option<String>,
    /// The rule matched (or why none did), in words.
    pub rule: String,
    /// The team's strategy.
    pub strategy: Option<Strategy>,
    /// Reps with capacity and at work, best first.
    pub candidates: Vec<Candidate>,
    /// Reps of the team left out and why (`bob: outside working hours`).
    pub skipped: Vec<String>,
    /// The lead's current rep is not one the rules pick now: free it first.
    pub release_current: bool,
    /// The fallback queue.
    pub fallback_queue: String,
}

impl Plan {
    /// The assignment to `candidate`, whose load after the take is `load`.
    pub fn to_rep(
        &self,
        candidate: &Candidate,
        load: RepLoad,
        refused: &[String],
        card: &ScoreCard,
        now: DateTime<Utc>,
    ) -> Assignment {
        let strategy = self.strategy.map_or("", Strategy::name);
        let mut why = format!(
            "{} lead matched {}; {strategy} picked {} ({} of {} open leads, {} of {} new today)",
            card.next_action.name(),
            self.rule,
            candidate.rep,
            load.open,
            candidate.caps.max_open_leads,
            load.new_today,
            candidate.caps.max_new_per_day,
        );
        self.explain_left_out(&mut why, refused);
        Assignment {
            assignee: Assignee::Rep(candidate.rep.clone()),
            team: self.team.clone(),
            rule: self.rule.clone(),
            strategy: self.strategy,
            rep_load: Some(load),
            band: card.band,
            next_action: card.next_action,
            composite: card.composite,
            at: now,
            why,
        }
    }

    /// The assignment to the fallback queue after every candidate refused (`refused`).
    pub fn to_queue(&self, refused: &[String], card: &ScoreCard, now: DateTime<Utc>) -> Assignment {
        let mut why = match &self.team {
            Some(team) => format!(
                "{} lead matched {}; no rep of team {team} can take it, so it waits in queue {}",
                card.next_action.name(),
                self.rule,
                self.fallback_queue
            ),
            None => format!(
                "{} lead: {}, so it waits in queue {}",
                card.next_action.name(),
                self.rule,
                self.fallback_queue
            ),
        };
        self.explain_left_out(&mut why, refused);
        Assignment {
            assignee: Assignee::Queue(self.fallback_queue.clone()),
            team: self.team.clone(),
            rule: self.rule.clone(),
            strategy: self.strategy,
            rep_load: None,
            band: card.band,
            next_action: card.next_action,
            composite: card.composite,
            at: now,
            why,
        }
    }

    fn explain_left_out(&self, why: &mut String, refused: &[String]) {
        let left_out: Vec<&str> = self
            .skipped
            .iter()
            .chain(refused)
            .map(String::as_str)
            .collect();
        if !left_out.is_empty() {
            why.push_str("; passed over: ");
            why.push_str(&left_out.join(", "));
        }
    }
}

/// What routing decided for a lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The current assignment stands.
    Keep {
        /// Why, in words.
        why: String,
    },
    /// The verdict takes the lead out of a person's hands: free its rep, drop the assignment.
    Release {
        /// Why, in words.
        why: String,
    },
    /// No person is needed and none is assigned: nothing to do.
    Unassigned {
        /// Why, in words.
        why: String,
    },
    /// Assign: try the plan's candidates in order, else the fallback queue.
    Assign(Plan),
}

/// The team whose rules take a lead with this next action, and the rule in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMatch<'a> {
    /// The team.
    pub team: &'a Team,
    /// The rule matched, in words (`teams[1] dach: country DE, size enterprise (1200 employees)`).
    pub rule: String,
}

impl RoutingConfig {
    /// The first team (in file order) whose territory, segment and actions all take the
    /// lead. A criterion the team leaves empty takes anything; one it sets needs the lead
    /// to have that field known (an unknown country never matches a territory).
    pub fn match_team(&self, lead: &Lead, action: NextAction) -> Option<TeamMatch<'_>> {
        let country = lead
            .company
            .country
            .as_deref()
            .or(lead.person.country.as_deref())
            .map(|c| c.trim().to_ascii_uppercase());
        let industry = lead
            .company
            .industry
            .as_deref()
            .map(|i| i.trim().to_lowercase());
        let employees = lead.company.employees;
        let band = employees.and_then(|n| self.size_band(n));
        self.teams.iter().enumerate().find_map(|(i, team)| {
            let mut parts = Vec::new();
            if !team.actions.is_empty() {
                if !team.actions.contains(&action) {
                    return None;
                }
                parts.push(format!("action {}", action.name()));
            }
            if !team.countries.is_empty() {
                let country = country.as_ref().filter(|c| team.countries.contains(*c))?;
                parts.push(format!("country {country}"));
            }
            if !team.size_bands.is_empty() {
                let band = band.filter(|b| team.size_bands.contains(&b.name))?;
                parts.push(format!(
                    "size {} ({} employees)",
                    band.name,
                    employees.unwrap_or_default()
                ));
            }
            if !team.industries.is_empty() {
                let industry = industry.as_ref().filter(|i| team.industries.contains(*i))?;
                parts.push(format!("industry {industry}"));
            }
            if parts.is_empty() {
                parts.push("takes every lead".into());
            }
            Some(TeamMatch {
                team,
                rule: format!("teams[{i}] {}: {}", team.name, parts.join(", ")),
            })
        })
    }
}

/// Decides a lead's assignment (pure).
///
/// - a next action in `release_actions` frees the lead's rep (nurture, suppress);
/// - one in neither list keeps whatever the lead has and assigns nobody new;
/// - one in `assign_actions` keeps the current rep if it belongs to the team the rules
///   pick now, otherwise plans an assignment: the team's reps at work and under both caps
///   (per `loads`; a rep missing there has no load), ordered by the team's strategy.
///
/// Weighted round robin orders by new leads today per unit of weight (the rep furthest
/// behind its share first), so over a day each rep's share follows its weight without any
/// stored rotation; least loaded orders by the share of the open-lead cap in use. Ties go
/// to the rep listed first.
pub fn assign_rep(
    config: &RoutingConfig,
    lead: &Lead,
    card: &ScoreCard,
    current: Option<&Assignment>,
    loads: &BTreeMap<String, RepLoad>,
    now: DateTime<Utc>,
) -> Decision {
    let action = card.next_action;
    if config.release_actions.contains(&action) {
        return match current {
            Some(current) => Decision::Release {
                why: format!(
                    "next action {} takes the lead from {}",
                    action.name(),
                    describe(&current.assignee)
                ),
            },
            None => Decision::Unassigned {
                why: format!("next action {} needs no person", action.name()),
            },
        };
    }
    if !config.assign_actions.contains(&action) {
        return match current {
            Some(current) => Decision::Keep {
                why: format!(
                    "next action {} assigns nobody new; the lead stays with {}",
                    action.name(),
                    describe(&current.assignee)
                ),
            },
            None => Decision::Unassigned {
                why: format!("next action {} needs no person", action.name()),
            },
        };
    }

    let matched = config.match_team(lead, action);
    let current_rep = current.and_then(Assignment::rep);
    if let (Some(rep), Some(matched)) = (current_rep, &matched)
        && matched.team.reps.iter().any(|r| r.id == rep)
    {
        return Decision::Keep {
            why: format!("already assigned to {rep} of team {}", matched.team.name),
        };
    }
    let release_current = current_rep.is_some();
    let Some(matched) = matched else {
        return Decision::Assign(Plan {
            team: None,
            rule: "no team's rules match it".into(),
            strategy: None,
            candidates: Vec::new(),
            skipped: Vec::new(),
            release_current,
            fallback_queue: config.fallback_queue.clone(),
        });
    };

    let team = matched.team;
    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    for rep in &team.reps {
        let load = loads.get(&rep.id).copied().unwrap_or_default();
        if !rep.is_working(now) {
            skipped.push(format!("{}: outside working hours", rep.id));
        } else if load.open >= rep.max_open_leads {
            skipped.push(format!(
                "{}: {} of {} open leads",
                rep.id, load.open, rep.max_open_leads
            ));
        } else if load.new_today >= rep.max_new_per_day {
            skipped.push(format!(
                "{}: {} of {} new leads today",
                rep.id, load.new_today, rep.max_new_per_day
            ));
        } else {
            candidates.push((rep, load));
        }
    }
    // sort_by is stable: equal reps keep their file order
    match team.strategy {
        Strategy::WeightedRoundRobin => candidates.sort_by(|(a, la), (b, lb)| {
            (u64::from(la.new_today) * u64::from(b.weight))
                .cmp(&(u64::from(lb.new_today) * u64::from(a.weight)))
        }),
        Strategy::LeastLoaded => candidates.sort_by(|(a, la), (b, lb)| {
            (u64::from(la.open) * u64::from(b.max_open_leads))
                .cmp(&(u64::from(lb.open) * u64::from(a.max_open_leads)))
                .then(la.open.cmp(&lb.open))
        }),
    }
    Decision::Assign(Plan {
        team: Some(team.name.clone()),
        rule: matched.rule,
        strategy: Some(team.strategy),
        candidates: candidates
            .into_iter()
            .map(|(rep, load)| Candidate {
                rep: rep.id.clone(),
                day: rep.day(now),
                caps: RepCaps {
                    max_open_leads: rep.max_open_leads,
                    max_new_per_day: rep.max_new_per_day,
                },
                load,
            })
            .collect(),
        skipped,
        release_current,
        fallback_queue: config.fallback_queue.clone(),
    })
}

fn describe(assignee: &Assignee) -> String {
    match assignee {
        Assignee::Rep(rep) => format!("rep {rep}"),
        Assignee::Queue(queue) => format!("queue {queue}"),
    }
}

#[cfg(test)]
mod tests;

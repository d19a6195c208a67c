//! Unit tests of the pure routing decision.

use super::*;
use leadq_scoring::Company;

const RULES: &str = r#"
fallback_queue = "unassigned"

[regions]
emea = ["GB", "DE", "FR"]

[size_bands]
smb = { max = 199 }
enterprise = { min = 1000 }

[[teams]]
name = "emea-enterprise"
strategy = "weighted_round_robin"
regions = ["emea"]
size_bands = ["enterprise"]

[[teams.reps]]
id = "ada"
weight = 3
max_open_leads = 100
max_new_per_day = 100

[[teams.reps]]
id = "grace"
weight = 1
max_open_leads = 100
max_new_per_day = 100

[[teams]]
name = "software"
strategy = "least_loaded"
industries = ["software"]

[[teams.reps]]
id = "alan"
max_open_leads = 10
max_new_per_day = 100

[[teams.reps]]
id = "kat"
max_open_leads = 20
max_new_per_day = 100

[[teams]]
name = "nine-to-five"
strategy = "least_loaded"
countries = ["US"]
actions = ["sdr_review"]
hours = { utc_offset = "-05:00", days = ["mon", "tue", "wed", "thu", "fri"], start = "09:00", end = "17:00" }

[[teams.reps]]
id = "dorothy"
max_open_leads = 5
max_new_per_day = 5
"#;

fn config() -> RoutingConfig {
    RoutingConfig::from_toml(RULES).expect("valid rules")
}

/// Monday 2026-11-23 15:00 UTC (10:00 in New York).
fn monday_morning_in_new_york() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T15:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .expect("a time")
}

fn lead(country: Option<&str>, employees: Option<u32>, industry: Option<&str>) -> Lead {
    Lead {
        id: "lead-1".into(),
        company: Company {
            country: country.map(str::to_string),
            employees,
            industry: industry.map(str::to_string),
            ..Company::default()
        },
        ..Lead::default()
    }
}

fn card(action: NextAction) -> ScoreCard {
    let mut card = ScoreCard::empty();
    card.lead_id = "lead-1".into();
    card.band = match action {
        NextAction::SalesNow | NextAction::AccountFollowUp => Band::Hot,
        NextAction::Nurture => Band::Cold,
        NextAction::Suppress => Band::Disqualified,
        _ => Band::Warm,
    };
    card.next_action = action;
    card.composite = 80;
    card
}

fn plan(decision: Decision) -> Plan {
    match decision {
        Decision::Assign(plan) => plan,
        other => panic!("expected an assignment plan, got {other:?}"),
    }
}

fn reps(plan: &Plan) -> Vec<&str> {
    plan.candidates.iter().map(|c| c.rep.as_str()).collect()
}

fn decide(lead: &Lead, action: NextAction, loads: &BTreeMap<String, RepLoad>) -> Decision {
    assign_rep(
        &config(),
        lead,
        &card(action),
        None,
        loads,
        monday_morning_in_new_york(),
    )
}

fn load(open: u32, new_today: u32) -> RepLoad {
    RepLoad { open, new_today }
}

#[test]
fn territory_and_segment_pick_the_team() {
    let none = BTreeMap::new();
    let p = plan(decide(
        &lead(Some("de"), Some(5000), None),
        NextAction::SalesNow,
        &none,
    ));
    assert_eq!(p.team.as_deref(), Some("emea-enterprise"));
    assert_eq!(
        p.rule,
        "teams[0] emea-enterprise: country DE, size enterprise (5000 employees)"
    );
    assert_eq!(p.strategy, Some(Strategy::WeightedRoundRobin));
    assert_eq!(reps(&p), ["ada", "grace"]);

    // the person's country stands in when the company's is unknown
    let mut by_person = lead(None, Some(5000), Some("software"));
    by_person.person.country = Some("GB".into());
    let p = plan(decide(&by_person, NextAction::SalesNow, &none));
    assert_eq!(p.team.as_deref(), Some("emea-enterprise"));

    // EMEA but small: the segment rule fails, the industry team takes it
    let p = plan(decide(
        &lead(Some("DE"), Some(50), Some("Software")),
        NextAction::SalesNow,
        &none,
    ));
    assert_eq!(p.team.as_deref(), Some("software"));
    assert_eq!(p.rule, "teams[1] software: industry software");

    // unknown size never matches a size band
    let p = plan(decide(
        &lead(Some("DE"), None, Some("software")),
        NextAction::SalesNow,
        &none,
    ));
    assert_eq!(p.team.as_deref(), Some("software"));
}

#[test]
fn a_lead_no_team_takes_goes_to_the_fallback_queue() {
    let p = plan(decide(
        &lead(Some("JP"), Some(5000), Some("retail")),
        NextAction::SalesNow,
        &BTreeMap::new(),
    ));
    assert_eq!(p.team, None);
    assert!(p.candidates.is_empty());
    let assignment = p.to_queue(
        &[],
        &card(NextAction::SalesNow),
        monday_morning_in_new_york(),
    );
    assert_eq!(assignment.assignee, Assignee::Queue("unassigned".into()));
    assert_eq!(
        assignment.why,
        "sales_now lead: no team's rules match it, so it waits in queue unassigned"
    );
    assert_eq!(assignment.rep_load, None);
}

#[test]
fn reps_at_a_cap_are_passed_over_and_a_full_team_falls_back() {
    let loads = BTreeMap::from([
        ("alan".to_string(), load(10, 3)),
        ("kat".to_string(), load(2, 100)),
    ]);
    let p = plan(decide(
        &lead(None, None, Some("software")),
        NextAction::SalesNow,
        &loads,
    ));
    assert!(p.candidates.is_empty());
    assert_eq!(
        p.skipped,
        [
            "alan: 10 of 10 open leads",
            "kat: 100 of 100 new leads today"
        ]
    );
    let assignment = p.to_queue(
        &[],
        &card(NextAction::SalesNow),
        monday_morning_in_new_york(),
    );
    assert_eq!(assignment.team.as_deref(), Some("software"));
    assert!(
        assignment
            .why
            .contains("no rep of team software can take it")
            && assignment
                .why
                .contains("passed over: alan: 10 of 10 open leads"),
        "{}",
        assignment.why
    );
}

#[test]
fn weighted_round_robin_follows_the_weights() {
    let config = config();
    let l = lead(Some("FR"), Some(2000), None);
    let c = card(NextAction::SalesNow);
    let now = monday_morning_in_new_york();
    let mut loads: BTreeMap<String, RepLoad> = BTreeMap::new();
    let mut order = Vec::new();
    for _ in 0..40 {
        let p = plan(assign_rep(&config, &l, &c, None, &loads, now));
        let first = p.candidates[0].rep.clone();
        let entry = loads.entry(first.clone()).or_default();
        entry.open += 1;
        entry.new_today += 1;
        order.push(first);
    }
    let count = |rep: &str| order.iter().filter(|r| *r == rep).count();
    assert_eq!((count("ada"), count("grace")), (30, 10));
    // interleaved, not 30 in a row: every window of 4 holds exactly one of grace's
    for window in order.chunks(4) {
        assert_eq!(
            window.iter().filter(|r| *r == "grace").count(),
            1,
            "{order:?}"
        );
    }
}

#[test]
fn least_loaded_prefers_the_smallest_share_of_the_cap() {
    let l = lead(None, None, Some("software"));
    // alan holds 4 of 10 (40%), kat 6 of 20 (30%): kat first despite more leads
    let loads = BTreeMap::from([
        ("alan".to_string(), load(4, 0)),
        ("kat".to_string(), load(6, 0)),
    ]);
    let p = plan(decide(&l, NextAction::SalesNow, &loads));
    assert_eq!(reps(&p), ["kat", "alan"]);
    assert_eq!(p.candidates[0].load, load(6, 0));
    // equal shares: fewer leads first; then file order
    let loads = BTreeMap::from([
        ("alan".to_string(), load(5, 0)),
        ("kat".to_string(), load(10, 0)),
    ]);
    assert_eq!(
        reps(&plan(decide(&l, NextAction::SalesNow, &loads))),
        ["alan", "kat"]
    );
    assert_eq!(
        reps(&plan(decide(&l, NextAction::SalesNow, &BTreeMap::new()))),
        ["alan", "kat"]
    );
}

#[test]
fn reps_off_work_are_passed_over() {
    let config = config();
    let l = lead(Some("US"), None, None);
    let c = card(NextAction::SdrReview);
    let at = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .expect("a time")
    };
    let p = plan(assign_rep(
        &config,
        &l,
        &c,
        None,
        &BTreeMap::new(),
        at("2026-11-23T15:00:00Z"),
    ));
    assert_eq!(reps(&p), ["dorothy"]);
    // the day the daily cap counts is New York's: Monday until 05:00 UTC on Tuesday
    assert_eq!(
        p.candidates[0].day,
        NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date")
    );
    // Saturday, and Monday night in New York
    for closed in ["2026-11-28T15:00:00Z", "2026-11-24T01:00:00Z"] {
        let p = plan(assign_rep(
            &config,
            &l,
            &c,
            None,
            &BTreeMap::new(),
            at(closed),
        ));
        assert!(p.candidates.is_empty(), "{closed}");
        assert_eq!(p.skipped, ["dorothy: outside working hours"], "{closed}");
    }
    // the team takes only sdr_review: a sales_now lead from the US falls through
    let p = plan(assign_rep(
        &config,
        &l,
        &card(NextAction::SalesNow),
        None,
        &BTreeMap::new(),
        at("2026-11-23T15:00:00Z"),
    ));
    assert_eq!(p.team, None);
}

fn assigned_to(rep: &str) -> Assignment {
    let p = plan(decide(
        &lead(Some("DE"), Some(5000), None),
        NextAction::SalesNow,
        &BTreeMap::new(),
    ));
    let candidate = Candidate {
        rep: rep.into(),
        ..p.candidates[0].clone()
    };
    p.to_rep(
        &candidate,
        load(1, 1),
        &[],
        &card(NextAction::SalesNow),
        monday_morning_in_new_york(),
    )
}

#[test]
fn an_assigned_lead_keeps_its_rep_unless_the_rules_say_otherwise() {
    let config = config();
    let now = monday_morning_in_new_york();
    let l = lead(Some("DE"), Some(5000), None);
    let current = assigned_to("grace");
    assert_eq!(current.rep(), Some("grace"));
    assert!(
        current
            .why
            .starts_with("sales_now lead matched teams[0] emea-enterprise"),
        "{}",
        current.why
    );

    // re-scored to another action the same team takes: grace keeps it, even when full
    let full = BTreeMap::from([("grace".to_string(), load(100, 100))]);
    let decision = assign_rep(
        &config,
        &l,
        &card(NextAction::AccountFollowUp),
        Some(&current),
        &full,
        now,
    );
    assert!(matches!(decision, Decision::Keep { .. }), "{decision:?}");

    // dropped to nurture or suppress: released
    for action in [NextAction::Nurture, NextAction::Suppress] {
        let decision = assign_rep(&config, &l, &card(action), Some(&current), &full, now);
        assert!(matches!(decision, Decision::Release { .. }), "{decision:?}");
        let decision = assign_rep(&config, &l, &card(action), None, &full, now);
        assert!(
            matches!(decision, Decision::Unassigned { .. }),
            "{decision:?}"
        );
    }
    // enrich_again neither assigns nor releases
    let decision = assign_rep(
        &config,
        &l,
        &card(NextAction::EnrichAgain),
        Some(&current),
        &full,
        now,
    );
    assert!(matches!(decision, Decision::Keep { .. }), "{decision:?}");
    let decision = assign_rep(
        &config,
        &l,
        &card(NextAction::EnrichAgain),
        None,
        &full,
        now,
    );
    assert!(
        matches!(decision, Decision::Unassigned { .. }),
        "{decision:?}"
    );

    // the company moved out of the territory: a new team, and grace is freed first
    let moved = lead(Some("JP"), Some(5000), Some("software"));
    let p = plan(assign_rep(
        &config,
        &moved,
        &card(NextAction::SalesNow),
        Some(&current),
        &full,
        now,
    ));
    assert_eq!(p.team.as_deref(), Some("software"));
    assert!(p.release_current);

    // waiting in the fallback queue: tried again
    let queued = plan(decide(
        &lead(Some("JP"), None, None),
        NextAction::SalesNow,
        &BTreeMap::new(),
    ))
    .to_queue(&[], &card(NextAction::SalesNow), now);
    let p = plan(assign_rep(
        &config,
        &l,
        &card(NextAction::SalesNow),
        Some(&queued),
        &BTreeMap::new(),
        now,
    ));
    assert_eq!(reps(&p), ["ada", "grace"]);
    assert!(!p.release_current);
}

#[test]
fn assignments_say_why_with_the_load() {
    let assignment = assigned_to("ada");
    assert_eq!(assignment.rep_load, Some(load(1, 1)));
    assert_eq!(assignment.strategy, Some(Strategy::WeightedRoundRobin));
    assert_eq!(
        assignment.why,
        "sales_now lead matched teams[0] emea-enterprise: country DE, size enterprise (5000 employees); \
         weighted_round_robin picked ada (1 of 100 open leads, 1 of 100 new today)"
    );
    let json = serde_json::to_value(&assignment).expect("json");
    assert_eq!(json["assignee"], serde_json::json!({ "rep": "ada" }));
    let back: Assignment = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, assignment);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_action() -> impl proptest::strategy::Strategy<Value = NextAction> {
        prop::sample::select(vec![
            NextAction::SalesNow,
            NextAction::AccountFollowUp,
            NextAction::SdrReview,
            NextAction::EnrichAgain,
            NextAction::ManualReview,
            NextAction::Nurture,
            NextAction::Suppress,
        ])
    }

    proptest! {
        #[test]
        fn candidates_are_always_under_both_caps_and_at_work(
            country in prop::option::of("[A-Za-z]{0,3}"),
            employees in prop::option::of(any::<u32>()),
            industry in prop::option::of("(software|retail|Software|)"),
            action in any_action(),
            loads in prop::collection::vec((0u32..120, 0u32..120), 5),
            minutes in 0i64..(14 * 24 * 60),
        ) {
            let config = config();
            let now = monday_morning_in_new_york() + chrono::TimeDelta::minutes(minutes);
            let ids = ["ada", "grace", "alan", "kat", "dorothy"];
            let loads: BTreeMap<String, RepLoad> = ids
                .iter()
                .zip(&loads)
                .map(|(id, (open, new_today))| (id.to_string(), load(*open, *new_today)))
                .collect();
            let lead = lead(country.as_deref(), employees, industry.as_deref());
            if let Decision::Assign(plan) = assign_rep(&config, &lead, &card(action), None, &loads, now) {
                prop_assert!(config.assign_actions.contains(&action));
                for candidate in &plan.candidates {
                    let (team, rep) = config.rep(&candidate.rep).expect("a configured rep");
                    prop_assert_eq!(Some(team.name.as_str()), plan.team.as_deref());
                    prop_assert!(rep.is_working(now));
                    prop_assert!(candidate.load.open < rep.max_open_leads);
                    prop_assert!(candidate.load.new_today < rep.max_new_per_day);
                }
                let team_size = plan
                    .team
                    .as_deref()
                    .and_then(|t| config.teams.iter().find(|team| team.name == t))
                    .map_or(0, |team| team.reps.len());
                prop_assert_eq!(plan.candidates.len() + plan.skipped.len(), team_size);
            }
        }

        #[test]
        fn any_text_is_a_config_or_a_clear_refusal(text in "\\PC{0,200}") {
            let _ = RoutingConfig::from_toml(&text);
        }

        #[test]
        fn mangled_rules_are_refused_not_panicked(cut in 0usize..RULES.len(), insert in "[\\[\\]=\"a-z0-9 \n]{0,12}") {
            let mut text = RULES.to_string();
            let at = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            text.insert_str(at, &insert);
            let _ = RoutingConfig::from_toml(&text);
        }
    }
}

//! Behaviour and intent signals: time decay, per-signal caps (also for negative points),
//! `per = "minute"` sessions and the derived `repeat_visit`.

mod common;

use common::*;
use leadq_scoring::{Dimension, EventKind};

const DECAYING: &str = r#"
[signals.pricing_view]
points = 10
dimension = "behaviour"
half_life_days = 14
"#;

#[test]
fn an_event_one_half_life_old_counts_half() {
    let m = model(BEHAVIOUR_ONLY, DECAYING);
    let c = card(&lead(), &[ev(EventKind::PricingView, 14.0)], &m);
    close(c.scores.behaviour, 5.0);
    let r = must_reason(&c, "pricing_view");
    assert_eq!((r.dimension, r.count), (Dimension::Behaviour, 1));
    close(r.points, 5.0);
    close(r.decayed, 5.0);
    assert_eq!(c.composite, 5);
}

#[test]
fn an_event_two_half_lives_old_counts_a_quarter() {
    let m = model(BEHAVIOUR_ONLY, DECAYING);
    let c = card(&lead(), &[ev(EventKind::PricingView, 28.0)], &m);
    close(c.scores.behaviour, 2.5);
    close(must_reason(&c, "pricing_view").decayed, 7.5);
}

#[test]
fn decay_is_continuous_between_half_lives() {
    let m = model(BEHAVIOUR_ONLY, DECAYING);
    let c = card(&lead(), &[ev(EventKind::PricingView, 7.0)], &m);
    // 10 x 2^(-7/14) = 10 / sqrt(2)
    close(c.scores.behaviour, 10.0 / 2f64.sqrt());
}

#[test]
fn future_and_current_events_count_in_full() {
    let m = model(BEHAVIOUR_ONLY, DECAYING);
    for days in [0.0, -3.0, -3650.0] {
        let c = card(&lead(), &[ev(EventKind::PricingView, days)], &m);
        assert_eq!(c.scores.behaviour, 10.0, "{days} days ago");
        assert_eq!(must_reason(&c, "pricing_view").decayed, 0.0);
    }
}

#[test]
fn a_signal_without_half_life_never_decays() {
    let m = model(
        BEHAVIOUR_ONLY,
        "[signals.email_reply]\npoints = 15\ndimension = \"behaviour\"\n",
    );
    let c = card(&lead(), &[ev(EventKind::EmailReply, 1000.0)], &m);
    assert_eq!(c.scores.behaviour, 15.0);
    assert_eq!(must_reason(&c, "email_reply").decayed, 0.0);
}

#[test]
fn events_of_a_kind_without_a_signal_score_nothing() {
    let m = model(BEHAVIOUR_ONLY, DECAYING);
    let c = card(&lead(), &[ev(EventKind::Webinar, 0.0)], &m);
    assert_eq!(c.scores.behaviour, 0.0);
    assert!(c.reasons.is_empty());
}

#[test]
fn intent_signals_feed_the_intent_dimension() {
    let m = model(
        INTENT_ONLY,
        "[signals.demo_request]\npoints = 30\ndimension = \"intent\"\n",
    );
    let c = card(&lead(), &[ev(EventKind::DemoRequest, 2.0)], &m);
    assert_eq!((c.scores.intent, c.scores.behaviour), (30.0, 0.0));
    assert_eq!(must_reason(&c, "demo_request").dimension, Dimension::Intent);
    assert_eq!(c.composite, 30);
}

#[test]
fn a_signal_is_capped_over_all_its_events() {
    let m = model(
        BEHAVIOUR_ONLY,
        "[signals.page_view]\npoints = 4\ndimension = \"behaviour\"\ncap = 10\n",
    );
    let two = [ev(EventKind::PageView, 1.0), ev(EventKind::PageView, 2.0)];
    assert_eq!(card(&lead(), &two, &m).scores.behaviour, 8.0);
    let three = [
        ev(EventKind::PageView, 1.0),
        ev(EventKind::PageView, 2.0),
        ev(EventKind::PageView, 3.0),
    ];
    let c = card(&lead(), &three, &m);
    // 12 capped at 10
    assert_eq!(c.scores.behaviour, 10.0);
    let r = must_reason(&c, "page_view");
    assert_eq!((r.points, r.count), (10.0, 3));
}

#[test]
fn the_cap_applies_after_decay() {
    let m = model(
        BEHAVIOUR_ONLY,
        "[signals.pricing_view]\npoints = 10\ndimension = \"behaviour\"\nhalf_life_days = 14\ncap = 30\n",
    );
    let four = [14.0, 14.0, 14.0, 14.0].map(|d| ev(EventKind::PricingView, d));
    // 4 x 5 = 20, under the cap of 30 (4 x 10 = 40 would have been capped)
    close(card(&lead(), &four, &m).scores.behaviour, 20.0);
}

#[test]
fn a_negative_signal_is_capped_in_absolute_value() {
    let m = model(
        BEHAVIOUR_ONLY,
        r#"
[signals.unsubscribe]
points = -20
dimension = "behaviour"
cap = 20
[signals.email_reply]
points = 50
dimension = "behaviour"
"#,
    );
    let events = [
        ev(EventKind::EmailReply, 1.0),
        ev(EventKind::Unsubscribe, 1.0),
        ev(EventKind::Unsubscribe, 2.0),
    ];
    let c = card(&lead(), &events, &m);
    // 50 + max(-40, -20)
    assert_eq!(c.scores.behaviour, 30.0);
    let r = must_reason(&c, "unsubscribe");
    assert_eq!((r.points, r.count), (-20.0, 2));
    assert_eq!(c.composite, 30);
}

#[test]
fn negative_signal_decays_towards_zero() {
    let m = model(
        BEHAVIOUR_ONLY,
        r#"
[signals.unsubscribe]
points = -20
dimension = "behaviour"
half_life_days = 90
[signals.email_reply]
points = 50
dimension = "behaviour"
"#,
    );
    let events = [
        ev(EventKind::EmailReply, 0.0),
        ev(EventKind::Unsubscribe, 90.0),
    ];
    let c = card(&lead(), &events, &m);
    // 50 - 20 / 2
    close(c.scores.behaviour, 40.0);
    close(must_reason(&c, "unsubscribe").decayed, 10.0);
}

const SESSIONS: &str = r#"
[signals.session]
points = 1
per = "minute"
dimension = "behaviour"
cap = 15
[signals.repeat_visit]
points = 5
dimension = "behaviour"
"#;

#[test]
fn session_points_are_per_minute() {
    let m = model(BEHAVIOUR_ONLY, SESSIONS);
    let c = card(&lead(), &[session(Some(3.5), 0.0)], &m);
    assert_eq!(c.scores.behaviour, 3.5);
    assert_eq!(must_reason(&c, "session").count, 1);
    // a single session is no repeat visit
    assert!(reason(&c, "repeat_visit").is_none());
    // 20 minutes, capped at 15
    let c = card(&lead(), &[session(Some(20.0), 0.0)], &m);
    assert_eq!(c.scores.behaviour, 15.0);
}

#[test]
fn sessions_without_a_usable_duration_count_no_minutes_but_are_visits() {
    let m = model(BEHAVIOUR_ONLY, SESSIONS);
    let events = [
        session(Some(4.0), 5.0),
        session(None, 0.0),
        session(Some(f64::NAN), 0.0),
        session(Some(-2.0), 0.0),
        session(Some(f64::INFINITY), 0.0),
        session(Some(f64::NEG_INFINITY), 0.0),
    ];
    let c = card(&lead(), &events, &m);
    let s = must_reason(&c, "session");
    assert_eq!((s.points, s.count), (4.0, 6));
    // five sessions after the earliest, 5 points each
    let r = must_reason(&c, "repeat_visit");
    assert_eq!((r.points, r.count), (25.0, 5));
    assert_eq!(c.scores.behaviour, 29.0);
}

#[test]
fn repeat_visit_counts_every_session_but_the_earliest() {
    let m = model(
        BEHAVIOUR_ONLY,
        r#"
[signals.repeat_visit]
points = 5
dimension = "behaviour"
half_life_days = 5
"#,
    );
    // given out of time order: the earliest (10 days ago) is in the middle
    let events = [
        session(Some(1.0), 0.0),
        session(Some(2.0), 10.0),
        session(Some(3.0), 5.0),
    ];
    let c = card(&lead(), &events, &m);
    // the sessions 0 and 5 days ago repeat: 5 + 5 x 2^(-5/5) = 7.5
    // (dropping the first in slice order instead would give 5 x 2^-1 + 5 x 2^-2 = 3.75)
    let r = must_reason(&c, "repeat_visit");
    assert_eq!(r.count, 2);
    close(r.points, 7.5);
    // repeat_visit works without a `session` signal of its own
    assert!(reason(&c, "session").is_none());
    close(c.scores.behaviour, 7.5);
}

#[test]
fn repeat_visit_ignores_other_event_kinds() {
    let m = model(BEHAVIOUR_ONLY, SESSIONS);
    let events = [
        ev(EventKind::PageView, 0.0),
        ev(EventKind::PageView, 1.0),
        session(Some(2.0), 3.0),
    ];
    let c = card(&lead(), &events, &m);
    assert!(reason(&c, "repeat_visit").is_none());
    assert_eq!(c.scores.behaviour, 2.0);
}

#[test]
fn a_dimension_over_100_is_capped_with_a_reason() {
    let m = model(
        INTENT_ONLY,
        "[signals.demo_request]\npoints = 60\ndimension = \"intent\"\n",
    );
    let events = [
        ev(EventKind::DemoRequest, 0.0),
        ev(EventKind::DemoRequest, 0.0),
    ];
    let c = card(&lead(), &events, &m);
    assert_eq!(c.scores.intent, 100.0);
    assert_eq!(must_reason(&c, "demo_request").points, 120.0);
    assert_eq!(must_reason(&c, "intent capped at 100").points, -20.0);
    close(reason_sum(&c, Dimension::Intent), 100.0);
    assert_eq!(c.composite, 100);
}

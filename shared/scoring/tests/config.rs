//! The model file: the shipped default loads, and each class of bad document is refused
//! with an error that names the offending key.

use leadq_scoring::model::DEFAULT_MODEL_TOML;
use leadq_scoring::{Model, ModelError};

/// The default model with the first `from` replaced by `to`.
fn default_with(from: &str, to: &str) -> String {
    assert!(
        DEFAULT_MODEL_TOML.contains(from),
        "the default model no longer contains {from:?}"
    );
    DEFAULT_MODEL_TOML.replacen(from, to, 1)
}

/// Asserts the document is refused with a message naming `key` (and returns the message).
#[track_caller]
fn refused(text: &str, key: &str) -> String {
    match Model::from_toml_str(text) {
        Ok(_) => panic!("accepted a document that should name `{key}`"),
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains(&format!("`{key}`")),
                "the message should name `{key}`: {message}"
            );
            assert!(message.starts_with("model file: "), "{message}");
            message
        }
    }
}

/// Asserts a rule violation (not a TOML error) on exactly `key`.
#[track_caller]
fn invalid(text: &str, key: &str) -> String {
    match Model::from_toml_str(text) {
        Err(ModelError::Invalid { key: got, rule }) => {
            assert_eq!(got, key, "rule: {rule}");
            refused(text, key);
            rule
        }
        other => panic!("expected an invalid `{key}`, got {other:?}"),
    }
}

#[test]
fn the_shipped_default_model_loads() {
    let m = Model::default_model();
    assert_eq!(m.version(), "rules-default-2026.11");
    let again = Model::from_toml_str(DEFAULT_MODEL_TOML).unwrap();
    assert_eq!(again.config(), m.config());
    assert_eq!(m.config().weights.fit, 30.0);
    assert_eq!(m.config().signals.len(), 16);
    // the document survives a round trip through TOML
    let text = toml::to_string(m.config()).unwrap();
    assert_eq!(Model::from_toml_str(&text).unwrap().config(), m.config());
}

#[test]
fn unknown_key_at_the_top_level() {
    let text = default_with(
        "version = \"rules-default-2026.11\"",
        "version = \"v\"\nbogus = 1",
    );
    let message = refused(&text, "bogus");
    assert!(message.contains("unknown field"), "{message}");
    assert!(matches!(
        Model::from_toml_str(&text),
        Err(ModelError::Syntax(_))
    ));
}

#[test]
fn unknown_key_nested() {
    let text = default_with(
        "[signals.pricing_view]\npoints = 10",
        "[signals.pricing_view]\npointz = 10",
    );
    let message = refused(&text, "signals.pricing_view.pointz");
    // toml's own message, with the line, is kept
    assert!(message.contains("line 160"), "{message}");
    refused(
        &default_with(
            "[negatives.student]\npoints = -30",
            "[negatives.student]\npoints = -30\ndisqualified = true",
        ),
        "negatives.student.disqualified",
    );
    refused(&default_with("[actions]", "[actionz]"), "actionz");
}

#[test]
fn wrong_type() {
    refused(&default_with("fit = 30", "fit = \"thirty\""), "weights.fit");
    refused(
        &default_with("cap = 30\nactive = true", "cap = 30\nactive = \"yes\""),
        "signals.pricing_view.active",
    );
    refused(
        &default_with("salesforce = 8,", "salesforce = \"lots\","),
        "fit.tech_stack.points.salesforce",
    );
    refused(
        &default_with("min = 11", "min = -11"),
        "fit.employees[1].min",
    );
    refused(&default_with("hot = [80, 100]", "hot = [80]"), "bands.hot");
    refused(
        &default_with("north_america = [\"US\", \"CA\"]", "north_america = \"US\""),
        "regions.north_america",
    );
}

#[test]
fn a_missing_required_key_is_named() {
    refused(
        &default_with(
            "dimension = \"intent\"\nhalf_life_days = 14\ncap = 30",
            "half_life_days = 14\ncap = 30",
        ),
        "signals.pricing_view",
    );
}

#[test]
fn negative_or_zero_half_life() {
    for value in ["-14", "0"] {
        let text = default_with(
            "dimension = \"intent\"\nhalf_life_days = 14",
            &format!("dimension = \"intent\"\nhalf_life_days = {value}"),
        );
        let rule = invalid(&text, "signals.pricing_view.half_life_days");
        assert!(rule.contains("positive"), "{rule}");
    }
}

#[test]
fn overlapping_bands() {
    let rule = invalid(
        &default_with("warm = [60, 79]", "warm = [60, 80]"),
        "bands.warm",
    );
    assert!(
        rule.contains("overlaps bands.hot at the score 80"),
        "{rule}"
    );
}

#[test]
fn a_gap_in_the_bands() {
    let rule = invalid(&default_with("warm = [60, 79]", "warm = [61, 79]"), "bands");
    assert!(rule.contains("60"), "{rule}");
}

#[test]
fn bands_out_of_order() {
    let text = default_with("hot = [80, 100]", "hot = [0, 19]").replacen(
        "disqualified = [0, 19]",
        "disqualified = [80, 100]",
        1,
    );
    let rule = invalid(&text, "bands.hot");
    assert!(rule.contains("above bands.warm"), "{rule}");
    // a band whose ends are swapped
    invalid(
        &default_with("warm = [60, 79]", "warm = [79, 60]"),
        "bands.warm",
    );
}

#[test]
fn weights_not_adding_to_100() {
    let rule = invalid(&default_with("fit = 30", "fit = 31"), "weights");
    assert!(rule.contains("101"), "{rule}");
}

#[test]
fn negative_weight() {
    let text =
        default_with("fit = 30", "fit = -10").replacen("behaviour = 35", "behaviour = 75", 1);
    invalid(&text, "weights.fit");
}

#[test]
fn unknown_signal_name() {
    let rule = invalid(
        &default_with("[signals.pricing_view]", "[signals.pricing_veiw]"),
        "signals.pricing_veiw",
    );
    assert!(
        rule.contains("pricing_view"),
        "the rule lists the known names: {rule}"
    );
}

#[test]
fn unknown_seniority_key() {
    let message = refused(
        &default_with("c_level = 40", "chief = 40"),
        "stakeholder.seniority.chief",
    );
    assert!(
        message.contains("c_level"),
        "lists the known keys: {message}"
    );
    refused(
        &default_with("decision_maker = 30", "signer = 30"),
        "stakeholder.authority.signer",
    );
}

#[test]
fn points_out_of_range() {
    invalid(
        &default_with("software = 30", "software = 150"),
        "fit.industry.software",
    );
    invalid(
        &default_with(
            "points = 30\ndimension = \"intent\"",
            "points = 101\ndimension = \"intent\"",
        ),
        "signals.demo_request.points",
    );
    invalid(
        &default_with("points = 5\n", "points = -101\n"),
        "fit.employees[0].points",
    );
    invalid(
        &default_with("c_level = 40", "c_level = 100.5"),
        "stakeholder.seniority.c_level",
    );
    invalid(
        &default_with("cap = 15\n", "cap = 0\n"),
        "fit.tech_stack.cap",
    );
    invalid(
        &default_with(
            "half_life_days = 7\ncap = 10",
            "half_life_days = 7\ncap = 500",
        ),
        "signals.page_view.cap",
    );
}

#[test]
fn positive_points_on_a_negative_signal() {
    let rule = invalid(
        &default_with(
            "[negatives.student]\npoints = -30",
            "[negatives.student]\npoints = 5",
        ),
        "negatives.student.points",
    );
    assert!(rule.contains("positive"), "{rule}");
    // and a negative that does nothing at all
    invalid(
        &default_with(
            "[negatives.consultant]\npoints = -10",
            "[negatives.consultant]\npoints = 0",
        ),
        "negatives.consultant",
    );
}

#[test]
fn overlapping_employee_ranges() {
    let rule = invalid(&default_with("min = 11", "min = 10"), "fit.employees[1]");
    assert!(rule.contains("overlaps fit.employees[0]"), "{rule}");
    // min above max
    invalid(
        &default_with("min = 11\nmax = 50", "min = 60\nmax = 50"),
        "fit.employees[1]",
    );
}

#[test]
fn bad_region_country_code() {
    invalid(
        &default_with("anz = [\"AU\", \"NZ\"]", "anz = [\"AU\", \"New Zealand\"]"),
        "regions.anz[1]",
    );
    invalid(
        &default_with("anz = [\"AU\", \"NZ\"]", "anz = []"),
        "regions.anz",
    );
}

#[test]
fn country_key_that_is_neither_a_code_nor_a_region() {
    let rule = invalid(
        &default_with("anz = 12\n", "anz = 12\natlantis = 3\n"),
        "fit.country.atlantis",
    );
    assert!(rule.contains("[regions]"), "{rule}");
}

#[test]
fn per_minute_on_a_non_session_signal() {
    invalid(
        &default_with(
            "[signals.pricing_view]\npoints = 10",
            "[signals.pricing_view]\nper = \"minute\"\npoints = 10",
        ),
        "signals.pricing_view.per",
    );
}

#[test]
fn good_fit_above_strong_fit() {
    invalid(
        &default_with("good_fit = 45", "good_fit = 80"),
        "actions.good_fit",
    );
    invalid(
        &default_with("moderate_intent = 15", "moderate_intent = 50"),
        "actions.moderate_intent",
    );
    invalid(
        &default_with("strong_fit = 70", "strong_fit = 170"),
        "actions.strong_fit",
    );
}

#[test]
fn empty_competitor_domains() {
    invalid(
        &default_with("domains = [\"competitor.example\"]", "domains = []"),
        "negatives.competitor.domains",
    );
    invalid(
        &default_with(
            "domains = [\"competitor.example\"]",
            "domains = [\"sam@rival.example\"]",
        ),
        "negatives.competitor.domains[0]",
    );
}

#[test]
fn a_signal_must_feed_behaviour_or_intent() {
    invalid(
        &default_with(
            "points = 10\ndimension = \"intent\"",
            "points = 10\ndimension = \"fit\"",
        ),
        "signals.pricing_view.dimension",
    );
}

#[test]
fn an_empty_version_is_refused() {
    invalid(
        &default_with("version = \"rules-default-2026.11\"", "version = \" \""),
        "version",
    );
}

//! Fit and stakeholder rules: text tables (with `other`, case-insensitive), regions and the
//! person-country fallback, employee ranges, the capped tech stack and the enum tables.

mod common;

use common::*;
use leadq_scoring::{Authority, Company, Dimension, JobFunction, Lead, Person, Seniority};

fn with_company(company: Company) -> Lead {
    Lead { company, ..lead() }
}

fn industry(value: Option<&str>) -> Lead {
    with_company(Company {
        industry: value.map(String::from),
        ..Company::default()
    })
}

const INDUSTRY: &str = r#"
[fit.industry]
software = 30
"Financial Services" = 25
other = 8
"#;

#[test]
fn text_table_matches_listed_values_ignoring_case_and_spaces() {
    let m = model(FIT_ONLY, INDUSTRY);
    for value in ["software", "SOFTWARE", "  Software "] {
        let c = card(&industry(Some(value)), &[], &m);
        assert_eq!(c.scores.fit, 30.0, "{value}");
        assert_eq!(c.composite, 30, "{value}");
        let r = must_reason(&c, "industry = software");
        assert_eq!(
            (r.dimension, r.points, r.composite_points),
            (Dimension::Fit, 30.0, 30.0)
        );
        assert_eq!(c.reasons.len(), 1);
    }
    // a key written with capitals matches a lower-case value; the label keeps the key as written
    let c = card(&industry(Some("financial services")), &[], &m);
    assert_eq!(c.scores.fit, 25.0);
    must_reason(&c, "industry = Financial Services");
}

#[test]
fn text_table_other_scores_a_known_unlisted_value() {
    let m = model(FIT_ONLY, INDUSTRY);
    let c = card(&industry(Some("mining")), &[], &m);
    assert_eq!(c.scores.fit, 8.0);
    assert_eq!(must_reason(&c, "industry = other (not listed)").points, 8.0);
}

#[test]
fn text_table_without_other_scores_an_unlisted_value_nothing() {
    let m = model(FIT_ONLY, "[fit.industry]\nsoftware = 30\n");
    let c = card(&industry(Some("mining")), &[], &m);
    assert_eq!(c.scores.fit, 0.0);
    assert!(c.reasons.is_empty(), "{:?}", c.reasons);
}

#[test]
fn text_table_unknown_or_blank_value_scores_nothing() {
    let m = model(FIT_ONLY, INDUSTRY);
    for value in [None, Some(""), Some("   ")] {
        let c = card(&industry(value), &[], &m);
        assert_eq!(c.scores.fit, 0.0, "{value:?}");
        // `other` is for known values only
        assert!(c.reasons.is_empty(), "{value:?}: {:?}", c.reasons);
    }
}

#[test]
fn revenue_band_and_business_model_read_their_own_fields() {
    let m = model(
        FIT_ONLY,
        "[fit.revenue_band]\n\"10m-50m\" = 12\n[fit.business_model]\nB2B = 10\nother = 1\n",
    );
    let c = card(
        &with_company(Company {
            revenue_band: Some("10M-50M".into()),
            business_model: Some("b2b".into()),
            ..Company::default()
        }),
        &[],
        &m,
    );
    // 12 + 10
    assert_eq!(c.scores.fit, 22.0);
    must_reason(&c, "revenue_band = 10m-50m");
    must_reason(&c, "business_model = B2B");
    let c = card(
        &with_company(Company {
            business_model: Some("b2c".into()),
            ..Company::default()
        }),
        &[],
        &m,
    );
    assert_eq!(c.scores.fit, 1.0);
    must_reason(&c, "business_model = other (not listed)");
}

const COUNTRY: &str = r#"
[regions]
north_america = ["US", "CA"]
europe = ["DE", "fr", "GB"]
[fit.country]
north_america = 20
europe = 15
GB = 17
other = 5
"#;

fn countries(company: Option<&str>, person: Option<&str>) -> Lead {
    Lead {
        company: Company {
            country: company.map(String::from),
            ..Company::default()
        },
        person: Person {
            country: person.map(String::from),
            ..Person::default()
        },
        ..lead()
    }
}

#[test]
fn country_region_keys_match_member_codes_ignoring_case() {
    let m = model(FIT_ONLY, COUNTRY);
    for (code, points, label) in [
        ("US", 20.0, "country in north_america"),
        ("ca", 20.0, "country in north_america"),
        ("FR", 15.0, "country in europe"),
        ("de", 15.0, "country in europe"),
        ("JP", 5.0, "country = other (not listed)"),
    ] {
        let c = card(&countries(Some(code), None), &[], &m);
        assert_eq!(c.scores.fit, points, "{code}");
        assert_eq!(must_reason(&c, label).points, points, "{code}");
        assert_eq!(c.reasons.len(), 1, "{code}");
    }
}

#[test]
fn country_code_key_wins_over_a_region_holding_it() {
    let m = model(FIT_ONLY, COUNTRY);
    // GB is in europe (15) and has its own key (17): the code is more specific
    let c = card(&countries(Some("gb"), None), &[], &m);
    assert_eq!(c.scores.fit, 17.0);
    must_reason(&c, "country = GB");
}

#[test]
fn country_falls_back_to_the_person_country() {
    let m = model(FIT_ONLY, COUNTRY);
    assert_eq!(card(&countries(None, Some("CA")), &[], &m).scores.fit, 20.0);
    // the company's country wins when both are known
    assert_eq!(
        card(&countries(Some("DE"), Some("US")), &[], &m).scores.fit,
        15.0
    );
    // a blank company country is unknown, so the person's country is used
    assert_eq!(
        card(&countries(Some(" "), Some("US")), &[], &m).scores.fit,
        20.0
    );
    // neither known: nothing scored, not even `other`
    let c = card(&countries(None, None), &[], &m);
    assert_eq!(c.scores.fit, 0.0);
    assert!(c.reasons.is_empty());
}

const EMPLOYEES: &str = r#"
[[fit.employees]]
min = 201
points = 30
[[fit.employees]]
min = 1
max = 10
points = 5
[[fit.employees]]
min = 11
max = 50
points = 15
"#;

#[test]
fn employee_ranges_are_inclusive_and_the_open_range_is_unbounded() {
    let m = model(FIT_ONLY, EMPLOYEES);
    for (n, points, label) in [
        (1, 5.0, Some("employees 1-10")),
        (10, 5.0, Some("employees 1-10")),
        (11, 15.0, Some("employees 11-50")),
        (50, 15.0, Some("employees 11-50")),
        (51, 0.0, None),  // between ranges: known, scores nothing
        (200, 0.0, None), // ditto
        (0, 0.0, None),   // below every range
        (201, 30.0, Some("employees 201+")),
        (u32::MAX, 30.0, Some("employees 201+")),
    ] {
        let c = card(
            &with_company(Company {
                employees: Some(n),
                ..Company::default()
            }),
            &[],
            &m,
        );
        assert_eq!(c.scores.fit, points, "{n}");
        match label {
            Some(label) => assert_eq!(must_reason(&c, label).points, points, "{n}"),
            None => assert!(c.reasons.is_empty(), "{n}: {:?}", c.reasons),
        }
    }
}

const TECH: &str = r#"
[fit.tech_stack]
cap = 15
points = { salesforce = 8, hubspot = 8, segment = 5, legacy = -4 }
"#;

fn stack(items: &[&str]) -> Lead {
    with_company(Company {
        tech_stack: Some(items.iter().map(|s| s.to_string()).collect()),
        ..Company::default()
    })
}

#[test]
fn tech_stack_sums_each_listed_technology_once() {
    let m = model(FIT_ONLY, TECH);
    let c = card(&stack(&["Salesforce", "segment", "kafka"]), &[], &m);
    // 8 + 5; kafka is not listed
    assert_eq!(c.scores.fit, 13.0);
    assert_eq!(must_reason(&c, "tech_stack has salesforce").points, 8.0);
    assert_eq!(must_reason(&c, "tech_stack has segment").points, 5.0);
    assert_eq!(c.reasons.len(), 2);
    // a technology listed twice (and padded) still counts once
    let c = card(&stack(&["salesforce", " SALESFORCE "]), &[], &m);
    assert_eq!(c.scores.fit, 8.0);
}

#[test]
fn tech_stack_is_capped_with_a_reason_for_the_cap() {
    let m = model(FIT_ONLY, TECH);
    let c = card(&stack(&["salesforce", "hubspot", "segment"]), &[], &m);
    // 8 + 8 + 5 = 21, capped at 15: the cap takes 6
    assert_eq!(c.scores.fit, 15.0);
    assert_eq!(c.composite, 15);
    assert_eq!(must_reason(&c, "tech_stack capped").points, -6.0);
    assert_eq!(must_reason(&c, "tech_stack capped").composite_points, -6.0);
    close(reason_sum(&c, Dimension::Fit), 15.0);
    // at the cap exactly there is no cap reason: 8 + 8 - 4 = 12 is below it
    let c = card(&stack(&["salesforce", "hubspot", "legacy"]), &[], &m);
    assert_eq!(c.scores.fit, 12.0);
    assert!(reason(&c, "tech_stack capped").is_none());
}

#[test]
fn tech_stack_negative_points_and_unknown_versus_empty() {
    let m = model(FIT_ONLY, TECH);
    // -4 alone: the fit dimension is floored at 0, and the floor is a reason
    let c = card(&stack(&["legacy"]), &[], &m);
    assert_eq!(c.scores.fit, 0.0);
    assert_eq!(must_reason(&c, "tech_stack has legacy").points, -4.0);
    assert_eq!(must_reason(&c, "fit floored at 0").points, 4.0);
    close(reason_sum(&c, Dimension::Fit), 0.0);
    // an empty stack is known: no reasons, nothing missing
    let c = card(&stack(&[]), &[], &m);
    assert!(c.reasons.is_empty());
    assert!(c.missing.is_empty());
}

const STAKEHOLDER: &str = r#"
[stakeholder.seniority]
c_level = 40
manager = 22
[stakeholder.function]
sales = 30
[stakeholder.authority]
decision_maker = 30
user = 8
"#;

fn person(
    seniority: Option<Seniority>,
    function: Option<JobFunction>,
    authority: Option<Authority>,
) -> Lead {
    Lead {
        person: Person {
            seniority,
            function,
            authority,
            ..Person::default()
        },
        ..lead()
    }
}

#[test]
fn enum_tables_score_seniority_function_and_authority() {
    let m = model(STAKEHOLDER_ONLY, STAKEHOLDER);
    let c = card(
        &person(
            Some(Seniority::CLevel),
            Some(JobFunction::Sales),
            Some(Authority::DecisionMaker),
        ),
        &[],
        &m,
    );
    // 40 + 30 + 30
    assert_eq!(c.scores.stakeholder, 100.0);
    assert_eq!(c.composite, 100);
    for (label, points) in [
        ("seniority = c_level", 40.0),
        ("function = sales", 30.0),
        ("authority = decision_maker", 30.0),
    ] {
        let r = must_reason(&c, label);
        assert_eq!((r.dimension, r.points), (Dimension::Stakeholder, points));
    }

    let c = card(
        &person(
            Some(Seniority::Manager),
            Some(JobFunction::Marketing),
            Some(Authority::User),
        ),
        &[],
        &m,
    );
    // 22 + (marketing not listed: 0) + 8
    assert_eq!(c.scores.stakeholder, 30.0);
    assert_eq!(c.reasons.len(), 2);
    assert!(reason(&c, "function = marketing").is_none());

    // nothing known
    let c = card(&person(None, None, None), &[], &m);
    assert_eq!(c.scores.stakeholder, 0.0);
    assert!(c.reasons.is_empty());
}

#[test]
fn a_dimension_above_100_is_capped_with_a_reason() {
    let m = model(
        STAKEHOLDER_ONLY,
        "[stakeholder.seniority]\nc_level = 50\n[stakeholder.function]\nsales = 30\n\
         [stakeholder.authority]\ndecision_maker = 30\n",
    );
    let c = card(
        &person(
            Some(Seniority::CLevel),
            Some(JobFunction::Sales),
            Some(Authority::DecisionMaker),
        ),
        &[],
        &m,
    );
    // 50 + 30 + 30 = 110, capped at 100
    assert_eq!(c.scores.stakeholder, 100.0);
    assert_eq!(must_reason(&c, "stakeholder capped at 100").points, -10.0);
    close(reason_sum(&c, Dimension::Stakeholder), 100.0);
    assert_eq!(c.composite, 100);
}

#[test]
fn weights_turn_dimension_points_into_composite_points() {
    let m = model(
        [30.0, 20.0, 35.0, 15.0],
        "[fit.industry]\nsoftware = 30\n[stakeholder.seniority]\nvp = 50\n",
    );
    let c = card(
        &Lead {
            company: Company {
                industry: Some("software".into()),
                ..Company::default()
            },
            person: Person {
                seniority: Some(Seniority::Vp),
                ..Person::default()
            },
            ..lead()
        },
        &[],
        &m,
    );
    // 30 x 30% = 9, 50 x 20% = 10: composite 19
    close(must_reason(&c, "industry = software").composite_points, 9.0);
    close(must_reason(&c, "seniority = vp").composite_points, 10.0);
    close(c.composite_exact(), 19.0);
    assert_eq!(c.composite, 19);
}

#[test]
fn a_country_in_two_regions_scores_the_first_region_listed() {
    // table keys are read in order (alphabetical): `dach` before `europe`
    let m = model(
        FIT_ONLY,
        "[regions]\ndach = [\"DE\", \"AT\"]\neurope = [\"de\", \"FR\"]\n\
         [fit.country]\neurope = 15\ndach = 18\n",
    );
    let c = card(&countries(Some("De"), None), &[], &m);
    assert_eq!(c.scores.fit, 18.0);
    must_reason(&c, "country in dach");
    assert_eq!(card(&countries(Some("fr"), None), &[], &m).scores.fit, 15.0);
}

#[test]
fn a_long_text_table_finds_each_key_and_nothing_else() {
    // enough keys that many share a slot of the lookup table
    let keys: Vec<String> = (0..300).map(|i| format!("Industry {i}")).collect();
    let table: String = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("\"{k}\" = {}\n", i % 50))
        .collect();
    let m = model(FIT_ONLY, &format!("[fit.industry]\n{table}other = 60\n"));
    for (i, key) in keys.iter().enumerate() {
        let upper = key.to_uppercase();
        let c = card(&industry(Some(&upper)), &[], &m);
        assert_eq!(c.scores.fit, (i % 50) as f64, "{key}");
        assert!(i % 50 == 0 || reason(&c, &format!("industry = {key}")).is_some());
    }
    for unlisted in [
        "Industry 300",
        "Industry",
        "industry 1x",
        "ndustry 1",
        "Industry 01",
    ] {
        let c = card(&industry(Some(unlisted)), &[], &m);
        assert_eq!(c.scores.fit, 60.0, "{unlisted:?}");
    }
}

#[test]
fn tech_stack_keys_equal_but_for_case_each_count() {
    let m = model(
        FIT_ONLY,
        "[fit.tech_stack]\ncap = 50\npoints = { AWS = 3, aws = 4, gcp = 2 }\n",
    );
    let c = card(&stack(&["Aws", "GCP"]), &[], &m);
    assert_eq!(c.scores.fit, 9.0);
    must_reason(&c, "tech_stack has AWS");
    must_reason(&c, "tech_stack has aws");
}

#[test]
fn tech_stack_with_more_than_64_keys_scores_every_listed_technology() {
    let points: Vec<String> = (0..70).map(|i| format!("t{i} = 1")).collect();
    let m = model(
        FIT_ONLY,
        &format!(
            "[fit.tech_stack]\ncap = 100\npoints = {{ {} }}\n",
            points.join(", ")
        ),
    );
    let c = card(&stack(&["t0", "T69", "t64", "t70", "t64"]), &[], &m);
    assert_eq!(c.scores.fit, 3.0);
    must_reason(&c, "tech_stack has t69");
}

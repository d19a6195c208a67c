//! The demo's generated history: companies, reps, leads with their behaviour over 60 days
//! and the outcomes of the older ones. Deterministic: the same seed, lead count and end
//! time give the same world, on any machine (the generator is the scoring crate's
//! SplitMix64, not a dependency's, so a dependency update cannot change it).

use chrono::{DateTime, Duration, Utc};
use leadq_pipeline::stages::CompanyFacts;
use leadq_scoring::dataset::SplitMix64;
use serde_json::{Value, json};

/// Days of history replayed, ending at the demo's "now".
pub const DAYS: i64 = 60;
/// Leads younger than this have no outcome yet.
const MIN_AGE_FOR_OUTCOME_DAYS: i64 = 10;
/// The competitor domain of the shipped model (`negatives.competitor`).
const COMPETITOR_DOMAIN: &str = "competitor.example";

/// The demo's random choices, on the scoring crate's SplitMix64 (fixed by its seed, so a
/// dependency update cannot change the history).
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0.next_f64()
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty list.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One element of a non-empty list of (item, weight).
    pub fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut roll = self.below(total as usize) as u32;
        for (item, weight) in items {
            if roll < *weight {
                return item;
            }
            roll -= weight;
        }
        &items[items.len() - 1].0
    }
}

/// A company of the directory, with how well it fits the shipped model's ideal customer.
#[derive(Debug, Clone)]
pub struct Company {
    /// The directory entry.
    pub facts: CompanyFacts,
    /// 0..1: how close to the ideal customer profile (drives interest and wins).
    pub fit: f64,
}

/// A person's role, as the form gives it and as the truth behind the outcomes sees it.
#[derive(Debug, Clone, Copy)]
struct Role {
    title: &'static str,
    /// 0..1: buying power (drives wins).
    power: f64,
    kind: RoleKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoleKind {
    Buyer,
    Student,
    JobSeeker,
    Consultant,
}

/// One generated lead: its form, its events and its outcome.
#[derive(Debug, Clone)]
pub struct DemoLead {
    /// The person's email: how events and outcomes name the lead.
    pub email: String,
    /// When the form was submitted.
    pub created_at: DateTime<Utc>,
    /// The form's JSON body (generic form fields).
    pub form: Value,
    /// Behavioural events: (time, event JSON without the lead reference).
    pub events: Vec<(DateTime<Utc>, Value)>,
    /// Won or lost, and when, for leads whose deal closed before "now".
    pub outcome: Option<(bool, DateTime<Utc>, Option<u32>)>,
}

/// The whole generated history.
#[derive(Debug, Clone)]
pub struct World {
    /// The company directory.
    pub companies: Vec<Company>,
    /// The leads, in order of their forms.
    pub leads: Vec<DemoLead>,
}

const SYLLABLES: [&str; 24] = [
    "ac", "bri", "cor", "del", "en", "fal", "gra", "hel", "io", "jun", "kel", "lum", "mar", "nor",
    "opti", "pra", "quan", "ro", "sol", "tera", "ul", "vec", "wen", "zen",
];
const SUFFIXES: [&str; 12] = [
    "Labs",
    "Systems",
    "Analytics",
    "Cloud",
    "Health",
    "Works",
    "Logistics",
    "Bank",
    "Retail",
    "Partners",
    "Robotics",
    "Data",
];
const TLDS: [&str; 5] = ["io", "com", "co", "dev", "net"];
const FIRST_NAMES: [&str; 40] = [
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Noor", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Victor",
    "Wen", "Xavier", "Yara", "Zoe", "Aiko", "Bruno", "Carmen", "Dmitri", "Esther", "Felix", "Gita",
    "Hugo", "Isla", "Jamal", "Kira", "Luca", "Mina", "Nils",
];
const LAST_NAMES: [&str; 40] = [
    "Adler",
    "Baptiste",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quispe",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Usman",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
    "Alvarez",
    "Brandt",
    "Costa",
    "Dalton",
    "Engel",
    "Ferreira",
    "Gupta",
    "Horvat",
    "Ivanova",
    "Jovanovic",
    "Kim",
    "Lindqvist",
    "Mendes",
    "Novak",
];
const FREE_MAIL: [&str; 4] = ["gmail.com", "outlook.com", "yahoo.com", "proton.me"];

/// (industry, weight, fit 0..1 under the shipped model)
const INDUSTRIES: [(&str, u32, f64); 10] = [
    ("software", 26, 1.0),
    ("fintech", 10, 0.85),
    ("financial services", 8, 0.85),
    ("internet", 8, 0.8),
    ("healthcare", 10, 0.6),
    ("manufacturing", 10, 0.5),
    ("retail", 10, 0.4),
    ("professional services", 8, 0.35),
    ("education", 6, 0.15),
    ("nonprofit", 4, 0.0),
];
/// (country, weight, fit 0..1)
const COUNTRIES: [(&str, u32, f64); 12] = [
    ("US", 30, 1.0),
    ("CA", 6, 1.0),
    ("GB", 12, 0.75),
    ("DE", 10, 0.75),
    ("FR", 6, 0.75),
    ("NL", 5, 0.75),
    ("SE", 4, 0.75),
    ("ES", 4, 0.75),
    ("AU", 5, 0.6),
    ("IN", 8, 0.25),
    ("BR", 6, 0.25),
    ("SG", 4, 0.25),
];
const TECH: [&str; 9] = [
    "salesforce",
    "hubspot",
    "segment",
    "snowflake",
    "aws",
    "shopify",
    "zendesk",
    "marketo",
    "gcp",
];

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `count` companies with firmographics spread over the model's fit range.
fn companies(rng: &mut Rng, count: usize) -> Vec<Company> {
    let mut out: Vec<Company> = Vec::with_capacity(count);
    let mut taken = std::collections::BTreeSet::new();
    while out.len() < count {
        let stem = format!("{}{}", rng.pick(&SYLLABLES), rng.pick(&SYLLABLES));
        let suffix = *rng.pick(&SUFFIXES);
        let domain = format!(
            "{stem}{}.{}",
            suffix.to_lowercase().chars().take(4).collect::<String>(),
            rng.pick(&TLDS)
        );
        if !taken.insert(domain.clone()) {
            continue;
        }
        let industry_weights: Vec<((&str, f64), u32)> = INDUSTRIES
            .iter()
            .map(|(name, weight, fit)| ((*name, *fit), *weight))
            .collect();
        let (industry, industry_fit) = *rng.weighted(&industry_weights);
        let country_weights: Vec<((&str, f64), u32)> = COUNTRIES
            .iter()
            .map(|(code, weight, fit)| ((*code, *fit), *weight))
            .collect();
        let (country, country_fit) = *rng.weighted(&country_weights);
        // employees log-uniform over 3..20,000
        let employees = (3.0_f64 * (20_000.0_f64 / 3.0).powf(rng.unit())).round() as u32;
        let size_fit = match employees {
            0..=10 => 0.15,
            11..=50 => 0.5,
            51..=200 => 0.85,
            201..=1000 => 1.0,
            1001..=5000 => 0.85,
            _ => 0.5,
        };
        let revenue_band = match employees {
            0..=20 => "<1m",
            21..=100 => "1m-10m",
            101..=400 => "10m-50m",
            401..=2000 => "50m-250m",
            2001..=8000 => "250m-1b",
            _ => "1b+",
        };
        let mut tech: Vec<String> = TECH
            .iter()
            .filter(|_| rng.chance(0.3))
            .map(|t| (*t).to_string())
            .collect();
        tech.sort();
        let business_model = if rng.chance(0.75) { "b2b" } else { "b2c" };
        let fit = 0.35 * industry_fit
            + 0.25 * size_fit
            + 0.2 * country_fit
            + 0.1 * f64::from(u8::from(business_model == "b2b"))
            + 0.1 * (tech.len().min(3) as f64 / 3.0);
        // a quarter of the directory leaves a fact unknown, as real directories do
        let known = |rng: &mut Rng| !rng.chance(0.08);
        out.push(Company {
            facts: CompanyFacts {
                domain,
                name: Some(format!("{} {suffix}", capitalise(&stem))),
                industry: known(rng).then(|| industry.to_string()),
                employees: known(rng).then_some(employees),
                revenue_band: known(rng).then(|| revenue_band.to_string()),
                country: Some(country.to_string()),
                tech_stack: known(rng).then_some(tech),
                business_model: known(rng).then(|| business_model.to_string()),
            },
            fit,
        });
    }
    out
}

const ROLES: [(Role, u32); 22] = [
    (role("Founder & CEO", 1.0), 3),
    (role("Chief Revenue Officer", 1.0), 2),
    (role("CTO", 0.9), 3),
    (role("VP Marketing", 0.9), 4),
    (role("VP Sales", 0.9), 4),
    (role("VP Engineering", 0.75), 2),
    (role("Head of Growth", 0.8), 5),
    (role("Director of Marketing", 0.75), 6),
    (role("Director, Sales Operations", 0.75), 5),
    (role("Marketing Manager", 0.55), 10),
    (role("Sales Manager", 0.55), 8),
    (role("Product Manager", 0.45), 7),
    (role("Software Engineer", 0.25), 8),
    (role("Marketing Specialist", 0.3), 7),
    (role("Data Analyst", 0.25), 6),
    (role("Account Executive", 0.35), 5),
    (role("Customer Support Agent", 0.1), 3),
    (role("HR Coordinator", 0.1), 2),
    (
        Role {
            title: "Student",
            power: 0.0,
            kind: RoleKind::Student,
        },
        4,
    ),
    (
        Role {
            title: "Looking for new opportunities",
            power: 0.0,
            kind: RoleKind::JobSeeker,
        },
        2,
    ),
    (
        Role {
            title: "Independent Consultant",
            power: 0.1,
            kind: RoleKind::Consultant,
        },
        3,
    ),
    (role("", 0.4), 4),
];

const fn role(title: &'static str, power: f64) -> Role {
    Role {
        title,
        power,
        kind: RoleKind::Buyer,
    }
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Generates the world: `companies` directory entries and `leads` leads whose forms fall in
/// the `DAYS` days before `now`.
pub fn generate(seed: u64, company_count: usize, lead_count: usize, now: DateTime<Utc>) -> World {
    let mut rng = Rng::new(seed);
    let companies = companies(&mut rng, company_count);
    let start = now - Duration::days(DAYS);
    let mut emails = std::collections::BTreeSet::new();
    let mut names = std::collections::BTreeSet::new();
    let mut leads = Vec::with_capacity(lead_count);
    for i in 0..lead_count {
        // forms spread over the period, in working hours of the day they fall on
        let day = (i as i64 * DAYS) / lead_count as i64;
        let minutes = 8 * 60 + rng.below(12 * 60) as i64;
        let mut created_at =
            start + Duration::days(day) + Duration::minutes(minutes) - Duration::hours(12);
        if created_at >= now {
            created_at = now - Duration::minutes(30 + rng.below(300) as i64);
        }
        leads.push(lead(
            &mut rng,
            &companies,
            &mut emails,
            &mut names,
            created_at,
            now,
        ));
    }
    leads.sort_by_key(|lead| lead.created_at);
    // closing times all distinct (i ms after a whole minute): training orders outcomes by
    // closing time, and a tie would fall back on the leads' random ids
    for (i, lead) in leads.iter_mut().enumerate() {
        if let Some((_, closed_at, _)) = &mut lead.outcome {
            *closed_at += Duration::milliseconds(i as i64);
        }
    }
    World { companies, leads }
}

fn lead(
    rng: &mut Rng,
    companies: &[Company],
    emails: &mut std::collections::BTreeSet<String>,
    names: &mut std::collections::BTreeSet<(&'static str, &'static str)>,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DemoLead {
    let role = *rng.weighted(&ROLES);
    // one person per name, so the queue and the dashboard never show two of the same
    let (first, last) = loop {
        let (first, last) = (*rng.pick(&FIRST_NAMES), *rng.pick(&LAST_NAMES));
        if names.insert((first, last)) || names.len() >= FIRST_NAMES.len() * LAST_NAMES.len() {
            break (first, last);
        }
    };
    let name = format!("{first} {last}");
    // a few companies from outside the directory: enrichment cannot know them
    let known_company = !rng.chance(0.08);
    let company = rng.pick(companies).clone();
    let (domain, company_name, fit) = if known_company {
        (
            company.facts.domain.clone(),
            company.facts.name.clone(),
            company.fit,
        )
    } else {
        let stem = format!("{}{}", rng.pick(&SYLLABLES), rng.pick(&SYLLABLES));
        (
            format!("{stem}-group.com"),
            Some(format!("{} Group", capitalise(&stem))),
            0.5,
        )
    };
    let local = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
    let mail_domain = match role.kind {
        RoleKind::Student => "student.uni.example".to_string(),
        RoleKind::JobSeeker | RoleKind::Consultant => (*rng.pick(&FREE_MAIL)).to_string(),
        RoleKind::Buyer if rng.chance(0.02) => COMPETITOR_DOMAIN.to_string(),
        RoleKind::Buyer if rng.chance(0.14) => (*rng.pick(&FREE_MAIL)).to_string(),
        RoleKind::Buyer => domain.clone(),
    };
    let mut email = format!("{local}@{mail_domain}");
    let mut n = 2;
    while !emails.insert(email.clone()) {
        email = format!("{local}{n}@{mail_domain}");
        n += 1;
    }

    let mut form = serde_json::Map::new();
    form.insert("email".into(), json!(email));
    form.insert("name".into(), json!(name));
    if !role.title.is_empty() {
        form.insert("job_title".into(), json!(role.title));
    }
    let types_company = role.kind == RoleKind::Buyer && rng.chance(0.9);
    if types_company {
        if let Some(company_name) = &company_name {
            form.insert("company".into(), json!(company_name));
        }
        form.insert("website".into(), json!(format!("https://www.{domain}/")));
    }
    form.insert("gdpr_consent".into(), json!(rng.chance(0.85)));
    let (utm_source, utm_medium) = *rng.pick(&[
        ("google", "cpc"),
        ("linkedin", "paid_social"),
        ("newsletter", "email"),
        ("direct", "none"),
        ("g2", "referral"),
    ]);
    form.insert("utm_source".into(), json!(utm_source));
    form.insert("utm_medium".into(), json!(utm_medium));
    form.insert(
        "page".into(),
        json!(*rng.pick(&["/pricing", "/demo", "/ebook/lead-scoring", "/contact"])),
    );

    // interest: most leads are lukewarm; good-fit buyers lean keener
    let base = rng.unit();
    let interest = match role.kind {
        RoleKind::Buyer => (0.65 * base * base + 0.35 * fit * rng.unit()).min(1.0),
        _ => 0.5 * base * base,
    };
    let events = events(rng, created_at, now, interest);

    // the truth behind the outcomes: fit, buying power and interest, plus luck
    let age = now - created_at;
    let worked = age >= Duration::days(MIN_AGE_FOR_OUTCOME_DAYS)
        && rng.chance(0.5 + 0.5 * interest.max(role.power * 0.5));
    // what the rules do not know and training can learn: healthcare buys more and retail
    // less than their fit points say, and a trial is a stronger sign than its points
    let industry = company.facts.industry.as_deref().filter(|_| known_company);
    let healthcare = industry == Some("healthcare");
    let retail = industry == Some("retail");
    let trial = events.iter().any(|(_, e)| e["kind"] == "trial_signup");
    let outcome = worked.then(|| {
        let buyer = f64::from(u8::from(role.kind == RoleKind::Buyer));
        let odds = -5.4
            + 2.4 * fit
            + 1.8 * role.power
            + 2.6 * interest
            + 0.8 * buyer
            + if healthcare { 2.5 } else { 0.0 }
            - if retail { 2.0 } else { 0.0 }
            + if trial { 2.0 } else { 0.0 }
            - if mail_domain == COMPETITOR_DOMAIN {
                3.0
            } else {
                0.0
            };
        let won = rng.chance(logistic(odds));
        let closed_at = created_at + Duration::hours(24 * 5 + rng.below(24 * 25) as i64);
        let amount = won.then(|| 6_000 + 1_000 * rng.below(60) as u32);
        (won, closed_at, amount)
    });
    let outcome = outcome.filter(|(_, closed_at, _)| *closed_at < now);
    let events = match outcome {
        // nobody browses the pricing page after the deal closed, in this demo
        Some((_, closed_at, _)) => events
            .into_iter()
            .filter(|(at, _)| *at < closed_at)
            .collect(),
        None => events,
    };
    DemoLead {
        email,
        created_at,
        form: Value::Object(form),
        events,
        outcome,
    }
}

/// The lead's behaviour from its form to `now` (at most 45 days of it): active days,
/// each with a session and page views, and the buying signals an interested lead shows.
fn events(
    rng: &mut Rng,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
    interest: f64,
) -> Vec<(DateTime<Utc>, Value)> {
    let end = now.min(created_at + Duration::days(45));
    let span_minutes = (end - created_at).num_minutes().max(1);
    let active_days = 1 + (interest * 9.0 * rng.unit()).round() as usize;
    let mut out = Vec::new();
    for _ in 0..active_days {
        let at = created_at + Duration::minutes(rng.below(span_minutes as usize) as i64);
        let at = at.min(end);
        let minutes = 1 + rng.below(3 + (interest * 20.0) as usize);
        out.push((at, json!({"kind": "session", "minutes": minutes})));
        for p in 0..1 + rng.below(4) {
            let page = *rng.pick(&["/blog/scoring-101", "/features", "/integrations", "/about"]);
            out.push((
                at + Duration::minutes(p as i64),
                json!({"kind": "page_view", "properties": {"page": page}}),
            ));
        }
        let signals: [(&str, f64); 8] = [
            ("pricing_view", 0.7 * interest),
            ("case_study_view", 0.5 * interest),
            ("content_download", 0.3 * interest),
            ("demo_page_view", 0.45 * interest * interest),
            ("webinar", 0.12 * interest),
            ("email_open", 0.5),
            ("email_click", 0.35 * interest),
            ("demo_request", 0.25 * interest * interest * interest),
        ];
        for (offset, (kind, p)) in signals.iter().enumerate() {
            if rng.chance(*p) {
                out.push((
                    at + Duration::minutes(5 + offset as i64),
                    json!({"kind": kind}),
                ));
            }
        }
        if rng.chance(0.06 * (1.0 - interest)) {
            out.push((at + Duration::minutes(20), json!({"kind": "unsubscribe"})));
        }
    }
    if rng.chance(0.15 * interest) {
        let at = created_at + Duration::minutes(rng.below(span_minutes as usize) as i64);
        out.push((at.min(end), json!({"kind": "trial_signup"})));
    }
    out.retain(|(at, _)| *at <= end);
    out.sort_by_key(|(at, _)| *at);
    out
}

/// The routing of the demo: two territories with their reps, and the fallback queue.
pub const ROUTING_TOML: &str = r#"
# The demo's routing (written by `leadq demo` beside its database).
fallback_queue = "unassigned"

[regions]
emea = ["GB", "IE", "DE", "AT", "CH", "FR", "NL", "BE", "ES", "IT", "SE", "DK", "NO", "FI", "PL"]
na = ["US", "CA"]

[[teams]]
name = "emea"
strategy = "weighted_round_robin"
regions = ["emea"]

[[teams.reps]]
id = "ines"
name = "Ines Moreau"
weight = 2
max_open_leads = 120
max_new_per_day = 6

[[teams.reps]]
id = "lars"
name = "Lars Eriksen"
weight = 1
max_open_leads = 80
max_new_per_day = 4

[[teams]]
name = "north-america"
strategy = "least_loaded"
regions = ["na"]

[[teams.reps]]
id = "maya"
name = "Maya Patel"
max_open_leads = 100
max_new_per_day = 6

[[teams.reps]]
id = "omar"
name = "Omar Haddad"
max_open_leads = 100
max_new_per_day = 6

[[teams.reps]]
id = "sam"
name = "Sam Okafor"
max_open_leads = 60
max_new_per_day = 4
# part-time: afternoons and evenings, every day
hours = { utc_offset = "+00:00", days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start = "12:00", end = "20:00" }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_same_seed_gives_the_same_world() {
        let now = at("2026-11-23T12:00:00Z");
        let (a, b) = (generate(7, 50, 120, now), generate(7, 50, 120, now));
        let emails = |w: &World| w.leads.iter().map(|l| l.email.clone()).collect::<Vec<_>>();
        assert_eq!(emails(&a), emails(&b));
        let events = |w: &World| w.leads.iter().map(|l| l.events.len()).sum::<usize>();
        assert_eq!(events(&a), events(&b));
        assert_ne!(emails(&a), emails(&generate(8, 50, 120, now)));
    }

    #[test]
    fn everything_happens_in_the_window_and_in_order() {
        let now = at("2026-11-23T12:00:00Z");
        let world = generate(2026, 300, 1_000, now);
        assert_eq!(world.leads.len(), 1_000);
        let unique: std::collections::BTreeSet<_> = world.leads.iter().map(|l| &l.email).collect();
        assert_eq!(unique.len(), 1_000, "emails are unique");
        for lead in &world.leads {
            assert!(lead.created_at < now && lead.created_at >= now - Duration::days(DAYS + 1));
            assert!(
                lead.events
                    .iter()
                    .all(|(t, _)| *t >= lead.created_at && *t <= now)
            );
            if let Some((_, closed_at, _)) = lead.outcome {
                assert!(closed_at > lead.created_at && closed_at < now);
                assert!(lead.events.iter().all(|(t, _)| *t < closed_at));
            }
        }
        let won = world
            .leads
            .iter()
            .filter(|l| matches!(l.outcome, Some((true, _, _))))
            .count();
        let lost = world
            .leads
            .iter()
            .filter(|l| matches!(l.outcome, Some((false, _, _))))
            .count();
        // enough of each for the training job's guard (30 of each class)
        assert!(won >= 40 && lost >= 40, "won {won}, lost {lost}");
        let closings: std::collections::BTreeSet<_> = world
            .leads
            .iter()
            .filter_map(|l| l.outcome.map(|o| o.1))
            .collect();
        assert_eq!(closings.len(), won + lost, "closing times are distinct");
    }

    #[test]
    fn the_demo_routing_loads() {
        let routing =
            leadq_pipeline::routing::RoutingConfig::from_toml(ROUTING_TOML).expect("routing");
        assert_eq!(routing.teams.len(), 2);
    }
}

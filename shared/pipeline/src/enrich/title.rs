//! The title parser: a free-text job title to seniority, function and occupation.
//!
//! Word-based rules with the common abbreviations (CTO, VP Eng, Sr., Mgr, Dir.). A title
//! that says nothing we recognise leaves the fields unknown rather than guessing.

use leadq_scoring::{JobFunction, Occupation, Seniority};

/// What a title says about the person, each with the parser's confidence (0-1).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TitleFacts {
    /// Seniority, if the title tells it.
    pub seniority: Option<(Seniority, f64)>,
    /// Job function, if the title tells it.
    pub function: Option<(JobFunction, f64)>,
    /// Occupation, for students and job seekers.
    pub occupation: Option<(Occupation, f64)>,
}

/// Confidence of a direct keyword match.
const SURE: f64 = 0.9;
/// Confidence of a fallback (a founder's function taken as executive, ...).
const LIKELY: f64 = 0.7;

/// Parses a job title.
pub fn parse_title(title: &str) -> TitleFacts {
    let words = normalise(title);
    if words.trim().is_empty() {
        return TitleFacts::default();
    }
    let has = |phrases: &[&str]| phrases.iter().any(|p| words.contains(&format!(" {p} ")));

    let occupation = if has(&[
        "student",
        "intern",
        "internship",
        "undergraduate",
        "phd candidate",
        "trainee",
    ]) {
        Some((Occupation::Student, SURE))
    } else if has(&[
        "job seeker",
        "jobseeker",
        "seeking",
        "looking for",
        "open to work",
        "unemployed",
        "between jobs",
        "available for hire",
    ]) {
        Some((Occupation::JobSeeker, SURE))
    } else if has(&["freelance", "freelancer", "self employed", "selfemployed"]) {
        Some((Occupation::SelfEmployed, SURE))
    } else {
        None
    };

    let seniority = if occupation.is_some_and(|(o, _)| o == Occupation::Student) {
        Some(Seniority::Student)
    } else if has(&["assistant to", "executive assistant", "assistant"]) {
        Some(Seniority::IndividualContributor)
    } else if has(&["vice president", "vp", "svp", "evp", "avp", "vicepresident"]) {
        Some(Seniority::Vp)
    } else if has(&[
        "chief",
        "ceo",
        "cto",
        "cfo",
        "coo",
        "cmo",
        "cio",
        "ciso",
        "cro",
        "cpo",
        "chro",
        "cdo",
        "founder",
        "cofounder",
        "co founder",
        "owner",
        "president",
        "managing director",
        "managing partner",
        "partner",
    ]) {
        Some(Seniority::CLevel)
    } else if has(&["director", "dir", "head", "executive director"]) {
        Some(Seniority::Director)
    } else if has(&[
        "manager",
        "mgr",
        "lead",
        "team lead",
        "supervisor",
        "principal",
    ]) {
        Some(Seniority::Manager)
    } else if has(&[
        "engineer",
        "developer",
        "analyst",
        "specialist",
        "associate",
        "coordinator",
        "consultant",
        "representative",
        "rep",
        "executive",
        "designer",
        "scientist",
        "administrator",
        "accountant",
        "recruiter",
        "architect",
        "officer",
        "agent",
        "programmer",
        "writer",
        "sdr",
        "bdr",
        "ae",
    ]) {
        Some(Seniority::IndividualContributor)
    } else {
        None
    };

    let function = function_of(&has).or_else(|| {
        has(&[
            "founder",
            "cofounder",
            "co founder",
            "owner",
            "president",
            "managing director",
            "general manager",
            "gm",
        ])
        .then_some((JobFunction::Executive, LIKELY))
    });

    TitleFacts {
        seniority: seniority.map(|s| (s, SURE)),
        function,
        occupation,
    }
}

/// The function keywords, most specific first (chief-officer acronyms before words).
fn function_of(has: &dyn Fn(&[&str]) -> bool) -> Option<(JobFunction, f64)> {
    let table: &[(JobFunction, &[&str])] = &[
        (JobFunction::Executive, &["ceo", "chief executive"]),
        (
            JobFunction::Engineering,
            &["cto", "chief technology", "chief technical"],
        ),
        (JobFunction::Finance, &["cfo", "chief financial"]),
        (JobFunction::Operations, &["coo", "chief operating"]),
        (JobFunction::Marketing, &["cmo", "chief marketing"]),
        (JobFunction::It, &["cio", "ciso", "chief information"]),
        (JobFunction::Sales, &["cro", "chief revenue"]),
        (JobFunction::Product, &["cpo", "chief product"]),
        (JobFunction::Hr, &["chro", "chief people", "chief human"]),
        (
            JobFunction::Sales,
            &[
                "sales",
                "account executive",
                "ae",
                "sdr",
                "bdr",
                "business development",
                "bizdev",
                "revenue",
                "account manager",
                "partnerships",
            ],
        ),
        (
            JobFunction::Marketing,
            &[
                "marketing",
                "mktg",
                "growth",
                "demand generation",
                "demand gen",
                "brand",
                "content",
                "seo",
                "communications",
                "campaign",
                "campaigns",
            ],
        ),
        (
            JobFunction::Engineering,
            &[
                "engineer",
                "engineering",
                "eng",
                "developer",
                "software",
                "devops",
                "sre",
                "programmer",
                "r&d",
                "rd",
                "qa",
                "data scientist",
                "machine learning",
                "architect",
            ],
        ),
        (
            JobFunction::It,
            &[
                "it",
                "information technology",
                "infrastructure",
                "sysadmin",
                "systems administrator",
                "security",
                "network",
                "helpdesk",
            ],
        ),
        (
            JobFunction::Product,
            &["product", "pm", "ux", "ui", "design", "designer"],
        ),
        (
            JobFunction::Finance,
            &[
                "finance",
                "financial",
                "accounting",
                "accountant",
                "controller",
                "treasury",
                "fp&a",
                "bookkeeper",
            ],
        ),
        (
            JobFunction::Operations,
            &[
                "operations",
                "ops",
                "supply chain",
                "logistics",
                "procurement",
                "purchasing",
            ],
        ),
        (
            JobFunction::Hr,
            &[
                "hr",
                "human resources",
                "people",
                "talent",
                "recruiting",
                "recruiter",
                "hiring",
            ],
        ),
        (
            JobFunction::Support,
            &[
                "support",
                "customer success",
                "success",
                "customer service",
                "customer experience",
                "cx",
            ],
        ),
        (
            JobFunction::Legal,
            &[
                "legal",
                "counsel",
                "compliance",
                "attorney",
                "lawyer",
                "paralegal",
            ],
        ),
        (
            JobFunction::Consulting,
            &["consultant", "consulting", "advisor", "adviser"],
        ),
        (
            JobFunction::Education,
            &[
                "teacher",
                "professor",
                "lecturer",
                "tutor",
                "researcher",
                "academic",
                "student",
            ],
        ),
    ];
    table
        .iter()
        .find(|(_, words)| has(words))
        .map(|(function, _)| (*function, SURE))
}

/// Lower case, abbreviations expanded, words separated by single spaces, padded with a
/// space on both sides so phrases match on word boundaries.
fn normalise(title: &str) -> String {
    let mut out = String::from(" ");
    for word in title
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '&'))
        .filter(|w| !w.is_empty())
    {
        let word = match word {
            "sr" | "snr" | "senior" | "jr" | "junior" => continue,
            "mgr" | "mngr" => "manager",
            "dir" => "director",
            "vp" | "vps" => "vp",
            "eng" | "engg" => "eng",
            "mktg" => "marketing",
            "ops" => "operations",
            w => w,
        };
        out.push_str(word);
        out.push(' ');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobFunction as F;
    use Seniority as S;

    fn parsed(title: &str) -> (Option<Seniority>, Option<JobFunction>) {
        let facts = parse_title(title);
        (facts.seniority.map(|s| s.0), facts.function.map(|f| f.0))
    }

    #[test]
    fn chief_officers_and_founders() {
        assert_eq!(parsed("CTO"), (Some(S::CLevel), Some(F::Engineering)));
        assert_eq!(
            parsed("Chief Executive Officer"),
            (Some(S::CLevel), Some(F::Executive))
        );
        assert_eq!(
            parsed("Co-Founder & CEO"),
            (Some(S::CLevel), Some(F::Executive))
        );
        assert_eq!(parsed("Founder"), (Some(S::CLevel), Some(F::Executive)));
        assert_eq!(parsed("CFO"), (Some(S::CLevel), Some(F::Finance)));
        assert_eq!(parsed("Owner"), (Some(S::CLevel), Some(F::Executive)));
    }

    #[test]
    fn vice_presidents_directors_and_heads() {
        assert_eq!(parsed("VP Eng"), (Some(S::Vp), Some(F::Engineering)));
        assert_eq!(
            parsed("Senior Vice President, Sales"),
            (Some(S::Vp), Some(F::Sales))
        );
        assert_eq!(parsed("SVP Marketing"), (Some(S::Vp), Some(F::Marketing)));
        assert_eq!(
            parsed("Head of Growth"),
            (Some(S::Director), Some(F::Marketing))
        );
        assert_eq!(parsed("Dir. of IT"), (Some(S::Director), Some(F::It)));
        assert_eq!(
            parsed("Director, Human Resources"),
            (Some(S::Director), Some(F::Hr))
        );
    }

    #[test]
    fn managers_and_individual_contributors() {
        assert_eq!(
            parsed("Sr. Mgr, Demand Gen"),
            (Some(S::Manager), Some(F::Marketing))
        );
        assert_eq!(
            parsed("Engineering Manager"),
            (Some(S::Manager), Some(F::Engineering))
        );
        assert_eq!(
            parsed("Senior Software Engineer"),
            (Some(S::IndividualContributor), Some(F::Engineering))
        );
        assert_eq!(
            parsed("Account Executive"),
            (Some(S::IndividualContributor), Some(F::Sales))
        );
        assert_eq!(
            parsed("Financial Analyst"),
            (Some(S::IndividualContributor), Some(F::Finance))
        );
        assert_eq!(
            parsed("Executive Assistant to the CEO"),
            (Some(S::IndividualContributor), Some(F::Executive))
        );
        assert_eq!(
            parsed("Customer Success Manager"),
            (Some(S::Manager), Some(F::Support))
        );
    }

    #[test]
    fn students_job_seekers_and_consultants() {
        let s = parse_title("MBA Student");
        assert_eq!(s.seniority.map(|x| x.0), Some(S::Student));
        assert_eq!(s.occupation.map(|x| x.0), Some(Occupation::Student));
        assert_eq!(
            parse_title("Marketing Intern").occupation.map(|x| x.0),
            Some(Occupation::Student)
        );
        let j = parse_title("Looking for new opportunities");
        assert_eq!(j.occupation.map(|x| x.0), Some(Occupation::JobSeeker));
        assert_eq!(parsed("Independent Consultant").1, Some(F::Consulting));
        assert_eq!(
            parse_title("Freelance designer").occupation.map(|x| x.0),
            Some(Occupation::SelfEmployed)
        );
    }

    #[test]
    fn unknown_titles_stay_unknown() {
        assert_eq!(parse_title(""), TitleFacts::default());
        assert_eq!(parse_title("   --  "), TitleFacts::default());
        assert_eq!(parsed("Wizard"), (None, None));
        // "it" only as a whole word: "Digital" must not read as IT
        assert_eq!(parsed("Digital Nomad"), (None, None));
    }
}

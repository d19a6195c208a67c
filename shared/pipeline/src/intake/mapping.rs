//! The field mapping: which form field fills which lead attribute.
//!
//! Form field names are compared normalised (lower case, runs of anything but letters
//! and digits as one `_`), so `First Name`, `first-name` and `first_name` are the same
//! field. A team's own names (from TOML) win over the defaults; the defaults can be
//! switched off.

use super::problem::Violation;
use leadq_scoring::Lead;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest text value a mapped field may carry, in characters.
pub const MAX_FIELD_CHARS: usize = 1_000;

/// A lead attribute a form field can fill, named by its path in the lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LeadField {
    /// `person.email` (required; validated and normalised).
    #[serde(rename = "person.email")]
    Email,
    /// `person.name`: the full name.
    #[serde(rename = "person.name")]
    Name,
    /// `person.first_name`: joined with the last name when no full name is given.
    #[serde(rename = "person.first_name")]
    FirstName,
    /// `person.last_name`: joined with the first name when no full name is given.
    #[serde(rename = "person.last_name")]
    LastName,
    /// `person.title`: the job title.
    #[serde(rename = "person.title")]
    Title,
    /// `person.phone`.
    #[serde(rename = "person.phone")]
    Phone,
    /// `person.country`: an ISO 3166-1 alpha-2 code or a common country name.
    #[serde(rename = "person.country")]
    Country,
    /// `company.name`.
    #[serde(rename = "company.name")]
    CompanyName,
    /// `company.domain`: a domain or a website URL.
    #[serde(rename = "company.domain")]
    CompanyDomain,
    /// `company.employees`: a count, `51-200` (lower bound) or `1000+`.
    #[serde(rename = "company.employees")]
    CompanyEmployees,
    /// `company.industry`, lower-cased.
    #[serde(rename = "company.industry")]
    CompanyIndustry,
    /// `company.country`: like `person.country`.
    #[serde(rename = "company.country")]
    CompanyCountry,
    /// `company.revenue_band`, lower-cased.
    #[serde(rename = "company.revenue_band")]
    CompanyRevenueBand,
    /// `utm.source`.
    #[serde(rename = "utm.source")]
    UtmSource,
    /// `utm.medium`.
    #[serde(rename = "utm.medium")]
    UtmMedium,
    /// `utm.campaign`.
    #[serde(rename = "utm.campaign")]
    UtmCampaign,
    /// `consent.email`: a yes/no.
    #[serde(rename = "consent.email")]
    ConsentEmail,
    /// `consent.phone`: a yes/no.
    #[serde(rename = "consent.phone")]
    ConsentPhone,
}

impl LeadField {
    /// The path of the attribute in the lead (for example `company.employees`).
    pub fn path(self) -> &'static str {
        match self {
            LeadField::Email => "person.email",
            LeadField::Name => "person.name",
            LeadField::FirstName => "person.first_name",
            LeadField::LastName => "person.last_name",
            LeadField::Title => "person.title",
            LeadField::Phone => "person.phone",
            LeadField::Country => "person.country",
            LeadField::CompanyName => "company.name",
            LeadField::CompanyDomain => "company.domain",
            LeadField::CompanyEmployees => "company.employees",
            LeadField::CompanyIndustry => "company.industry",
            LeadField::CompanyCountry => "company.country",
            LeadField::CompanyRevenueBand => "company.revenue_band",
            LeadField::UtmSource => "utm.source",
            LeadField::UtmMedium => "utm.medium",
            LeadField::UtmCampaign => "utm.campaign",
            LeadField::ConsentEmail => "consent.email",
            LeadField::ConsentPhone => "consent.phone",
        }
    }

    /// The attribute a default form field name fills, if any.
    pub fn default_for(name: &str) -> Option<LeadField> {
        let field = match normalise_name(name).as_str() {
            "email" | "email_address" | "e_mail" | "work_email" | "business_email" => {
                LeadField::Email
            }
            "name" | "full_name" | "fullname" | "your_name" | "contact_name" => LeadField::Name,
            "first_name" | "firstname" | "given_name" | "fname" => LeadField::FirstName,
            "last_name" | "lastname" | "surname" | "family_name" | "lname" => LeadField::LastName,
            "title" | "job_title" | "jobtitle" | "position" | "role" => LeadField::Title,
            "phone" | "phone_number" | "mobile" | "mobilephone" | "telephone" | "tel" => {
                LeadField::Phone
            }
            "country" | "country_code" => LeadField::Country,
            "company" | "company_name" | "organization" | "organisation" => LeadField::CompanyName,
            "website" | "domain" | "company_domain" | "company_website" => LeadField::CompanyDomain,
            "employees"
            | "company_size"
            | "numemployees"
            | "num_employees"
            | "employee_count"
            | "number_of_employees"
            | "numberofemployees"
            | "company_numberofemployees"
            | "team_size" => LeadField::CompanyEmployees,
            "industry" | "company_industry" => LeadField::CompanyIndustry,
            "company_country" => LeadField::CompanyCountry,
            "revenue"
            | "annual_revenue"
            | "annualrevenue"
            | "revenue_band"
            | "company_annualrevenue" => LeadField::CompanyRevenueBand,
            "utm_source" => LeadField::UtmSource,
            "utm_medium" => LeadField::UtmMedium,
            "utm_campaign" => LeadField::UtmCampaign,
            "consent" | "gdpr_consent" | "email_consent" | "marketing_consent" | "opt_in"
            | "optin" => LeadField::ConsentEmail,
            "phone_consent" => LeadField::ConsentPhone,
            _ => return None,
        };
        Some(field)
    }
}

/// Lower case, runs of anything but letters and digits as one `_`, no `_` at the ends.
pub fn normalise_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Which form field fills which lead attribute; loadable from TOML or JSON, for example
/// `use_defaults = true` and `[fields]` with `"Company size" = "company.employees"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldMapping {
    /// The team's own field names (as on the form, or a Typeform `ref`) and their targets.
    pub fields: BTreeMap<String, LeadField>,
    /// Whether the built-in names (`email`, `first_name`, `job_title`, ...) apply too.
    pub use_defaults: bool,
}

impl Default for FieldMapping {
    fn default() -> Self {
        FieldMapping {
            fields: BTreeMap::new(),
            use_defaults: true,
        }
    }
}

impl FieldMapping {
    /// Reads a mapping from TOML text.
    pub fn from_toml(text: &str) -> Result<FieldMapping, toml::de::Error> {
        toml::from_str(text)
    }

    /// The attribute a form field fills: the team's names first, then the defaults.
    pub fn resolve(&self, name: &str) -> Option<LeadField> {
        let wanted = normalise_name(name);
        if wanted.is_empty() {
            return None;
        }
        self.fields
            .iter()
            .find(|(own, _)| normalise_name(own) == wanted)
            .map(|(_, target)| *target)
            .or_else(|| {
                if self.use_defaults {
                    LeadField::default_for(&wanted)
                } else {
                    None
                }
            })
    }
}

/// A value as a form sent it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldValue {
    /// Text.
    Text(String),
    /// A JSON number.
    Number(f64),
    /// A JSON boolean.
    Bool(bool),
    /// Several values (checkbox lists, multiple choice).
    List(Vec<String>),
    /// Something no lead attribute can hold (an object).
    Unsupported,
}

impl FieldValue {
    /// The value from JSON; `None` for `null`.
    pub(crate) fn from_json(value: &serde_json::Value) -> Option<FieldValue> {
        use serde_json::Value;
        Some(match value {
            Value::Null => return None,
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Number(n) => n
                .as_f64()
                .map_or(FieldValue::Unsupported, FieldValue::Number),
            Value::String(s) => FieldValue::Text(s.clone()),
            Value::Array(items) => {
                let mut texts = Vec::with_capacity(items.len());
                for item in items {
                    match FieldValue::from_json(item) {
                        None => {}
                        Some(FieldValue::Text(s)) => texts.push(s),
                        Some(FieldValue::Number(n)) => texts.push(number_text(n)),
                        Some(FieldValue::Bool(b)) => texts.push(b.to_string()),
                        Some(FieldValue::List(_) | FieldValue::Unsupported) => {
                            return Some(FieldValue::Unsupported);
                        }
                    }
                }
                FieldValue::List(texts)
            }
            Value::Object(_) => FieldValue::Unsupported,
        })
    }

    /// The value as trimmed text; `None` when empty.
    fn text(&self) -> Option<String> {
        let text = match self {
            FieldValue::Text(s) => s.trim().to_owned(),
            FieldValue::Number(n) => number_text(*n),
            FieldValue::Bool(b) => b.to_string(),
            FieldValue::List(items) => items
                .iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            FieldValue::Unsupported => return None,
        };
        (!text.is_empty()).then_some(text)
    }
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// A lead being filled from form fields, before the email is checked.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    /// The lead so far (email not yet set).
    pub lead: Lead,
    /// The email and the form field it came from.
    pub email: Option<(String, String)>,
    first_name: Option<String>,
    last_name: Option<String>,
    /// Broken rules found so far.
    pub violations: Vec<Violation>,
}

impl Draft {
    /// Fills `target` from the form field `field`; the first non-empty value wins.
    pub(crate) fn apply(&mut self, field: &str, target: LeadField, value: &FieldValue) {
        if let Err(violation) = self.try_apply(field, target, value) {
            self.violations.push(violation);
        }
    }

    fn try_apply(
        &mut self,
        field: &str,
        target: LeadField,
        value: &FieldValue,
    ) -> Result<(), Violation> {
        if *value == FieldValue::Unsupported {
            return Err(Violation::new(
                field,
                "type",
                format!("must be text, a number or a yes/no for {}", target.path()),
            ));
        }
        let Some(text) = value.text() else {
            return Ok(()); // an empty field says nothing
        };
        if text.chars().count() > MAX_FIELD_CHARS {
            return Err(Violation::new(
                field,
                "max_length",
                format!("must be at most {MAX_FIELD_CHARS} characters"),
            ));
        }
        let lead = &mut self.lead;
        match target {
            LeadField::Email => set(&mut self.email, (field.to_owned(), text)),
            LeadField::Name => set(&mut lead.person.name, text),
            LeadField::FirstName => set(&mut self.first_name, text),
            LeadField::LastName => set(&mut self.last_name, text),
            LeadField::Title => set(&mut lead.person.title, text),
            LeadField::Phone => set(&mut lead.person.phone, text),
            LeadField::Country => {
                if let Some(code) = country_code(&text) {
                    set(&mut lead.person.country, code);
                }
            }
            LeadField::CompanyName => set(&mut lead.company.name, text),
            LeadField::CompanyDomain => {
                let domain = parse_domain(&text).ok_or_else(|| {
                    Violation::new(field, "domain", "must be a domain or website like acme.io")
                })?;
                set(&mut lead.company.domain, domain);
            }
            LeadField::CompanyEmployees => {
                let count = match value {
                    FieldValue::Number(n) => employees_from_number(*n),
                    _ => parse_employees(&text),
                }
                .ok_or_else(|| {
                    Violation::new(
                        field,
                        "employee_count",
                        "must be a whole number of employees, a range like 51-200 or 1000+",
                    )
                })?;
                set(&mut lead.company.employees, count);
            }
            LeadField::CompanyIndustry => set(&mut lead.company.industry, text.to_lowercase()),
            LeadField::CompanyCountry => {
                if let Some(code) = country_code(&text) {
                    set(&mut lead.company.country, code);
                }
            }
            LeadField::CompanyRevenueBand => {
                set(&mut lead.company.revenue_band, text.to_lowercase())
            }
            LeadField::UtmSource => set(&mut lead.utm.source, text),
            LeadField::UtmMedium => set(&mut lead.utm.medium, text),
            LeadField::UtmCampaign => set(&mut lead.utm.campaign, text),
            LeadField::ConsentEmail | LeadField::ConsentPhone => {
                let given = match value {
                    FieldValue::Bool(b) => Some(*b),
                    _ => parse_yes_no(&text),
                }
                .ok_or_else(|| {
                    Violation::new(
                        field,
                        "boolean",
                        "must be a yes/no (true, false, yes, no, on, 1, 0)",
                    )
                })?;
                let slot = if target == LeadField::ConsentEmail {
                    &mut lead.consent.email
                } else {
                    &mut lead.consent.phone
                };
                set(slot, given);
            }
        }
        Ok(())
    }

    /// The full name from first and last name, when no full name was given.
    pub(crate) fn finish_name(&mut self) {
        if self.lead.person.name.is_none() {
            let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if !parts.is_empty() {
                self.lead.person.name = Some(parts.join(" "));
            }
        }
    }
}

fn set<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

/// A yes/no as forms send it.
fn parse_yes_no(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().as_str() {
        "true" | "yes" | "y" | "on" | "1" | "checked" | "agree" | "agreed" | "accepted" => {
            Some(true)
        }
        "false" | "no" | "n" | "off" | "0" | "unchecked" => Some(false),
        _ => None,
    }
}

fn employees_from_number(n: f64) -> Option<u32> {
    (n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX)).then_some(n as u32)
}

/// A head count: `250`, `1,000`, `51-200` or `51 to 200` (the lower bound: the company
/// has at least that many; no midpoint is invented), `1000+` or `10k`.
pub fn parse_employees(text: &str) -> Option<u32> {
    let text = text.trim().to_lowercase();
    let lower = text
        .split(['-', '–', '—'])
        .next()
        .unwrap_or("")
        .split(" to ")
        .next()
        .unwrap_or("");
    let lower = lower.trim().trim_end_matches('+').trim();
    let (digits, factor) = match lower.strip_suffix('k') {
        Some(rest) => (rest.trim(), 1_000u64),
        None => (lower, 1),
    };
    let digits: String = digits
        .chars()
        .filter(|c| !matches!(c, ',' | '_' | ' '))
        .collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || digits.len() > 10 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    u32::try_from(n.checked_mul(factor)?).ok()
}

/// A domain from a domain or website text: lower case, no scheme, path, port or `www.`.
pub fn parse_domain(text: &str) -> Option<String> {
    let text = text.trim().to_lowercase();
    let rest = text
        .split_once("://")
        .map_or(text.as_str(), |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let host = host.split(':').next().unwrap_or("");
    let host = host.trim_end_matches('.');
    let host = host.strip_prefix("www.").unwrap_or(host);
    let valid = host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    valid.then(|| host.to_owned())
}

/// An ISO 3166-1 alpha-2 code from a code or a common country name; `None` when unsure.
pub fn country_code(text: &str) -> Option<String> {
    let text = text.trim();
    if text.len() == 2 && text.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some(text.to_ascii_uppercase());
    }
    let code = match normalise_name(text).as_str() {
        "united_states" | "united_states_of_america" | "usa" | "us_a" => "US",
        "united_kingdom" | "great_britain" | "england" | "scotland" | "wales" => "GB",
        "germany" | "deutschland" => "DE",
        "france" => "FR",
        "spain" | "españa" | "espana" => "ES",
        "italy" | "italia" => "IT",
        "netherlands" | "the_netherlands" | "holland" => "NL",
        "belgium" => "BE",
        "switzerland" => "CH",
        "austria" => "AT",
        "ireland" => "IE",
        "portugal" => "PT",
        "sweden" => "SE",
        "norway" => "NO",
        "denmark" => "DK",
        "finland" => "FI",
        "poland" => "PL",
        "czech_republic" | "czechia" => "CZ",
        "canada" => "CA",
        "mexico" => "MX",
        "brazil" | "brasil" => "BR",
        "argentina" => "AR",
        "australia" => "AU",
        "new_zealand" => "NZ",
        "india" => "IN",
        "japan" => "JP",
        "china" => "CN",
        "singapore" => "SG",
        "israel" => "IL",
        "south_africa" => "ZA",
        "united_arab_emirates" | "uae" => "AE",
        _ => return None,
    };
    Some(code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn employee_counts_ranges_and_plus() {
        assert_eq!(parse_employees("250"), Some(250));
        assert_eq!(parse_employees("1,000"), Some(1000));
        assert_eq!(parse_employees("51-200"), Some(51));
        assert_eq!(parse_employees("51 to 200"), Some(51));
        assert_eq!(parse_employees("1000+"), Some(1000));
        assert_eq!(parse_employees("10k"), Some(10_000));
        assert_eq!(parse_employees("lots"), None);
        assert_eq!(parse_employees("-5"), None);
        assert_eq!(parse_employees("99999999999"), None);
    }

    #[test]
    fn domains_from_websites() {
        assert_eq!(
            parse_domain("https://www.Acme.io/about?x=1").as_deref(),
            Some("acme.io")
        );
        assert_eq!(
            parse_domain("acme.co.uk:443").as_deref(),
            Some("acme.co.uk")
        );
        assert_eq!(parse_domain("not a domain"), None);
        assert_eq!(parse_domain("localhost"), None);
    }

    #[test]
    fn names_are_compared_normalised() {
        assert_eq!(normalise_name("  First Name: "), "first_name");
        let mapping = FieldMapping::default();
        assert_eq!(mapping.resolve("Job-Title"), Some(LeadField::Title));
        assert_eq!(mapping.resolve("favourite_colour"), None);
    }
}

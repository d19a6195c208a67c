//! The company directory: firmographics keyed by web domain, imported from CSV.
//!
//! A port ([`CompanyDirectory`]) so a team can back it with a table or a vendor later;
//! [`MemoryDirectory`] serves tests, demos and small imports. An empty CSV cell is an
//! unknown value, never an empty one.

use crate::ports::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::RwLock;

/// What the directory knows about one company; `None` is unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyFacts {
    /// Web domain, normalised ([`normalise_domain`]): the key.
    pub domain: String,
    /// Company name.
    pub name: Option<String>,
    /// Industry, lower case.
    pub industry: Option<String>,
    /// Number of employees.
    pub employees: Option<u32>,
    /// Annual revenue band, lower case (for example `10m-50m`).
    pub revenue_band: Option<String>,
    /// ISO 3166-1 alpha-2 country code, upper case.
    pub country: Option<String>,
    /// Technologies used, lower case.
    pub tech_stack: Option<Vec<String>>,
    /// Business model, lower case (for example `b2b`).
    pub business_model: Option<String>,
}

/// Company firmographics by domain.
#[async_trait]
pub trait CompanyDirectory: Send + Sync {
    /// The facts known for a domain (normalised by the directory), if any.
    async fn lookup(&self, domain: &str) -> Result<Option<CompanyFacts>, StoreError>;
    /// Inserts or replaces companies by domain; returns how many were written.
    async fn upsert(&self, companies: &[CompanyFacts]) -> Result<usize, StoreError>;
}

/// A [`CompanyDirectory`] in memory.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    companies: RwLock<HashMap<String, CompanyFacts>>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> MemoryDirectory {
        MemoryDirectory::default()
    }

    /// A directory holding `companies`.
    pub fn with(companies: Vec<CompanyFacts>) -> MemoryDirectory {
        let directory = MemoryDirectory::new();
        directory.insert_all(&companies);
        directory
    }

    fn insert_all(&self, companies: &[CompanyFacts]) -> usize {
        let mut map = self
            .companies
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut written = 0;
        for company in companies {
            if let Some(key) = normalise_domain(&company.domain) {
                let mut stored = company.clone();
                stored.domain = key.clone();
                map.insert(key, stored);
                written += 1;
            }
        }
        written
    }
}

#[async_trait]
impl CompanyDirectory for MemoryDirectory {
    async fn lookup(&self, domain: &str) -> Result<Option<CompanyFacts>, StoreError> {
        let Some(key) = normalise_domain(domain) else {
            return Ok(None);
        };
        let map = self
            .companies
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(map.get(&key).cloned())
    }

    async fn upsert(&self, companies: &[CompanyFacts]) -> Result<usize, StoreError> {
        Ok(self.insert_all(companies))
    }
}

/// A domain as the directory keys it: trimmed, lower case, without scheme, `www.`, path
/// or port; `None` if what is left is not a DNS name with a dot.
pub fn normalise_domain(raw: &str) -> Option<String> {
    let mut domain = raw.trim().to_ascii_lowercase();
    for scheme in ["https://", "http://"] {
        if let Some(rest) = domain.strip_prefix(scheme) {
            domain = rest.to_string();
        }
    }
    let host = domain.split(['/', '?', '#', ':']).next().unwrap_or("");
    let host = host
        .strip_prefix("www.")
        .unwrap_or(host)
        .trim_end_matches('.');
    let valid = host.contains('.')
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    valid.then(|| host.to_string())
}

/// Why a company CSV was refused; every variant names the line (1-based, header = 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The file is not readable CSV (unbalanced quotes, a row of the wrong width, ...).
    #[error("company CSV line {line}: {message}")]
    Csv {
        /// The line.
        line: u64,
        /// What the CSV reader said.
        message: String,
    },
    /// The header has no `domain` column.
    #[error("company CSV line 1: missing column `domain` (columns: {COLUMNS})")]
    MissingDomainColumn,
    /// The header names a column this importer does not know (or names one twice).
    #[error("company CSV line 1, column `{column}`: {rule} (columns: {COLUMNS})")]
    BadColumn {
        /// The column.
        column: String,
        /// What is wrong with it.
        rule: &'static str,
    },
    /// A cell holds a value its column does not accept.
    #[error("company CSV line {line}, column `{column}`: `{value}` {rule}")]
    InvalidValue {
        /// The line.
        line: u64,
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
        /// The rule it broke.
        rule: &'static str,
    },
    /// The same domain appears twice.
    #[error(
        "company CSV line {line}, column `domain`: {domain} was already given on line {first_line}"
    )]
    DuplicateDomain {
        /// The line of the repeat.
        line: u64,
        /// The domain.
        domain: String,
        /// The line where it first appeared.
        first_line: u64,
    },
}

/// The columns a company CSV may have, in the documented order.
pub const COLUMNS: &str =
    "domain,name,industry,employees,revenue_band,country,tech_stack,business_model";

const NAMES: [&str; 8] = [
    "domain",
    "name",
    "industry",
    "employees",
    "revenue_band",
    "country",
    "tech_stack",
    "business_model",
];

/// Parses a company CSV (header row with `domain` and any of [`COLUMNS`], in any order;
/// `tech_stack` separated by `;`). Text values are normalised: industry, revenue band,
/// tech and business model lower case, country upper case.
pub fn parse_company_csv(text: &str) -> Result<Vec<CompanyFacts>, DirectoryError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| DirectoryError::Csv {
        line: e.position().map_or(1, |p| p.line()),
        message: match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("{len} fields where the header has {expected_len}"),
            _ => e.to_string(),
        },
    };
    let headers = reader.headers().map_err(csv_error)?.clone();
    // index of each known column in the file
    let mut index: [Option<usize>; 8] = [None; 8];
    for (position, header) in headers.iter().enumerate() {
        let name = header.trim_start_matches('\u{feff}').to_ascii_lowercase();
        let Some(slot) = NAMES.iter().position(|known| *known == name) else {
            return Err(DirectoryError::BadColumn {
                column: header.to_string(),
                rule: "is not a known column",
            });
        };
        if index[slot].replace(position).is_some() {
            return Err(DirectoryError::BadColumn {
                column: header.to_string(),
                rule: "appears twice",
            });
        }
    }
    if index[0].is_none() {
        return Err(DirectoryError::MissingDomainColumn);
    }

    let mut first_lines: HashMap<String, u64> = HashMap::new();
    let mut companies = Vec::new();
    for row in reader.records() {
        let row = row.map_err(csv_error)?;
        let line = row.position().map_or(0, |p| p.line());
        if row.iter().all(str::is_empty) {
            continue;
        }
        let cell = |slot: usize| -> Option<&str> {
            index[slot]
                .and_then(|i| row.get(i))
                .filter(|value| !value.is_empty())
        };
        let invalid =
            |column: &'static str, value: &str, rule: &'static str| DirectoryError::InvalidValue {
                line,
                column,
                value: value.to_string(),
                rule,
            };
        let raw_domain = cell(0).ok_or_else(|| invalid("domain", "", "must not be empty"))?;
        let domain = normalise_domain(raw_domain)
            .ok_or_else(|| invalid("domain", raw_domain, "is not a web domain"))?;
        if let Some(&first_line) = first_lines.get(&domain) {
            return Err(DirectoryError::DuplicateDomain {
                line,
                domain,
                first_line,
            });
        }
        first_lines.insert(domain.clone(), line);
        let employees = cell(3)
            .map(|value| {
                value
                    .replace(['_', ','], "")
                    .parse::<u32>()
                    .map_err(|_| invalid("employees", value, "is not a whole number"))
            })
            .transpose()?;
        let country = cell(5)
            .map(|value| {
                let code = value.to_ascii_uppercase();
                if code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic()) {
                    Ok(code)
                } else {
                    Err(invalid(
                        "country",
                        value,
                        "is not an ISO 3166-1 alpha-2 code",
                    ))
                }
            })
            .transpose()?;
        let tech_stack = cell(6).map(|value| {
            value
                .split(';')
                .map(|tech| tech.trim().to_lowercase())
                .filter(|tech| !tech.is_empty())
                .collect::<Vec<_>>()
        });
        companies.push(CompanyFacts {
            domain,
            name: cell(1).map(str::to_string),
            industry: cell(2).map(str::to_lowercase),
            employees,
            revenue_band: cell(4).map(str::to_lowercase),
            country,
            tech_stack,
            business_model: cell(7).map(str::to_lowercase),
        });
    }
    Ok(companies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_domains() {
        assert_eq!(
            normalise_domain(" HTTPS://www.Acme.com/about "),
            Some("acme.com".into())
        );
        assert_eq!(normalise_domain("acme.io:443"), Some("acme.io".into()));
        assert_eq!(normalise_domain("localhost"), None);
        assert_eq!(normalise_domain("a b.com"), None);
        assert_eq!(normalise_domain(""), None);
    }

    #[test]
    fn parses_rows_with_unknowns() {
        let csv = "domain,name,industry,employees,revenue_band,country,tech_stack,business_model\n\
                   www.Acme.com,Acme,Software,1_200,10M-50M,us,Salesforce; AWS ;,B2B\n\
                   beta.io,,,,,,,\n";
        let companies = parse_company_csv(csv).expect("valid");
        assert_eq!(companies.len(), 2);
        let acme = &companies[0];
        assert_eq!(acme.domain, "acme.com");
        assert_eq!(acme.industry.as_deref(), Some("software"));
        assert_eq!(acme.employees, Some(1200));
        assert_eq!(acme.country.as_deref(), Some("US"));
        assert_eq!(
            acme.tech_stack,
            Some(vec!["salesforce".to_string(), "aws".to_string()])
        );
        assert_eq!(acme.business_model.as_deref(), Some("b2b"));
        assert_eq!(
            companies[1],
            CompanyFacts {
                domain: "beta.io".into(),
                ..CompanyFacts::default()
            }
        );
    }

    #[test]
    fn columns_may_be_a_subset_in_any_order() {
        let companies = parse_company_csv("industry,domain\nretail,shop.example\n").expect("ok");
        assert_eq!(companies[0].industry.as_deref(), Some("retail"));
        assert_eq!(companies[0].employees, None);
    }

    #[test]
    fn errors_name_line_and_column() {
        let err = parse_company_csv("domain,employees\nacme.com,12\nbeta.io,many\n")
            .expect_err("bad number");
        assert_eq!(
            err.to_string(),
            "company CSV line 3, column `employees`: `many` is not a whole number"
        );
        let err = parse_company_csv("domain,staff\n").expect_err("unknown column");
        assert!(err.to_string().contains("column `staff`"), "{err}");
        let err = parse_company_csv("name\nAcme\n").expect_err("no domain");
        assert_eq!(err, DirectoryError::MissingDomainColumn);
        let err = parse_company_csv("domain,name\nacme.com,A\nACME.com,B\n").expect_err("dup");
        assert_eq!(
            err,
            DirectoryError::DuplicateDomain {
                line: 3,
                domain: "acme.com".into(),
                first_line: 2
            }
        );
        let err = parse_company_csv("domain,name\nacme.com,A,extra\n").expect_err("width");
        assert!(
            matches!(err, DirectoryError::Csv { line: 2, .. }),
            "{err:?}"
        );
        let err = parse_company_csv("domain,country\nacme.com,USA\n").expect_err("country");
        assert!(
            err.to_string().contains("line 2, column `country`"),
            "{err}"
        );
        let err = parse_company_csv("domain,name\n,Acme\n").expect_err("empty domain");
        assert!(err.to_string().contains("line 2, column `domain`"), "{err}");
    }

    #[tokio::test]
    async fn memory_directory_looks_up_normalised_domains() {
        let directory = MemoryDirectory::new();
        let written = directory
            .upsert(&[CompanyFacts {
                domain: "WWW.Acme.com".into(),
                industry: Some("software".into()),
                ..CompanyFacts::default()
            }])
            .await
            .expect("upsert");
        assert_eq!(written, 1);
        let found = directory.lookup("acme.com").await.expect("lookup");
        assert_eq!(found.map(|c| c.domain), Some("acme.com".to_string()));
        assert_eq!(directory.lookup("other.com").await.expect("lookup"), None);
    }
}

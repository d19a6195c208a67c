//! The enrich stage: offline providers fill what the form left unknown, with provenance.
//!
//! Providers never overwrite a known value (the form's word wins), only fill `None`s; a
//! field no provider knows stays unknown and the lead goes on to scoring anyway. Running
//! the stage twice changes nothing the second time and writes nothing.

use super::StageError;
use super::directory::{CompanyDirectory, CompanyFacts, normalise_domain};
use crate::enrich::{analyse, parse_title};
use crate::ports::{LeadRecord, LeadStore, Provenance};
use crate::retry::RetryPolicy;
use crate::writes::update_lead_with_retry;
use chrono::{DateTime, Utc};

/// Provider name of the email analysis.
pub const EMAIL_PROVIDER: &str = "email_analysis";
/// Provider name of the title parser.
pub const TITLE_PROVIDER: &str = "title_parser";
/// Provider name of the company directory.
pub const DIRECTORY_PROVIDER: &str = "company_directory";
/// Confidence that a corporate address's domain is the employer's.
pub const EMAIL_DOMAIN_CONFIDENCE: f64 = 0.9;
/// Confidence of a company directory value (curated, imported data).
pub const DIRECTORY_CONFIDENCE: f64 = 0.95;

/// What [`enrich_lead`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichOutcome {
    /// The lead as stored afterwards.
    pub record: LeadRecord,
    /// Field paths filled in by this run (for example `company.industry`), in order.
    pub filled: Vec<String>,
    /// Whether the lead was written (`false` when nothing was new).
    pub written: bool,
}

/// Enriches a lead with the offline providers and stores what they found.
///
/// Email analysis gives `company.domain` from a corporate address; the title parser
/// gives `person.seniority`, `person.function` and `person.occupation`; the company
/// directory, looked up by domain, gives the company's firmographics. Each field filled
/// gets a [`Provenance`] entry under its path.
pub async fn enrich_lead(
    store: &dyn LeadStore,
    directory: &dyn CompanyDirectory,
    lead_id: &str,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
) -> Result<EnrichOutcome, StageError> {
    let loaded = store
        .get_lead(lead_id)
        .await?
        .ok_or_else(|| StageError::LeadNotFound {
            lead_id: lead_id.to_string(),
        })?;
    // the directory is asked before the write, for the domain the lead will have
    let mut preview = loaded;
    apply_offline(&mut preview, now);
    let company = match preview
        .lead
        .company
        .domain
        .as_deref()
        .and_then(normalise_domain)
    {
        Some(domain) => directory
            .lookup(&domain)
            .await
            .map_err(|error| StageError::Directory { domain, error })?,
        None => None,
    };

    let mut filled = Vec::new();
    let updated = update_lead_with_retry(store, lead_id, now, policy, |record| {
        filled = apply_offline(record, now);
        if let Some(company) = &company {
            filled.extend(apply_directory(record, company, now));
        }
        !filled.is_empty()
    })
    .await?;
    if !updated.written {
        filled.clear();
    }
    Ok(EnrichOutcome {
        record: updated.record,
        filled,
        written: updated.written,
    })
}

/// Applies the email analysis and the title parser; returns the paths filled.
fn apply_offline(record: &mut LeadRecord, now: DateTime<Utc>) -> Vec<String> {
    let mut filled = Vec::new();
    let LeadRecord {
        lead, provenance, ..
    } = record;
    let mut note = |path: &str, provider: &str, confidence: f64| {
        provenance.insert(
            path.to_string(),
            Provenance {
                provider: provider.to_string(),
                confidence,
                at: now,
            },
        );
        filled.push(path.to_string());
    };

    if lead.company.domain.is_none()
        && let Some(facts) = lead.person.email.as_deref().and_then(|e| analyse(e).ok())
        && !facts.free_mail
        && !facts.disposable
    {
        lead.company.domain = Some(facts.domain);
        note("company.domain", EMAIL_PROVIDER, EMAIL_DOMAIN_CONFIDENCE);
    }

    if let Some(facts) = lead.person.title.as_deref().map(parse_title) {
        let person = &mut lead.person;
        if person.seniority.is_none()
            && let Some((seniority, confidence)) = facts.seniority
        {
            person.seniority = Some(seniority);
            note("person.seniority", TITLE_PROVIDER, confidence);
        }
        if person.function.is_none()
            && let Some((function, confidence)) = facts.function
        {
            person.function = Some(function);
            note("person.function", TITLE_PROVIDER, confidence);
        }
        if person.occupation.is_none()
            && let Some((occupation, confidence)) = facts.occupation
        {
            person.occupation = Some(occupation);
            note("person.occupation", TITLE_PROVIDER, confidence);
        }
    }
    filled
}

/// Fills unknown company fields from the directory, if the lead's domain is still the
/// one looked up; returns the paths filled.
fn apply_directory(
    record: &mut LeadRecord,
    facts: &CompanyFacts,
    now: DateTime<Utc>,
) -> Vec<String> {
    let company = &mut record.lead.company;
    let same_domain = company
        .domain
        .as_deref()
        .and_then(normalise_domain)
        .is_some_and(|domain| domain == facts.domain);
    if !same_domain {
        return Vec::new();
    }
    let mut filled = Vec::new();
    fill(&mut company.name, &facts.name, "company.name", &mut filled);
    fill(
        &mut company.industry,
        &facts.industry,
        "company.industry",
        &mut filled,
    );
    fill(
        &mut company.employees,
        &facts.employees,
        "company.employees",
        &mut filled,
    );
    fill(
        &mut company.revenue_band,
        &facts.revenue_band,
        "company.revenue_band",
        &mut filled,
    );
    fill(
        &mut company.country,
        &facts.country,
        "company.country",
        &mut filled,
    );
    fill(
        &mut company.tech_stack,
        &facts.tech_stack,
        "company.tech_stack",
        &mut filled,
    );
    fill(
        &mut company.business_model,
        &facts.business_model,
        "company.business_model",
        &mut filled,
    );
    for path in &filled {
        record.provenance.insert(
            path.clone(),
            Provenance {
                provider: DIRECTORY_PROVIDER.to_string(),
                confidence: DIRECTORY_CONFIDENCE,
                at: now,
            },
        );
    }
    filled
}

fn fill<T: Clone>(slot: &mut Option<T>, value: &Option<T>, path: &str, filled: &mut Vec<String>) {
    if slot.is_none()
        && let Some(value) = value
    {
        *slot = Some(value.clone());
        filled.push(path.to_string());
    }
}

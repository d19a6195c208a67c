//! The enrich stage over the in-memory store and directory.

mod stages_support;

use leadq_pipeline::LeadStore;
use leadq_pipeline::memory::MemoryStore;
use leadq_pipeline::stages::{
    CompanyDirectory, MemoryDirectory, StageError, enrich_lead, parse_company_csv,
};
use leadq_scoring::{JobFunction, Seniority};
use stages_support::*;

#[tokio::test]
async fn fills_domain_person_and_company_with_provenance() {
    let store = MemoryStore::new();
    put_lead(
        &store,
        bare_lead("l1", "Jane.Doe+promo@Acme.com", Some("VP Eng")),
    )
    .await;
    let outcome = enrich_lead(&store, &acme_directory(), "l1", at(60), &quick())
        .await
        .expect("enrich");
    assert!(outcome.written);
    let lead = &outcome.record.lead;
    assert_eq!(lead.company.domain.as_deref(), Some("acme.com"));
    assert_eq!(lead.person.seniority, Some(Seniority::Vp));
    assert_eq!(lead.person.function, Some(JobFunction::Engineering));
    assert_eq!(lead.company.industry.as_deref(), Some("software"));
    assert_eq!(lead.company.employees, Some(500));
    assert_eq!(lead.company.country.as_deref(), Some("US"));
    assert_eq!(lead.company.business_model.as_deref(), Some("b2b"));
    assert_eq!(
        lead.company.tech_stack,
        Some(vec!["salesforce".to_string(), "aws".to_string()])
    );
    // unknown to every provider: stays unknown, with no provenance
    assert_eq!(lead.company.revenue_band, None);
    assert_eq!(lead.person.authority, None);
    assert_eq!(lead.person.occupation, None);
    let provenance = &outcome.record.provenance;
    assert!(!provenance.contains_key("company.revenue_band"));
    assert_eq!(provenance["company.domain"].provider, "email_analysis");
    assert_eq!(provenance["person.seniority"].provider, "title_parser");
    assert_eq!(provenance["person.function"].provider, "title_parser");
    assert_eq!(provenance["company.industry"].provider, "company_directory");
    assert!(provenance.values().all(|p| p.at == at(60)));
    assert!(
        provenance
            .values()
            .all(|p| p.confidence > 0.0 && p.confidence <= 1.0)
    );
    let mut filled = outcome.filled.clone();
    filled.sort();
    let mut keys: Vec<String> = provenance.keys().cloned().collect();
    keys.sort();
    assert_eq!(filled, keys);
    assert_eq!(
        store.get_lead("l1").await.expect("get"),
        Some(outcome.record)
    );
}

#[tokio::test]
async fn never_overwrites_what_the_form_gave() {
    let store = MemoryStore::new();
    let mut lead = bare_lead("l2", "jane@other-corp.com", Some("CTO"));
    lead.person.seniority = Some(Seniority::Manager);
    lead.person.function = Some(JobFunction::Sales);
    lead.company.domain = Some("www.Acme.com".into());
    lead.company.industry = Some("retail".into());
    put_lead(&store, lead).await;
    let outcome = enrich_lead(&store, &acme_directory(), "l2", at(60), &quick())
        .await
        .expect("enrich");
    let lead = &outcome.record.lead;
    assert_eq!(lead.person.seniority, Some(Seniority::Manager));
    assert_eq!(lead.person.function, Some(JobFunction::Sales));
    assert_eq!(lead.company.domain.as_deref(), Some("www.Acme.com"));
    assert_eq!(lead.company.industry.as_deref(), Some("retail"));
    // the form's domain is still looked up (normalised): the rest is filled
    assert_eq!(lead.company.employees, Some(500));
    let provenance = &outcome.record.provenance;
    for kept in [
        "person.seniority",
        "person.function",
        "company.domain",
        "company.industry",
    ] {
        assert!(!provenance.contains_key(kept), "{kept} was overwritten");
    }
    assert!(provenance.contains_key("company.employees"));
}

#[tokio::test]
async fn free_mail_gives_no_company() {
    let store = MemoryStore::new();
    put_lead(&store, bare_lead("l3", "someone@gmail.com", Some("Wizard"))).await;
    let outcome = enrich_lead(&store, &acme_directory(), "l3", at(60), &quick())
        .await
        .expect("enrich");
    assert!(!outcome.written);
    assert!(outcome.filled.is_empty());
    assert_eq!(outcome.record.lead.company.domain, None);
    assert_eq!(outcome.record.version, 1);
}

#[tokio::test]
async fn enriching_twice_writes_once() {
    let store = MemoryStore::new();
    put_lead(
        &store,
        bare_lead("l4", "kim@acme.com", Some("Head of Marketing")),
    )
    .await;
    let directory = acme_directory();
    let first = enrich_lead(&store, &directory, "l4", at(60), &quick())
        .await
        .expect("first");
    assert!(first.written);
    assert_eq!(first.record.version, 2);
    let second = enrich_lead(&store, &directory, "l4", at(120), &quick())
        .await
        .expect("second");
    assert!(!second.written);
    assert!(second.filled.is_empty());
    assert_eq!(second.record, first.record);
    assert_eq!(store.get_lead("l4").await.expect("get"), Some(first.record));
}

#[tokio::test]
async fn imported_csv_feeds_the_directory() {
    let companies = parse_company_csv(
        "domain,name,industry,employees,revenue_band,country,tech_stack,business_model\n\
         beta.io,Beta,Fintech,40,1m-10m,de,Snowflake;Segment,b2b\n",
    )
    .expect("csv");
    let directory = MemoryDirectory::new();
    directory.upsert(&companies).await.expect("upsert");
    let store = MemoryStore::new();
    put_lead(&store, bare_lead("l5", "ana@beta.io", None)).await;
    let outcome = enrich_lead(&store, &directory, "l5", at(60), &quick())
        .await
        .expect("enrich");
    let company = &outcome.record.lead.company;
    assert_eq!(company.industry.as_deref(), Some("fintech"));
    assert_eq!(company.revenue_band.as_deref(), Some("1m-10m"));
    assert_eq!(company.country.as_deref(), Some("DE"));
}

#[tokio::test]
async fn missing_lead_is_reported() {
    let store = MemoryStore::new();
    let err = enrich_lead(&store, &acme_directory(), "ghost", at(0), &quick())
        .await
        .expect_err("missing");
    assert_eq!(
        err,
        StageError::LeadNotFound {
            lead_id: "ghost".into()
        }
    );
    assert_eq!(err.to_string(), "lead ghost not found");
}

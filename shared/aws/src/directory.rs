//! The company directory on DynamoDB: one item per company in the store's table
//! (`pk = COMPANY#<normalised domain>`, `sk = COMPANY`), written with BatchWriteItem in
//! chunks of 25 through [`crate::batch`].

use crate::batch::{Backoff, batch_write};
use crate::dynamo::{DynamoStore, decode, encode};
use crate::error::{StoreOp, built, sdk_error};
use crate::table::{self, COMPANY_SK, key};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use leadq_pipeline::StoreError;
use leadq_pipeline::stages::{CompanyDirectory, CompanyFacts, normalise_domain};
use std::collections::BTreeMap;

/// A [`CompanyDirectory`] in the single table.
#[derive(Debug, Clone)]
pub struct DynamoDirectory {
    client: Client,
    table: String,
    backoff: Backoff,
}

impl DynamoDirectory {
    /// The directory in `table_name` through `client`.
    pub fn new(client: Client, table_name: impl Into<String>) -> DynamoDirectory {
        DynamoDirectory {
            client,
            table: table_name.into(),
            backoff: Backoff::default(),
        }
    }

    /// The directory in the same table, through the same client, as `store`.
    pub fn for_store(store: &DynamoStore) -> DynamoDirectory {
        DynamoDirectory::new(store.client().clone(), store.table_name())
    }

    /// Replaces the backoff of batch writes.
    pub fn with_backoff(mut self, backoff: Backoff) -> DynamoDirectory {
        self.backoff = backoff;
        self
    }

    /// The item a company is stored as (its domain already normalised).
    pub fn company_item(company: &CompanyFacts) -> Result<table::Item, StoreError> {
        encode(
            "encode_company",
            company,
            table::company_pk(&company.domain),
            COMPANY_SK.into(),
            "company",
        )
    }
}

#[async_trait]
impl CompanyDirectory for DynamoDirectory {
    async fn lookup(&self, domain: &str) -> Result<Option<CompanyFacts>, StoreError> {
        const OP: StoreOp = "lookup_company";
        let Some(domain) = normalise_domain(domain) else {
            return Ok(None);
        };
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(table::company_pk(&domain), COMPANY_SK)))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        output.item.map(|item| decode(OP, item)).transpose()
    }

    async fn upsert(&self, companies: &[CompanyFacts]) -> Result<usize, StoreError> {
        const OP: StoreOp = "upsert_companies";
        // BatchWriteItem refuses two requests for one key: the last of a domain wins, as
        // it would written one by one
        let mut keyed = BTreeMap::new();
        let mut written = 0;
        for company in companies {
            if let Some(domain) = normalise_domain(&company.domain) {
                let mut stored = company.clone();
                stored.domain = domain.clone();
                keyed.insert(domain, stored);
                written += 1;
            }
        }
        let mut requests = Vec::with_capacity(keyed.len());
        for company in keyed.values() {
            let put = built(
                OP,
                PutRequest::builder()
                    .set_item(Some(DynamoDirectory::company_item(company)?))
                    .build(),
            )?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        batch_write(OP, requests, self.backoff, |batch| {
            let client = self.client.clone();
            let table = self.table.clone();
            async move {
                let output = client
                    .batch_write_item()
                    .request_items(table.clone(), batch)
                    .send()
                    .await
                    .map_err(|e| sdk_error(OP, e))?;
                Ok(output
                    .unprocessed_items
                    .and_then(|mut unprocessed| unprocessed.remove(&table))
                    .unwrap_or_default())
            }
        })
        .await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_items_leave_unknowns_out_and_round_trip() {
        let company = CompanyFacts {
            domain: "acme.com".into(),
            industry: Some("software".into()),
            employees: Some(250),
            tech_stack: Some(vec!["aws".into()]),
            ..CompanyFacts::default()
        };
        let item = DynamoDirectory::company_item(&company).expect("encodes");
        assert_eq!(
            item.get(table::PK)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str),
            Some("COMPANY#acme.com")
        );
        assert!(!item.contains_key("name"), "unknown fields are not stored");
        assert!(!item.contains_key("country"));
        let back: CompanyFacts = decode("test", item).expect("decodes");
        assert_eq!(back, company);
    }
}

//! Read-only views of the local store for the dashboard of `leadq serve`: the lead queue
//! with its filters, the band x next-action counts, the fallback queue's size and the
//! names of leads. They read the JSON columns with `json_extract`, so a page never decodes
//! a thousand full records to show a table; anything shown in full (one lead, alerts,
//! model versions) goes through the [`LeadStore`](leadq_pipeline::LeadStore) port instead.

use crate::SqliteStore;
use crate::db::Fail;
use chrono::{DateTime, Utc};
use leadq_pipeline::StoreError;
use leadq_pipeline::routing::Assignee;
use leadq_scoring::{Band, NextAction};
use rusqlite::params;
use std::collections::BTreeMap;

/// Which leads the queue shows: `None` means any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// Only leads in this band.
    pub band: Option<Band>,
    /// Only leads with this next action.
    pub action: Option<NextAction>,
}

/// One scored lead in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    /// The lead's id.
    pub id: String,
    /// The person's name, as submitted.
    pub name: Option<String>,
    /// The company's name.
    pub company: Option<String>,
    /// Composite score, 0-100.
    pub composite: u8,
    /// Band of the current verdict.
    pub band: Band,
    /// Next action of the current verdict.
    pub next_action: NextAction,
    /// The rep or queue working it; `None` before routing.
    pub assignee: Option<Assignee>,
    /// When the lead was created.
    pub created_at: DateTime<Utc>,
    /// When the current verdict was reached (the latest score-history entry).
    pub verdict_at: Option<DateTime<Utc>>,
}

/// A page of the queue and how many leads match in all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueuePage {
    /// The rows, by band (hot first), then composite (highest first), then id.
    pub rows: Vec<QueueRow>,
    /// Scored leads matching the filter, shown or not.
    pub matching: usize,
}

/// How many scored leads have each (band, next action) pair, and how many wait unscored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VerdictCounts {
    /// Scored leads by band and next action (pairs with none are absent).
    pub by_verdict: BTreeMap<(Band, NextAction), usize>,
    /// Leads stored but not scored yet.
    pub unscored: usize,
}

/// Band order of the queue, hot first, as SQL (the JSON holds the snake_case names).
const BAND_RANK: &str = "CASE json_extract(record, '$.card.band') \
    WHEN 'hot' THEN 0 WHEN 'warm' THEN 1 WHEN 'mql' THEN 2 WHEN 'cold' THEN 3 ELSE 4 END";

/// Reads an enum stored as its serde name (`hot`, `sales_now`).
fn from_name<T: serde::de::DeserializeOwned>(what: &str, name: &str) -> Result<T, Fail> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|e| Fail::Corrupt(format!("{what} {name:?}: {e}")))
}

/// The serde name of an enum value, for a SQL parameter.
fn name_of<T: serde::Serialize>(value: &T) -> Option<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => Some(name),
        _ => None,
    }
}

fn time(what: &str, text: &str) -> Result<DateTime<Utc>, Fail> {
    text.parse::<DateTime<Utc>>()
        .map_err(|e| Fail::Corrupt(format!("{what} {text:?}: {e}")))
}

impl SqliteStore {
    /// Scored leads matching `filter`, at most `limit`, best first, and how many match.
    pub async fn queue_page(
        &self,
        filter: QueueFilter,
        limit: usize,
    ) -> Result<QueuePage, StoreError> {
        let band = filter.band.as_ref().and_then(name_of);
        let action = filter.action.as_ref().and_then(name_of);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                let filter_sql = "json_extract(record, '$.card') IS NOT NULL \
                    AND (?1 IS NULL OR json_extract(record, '$.card.band') = ?1) \
                    AND (?2 IS NULL OR json_extract(record, '$.card.next_action') = ?2)";
                let matching: i64 = conn.query_row(
                    &format!("SELECT COUNT(*) FROM leads WHERE {filter_sql}"),
                    params![band, action],
                    |row| row.get(0),
                )?;
                let mut statement = conn.prepare_cached(&format!(
                    "SELECT id,
                        json_extract(record, '$.lead.person.name'),
                        json_extract(record, '$.lead.company.name'),
                        json_extract(record, '$.card.composite'),
                        json_extract(record, '$.card.band'),
                        json_extract(record, '$.card.next_action'),
                        json_extract(record, '$.assignment.assignee'),
                        json_extract(record, '$.created_at'),
                        (SELECT MAX(at) FROM history WHERE history.lead_id = leads.id)
                     FROM leads WHERE {filter_sql}
                     ORDER BY {BAND_RANK}, json_extract(record, '$.card.composite') DESC, id
                     LIMIT ?3"
                ))?;
                let raw = statement
                    .query_map(params![band, action, limit], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, Option<String>>(1)?,
                            row.get::<_, Option<String>>(2)?,
                            row.get::<_, i64>(3)?,
                            row.get::<_, String>(4)?,
                            row.get::<_, String>(5)?,
                            row.get::<_, Option<String>>(6)?,
                            row.get::<_, String>(7)?,
                            row.get::<_, Option<i64>>(8)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut rows = Vec::with_capacity(raw.len());
                for (id, name, company, composite, band, action, assignee, created, verdict) in raw
                {
                    let assignee = match assignee {
                        Some(json) => Some(crate::db::decode("assignee of lead", &id, &json)?),
                        None => None,
                    };
                    rows.push(QueueRow {
                        composite: u8::try_from(composite.clamp(0, 100)).unwrap_or(0),
                        band: from_name("band", &band)?,
                        next_action: from_name("next action", &action)?,
                        assignee,
                        created_at: time("created_at", &created)?,
                        verdict_at: verdict.map(DateTime::from_timestamp_nanos),
                        id,
                        name,
                        company,
                    });
                }
                Ok(QueuePage {
                    rows,
                    matching: usize::try_from(matching).unwrap_or(0),
                })
            })
            .await
            .map_err(|e| e.store("queue_page"))
    }

    /// Scored leads by band and next action, and the number not scored yet.
    pub async fn verdict_counts(&self) -> Result<VerdictCounts, StoreError> {
        self.db
            .read(|conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT json_extract(record, '$.card.band') AS band,
                            json_extract(record, '$.card.next_action') AS action,
                            COUNT(*)
                     FROM leads GROUP BY band, action",
                )?;
                let raw = statement
                    .query_map([], |row| {
                        Ok((
                            row.get::<_, Option<String>>(0)?,
                            row.get::<_, Option<String>>(1)?,
                            row.get::<_, i64>(2)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut counts = VerdictCounts::default();
                for (band, action, count) in raw {
                    let count = usize::try_from(count).unwrap_or(0);
                    match (band, action) {
                        (Some(band), Some(action)) => {
                            let key = (
                                from_name("band", &band)?,
                                from_name("next action", &action)?,
                            );
                            *counts.by_verdict.entry(key).or_insert(0) += count;
                        }
                        _ => counts.unscored += count,
                    }
                }
                Ok(counts)
            })
            .await
            .map_err(|e| e.store("verdict_counts"))
    }

    /// Leads waiting in the fallback queue `queue` (assigned to it, not to a rep).
    pub async fn queue_size(&self, queue: &str) -> Result<usize, StoreError> {
        let queue = queue.to_owned();
        self.db
            .read(move |conn| {
                let count: i64 = conn.query_row(
                    "SELECT COUNT(*) FROM leads
                     WHERE json_extract(record, '$.assignment.assignee.queue') = ?1",
                    [&queue],
                    |row| row.get(0),
                )?;
                Ok(usize::try_from(count).unwrap_or(0))
            })
            .await
            .map_err(|e| e.store("queue_size"))
    }

    /// The person's name of each stored lead among `ids` (leads without a name or gone
    /// are absent).
    pub async fn lead_names(&self, ids: &[String]) -> Result<BTreeMap<String, String>, StoreError> {
        let ids = ids.to_vec();
        self.db
            .read(move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT json_extract(record, '$.lead.person.name') FROM leads WHERE id = ?1",
                )?;
                let mut names = BTreeMap::new();
                for id in ids {
                    let name: Option<Option<String>> = statement
                        .query_row([&id], |row| row.get(0))
                        .map(Some)
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(None),
                            other => Err(other),
                        })?;
                    if let Some(Some(name)) = name {
                        names.insert(id, name);
                    }
                }
                Ok(names)
            })
            .await
            .map_err(|e| e.store("lead_names"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteOptions;
    use leadq_pipeline::routing::Assignment;
    use leadq_pipeline::{HistoryEntry, LeadRecord, LeadStore};
    use leadq_scoring::{Lead, ScoreCard};

    fn record(id: &str, name: &str, composite: u8, band: Band, action: NextAction) -> LeadRecord {
        let now: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().expect("time");
        let mut lead = Lead {
            id: id.into(),
            ..Lead::default()
        };
        lead.person.name = Some(name.into());
        let mut record = LeadRecord::new(lead, Some(format!("{id}@example.com")), now);
        let mut card = ScoreCard::empty();
        card.lead_id = id.into();
        card.composite = composite;
        card.band = band;
        card.next_action = action;
        record.card = Some(card);
        record
    }

    #[tokio::test]
    async fn queue_is_ordered_filtered_and_counted() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(dir.path().join("v.db"), &SqliteOptions::default())
            .await
            .expect("open");
        let leads = [
            record("a", "Ann", 40, Band::Mql, NextAction::Nurture),
            record("b", "Bob", 90, Band::Hot, NextAction::SalesNow),
            record("c", "Cy", 95, Band::Hot, NextAction::SalesNow),
            record("d", "Di", 70, Band::Warm, NextAction::SdrReview),
        ];
        for lead in &leads {
            store.create_lead(lead).await.expect("create");
        }
        let mut queued = leads[3].clone();
        queued.version += 1;
        queued.assignment = Some(Assignment {
            assignee: Assignee::Queue("unassigned".into()),
            team: None,
            rule: "no team".into(),
            strategy: None,
            rep_load: None,
            band: Band::Warm,
            next_action: NextAction::SdrReview,
            composite: 70,
            at: queued.created_at,
            why: "no rep".into(),
        });
        store.update_lead(&queued).await.expect("update");
        let mut unscored = record("e", "Eve", 0, Band::Cold, NextAction::Nurture);
        unscored.card = None;
        store.create_lead(&unscored).await.expect("create");
        let at: DateTime<Utc> = "2026-11-23T13:00:00Z".parse().expect("time");
        store
            .add_history(
                "b",
                &HistoryEntry {
                    at,
                    from_band: None,
                    to_band: Band::Hot,
                    next_action: NextAction::SalesNow,
                    composite: 90,
                    cause: "new lead".into(),
                    model_version: "v".into(),
                },
            )
            .await
            .expect("history");

        let page = store
            .queue_page(QueueFilter::default(), 3)
            .await
            .expect("page");
        let ids: Vec<&str> = page.rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "d"]);
        assert_eq!(page.matching, 4);
        assert_eq!(page.rows[1].verdict_at, Some(at));
        assert_eq!(page.rows[0].verdict_at, None);
        assert_eq!(
            page.rows[2].assignee,
            Some(Assignee::Queue("unassigned".into()))
        );

        let hot = store
            .queue_page(
                QueueFilter {
                    band: Some(Band::Hot),
                    action: Some(NextAction::SalesNow),
                },
                10,
            )
            .await
            .expect("page");
        assert_eq!(hot.matching, 2);

        let counts = store.verdict_counts().await.expect("counts");
        assert_eq!(counts.unscored, 1);
        assert_eq!(
            counts.by_verdict.get(&(Band::Hot, NextAction::SalesNow)),
            Some(&2)
        );
        assert_eq!(store.queue_size("unassigned").await.expect("size"), 1);
        let names = store
            .lead_names(&["a".into(), "zz".into()])
            .await
            .expect("names");
        assert_eq!(names.get("a").map(String::as_str), Some("Ann"));
        assert_eq!(names.len(), 1);
    }
}

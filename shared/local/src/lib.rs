//! leadq's embedded adapters: [`SqliteStore`] (a [`LeadStore`]), [`SqliteQueue`] (a
//! durable [`WorkQueue`]), [`SqliteDirectory`] (the company directory) and
//! [`SqliteLedger`] (reps' capacity, a [`RepLedger`]), all in one SQLite file, so leadq
//! runs on a laptop with no cloud. [`worker`] runs a stage's queue in process (the local
//! server's workers) and [`SqliteSettings`] keeps named values such as the generated
//! ingest secret.
//!
//! # The file
//! Opened in WAL mode with a busy timeout; the schema below is created on open (inside a
//! write transaction, so several processes may open the same new file at once) and
//! recorded as `PRAGMA user_version = 2` (version 2 added `rep_open`, filled from the
//! holdings of a version 1 file when it is first opened). Timestamps used for ordering are integers:
//! nanoseconds since the epoch for store keys, milliseconds for the queue's clock.
//!
//! | table | key | holds |
//! |---|---|---|
//! | `leads` | `id` | `email_key` (UNIQUE), `version`, `rescore_at` (indexed with `id`), `record` (the `LeadRecord` as JSON) |
//! | `events` | `(lead_id, event_id)` | `at` (indexed with `lead_id`), `event` (the `StoredEvent` as JSON) |
//! | `history` | `(lead_id, at)` | `entry` (a `HistoryEntry` as JSON); insert-or-ignore, so idempotent on `at` |
//! | `idempotency` | `id` | `expiration`, `record` (an `IdempotencyRecord` as JSON) |
//! | `alerts` | `id` | `state`, `created_at` (indexed together), `version`, `alert` (JSON) |
//! | `outcomes` | `lead_id` | `outcome` (JSON); one per lead, replaced |
//! | `model_versions` | `version` | `created_at`, `model` (a `ModelVersion` as JSON) |
//! | `tombstones` | `email_hash` | `lead_id`, `erased_at`, `tombstone` (JSON): what erasing a lead keeps, the hex SHA-256 of its email key |
//! | `companies` | `domain` (normalised) | `facts` (a `CompanyFacts` as JSON): the company directory, [`SqliteDirectory`] |
//! | `rep_holdings` | `lead_id` | `rep` (indexed), `day` (`YYYY-MM-DD`), `taken_at` (ms): the rep slot a lead holds; a rep's open count is its number of rows, [`SqliteLedger`] |
//! | `rep_open` | `rep` | `open`: the rep's number of holdings, kept by triggers on `rep_holdings` |
//! | `rep_days` | `(rep, day)` | `given`: leads given to the rep that day (the new-per-day cap) |
//! | `settings` | `key` | `value`; `active_model` names the active model version |
//! | `queue_messages` | `seq` (send order) | `message_id` (UNIQUE), `stage`, `body`, `receive_count`, `visible_at` (ms), `receipt` (UNIQUE, the latest receive's handle), `sent_at` |
//! | `queue_dead_letters` | `seq` | `message_id`, `stage`, `body`, `receive_count`, `sent_at`, `dead_at` |
//!
//! # Concurrency
//! SQLite is blocking, so the file's one connection lives on a thread of its own
//! (`leadq-sqlite`); the store, the queue, the ledger and the rest send it their calls
//! over a channel and await the answer, so no async worker ever blocks on SQLite. The
//! thread commits in groups: it takes every call waiting, runs them in one
//! `BEGIN IMMEDIATE` transaction (each write in a savepoint of its own, so a call that
//! fails undoes only itself) and answers them after the commit, so one commit serves many
//! calls under load and a call is answered only once what it wrote is durable; a failed
//! commit fails every call of its group. Reads that meet no write run in autocommit mode,
//! beside other processes' writers as WAL allows. `BEGIN IMMEDIATE` takes the file's
//! write lock before anything is read, so writers in other processes on the same file are
//! serialised and no update is lost; a writer that finds the lock taken waits up to the
//! busy timeout.
//!
//! # The queue
//! A message stays in `queue_messages` until acked. A receive hides it for the visibility
//! timeout (a new `receipt` each time) and counts the receive; `fail` makes it visible at
//! once; a message that has been received the maximum number of times and fails (or
//! comes up again unacked) moves to `queue_dead_letters`, as SQS's redrive policy does.

mod db;
mod directory;
mod ledger;
mod queue;
pub mod settings;
mod store;
pub mod views;
pub mod worker;

pub use db::SqliteOptions;
pub use directory::SqliteDirectory;
pub use ledger::SqliteLedger;
pub use queue::SqliteQueue;
pub use settings::SqliteSettings;
pub use store::SqliteStore;

#[doc(no_inline)]
pub use leadq_pipeline::{LeadStore, RepLedger, WorkQueue};

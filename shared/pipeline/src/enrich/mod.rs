//! Enrichment providers that need no network: email analysis and the title parser.
//!
//! Each gives facts with a confidence; the enrich stage records where every field came
//! from, and a field no provider knows stays unknown.

pub mod email;
pub mod title;

pub use email::{EmailError, EmailFacts, analyse, email_key, redact};
pub use title::{TitleFacts, parse_title};

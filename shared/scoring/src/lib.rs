//! leadq's common scoring crate: the domain types, the model as code, scoring with decay,
//! explanations and the next action. Pure and synchronous: no I/O, no clock, no async.
//!
//! ```
//! use leadq_scoring::{score, Lead, Model};
//! let model = Model::default_model();
//! let now = "2026-11-23T12:00:00Z".parse().unwrap();
//! let card = score(&Lead { id: "l1".into(), ..Lead::default() }, &[], &model, now);
//! assert!(card.composite <= 100);
//! ```

pub mod calibration;
pub mod dataset;
pub mod label;
pub mod lead;
pub mod metrics;
pub mod model;
pub mod score;
pub mod train;
pub mod verdict;

pub use calibration::{Calibration, CalibrationError, CalibrationOptions};
pub use label::Label;
pub use lead::{
    Authority, Company, Consent, Event, EventKind, JobFunction, Lead, Occupation, Outcome,
    OutcomeStatus, Person, Seniority, Utm,
};
pub use model::{Dimension, Model, ModelConfig, ModelError};
pub use score::{
    BandSpan, DimensionScores, MissingData, Reason, ScoreCard, next_action, score, score_into,
};
pub use verdict::{Band, NextAction};

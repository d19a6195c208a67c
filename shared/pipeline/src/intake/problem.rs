//! Refusals: [`IntakeError`] and its RFC 9457 problem details body.
//!
//! Every refusal names the field and the rule it broke, so a form owner can fix the
//! form without reading our code.

use serde::{Deserialize, Serialize};

/// The media type of a problem details body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One broken rule: which field, which rule, and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The field as the sender named it (for example `employees` or `events[3].at`).
    pub field: String,
    /// The rule it broke (for example `format`, `required`, `one_of`, `max_items`).
    pub rule: String,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl Violation {
    /// A violation of `rule` by `field`.
    pub fn new(
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Violation {
            field: field.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

/// Why a request was refused; nothing is stored on a refusal.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntakeError {
    /// The body is larger than [`super::MAX_BODY_BYTES`] (413).
    #[error("body is {size} bytes, more than the {limit} bytes allowed")]
    BodyTooLarge {
        /// The body's size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The content type is missing or not one this endpoint reads (415).
    #[error("content type `{content_type}` is not supported; send {supported}")]
    UnsupportedContentType {
        /// The content type as sent (empty when missing).
        content_type: String,
        /// What this endpoint accepts, for the message.
        supported: &'static str,
    },
    /// The body is not well-formed JSON or form data (400).
    #[error("body is not well-formed {format}: {detail}")]
    MalformedBody {
        /// `JSON` or `form data`.
        format: &'static str,
        /// The parser's complaint (position, not content).
        detail: String,
    },
    /// The body is well-formed but breaks one or more rules (422).
    #[error("{} field(s) invalid, first: {}: {}", .0.len(), first_field(.0), first_message(.0))]
    Invalid(Vec<Violation>),
}

fn first_field(violations: &[Violation]) -> &str {
    violations.first().map_or("", |v| v.field.as_str())
}

fn first_message(violations: &[Violation]) -> &str {
    violations.first().map_or("", |v| v.message.as_str())
}

impl IntakeError {
    /// A 422 refusal naming one field and rule.
    pub fn invalid(
        field: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        IntakeError::Invalid(vec![Violation::new(field, rule, message)])
    }

    /// The HTTP status code of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            IntakeError::BodyTooLarge { .. } => 413,
            IntakeError::UnsupportedContentType { .. } => 415,
            IntakeError::MalformedBody { .. } => 400,
            IntakeError::Invalid(_) => 422,
        }
    }

    /// The broken rules, one per field (also for 400, 413 and 415, which name `body` or
    /// `content-type`).
    pub fn violations(&self) -> Vec<Violation> {
        match self {
            IntakeError::BodyTooLarge { .. } => {
                vec![Violation::new("body", "max_size", self.to_string())]
            }
            IntakeError::UnsupportedContentType { .. } => {
                vec![Violation::new(
                    "content-type",
                    "media_type",
                    self.to_string(),
                )]
            }
            IntakeError::MalformedBody { .. } => {
                vec![Violation::new("body", "syntax", self.to_string())]
            }
            IntakeError::Invalid(violations) => violations.clone(),
        }
    }

    /// The problem details body of the refusal.
    pub fn to_problem(&self) -> Problem {
        let (slug, title) = match self {
            IntakeError::BodyTooLarge { .. } => ("body-too-large", "Request body too large"),
            IntakeError::UnsupportedContentType { .. } => {
                ("unsupported-content-type", "Unsupported content type")
            }
            IntakeError::MalformedBody { .. } => ("malformed-body", "Malformed request body"),
            IntakeError::Invalid(_) => ("validation", "Request failed validation"),
        };
        Problem {
            problem_type: format!("urn:leadq:problem:{slug}"),
            title: title.to_owned(),
            status: self.status(),
            detail: self.to_string(),
            errors: self.violations(),
        }
    }
}

/// An RFC 9457 problem details body, with the broken rules in `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Every broken rule, naming the field.
    pub errors: Vec<Violation>,
}

impl Problem {
    /// The body as `application/problem+json` text.
    pub fn to_json(&self) -> String {
        // plain strings and numbers always serialise; the fallback is never reached
        serde_json::to_string(self).unwrap_or_else(|_| {
            format!(
                "{{\"type\":\"about:blank\",\"title\":\"Error\",\"status\":{}}}",
                self.status
            )
        })
    }
}

impl From<&IntakeError> for Problem {
    fn from(error: &IntakeError) -> Self {
        error.to_problem()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_json_has_the_rfc_9457_members_and_the_errors() {
        let error = IntakeError::invalid("email", "format", "must be a valid email address");
        let json: serde_json::Value = serde_json::from_str(&error.to_problem().to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "urn:leadq:problem:validation",
                "title": "Request failed validation",
                "status": 422,
                "detail": "1 field(s) invalid, first: email: must be a valid email address",
                "errors": [{"field": "email", "rule": "format", "message": "must be a valid email address"}]
            })
        );
        let too_large = IntakeError::BodyTooLarge { size: 10, limit: 5 };
        assert_eq!(too_large.to_problem().status, 413);
        assert_eq!(too_large.violations()[0].field, "body");
    }
}

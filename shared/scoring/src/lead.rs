//! Domain types: the lead, the behavioural events and the outcomes it is scored from.
//!
//! Every attribute that can be unknown is an `Option` and stays `None` until a form or an
//! enrichment provider says otherwise: unknown is a real state, never coerced into "no".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A prospective customer: one person at (maybe) one company.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lead {
    /// Stable identifier of the lead.
    pub id: String,
    /// The person who submitted the form.
    #[serde(default)]
    pub person: Person,
    /// The company the person works for, as far as it is known.
    #[serde(default)]
    pub company: Company,
    /// Where the lead came from (for example `website`, `hubspot`, `typeform`).
    #[serde(default)]
    pub source: Option<String>,
    /// Campaign attribution of the first touch.
    #[serde(default)]
    pub utm: Utm,
    /// Marketing consent as the person gave it.
    #[serde(default)]
    pub consent: Consent,
    /// When leadq first saw the lead.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// The person behind a lead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Email address as submitted.
    pub email: Option<String>,
    /// Full name.
    pub name: Option<String>,
    /// Job title as written by the person.
    pub title: Option<String>,
    /// Phone number as submitted.
    pub phone: Option<String>,
    /// ISO 3166-1 alpha-2 country code of the person.
    pub country: Option<String>,
    /// Seniority, from the form or derived from the title.
    pub seniority: Option<Seniority>,
    /// Job function, from the form or derived from the title.
    pub function: Option<JobFunction>,
    /// Role in the buying decision.
    pub authority: Option<Authority>,
    /// Current occupation, where a form asks for it.
    pub occupation: Option<Occupation>,
}

/// The company behind a lead (firmographics).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Company {
    /// Web domain, lower case, without `www.`.
    pub domain: Option<String>,
    /// Company name.
    pub name: Option<String>,
    /// Industry, lower case (for example `software`).
    pub industry: Option<String>,
    /// Number of employees.
    pub employees: Option<u32>,
    /// Annual revenue band (for example `10m-50m`).
    pub revenue_band: Option<String>,
    /// ISO 3166-1 alpha-2 country code of the company's headquarters.
    pub country: Option<String>,
    /// Technologies the company is known to use, lower case. `None` when nobody knows;
    /// an empty list means "known to use none of interest".
    pub tech_stack: Option<Vec<String>>,
    /// Business model (for example `b2b`, `b2c`, `marketplace`).
    pub business_model: Option<String>,
}

/// Campaign attribution (UTM parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Utm {
    /// `utm_source`.
    pub source: Option<String>,
    /// `utm_medium`.
    pub medium: Option<String>,
    /// `utm_campaign`.
    pub campaign: Option<String>,
}

/// Consent flags; `None` means the form did not ask.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// May we email this person?
    pub email: Option<bool>,
    /// May we call this person?
    pub phone: Option<bool>,
}

/// How senior a person is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seniority {
    /// Chief officers, founders, owners, presidents.
    CLevel,
    /// Vice presidents.
    Vp,
    /// Heads of and directors.
    Director,
    /// Managers and team leads.
    Manager,
    /// Individual contributors.
    IndividualContributor,
    /// Students and interns.
    Student,
}

/// What part of the business a person works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobFunction {
    /// General management and founders.
    Executive,
    /// Sales and business development.
    Sales,
    /// Marketing.
    Marketing,
    /// Software engineering and R&D.
    Engineering,
    /// IT and security.
    It,
    /// Product management and design.
    Product,
    /// Finance and accounting.
    Finance,
    /// Operations and supply chain.
    Operations,
    /// People and HR.
    Hr,
    /// Customer support and success.
    Support,
    /// Legal and compliance.
    Legal,
    /// Consulting and advisory.
    Consulting,
    /// Education, research and academia.
    Education,
    /// Anything else that is known.
    Other,
}

/// A person's role in a buying decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Authority {
    /// Signs the contract or owns the budget.
    DecisionMaker,
    /// Shapes the decision (champion, evaluator).
    Influencer,
    /// Will use the product but does not decide.
    User,
}

/// What a person does for a living, where a form asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Occupation {
    /// Employed by a company.
    Employed,
    /// Runs their own business.
    SelfEmployed,
    /// In school or university.
    Student,
    /// Looking for a job.
    JobSeeker,
}

/// The kinds of behavioural events leadq knows how to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Any page view not covered by a more specific kind.
    PageView,
    /// A view of the pricing page.
    PricingView,
    /// A view of the demo or trial page.
    DemoPageView,
    /// A view of a case study.
    CaseStudyView,
    /// A downloaded whitepaper, e-book or similar.
    ContentDownload,
    /// A submitted form (other than the lead's first).
    FormSubmit,
    /// Attended a webinar.
    Webinar,
    /// Opened a marketing email.
    EmailOpen,
    /// Clicked a link in a marketing email.
    EmailClick,
    /// Replied to an email.
    EmailReply,
    /// Unsubscribed from email.
    Unsubscribe,
    /// Asked for a demo or a consultation.
    #[serde(alias = "consultation_request")]
    DemoRequest,
    /// Signed up for a trial.
    TrialSignup,
    /// A website session; `minutes` says how long it lasted. Every session after the
    /// first also counts as a repeat visit.
    Session,
    /// Meaningful use of the product (trial or freemium).
    ProductUsage,
}

impl EventKind {
    /// Every kind, in declaration order (the index used by compiled models).
    pub const ALL: [EventKind; 15] = [
        EventKind::PageView,
        EventKind::PricingView,
        EventKind::DemoPageView,
        EventKind::CaseStudyView,
        EventKind::ContentDownload,
        EventKind::FormSubmit,
        EventKind::Webinar,
        EventKind::EmailOpen,
        EventKind::EmailClick,
        EventKind::EmailReply,
        EventKind::Unsubscribe,
        EventKind::DemoRequest,
        EventKind::TrialSignup,
        EventKind::Session,
        EventKind::ProductUsage,
    ];

    /// The snake_case name used in JSON and in the model file.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::PageView => "page_view",
            EventKind::PricingView => "pricing_view",
            EventKind::DemoPageView => "demo_page_view",
            EventKind::CaseStudyView => "case_study_view",
            EventKind::ContentDownload => "content_download",
            EventKind::FormSubmit => "form_submit",
            EventKind::Webinar => "webinar",
            EventKind::EmailOpen => "email_open",
            EventKind::EmailClick => "email_click",
            EventKind::EmailReply => "email_reply",
            EventKind::Unsubscribe => "unsubscribe",
            EventKind::DemoRequest => "demo_request",
            EventKind::TrialSignup => "trial_signup",
            EventKind::Session => "session",
            EventKind::ProductUsage => "product_usage",
        }
    }

    /// Looks a kind up by its snake_case name.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Position in [`EventKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One behavioural event of a lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Duration in minutes, for sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<f64>,
    /// Free-form properties kept for display (page URL, campaign, ...); never scored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

impl Event {
    /// An event of `kind` at `at` with no properties.
    pub fn new(kind: EventKind, at: DateTime<Utc>) -> Self {
        Event {
            kind,
            at,
            minutes: None,
            properties: BTreeMap::new(),
        }
    }
}

/// How a sales opportunity ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// Closed won: the lead became a customer.
    Won,
    /// Closed lost.
    Lost,
}

/// A closed outcome of a lead: the training data of recalibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// The lead the outcome belongs to.
    pub lead_id: String,
    /// Won or lost.
    pub status: OutcomeStatus,
    /// Deal amount, in the account's currency.
    #[serde(default)]
    pub amount: Option<f64>,
    /// When the deal closed.
    pub closed_at: DateTime<Utc>,
}

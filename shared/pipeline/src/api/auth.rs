//! Who may call the API: a request signature with the shared secret, or an API key
//! bound to what it may do.
//!
//! Secure by default: with neither a secret nor a key configured, every request is
//! refused. Keys are compared in constant time (over their SHA-256 digests, so even
//! the length of a configured key does not leak through timing).

use crate::intake::{Problem, Source, Violation};
use crate::signature::{self, DEFAULT_TOLERANCE_SECS, SignatureError};
use sha2::{Digest, Sha256};

/// The header that carries an API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Environment variable holding the signing secret.
pub const SECRET_ENV: &str = "LEADQ_INGEST_SECRET";

/// Environment variable holding the API keys (see [`IngestAuth::from_env`]).
pub const API_KEYS_ENV: &str = "LEADQ_API_KEYS";

/// Shortest API key or secret accepted: shorter ones can be guessed.
pub const MIN_SECRET_CHARS: usize = 16;

/// What a request wants to do, checked against an API key's scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `POST /v1/leads` from a source; `None` when the source named is not a known one
    /// (any valid key may then learn that it is unknown: nothing is stored).
    SubmitLead(Option<Source>),
    /// `POST /v1/events`.
    Events,
    /// `POST /v1/outcomes`.
    Outcomes,
    /// `GET /v1/leads/{id}`.
    Read,
    /// `DELETE /v1/leads/{id}`.
    Erase,
    /// `GET /v1/alerts`: read the alert outbox.
    ListAlerts,
    /// `POST /v1/alerts/{id}/resend`: put a failed alert back in the outbox.
    ResendAlert,
    /// `GET /v1/models[/{version}]`, `POST /v1/models/{version}/rollback`: model versions.
    Models,
}

/// One thing an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Submit leads from this source.
    Source(Source),
    /// Post behavioural events.
    Events,
    /// Post outcomes.
    Outcomes,
    /// Read leads.
    Read,
    /// Erase leads.
    Erase,
    /// Read the alert outbox and re-send failed alerts.
    Alerts,
    /// List and show model versions, roll the active model back.
    Models,
    /// Everything.
    All,
}

impl Scope {
    /// A scope by its name: a source name, `events`, `outcomes`, `read`, `erase`,
    /// `alerts`, `models` or `*`.
    pub fn from_name(name: &str) -> Option<Scope> {
        match name.trim() {
            "*" => Some(Scope::All),
            "events" => Some(Scope::Events),
            "outcomes" => Some(Scope::Outcomes),
            "read" => Some(Scope::Read),
            "erase" => Some(Scope::Erase),
            "alerts" => Some(Scope::Alerts),
            "models" => Some(Scope::Models),
            other => Source::from_name(other).map(Scope::Source),
        }
    }

    fn allows(self, access: Access) -> bool {
        match (self, access) {
            (Scope::All, _) => true,
            (_, Access::SubmitLead(None)) => true,
            (Scope::Source(mine), Access::SubmitLead(Some(wanted))) => mine == wanted,
            (Scope::Events, Access::Events)
            | (Scope::Outcomes, Access::Outcomes)
            | (Scope::Read, Access::Read)
            | (Scope::Erase, Access::Erase)
            | (Scope::Alerts, Access::ListAlerts | Access::ResendAlert)
            | (Scope::Models, Access::Models) => true,
            // alerts say what the leads say: whoever may read leads may list them
            (Scope::Read, Access::ListAlerts) => true,
            _ => false,
        }
    }
}

/// An API key: a name for the logs, what it may do, and the digest of the key itself.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    name: String,
    scopes: Vec<Scope>,
    digest: [u8; 32],
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print the key, not even its digest
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// A key named `name` (for the logs) that may do what `scopes` say.
    pub fn new(
        name: impl Into<String>,
        scopes: Vec<Scope>,
        key: &str,
    ) -> Result<ApiKey, AuthConfigError> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(AuthConfigError::Key {
                index: 0,
                reason: "the key's name is empty".into(),
            });
        }
        if key.chars().count() < MIN_SECRET_CHARS {
            return Err(AuthConfigError::Key {
                index: 0,
                reason: format!("key `{name}` is shorter than {MIN_SECRET_CHARS} characters"),
            });
        }
        if scopes.is_empty() {
            return Err(AuthConfigError::Key {
                index: 0,
                reason: format!("key `{name}` has no scope"),
            });
        }
        Ok(ApiKey {
            name,
            scopes,
            digest: Sha256::digest(key.as_bytes()).into(),
        })
    }

    /// The key's name (safe to log).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the key may do.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }
}

/// Why the authentication configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    /// The secret is too short.
    #[error("{SECRET_ENV}: must be at least {MIN_SECRET_CHARS} characters")]
    WeakSecret,
    /// One entry of the key list is not `name:scope[+scope...]:key`.
    #[error("{API_KEYS_ENV} entry {index}: {reason}")]
    Key {
        /// The entry's position, from 1.
        index: usize,
        /// What is wrong with it (never the key itself).
        reason: String,
    },
    /// Two entries share a name.
    #[error("{API_KEYS_ENV}: key name `{0}` is used twice")]
    DuplicateName(String),
}

/// How a request proved who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A valid `X-Leadq-Signature` with the shared secret.
    Signed,
    /// An API key, by name.
    Key(String),
}

/// Why a request was not authenticated (401); says which header and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Neither header was sent.
    #[error("send X-Leadq-Signature (t=<unix seconds>,v1=<hex hmac-sha256>) or X-Api-Key")]
    Missing,
    /// The signature was refused.
    #[error("{0}")]
    Signature(SignatureError),
    /// Signatures cannot be checked: no secret is configured.
    #[error("header x-leadq-signature: request signing is not configured here")]
    NoSecret,
    /// The API key is not a configured key.
    #[error("header x-api-key: not a valid key")]
    UnknownKey,
    /// The API key is valid but not for this.
    #[error("header x-api-key: this key may not be used for this request")]
    OutOfScope,
}

impl AuthError {
    /// The 401 problem details body, naming the header.
    pub fn to_problem(&self) -> Problem {
        let (field, rule) = match self {
            AuthError::Missing => ("X-Leadq-Signature", "required"),
            AuthError::Signature(SignatureError::Missing) => ("X-Leadq-Signature", "required"),
            AuthError::Signature(SignatureError::Malformed) => ("X-Leadq-Signature", "format"),
            AuthError::Signature(SignatureError::Stale { .. }) => {
                ("X-Leadq-Signature", "tolerance")
            }
            AuthError::Signature(SignatureError::Mismatch) => ("X-Leadq-Signature", "signature"),
            AuthError::NoSecret => ("X-Leadq-Signature", "configured"),
            AuthError::UnknownKey => ("X-Api-Key", "valid"),
            AuthError::OutOfScope => ("X-Api-Key", "scope"),
        };
        Problem {
            problem_type: "urn:leadq:problem:unauthorized".into(),
            title: "Unauthorized".into(),
            status: 401,
            detail: self.to_string(),
            errors: vec![Violation::new(field, rule, self.to_string())],
        }
    }
}

/// The API's credentials: the signing secret and the API keys.
#[derive(Clone)]
pub struct IngestAuth {
    secret: Option<Vec<u8>>,
    keys: Vec<ApiKey>,
    tolerance_secs: i64,
}

impl std::fmt::Debug for IngestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestAuth")
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("keys", &self.keys)
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

impl IngestAuth {
    /// Credentials from a secret (for signatures) and API keys; an empty secret counts
    /// as none. With neither, every request is refused.
    pub fn new(secret: Option<String>, api_keys: Vec<ApiKey>) -> Self {
        IngestAuth {
            secret: secret.filter(|s| !s.is_empty()).map(String::into_bytes),
            keys: api_keys,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }

    /// Reads `LEADQ_INGEST_SECRET` (at least 16 characters) and `LEADQ_API_KEYS`.
    ///
    /// `LEADQ_API_KEYS` is a comma-separated list of `name:scopes:key`, where `scopes`
    /// is `+`-separated: a source (`generic`, `hubspot`, `typeform`) lets the key submit
    /// leads from that source only; `events`, `outcomes`, `read` and `erase` allow those
    /// endpoints; `alerts` lists and re-sends alerts (`read` may list them too); `models`
    /// lists, shows and rolls back model versions; `*` allows everything. The key is the rest of the entry (it may hold
    /// `:` but not `,`) and has at least 16 characters. For example:
    /// `hubspot-webhook:hubspot:hs_4f9...,tracker:events:tr_a81...,crm:outcomes+read:crm_77e...`.
    /// Unset or empty variables mean no secret / no keys.
    pub fn from_env() -> Result<IngestAuth, AuthConfigError> {
        let secret = std::env::var(SECRET_ENV).ok().filter(|s| !s.is_empty());
        let keys = std::env::var(API_KEYS_ENV).unwrap_or_default();
        IngestAuth::from_config(secret, &keys)
    }

    /// Like [`IngestAuth::from_env`], from the two values themselves.
    pub fn from_config(secret: Option<String>, keys: &str) -> Result<IngestAuth, AuthConfigError> {
        if secret
            .as_deref()
            .is_some_and(|s| s.chars().count() < MIN_SECRET_CHARS)
        {
            return Err(AuthConfigError::WeakSecret);
        }
        Ok(IngestAuth::new(secret, parse_api_keys(keys)?))
    }

    /// Whether any credential is configured (if not, every request is refused).
    pub fn is_configured(&self) -> bool {
        self.secret.is_some() || !self.keys.is_empty()
    }

    /// Checks an `X-Api-Key` value for `access`, without reading the body.
    pub fn check_key(&self, presented: &str, access: Access) -> Result<Caller, AuthError> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // look at every key, so the time taken does not tell which one matched
        let mut matched: Option<&ApiKey> = None;
        for key in &self.keys {
            if constant_time_eq(&key.digest, &digest) {
                matched = Some(key);
            }
        }
        let key = matched.ok_or(AuthError::UnknownKey)?;
        if key.scopes.iter().any(|scope| scope.allows(access)) {
            Ok(Caller::Key(key.name.clone()))
        } else {
            Err(AuthError::OutOfScope)
        }
    }

    /// Checks an `X-Leadq-Signature` value over the raw body at `now_unix`.
    pub fn check_signature(
        &self,
        header: &str,
        body: &[u8],
        now_unix: i64,
    ) -> Result<Caller, AuthError> {
        let secret = self.secret.as_deref().ok_or(AuthError::NoSecret)?;
        signature::verify(Some(header), body, secret, now_unix, self.tolerance_secs)
            .map_err(AuthError::Signature)?;
        Ok(Caller::Signed)
    }
}

/// Equal in time independent of where the first difference is.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// Parses the `LEADQ_API_KEYS` format (see [`IngestAuth::from_env`]).
pub fn parse_api_keys(text: &str) -> Result<Vec<ApiKey>, AuthConfigError> {
    let mut keys: Vec<ApiKey> = Vec::new();
    for (i, entry) in text.split(',').enumerate() {
        let index = i + 1;
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let mut parts = entry.splitn(3, ':');
        let (Some(name), Some(scopes), Some(key)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthConfigError::Key {
                index,
                reason: "must be name:scopes:key".into(),
            });
        };
        let name = name.trim();
        let mut parsed = Vec::new();
        for scope in scopes.split('+') {
            match Scope::from_name(scope) {
                Some(scope) => parsed.push(scope),
                None => {
                    return Err(AuthConfigError::Key {
                        index,
                        reason: format!(
                            "unknown scope `{}`; one of: generic, hubspot, typeform, events, outcomes, read, erase, alerts, models, *",
                            scope.trim().chars().take(32).collect::<String>()
                        ),
                    });
                }
            }
        }
        let key = ApiKey::new(name, parsed, key.trim()).map_err(|error| match error {
            AuthConfigError::Key { reason, .. } => AuthConfigError::Key { index, reason },
            other => other,
        })?;
        if keys.iter().any(|k| k.name == key.name) {
            return Err(AuthConfigError::DuplicateName(key.name));
        }
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "hs_0123456789abcdef";

    #[test]
    fn parses_keys_with_scopes() {
        let keys = parse_api_keys(&format!(
            " hubspot:hubspot:{KEY} , admin:*:adm_0123456789abcdef:with:colons,crm:outcomes+read:crm_0123456789abcdef"
        ))
        .expect("valid");
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0].name(), "hubspot");
        assert_eq!(keys[0].scopes(), &[Scope::Source(Source::Hubspot)]);
        assert_eq!(keys[1].scopes(), &[Scope::All]);
        assert_eq!(keys[2].scopes(), &[Scope::Outcomes, Scope::Read]);
        let auth = IngestAuth::new(None, keys);
        assert_eq!(
            auth.check_key("adm_0123456789abcdef:with:colons", Access::Erase),
            Ok(Caller::Key("admin".into()))
        );
        assert!(parse_api_keys("").expect("empty").is_empty());
    }

    #[test]
    fn refuses_bad_key_lists_without_echoing_the_key() {
        for (text, index) in [
            ("justaname", 1),
            (&format!("a:hubspot:{KEY},b:nope:{KEY}") as &str, 2),
            ("a:hubspot:short", 1),
            (&format!(":hubspot:{KEY}"), 1),
        ] {
            let error = parse_api_keys(text).expect_err(text);
            assert!(
                matches!(error, AuthConfigError::Key { index: i, .. } if i == index),
                "{text}: {error:?}"
            );
            assert!(!error.to_string().contains(KEY));
        }
        assert_eq!(
            parse_api_keys(&format!("a:hubspot:{KEY},a:events:{KEY}x")),
            Err(AuthConfigError::DuplicateName("a".into()))
        );
        assert_eq!(
            IngestAuth::from_config(Some("short".into()), "").map(|_| ()),
            Err(AuthConfigError::WeakSecret)
        );
    }

    #[test]
    fn keys_are_bound_to_their_scopes() {
        let auth = IngestAuth::from_config(None, &format!("hs:hubspot:{KEY}")).expect("valid");
        assert!(auth.is_configured());
        assert!(
            auth.check_key(KEY, Access::SubmitLead(Some(Source::Hubspot)))
                .is_ok()
        );
        assert!(auth.check_key(KEY, Access::SubmitLead(None)).is_ok());
        for access in [
            Access::SubmitLead(Some(Source::Typeform)),
            Access::Events,
            Access::Outcomes,
            Access::Read,
            Access::Erase,
            Access::ListAlerts,
            Access::ResendAlert,
        ] {
            assert_eq!(auth.check_key(KEY, access), Err(AuthError::OutOfScope));
        }
        assert_eq!(
            auth.check_key("hs_0123456789abcdeF", Access::Read),
            Err(AuthError::UnknownKey)
        );
        assert_eq!(
            auth.check_signature("t=1,v1=00", b"", 1),
            Err(AuthError::NoSecret)
        );
    }

    #[test]
    fn nothing_configured_refuses_everything() {
        let auth = IngestAuth::new(Some(String::new()), Vec::new());
        assert!(!auth.is_configured());
        assert_eq!(auth.check_key("", Access::Read), Err(AuthError::UnknownKey));
        assert_eq!(
            auth.check_signature(&signature::sign(b"", 5, b"x"), b"x", 5),
            Err(AuthError::NoSecret)
        );
    }

    #[test]
    fn debug_output_hides_credentials() {
        let auth = IngestAuth::from_config(
            Some("whsec_0123456789abcdef".into()),
            &format!("hs:hubspot:{KEY}"),
        )
        .expect("valid");
        let shown = format!("{auth:?}");
        assert!(!shown.contains("whsec") && !shown.contains(KEY), "{shown}");
    }

    #[test]
    fn alerts_scope_lists_and_resends_and_read_only_lists() {
        let auth = IngestAuth::from_config(
            None,
            &format!("ops:alerts:ops_0123456789abcdef,reader:read:{KEY}"),
        )
        .expect("valid");
        let ops = "ops_0123456789abcdef";
        assert!(auth.check_key(ops, Access::ListAlerts).is_ok());
        assert!(auth.check_key(ops, Access::ResendAlert).is_ok());
        assert_eq!(
            auth.check_key(ops, Access::Read),
            Err(AuthError::OutOfScope)
        );
        assert!(auth.check_key(KEY, Access::ListAlerts).is_ok());
        assert_eq!(
            auth.check_key(KEY, Access::ResendAlert),
            Err(AuthError::OutOfScope)
        );
    }
}

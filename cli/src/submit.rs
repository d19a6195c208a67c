//! `leadq submit`: sends one submission to a running ingest endpoint, signed exactly as
//! ingest verifies it (`X-Leadq-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`).
//!
//! The first request after a deploy, and a way to replay a saved webhook body by hand.

use leadq_pipeline::api::{IDEMPOTENCY_KEY_HEADER, MIN_SECRET_CHARS};
use leadq_pipeline::signature::{SIGNATURE_HEADER, sign};
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

/// Exit code of something the user has to fix before sending (secret, file, URL).
const EXIT_INPUT: u8 = 2;
/// Exit code of a request that was sent and refused, or could not be sent.
const EXIT_FAILURE: u8 = 1;

/// Ingest refuses bodies above 256 KiB; the command refuses them before sending.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long a request may take; a cold ingest function answers well within it.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What a submission is: the route it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// A form submission: `POST /v1/leads`.
    Lead,
    /// Behavioural events: `POST /v1/events`.
    Events,
    /// A closed won/lost outcome: `POST /v1/outcomes`.
    Outcome,
}

impl Target {
    fn path(self) -> &'static str {
        match self {
            Target::Lead => "v1/leads",
            Target::Events => "v1/events",
            Target::Outcome => "v1/outcomes",
        }
    }
}

/// Options of `leadq submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The ingest endpoint's base URL (the stack's `IngestUrl` output, or
    /// `http://127.0.0.1:8080` locally); the route is appended.
    #[arg(long, value_name = "URL")]
    url: String,
    /// The environment variable holding the signing secret (never pass a secret as an
    /// argument: it would land in the shell history and the process list).
    #[arg(long, value_name = "VAR")]
    secret_env: String,
    /// What the file holds.
    #[arg(long, value_enum, default_value = "lead")]
    to: Target,
    /// The form's source, for a lead: generic, hubspot or typeform.
    #[arg(long, value_name = "SOURCE", default_value = "generic")]
    source: String,
    /// The body is form-encoded (`application/x-www-form-urlencoded`) rather than JSON.
    #[arg(long)]
    form: bool,
    /// An Idempotency-Key: sending again with the same key replays the first answer.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// The body to send, exactly as it is (`-` reads standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// Why `leadq submit` failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The variable naming the secret is not set.
    #[error("--secret-env {var}: the variable is not set (export it with the ingest secret)")]
    SecretUnset {
        /// The variable.
        var: String,
    },
    /// The secret is shorter than ingest accepts.
    #[error(
        "--secret-env {var}: the secret must be at least {MIN_SECRET_CHARS} characters, as ingest requires"
    )]
    SecretTooShort {
        /// The variable.
        var: String,
    },
    /// The body could not be read. (The message leaves the source out: `main` prints the
    /// whole chain.)
    #[error("cannot read {path}")]
    Read {
        /// The file as given.
        path: String,
        /// Why the read failed.
        source: io::Error,
    },
    /// The body is larger than ingest accepts.
    #[error("{path}: the body is {bytes} bytes; ingest accepts at most {MAX_BODY_BYTES}")]
    TooLarge {
        /// The file as given.
        path: String,
        /// Its size.
        bytes: usize,
    },
    /// The URL is not an http(s) URL.
    #[error("--url {url}: {rule}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        rule: String,
    },
    /// The TLS configuration could not be built.
    #[error("TLS set-up")]
    Tls(#[from] leadq_pipeline::tls::TlsSetupError),
    /// The request could not be sent or its answer not read.
    #[error("POST {url}: no answer")]
    Send {
        /// Where it was sent.
        url: String,
        /// What the HTTP client said.
        source: reqwest::Error,
    },
    /// Ingest answered with an error status (its problem body was printed).
    #[error("POST {url}: refused with {status}")]
    Refused {
        /// Where it was sent.
        url: String,
        /// The status.
        status: u16,
    },
}

impl SubmitError {
    /// The exit code: 2 for what to fix before sending, 1 for a refusal or no answer.
    pub fn exit_code(&self) -> u8 {
        match self {
            SubmitError::Send { .. } | SubmitError::Refused { .. } => EXIT_FAILURE,
            _ => EXIT_INPUT,
        }
    }
}

/// Signs and sends the file, prints the status and ingest's answer.
pub fn run(args: &SubmitArgs) -> Result<(), SubmitError> {
    let secret = secret_from_env(&args.secret_env, |var| std::env::var(var).ok())?;
    let url = endpoint(&args.url, args.to, &args.source)?;
    let body = read_body(&args.file)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| SubmitError::Read {
            path: "the async runtime".into(),
            source,
        })?;
    let (status, answer) = runtime.block_on(send(args, &url, &secret, body))?;
    println!("{status}");
    if !answer.is_empty() {
        println!("{answer}");
    }
    if status.is_success() {
        Ok(())
    } else {
        Err(SubmitError::Refused {
            url: url.to_string(),
            status: status.as_u16(),
        })
    }
}

/// The signing secret from the variable `var` names, checked as ingest checks it.
fn secret_from_env(
    var: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, SubmitError> {
    let secret = lookup(var)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| SubmitError::SecretUnset { var: var.into() })?;
    if secret.chars().count() < MIN_SECRET_CHARS {
        return Err(SubmitError::SecretTooShort { var: var.into() });
    }
    Ok(secret)
}

/// The route's URL under `base`, with `?source=` for a lead from another source.
fn endpoint(base: &str, to: Target, source: &str) -> Result<reqwest::Url, SubmitError> {
    let refused = |rule: &str| SubmitError::Url {
        url: base.into(),
        rule: rule.into(),
    };
    let mut url = reqwest::Url::parse(base).map_err(|e| refused(&format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused("the scheme must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refused(
            "give the base URL only, without a query or fragment",
        ));
    }
    // a base with a path (an API Gateway stage) keeps it: the route is appended
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    let mut url = url
        .join(to.path())
        .map_err(|e| refused(&format!("cannot append the route ({e})")))?;
    if to == Target::Lead && source != "generic" {
        url.query_pairs_mut().append_pair("source", source);
    }
    Ok(url)
}

/// The body, byte for byte: the signature covers exactly what is sent.
fn read_body(path: &PathBuf) -> Result<Vec<u8>, SubmitError> {
    let shown = path.display().to_string();
    let read = |source| SubmitError::Read {
        path: shown.clone(),
        source,
    };
    let mut body = Vec::new();
    // one byte past the limit is enough to know it is too large
    let limit = MAX_BODY_BYTES as u64 + 1;
    if shown == "-" {
        io::stdin()
            .take(limit)
            .read_to_end(&mut body)
            .map_err(read)?;
    } else {
        std::fs::File::open(path)
            .and_then(|file| file.take(limit).read_to_end(&mut body))
            .map_err(read)?;
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(SubmitError::TooLarge {
            path: shown,
            bytes: body.len(),
        });
    }
    Ok(body)
}

async fn send(
    args: &SubmitArgs,
    url: &reqwest::Url,
    secret: &str,
    body: Vec<u8>,
) -> Result<(reqwest::StatusCode, String), SubmitError> {
    let failed = |source| SubmitError::Send {
        url: url.to_string(),
        source,
    };
    let client = leadq_pipeline::tls::http_client_builder()?
        .timeout(TIMEOUT)
        .build()
        .map_err(failed)?;
    let content_type = if args.form {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let now = chrono::Utc::now().timestamp();
    let mut request = client
        .post(url.clone())
        .header("content-type", content_type)
        .header(SIGNATURE_HEADER, sign(secret.as_bytes(), now, &body));
    if let Some(key) = &args.idempotency_key {
        request = request.header(IDEMPOTENCY_KEY_HEADER, key);
    }
    let response = request.body(body).send().await.map_err(failed)?;
    let status = response.status();
    let answer = response.text().await.map_err(failed)?;
    Ok((status, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_is_appended_to_the_base_url() {
        let url = |base: &str, to, source| endpoint(base, to, source).map(|u| u.to_string());
        assert_eq!(
            url(
                "https://abc.lambda-url.eu-west-1.on.aws/",
                Target::Lead,
                "generic"
            )
            .ok(),
            Some("https://abc.lambda-url.eu-west-1.on.aws/v1/leads".into())
        );
        assert_eq!(
            url("http://127.0.0.1:8080", Target::Events, "generic").ok(),
            Some("http://127.0.0.1:8080/v1/events".into())
        );
        assert_eq!(
            url("https://api.example.com/prod", Target::Lead, "hubspot").ok(),
            Some("https://api.example.com/prod/v1/leads?source=hubspot".into())
        );
        assert_eq!(
            url("https://api.example.com/prod/", Target::Outcome, "typeform").ok(),
            Some("https://api.example.com/prod/v1/outcomes".into()),
            "the source applies to leads only"
        );
    }

    #[test]
    fn a_bad_url_is_refused_saying_why() {
        for (base, rule) in [
            ("not a url", "not a URL"),
            ("ftp://example.com/", "http or https"),
            ("https://example.com/?x=1", "without a query"),
        ] {
            let err = endpoint(base, Target::Lead, "generic").expect_err(base);
            assert!(err.to_string().contains(rule), "{base}: {err}");
            assert_eq!(err.exit_code(), EXIT_INPUT);
        }
    }

    #[test]
    fn the_secret_must_be_set_and_long_enough() {
        let err = secret_from_env("LEADQ_X", |_| None).expect_err("unset");
        assert!(err.to_string().starts_with("--secret-env LEADQ_X"), "{err}");
        let err = secret_from_env("LEADQ_X", |_| Some("short".into())).expect_err("short");
        assert!(err.to_string().contains("at least 16"), "{err}");
        let secret = secret_from_env("LEADQ_X", |_| Some("0123456789abcdef".into()));
        assert_eq!(secret.ok().as_deref(), Some("0123456789abcdef"));
    }
}

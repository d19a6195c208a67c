//! TLS for leadq's outgoing HTTP (alerts, `leadq submit`): rustls on ring, Mozilla's roots.
//!
//! Every reqwest client in leadq is built from [`http_client_builder`], which hands reqwest
//! a finished rustls configuration, so no process-wide crypto provider is installed and
//! nothing is read from disk at start: the roots are compiled in (`webpki-roots`). Setting
//! `SSL_CERT_FILE` or `SSL_CERT_DIR` trusts the system's store instead, for receivers
//! behind a private CA.

use std::sync::Arc;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The protocol versions could not be set on the provider.
    #[error("TLS versions: {0}")]
    Versions(#[from] rustls::Error),
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` gave no usable certificate.
    #[error("no usable CA certificate in SSL_CERT_FILE / SSL_CERT_DIR ({0})")]
    NoSystemRoots(String),
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebTrust {
    /// Mozilla's roots, compiled in.
    Mozilla,
    /// The system's store, as `SSL_CERT_FILE` and `SSL_CERT_DIR` point to it.
    System,
}

/// Whether the operator pointed at a certificate store: `SSL_CERT_FILE` or `SSL_CERT_DIR`
/// set and not blank. Both leadq's HTTPS clients then trust the system's store.
pub fn system_store_requested(lookup: impl Fn(&str) -> Option<String>) -> bool {
    let set = |var: &str| lookup(var).is_some_and(|value| !value.trim().is_empty());
    set("SSL_CERT_FILE") || set("SSL_CERT_DIR")
}

impl WebTrust {
    /// [`WebTrust::System`] when [`system_store_requested`], else Mozilla's.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> WebTrust {
        if system_store_requested(lookup) {
            WebTrust::System
        } else {
            WebTrust::Mozilla
        }
    }
}

/// The rustls client configuration trusting `trust`: ring, TLS 1.2 and 1.3, HTTP/1.1.
pub fn client_config(trust: WebTrust) -> Result<rustls::ClientConfig, TlsSetupError> {
    let roots = match trust {
        WebTrust::Mozilla => {
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
        }
        WebTrust::System => {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                let why = found
                    .errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(TlsSetupError::NoSystemRoots(why));
            }
            roots
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // reqwest is built without HTTP/2
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A reqwest client builder with [`client_config`] for the process environment's trust.
pub fn http_client_builder() -> Result<reqwest::ClientBuilder, TlsSetupError> {
    let trust = WebTrust::from_lookup(|var| std::env::var(var).ok());
    Ok(reqwest::Client::builder().tls_backend_preconfigured(client_config(trust)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mozillas_roots_are_compiled_in_and_speak_http_1_1() {
        let config = client_config(WebTrust::Mozilla).expect("a configuration");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .build();
        assert!(
            client.is_ok(),
            "reqwest takes the configuration: {client:?}"
        );
    }

    #[test]
    fn a_certificate_bundle_in_the_environment_switches_to_the_system_store() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |var: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == var)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(WebTrust::from_lookup(env(&[])), WebTrust::Mozilla);
        assert_eq!(
            WebTrust::from_lookup(env(&[("SSL_CERT_DIR", "")])),
            WebTrust::Mozilla
        );
        assert_eq!(
            WebTrust::from_lookup(env(&[("SSL_CERT_FILE", "/etc/ssl/cert.pem")])),
            WebTrust::System
        );
    }
}

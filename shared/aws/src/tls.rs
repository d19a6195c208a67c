//! The AWS SDK's HTTPS client: rustls on ring, trusting the roots AWS endpoints chain to.
//!
//! Every public AWS endpoint serves a certificate from Amazon Trust Services, whose roots
//! (Amazon Root CA 1-4, and Starfield Services Root CA G2 that cross-signs them) are
//! compiled in. The SDK's default client instead reads and parses the whole system store
//! when a client is built, which was most of a function's cold start (about 4 of 8 ms
//! here). An operator who needs other roots (a TLS-inspecting proxy, a partition with
//! other CAs) sets `SSL_CERT_FILE` or `SSL_CERT_DIR`, and the system's store is used.

use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// Amazon Trust Services' roots, PEM.
pub const AMAZON_TRUST_ROOTS_PEM: &str = include_str!("amazon-trust-roots.pem");

/// Which roots the SDK's HTTPS client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsTrust {
    /// Amazon Trust Services' roots, compiled in: nothing is read at start.
    AmazonRoots,
    /// The system's store, honouring `SSL_CERT_FILE` and `SSL_CERT_DIR`.
    System,
}

impl AwsTrust {
    /// [`AwsTrust::System`] when `SSL_CERT_FILE` or `SSL_CERT_DIR` is set (the same rule as
    /// the alert client's, [`leadq_pipeline::tls::system_store_requested`]), else Amazon's.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> AwsTrust {
        if leadq_pipeline::tls::system_store_requested(lookup) {
            AwsTrust::System
        } else {
            AwsTrust::AmazonRoots
        }
    }
}

/// The SDK's HTTPS client, trusting what [`AwsTrust::from_lookup`] reads from the process
/// environment. Plain `http://` endpoints (the emulator) work too.
pub fn https_client() -> SharedHttpClient {
    https_client_trusting(AwsTrust::from_lookup(|var| std::env::var(var).ok()))
}

/// The SDK's HTTPS client trusting `trust`.
pub fn https_client_trusting(trust: AwsTrust) -> SharedHttpClient {
    let store = match trust {
        AwsTrust::AmazonRoots => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_TRUST_ROOTS_PEM.as_bytes()),
        AwsTrust::System => TrustStore::default(),
    };
    // building a context checks nothing today; were it to fail, the system's store is a
    // safe fallback
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_trust_services_roots() {
        let certs = CertificateDer::pem_slice_iter(AMAZON_TRUST_ROOTS_PEM.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("valid PEM");
        assert_eq!(certs.len(), 5);
        let mut roots = rustls::RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(certs);
        assert_eq!(
            (added, ignored),
            (5, 0),
            "every root parses as a trust anchor"
        );
    }
}

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
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;

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
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https();
    skip_warm_up_unless_system(trust, client)
}

/// `client`, without its start-up warm-up unless it is to read the system's store.
fn skip_warm_up_unless_system(
    trust: AwsTrust,
    client: impl HttpClient + 'static,
) -> SharedHttpClient {
    match trust {
        AwsTrust::AmazonRoots => SharedHttpClient::new(NoWarmUp(client)),
        AwsTrust::System => SharedHttpClient::new(client),
    }
}

/// An SDK HTTP client that skips the warm-up connector every SDK client builds at start.
///
/// The SDK's HTTPS client builds a TLS connector in `validate_base_client_config`, and drops
/// it, so that the system's certificate store is read when a client is built rather than
/// at its first request. With the roots compiled in there is nothing to read: that
/// connector was built for nothing, once per SDK client, at every cold start. The first
/// request builds the connector it uses (and the client caches it), as before.
#[derive(Debug)]
struct NoWarmUp<C>(C);

impl<C: HttpClient> HttpClient for NoWarmUp<C> {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        _: &RuntimeComponentsBuilder,
        _: &ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
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

    /// Counts the warm-ups the SDK asks of its HTTP client.
    #[derive(Debug, Default, Clone)]
    struct Counting {
        warm_ups: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl HttpClient for Counting {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            unreachable!("no request is sent in these tests")
        }

        fn validate_base_client_config(
            &self,
            _: &RuntimeComponentsBuilder,
            _: &ConfigBag,
        ) -> Result<(), BoxError> {
            self.warm_ups
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    /// Builds a DynamoDB client on `http`, as a function's start does.
    fn build_dynamo_client(http: SharedHttpClient) {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
            .http_client(http)
            .build();
        let _ = aws_sdk_dynamodb::Client::from_conf(conf);
    }

    #[test]
    fn building_an_sdk_client_asks_its_http_client_to_warm_up() {
        // the premise of `NoWarmUp`: without it, every SDK client built runs the warm-up
        let counting = Counting::default();
        build_dynamo_client(SharedHttpClient::new(counting.clone()));
        build_dynamo_client(SharedHttpClient::new(counting.clone()));
        assert_eq!(
            counting.warm_ups.load(std::sync::atomic::Ordering::SeqCst),
            2
        );
    }

    #[test]
    fn with_compiled_in_roots_no_warm_up_connector_is_built() {
        let counting = Counting::default();
        build_dynamo_client(skip_warm_up_unless_system(
            AwsTrust::AmazonRoots,
            counting.clone(),
        ));
        assert_eq!(
            counting.warm_ups.load(std::sync::atomic::Ordering::SeqCst),
            0
        );
    }

    #[test]
    fn with_the_system_store_the_warm_up_still_reads_it_at_start() {
        let counting = Counting::default();
        build_dynamo_client(skip_warm_up_unless_system(
            AwsTrust::System,
            counting.clone(),
        ));
        assert_eq!(
            counting.warm_ups.load(std::sync::atomic::Ordering::SeqCst),
            1
        );
    }
}

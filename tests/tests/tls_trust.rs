//! The two HTTPS clients over real TLS on loopback: the AWS SDK's (`leadq_aws::tls`) and
//! the alerts' (`leadq_pipeline::tls`). A server whose certificate comes from a private CA
//! is refused with the compiled-in roots (Amazon's, Mozilla's) and accepted once
//! `SSL_CERT_FILE` names that CA, which is how an operator trusts other roots.
//!
//! One test function: it sets `SSL_CERT_FILE` half-way, and the SDK's system store is
//! loaded once per process.

use leadq_aws::tls::{AwsTrust, https_client_trusting};
use leadq_pipeline::tls::{WebTrust, client_config};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A private CA (PEM) and a certificate it issued for 127.0.0.1 with its key.
fn private_ca() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("CA key");
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let server_params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let server_key = KeyPair::generate().expect("server key");
    let server = server_params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    (ca.pem(), server.der().clone(), key)
}

/// A TLS server on loopback answering every request with `200 {}`; counts the requests
/// that got through the handshake.
async fn tls_server(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> (u16, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                              content-length: 2\r\nconnection: close\r\n\r\n{}";
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, requests)
}

fn dynamodb(port: u16, trust: AwsTrust) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "tls", "tls", None, None, "tls-test",
        ))
        .endpoint_url(format!("https://127.0.0.1:{port}"))
        .http_client(https_client_trusting(trust))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

async fn webhook(port: u16, trust: WebTrust) -> Result<reqwest::StatusCode, reqwest::Error> {
    let config = client_config(trust).expect("TLS configuration");
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()?;
    let response = client
        .post(format!("https://127.0.0.1:{port}/hook"))
        .body("{}")
        .send()
        .await?;
    Ok(response.status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compiled_in_roots_refuse_a_private_ca_and_ssl_cert_file_trusts_it() {
    let (ca_pem, cert, key) = private_ca();
    let (port, requests) = tls_server(cert, key).await;

    // the defaults: Amazon's roots for AWS, Mozilla's for webhooks; neither knows this CA
    let refused = dynamodb(port, AwsTrust::AmazonRoots)
        .list_tables()
        .send()
        .await;
    assert!(
        refused.is_err(),
        "the SDK trusted a private CA: {refused:?}"
    );
    let refused = webhook(port, WebTrust::Mozilla).await;
    assert!(
        refused.is_err(),
        "the alert client trusted a private CA: {refused:?}"
    );
    assert_eq!(
        requests.load(Ordering::SeqCst),
        0,
        "no request may pass an untrusted handshake"
    );

    // an operator's bundle
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, ca_pem).expect("write the CA");
    // SAFETY: the only test in this binary; the clients below read the variable after this
    unsafe { std::env::set_var("SSL_CERT_FILE", &bundle) };
    assert_eq!(
        AwsTrust::from_lookup(|var| std::env::var(var).ok()),
        AwsTrust::System
    );

    let listed = dynamodb(port, AwsTrust::System).list_tables().send().await;
    assert!(
        listed.is_ok(),
        "the SDK refused the CA in SSL_CERT_FILE: {listed:?}"
    );
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "the SDK's request came through"
    );
    let status = webhook(port, WebTrust::System).await;
    assert_eq!(
        status.ok(),
        Some(reqwest::StatusCode::OK),
        "the alert client over TLS"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

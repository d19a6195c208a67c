//! Request signatures: `X-Leadq-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
//!
//! Ingest verifies them (with a tolerance against replays and a constant-time compare);
//! `leadq submit` and the outgoing webhooks sign with the same function.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "x-leadq-signature";

/// How far a signature's timestamp may be from now, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature header.
    #[error("header {SIGNATURE_HEADER}: missing")]
    Missing,
    /// The header is not `t=<unix seconds>,v1=<hex>`.
    #[error("header {SIGNATURE_HEADER}: must be `t=<unix seconds>,v1=<hex hmac-sha256>`")]
    Malformed,
    /// The timestamp is further from now than the tolerance.
    #[error(
        "header {SIGNATURE_HEADER}: timestamp is {age_secs} s from now, outside the {tolerance_secs} s tolerance"
    )]
    Stale {
        /// Seconds between the timestamp and now (positive: in the past).
        age_secs: i64,
        /// The tolerance.
        tolerance_secs: i64,
    },
    /// No `v1` value matches the body and the secret.
    #[error("header {SIGNATURE_HEADER}: signature does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value that signs `body` at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a signature header against the raw body. Several `v1` values may be given
/// (secret rotation); one matching is enough.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => candidates.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {} // other schemes may be added later; ignoring them keeps old verifiers working
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let age_secs = now_unix.saturating_sub(timestamp);
    if age_secs.abs() > tolerance_secs {
        return Err(SignatureError::Stale {
            age_secs,
            tolerance_secs,
        });
    }
    let expected = mac(secret, timestamp, body);
    // verify_slice compares in constant time
    if candidates
        .iter()
        .any(|c| expected.clone().verify_slice(c).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const NOW: i64 = 1_795_000_000;

    #[test]
    fn a_signed_body_verifies() {
        let body = br#"{"email":"ana@acme.io"}"#;
        let header = sign(SECRET, NOW, body);
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(verify(Some(&header), body, SECRET, NOW + 10, 300), Ok(()));
    }

    #[test]
    fn matches_vectors_computed_independently() {
        // python3: hmac.new(b"key", b"1.", hashlib.sha256).hexdigest()
        assert_eq!(
            sign(b"key", 1, b""),
            "t=1,v1=53123bc365c2fe4bee48bc5cc6cd6c19699147d43513154ed34277c7c063e80f"
        );
        // python3: hmac.new(b"whsec_test", b'1795000000.{"email":"ana@acme.io"}', hashlib.sha256).hexdigest()
        assert_eq!(
            sign(SECRET, NOW, br#"{"email":"ana@acme.io"}"#),
            "t=1795000000,v1=916aaade915bca9ffd4503960de34bcfee190ba0b5faaa0f7921bfa87a8ff71c"
        );
    }

    #[test]
    fn refuses_missing_malformed_stale_and_wrong_signatures() {
        let body = b"{}";
        assert_eq!(
            verify(None, body, SECRET, NOW, 300),
            Err(SignatureError::Missing)
        );
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(Some(bad), body, SECRET, NOW, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        let old = sign(SECRET, NOW - 301, body);
        assert!(matches!(
            verify(Some(&old), body, SECRET, NOW, 300),
            Err(SignatureError::Stale { .. })
        ));
        let future = sign(SECRET, NOW + 301, body);
        assert!(matches!(
            verify(Some(&future), body, SECRET, NOW, 300),
            Err(SignatureError::Stale { .. })
        ));
        let other_secret = sign(b"another", NOW, body);
        assert_eq!(
            verify(Some(&other_secret), body, SECRET, NOW, 300),
            Err(SignatureError::Mismatch)
        );
        let header = sign(SECRET, NOW, body);
        assert_eq!(
            verify(Some(&header), b"{ }", SECRET, NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_of_several_v1_values_may_match() {
        let body = b"x";
        let good = sign(SECRET, NOW, body);
        let v1 = good.split("v1=").nth(1).unwrap();
        let header = format!("t={NOW},v1={},v1={v1}", "00".repeat(32));
        assert_eq!(verify(Some(&header), body, SECRET, NOW, 300), Ok(()));
    }
}

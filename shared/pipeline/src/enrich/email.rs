//! Email analysis: validation, normalisation, free-mail, disposable and role addresses.
//!
//! Offline and deterministic: the lists below are the common providers; a team can extend
//! them through configuration later. A free-mail address is a fact about the address, not
//! a verdict on the lead: scoring decides what it means.

use std::str::FromStr;

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Not an address an email could be delivered to.
    #[error("`{0}` is not a valid email address")]
    Invalid(String),
    /// Longer than the 254 characters an address may have.
    #[error("email address is longer than 254 characters")]
    TooLong,
}

/// What the address says about its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailFacts {
    /// The address as given, trimmed.
    pub address: String,
    /// The deduplication key: lower case, plus-tag removed, Gmail dots removed.
    pub key: String,
    /// The domain, lower case.
    pub domain: String,
    /// A consumer mailbox provider (gmail.com, outlook.com, ...): no company domain.
    pub free_mail: bool,
    /// A throw-away mailbox (mailinator.com, ...).
    pub disposable: bool,
    /// A shared mailbox of a role (info@, sales@, ...), not a person.
    pub role: bool,
}

/// Consumer mailbox providers; the domain tells nothing about an employer.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.de",
    "yahoo.co.in",
    "ymail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "live.com",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "t-online.de",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "yandex.ru",
    "yandex.com",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "zoho.com",
    "fastmail.com",
    "hey.com",
    "tutanota.com",
    "tuta.io",
    "rediffmail.com",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
];

/// Throw-away mailbox providers.
const DISPOSABLE: &[&str] = &[
    "mailinator.com",
    "10minutemail.com",
    "guerrillamail.com",
    "guerrillamail.net",
    "sharklasers.com",
    "temp-mail.org",
    "tempmail.com",
    "trashmail.com",
    "yopmail.com",
    "getnada.com",
    "dispostable.com",
    "throwawaymail.com",
    "maildrop.cc",
    "mohmal.com",
    "fakeinbox.com",
    "mailnesia.com",
    "spamgourmet.com",
    "tempail.com",
    "emailondeck.com",
    "burnermail.io",
];

/// Local parts of shared role mailboxes.
const ROLES: &[&str] = &[
    "info",
    "sales",
    "admin",
    "administrator",
    "support",
    "contact",
    "hello",
    "office",
    "team",
    "marketing",
    "hr",
    "jobs",
    "careers",
    "billing",
    "accounts",
    "noreply",
    "no-reply",
    "webmaster",
    "postmaster",
    "help",
    "enquiries",
    "inquiries",
    "service",
    "press",
    "media",
    "security",
    "abuse",
];

/// Validates and analyses an address.
pub fn analyse(address: &str) -> Result<EmailFacts, EmailError> {
    let address = address.trim();
    if address.len() > 254 {
        return Err(EmailError::TooLong);
    }
    let invalid = || EmailError::Invalid(address.to_owned());
    // RFC 5322 syntax from the well-kept crate, then what a lead form needs on top of it:
    // a plain local part and a DNS domain with a dot (no IP literals, no quoted names).
    email_address::EmailAddress::from_str(address).map_err(|_| invalid())?;
    let (local, domain) = address.rsplit_once('@').ok_or_else(invalid)?;
    let domain = domain.to_ascii_lowercase();
    let plain_local = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('"')
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "._%+-'".contains(c));
    let dns_domain = domain.contains('.')
        && !domain.starts_with('[')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if !plain_local || !dns_domain {
        return Err(invalid());
    }

    let local_lower = local.to_lowercase();
    let base = local_lower.split('+').next().unwrap_or(&local_lower);
    let (key_local, key_domain) = match domain.as_str() {
        // Gmail ignores dots in the local part; googlemail.com is the same mailbox
        "gmail.com" | "googlemail.com" => (base.replace('.', ""), "gmail.com".to_owned()),
        _ => (base.to_owned(), domain.clone()),
    };
    let key = format!("{key_local}@{key_domain}");
    Ok(EmailFacts {
        address: address.to_owned(),
        free_mail: FREE_MAIL.contains(&domain.as_str()),
        disposable: DISPOSABLE.contains(&domain.as_str()),
        role: ROLES.contains(&base),
        key,
        domain,
    })
}

/// The deduplication key of an address, if it is valid.
pub fn email_key(address: &str) -> Result<String, EmailError> {
    analyse(address).map(|facts| facts.key)
}

/// A stable, non-reversible stand-in for an address in logs: never log the address itself.
pub fn redact(address: &str) -> String {
    use sha2::{Digest, Sha256};
    let key = email_key(address).unwrap_or_else(|_| address.trim().to_lowercase());
    let digest = Sha256::digest(key.as_bytes());
    format!("email:{}", &hex::encode(digest)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_plus_tags_and_gmail_dots() {
        assert_eq!(
            email_key("  Ana.Lopez+promo@Acme.IO ").unwrap(),
            "ana.lopez@acme.io"
        );
        assert_eq!(
            email_key("ana.lopez+x@gmail.com").unwrap(),
            "analopez@gmail.com"
        );
        assert_eq!(
            email_key("AnaLopez@googlemail.com").unwrap(),
            "analopez@gmail.com"
        );
    }

    #[test]
    fn recognises_free_mail_disposable_and_role_addresses() {
        let f = analyse("someone@gmail.com").unwrap();
        assert!(f.free_mail && !f.disposable && !f.role);
        let d = analyse("x@mailinator.com").unwrap();
        assert!(d.disposable && !d.free_mail);
        let r = analyse("Sales+eu@acme.io").unwrap();
        assert!(r.role && !r.free_mail);
        let p = analyse("ana@acme.io").unwrap();
        assert!(!p.role && !p.free_mail && !p.disposable);
        assert_eq!(p.domain, "acme.io");
    }

    #[test]
    fn refuses_what_cannot_be_a_lead_address() {
        for bad in [
            "",
            "ana",
            "ana@",
            "@acme.io",
            "ana@acme",
            "ana@[10.0.0.1]",
            "\"ana lopez\"@acme.io",
            "ana@@acme.io",
            "ana@acme..io",
            "ana@-acme.io",
            "ana lopez@acme.io",
        ] {
            assert!(analyse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@acme.io", "a".repeat(250));
        assert_eq!(analyse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn redaction_is_stable_and_hides_the_address() {
        let a = redact("Ana.Lopez+x@Acme.io");
        assert_eq!(a, redact("ana.lopez@acme.io"));
        assert!(a.starts_with("email:") && !a.contains("acme") && a.len() == 22);
        assert_ne!(a, redact("bob@acme.io"));
    }
}

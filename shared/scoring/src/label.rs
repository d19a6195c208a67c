//! [`Label`]: the text of a reason, a missing field or a disqualifying signal, cheap to copy.
//!
//! A card holds a few dozen labels and is refilled for every lead. An `Arc<str>` costs two
//! atomic operations per label per score (a clone in, a drop out), which was a sixth of the
//! scoring time. A model's labels are instead interned once, when the model loads, into
//! `&'static str`s that copy for free. The interner deduplicates and is bounded, so loading
//! models again and again (a Lambda reading each new version) cannot grow memory without
//! end: past the bound, and for every label read back from storage, a label is an
//! `Arc<str>` as before.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

/// The text of a reason or a field, serialized as a plain string.
#[derive(Clone)]
pub struct Label(Repr);

#[derive(Clone)]
enum Repr {
    /// Interned at model load: copying it is free.
    Interned(&'static str),
    /// Read from storage or built by a caller, or the interner is full.
    Shared(Arc<str>),
}

/// Most bytes of text the interner keeps, over all models ever loaded in the process.
const INTERNED_BYTES: usize = 1 << 20;
/// Most distinct labels the interner keeps.
const INTERNED_LABELS: usize = 16_384;

struct Interner {
    labels: HashSet<&'static str>,
    bytes: usize,
}

fn interner() -> &'static Mutex<Interner> {
    static INTERNER: OnceLock<Mutex<Interner>> = OnceLock::new();
    INTERNER.get_or_init(|| {
        Mutex::new(Interner {
            labels: HashSet::new(),
            bytes: 0,
        })
    })
}

impl Label {
    /// A label for a model's rule: interned (leaked once per distinct text, within a bound)
    /// so that copying it into a card costs no atomic operation.
    pub fn interned(text: &str) -> Label {
        // a poisoned lock still holds a consistent set: insertions are single calls
        let mut interner = interner().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&text) = interner.labels.get(text) {
            return Label(Repr::Interned(text));
        }
        if interner.labels.len() >= INTERNED_LABELS || interner.bytes + text.len() > INTERNED_BYTES
        {
            return Label(Repr::Shared(Arc::from(text)));
        }
        let leaked: &'static str = Box::leak(Box::from(text));
        interner.labels.insert(leaked);
        interner.bytes += leaked.len();
        Label(Repr::Interned(leaked))
    }

    /// A label that is a compile-time constant.
    pub const fn from_static(text: &'static str) -> Label {
        Label(Repr::Interned(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Interned(text) => text,
            Repr::Shared(text) => text,
        }
    }

    /// Whether the label was interned (copies cost no atomic operation).
    pub fn is_interned(&self) -> bool {
        matches!(self.0, Repr::Interned(_))
    }
}

impl Default for Label {
    fn default() -> Self {
        Label::from_static("")
    }
}

impl Deref for Label {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Label {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Label {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Label {
    fn eq(&self, other: &Label) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Label {}

impl PartialOrd for Label {
    fn partial_cmp(&self, other: &Label) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Label {
    fn cmp(&self, other: &Label) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Label {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialEq<str> for Label {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Label {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Label {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Arc<str>> for Label {
    fn eq(&self, other: &Arc<str>) -> bool {
        self.as_str() == &**other
    }
}

impl PartialEq<Label> for str {
    fn eq(&self, other: &Label) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Label> for &str {
    fn eq(&self, other: &Label) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Label> for String {
    fn eq(&self, other: &Label) -> bool {
        self.as_str() == other.as_str()
    }
}

impl From<&str> for Label {
    fn from(text: &str) -> Label {
        Label(Repr::Shared(Arc::from(text)))
    }
}

impl From<String> for Label {
    fn from(text: String) -> Label {
        Label(Repr::Shared(Arc::from(text)))
    }
}

impl From<Arc<str>> for Label {
    fn from(text: Arc<str>) -> Label {
        Label(Repr::Shared(text))
    }
}

impl From<Box<str>> for Label {
    fn from(text: Box<str>) -> Label {
        Label(Repr::Shared(Arc::from(text)))
    }
}

impl From<&Label> for Label {
    fn from(label: &Label) -> Label {
        label.clone()
    }
}

impl From<Label> for Arc<str> {
    fn from(label: Label) -> Arc<str> {
        match label.0 {
            Repr::Interned(text) => Arc::from(text),
            Repr::Shared(text) => text,
        }
    }
}

impl From<Label> for String {
    fn from(label: Label) -> String {
        label.as_str().to_owned()
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Label, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Label;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Label, E> {
                Ok(Label::from(text))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Label, E> {
                Ok(Label::from(text))
            }
        }
        // never interned: text from storage is unbounded, and the interner must stay bounded
        deserializer.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_deduplicates() {
        let a = Label::interned("label test: industry = software");
        let b = Label::interned("label test: industry = software");
        assert!(a.is_interned() && b.is_interned());
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
    }

    #[test]
    fn serializes_as_a_plain_string_and_reads_back_unbounded() {
        let label = Label::interned("label test: pricing_view");
        let json = serde_json::to_string(&label).unwrap();
        assert_eq!(json, "\"label test: pricing_view\"");
        assert_eq!(
            json,
            serde_json::to_string("label test: pricing_view").unwrap()
        );
        let back: Label = serde_json::from_str(&json).unwrap();
        assert_eq!(back, label);
        assert_eq!(back, "label test: pricing_view");
        // text from storage never grows the interner
        assert!(!back.is_interned());
        assert!(serde_json::from_str::<Label>("12").is_err());
    }

    #[test]
    fn the_interner_is_bounded() {
        let before = interner().lock().unwrap_or_else(|e| e.into_inner()).bytes;
        let big = "x".repeat(INTERNED_BYTES + 1);
        let label = Label::interned(&big);
        assert!(!label.is_interned());
        assert_eq!(&*label, big.as_str());
        let after = interner().lock().unwrap_or_else(|e| e.into_inner()).bytes;
        assert!(after <= INTERNED_BYTES && after - before < big.len());
    }
}

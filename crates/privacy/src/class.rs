//! Privacy classes: how a field's value is protected at rest.

use std::fmt;

/// How a field is protected; set per field by the event schema.
///
/// The class decides where a value goes after validation, so that protection is a
/// property of the schema and not of each caller's good memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrivacyClass {
    /// A reference to a subject (an account id, an email used as a key): the caller
    /// replaces it with the subject's pseudonym before storing.
    Identifier,
    /// Personal data, sealed under the subject key so erasure can shred it.
    Personal,
    /// Free text that may hold personal data; sealed until the PII scanner classifies it.
    FreeText,
    /// Special-category or otherwise sensitive data; always sealed.
    Sensitive,
    /// Not personal; stored in the clear and queryable as is.
    Public,
}

impl PrivacyClass {
    /// Every class, in declaration order.
    pub const ALL: [PrivacyClass; 5] = [
        PrivacyClass::Identifier,
        PrivacyClass::Personal,
        PrivacyClass::FreeText,
        PrivacyClass::Sensitive,
        PrivacyClass::Public,
    ];

    /// The class's name in schema documents (`"free_text"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyClass::Identifier => "identifier",
            PrivacyClass::Personal => "personal",
            PrivacyClass::FreeText => "free_text",
            PrivacyClass::Sensitive => "sensitive",
            PrivacyClass::Public => "public",
        }
    }

    /// Parses a class name as written in schema documents; `None` if unknown.
    pub fn parse(name: &str) -> Option<PrivacyClass> {
        PrivacyClass::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Whether values of this class are sealed (encrypted under the subject key) at rest.
    ///
    /// Identifiers are not sealed: they are pseudonymized instead, so they stay joinable.
    pub fn is_sealed(self) -> bool {
        matches!(
            self,
            PrivacyClass::Personal | PrivacyClass::FreeText | PrivacyClass::Sensitive
        )
    }
}

impl fmt::Display for PrivacyClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! Roles a tenant API key can hold.

/// A key's role: what the Cedar policies (`steward-policy`) match principals on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Everything within the tenant, including keys and schemas.
    Admin,
    /// Ingest events; nothing else.
    Writer,
    /// Read timelines with personal fields masked.
    Reader,
    /// Read timelines with personal fields opened; handles subject requests.
    PrivacyOfficer,
}

#[derive(Debug, thiserror::Error)]
/// The text is kept for the caller but never printed: it came from a request and ends up in logs.
#[error("unknown role: expected one of admin, writer, reader, privacy_officer")]
pub struct RoleParseError(pub String);

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Admin,
        Role::Writer,
        Role::Reader,
        Role::PrivacyOfficer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Writer => "writer",
            Role::Reader => "reader",
            Role::PrivacyOfficer => "privacy_officer",
        }
    }

    pub fn parse(text: &str) -> Result<Role, RoleParseError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| RoleParseError(text.chars().take(32).collect()))
    }
}

//! OCPP-J error codes and the core's own error type.

use std::fmt;

use crate::version::Version;

/// Version-independent OCPP-J error codes; [`ErrorCode::wire`] spells them per version.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ErrorCode {
    NotImplemented,
    NotSupported,
    InternalError,
    ProtocolError,
    SecurityError,
    /// 1.6 spells it `FormationViolation`.
    FormatViolation,
    PropertyConstraintViolation,
    /// 1.6 spells it `OccurenceConstraintViolation`.
    OccurrenceConstraintViolation,
    TypeConstraintViolation,
    GenericError,
    /// 2.x only; 1.6 answers `FormationViolation` instead.
    RpcFrameworkError,
    /// 2.x only; 1.6 answers `NotSupported` instead.
    MessageTypeNotSupported,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 12] = [
        Self::NotImplemented,
        Self::NotSupported,
        Self::InternalError,
        Self::ProtocolError,
        Self::SecurityError,
        Self::FormatViolation,
        Self::PropertyConstraintViolation,
        Self::OccurrenceConstraintViolation,
        Self::TypeConstraintViolation,
        Self::GenericError,
        Self::RpcFrameworkError,
        Self::MessageTypeNotSupported,
    ];

    /// The code as it goes on the wire for `version`.
    #[must_use]
    pub fn wire(self, version: Version) -> &'static str {
        let v16 = version == Version::V16;
        match self {
            Self::NotImplemented => "NotImplemented",
            Self::NotSupported => "NotSupported",
            Self::InternalError => "InternalError",
            Self::ProtocolError => "ProtocolError",
            Self::SecurityError => "SecurityError",
            Self::FormatViolation if v16 => "FormationViolation",
            Self::FormatViolation => "FormatViolation",
            Self::PropertyConstraintViolation => "PropertyConstraintViolation",
            Self::OccurrenceConstraintViolation if v16 => "OccurenceConstraintViolation",
            Self::OccurrenceConstraintViolation => "OccurrenceConstraintViolation",
            Self::TypeConstraintViolation => "TypeConstraintViolation",
            Self::GenericError => "GenericError",
            Self::RpcFrameworkError if v16 => "FormationViolation",
            Self::RpcFrameworkError => "RpcFrameworkError",
            Self::MessageTypeNotSupported if v16 => "NotSupported",
            Self::MessageTypeNotSupported => "MessageTypeNotSupported",
        }
    }

    /// Reads a received code, accepting the spellings of every version.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "NotImplemented" => Self::NotImplemented,
            "NotSupported" => Self::NotSupported,
            "InternalError" => Self::InternalError,
            "ProtocolError" => Self::ProtocolError,
            "SecurityError" => Self::SecurityError,
            "FormatViolation" | "FormationViolation" => Self::FormatViolation,
            "PropertyConstraintViolation" => Self::PropertyConstraintViolation,
            "OccurrenceConstraintViolation" | "OccurenceConstraintViolation" => Self::OccurrenceConstraintViolation,
            "TypeConstraintViolation" => Self::TypeConstraintViolation,
            "GenericError" => Self::GenericError,
            "RpcFrameworkError" => Self::RpcFrameworkError,
            "MessageTypeNotSupported" => Self::MessageTypeNotSupported,
            _ => return None,
        })
    }
}

/// A problem with something *we* were asked to send (the h11 "local" error):
/// raised to the caller, never put on the wire.
#[derive(Clone, PartialEq, Debug)]
pub struct LocalError {
    pub code: ErrorCode,
    pub message: String,
}

impl LocalError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for LocalError {}

pub type CoreResult<T> = Result<T, LocalError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_differ_per_version() {
        assert_eq!(ErrorCode::FormatViolation.wire(Version::V16), "FormationViolation");
        assert_eq!(ErrorCode::FormatViolation.wire(Version::V201), "FormatViolation");
        assert_eq!(
            ErrorCode::OccurrenceConstraintViolation.wire(Version::V16),
            "OccurenceConstraintViolation"
        );
        assert_eq!(
            ErrorCode::OccurrenceConstraintViolation.wire(Version::V21),
            "OccurrenceConstraintViolation"
        );
    }

    #[test]
    fn every_spelling_parses_back() {
        for code in ErrorCode::ALL {
            for v in Version::ALL {
                let parsed = ErrorCode::parse(code.wire(v)).unwrap();
                assert_eq!(parsed.wire(v), code.wire(v));
            }
        }
        assert_eq!(ErrorCode::parse("Nope"), None);
    }
}

//! Protocol versions and the rules that differ between them.

use crate::error::ErrorCode;

/// An OCPP-J protocol version, as negotiated through the WebSocket subprotocol.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Version {
    V16,
    V201,
    V21,
}

impl Version {
    pub const ALL: [Version; 3] = [Version::V16, Version::V201, Version::V21];

    /// Accepts "1.6", "2.0.1", "2.1" and the subprotocol tokens "ocpp1.6", ...
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text.strip_prefix("ocpp").unwrap_or(text) {
            "1.6" => Some(Self::V16),
            "2.0.1" => Some(Self::V201),
            "2.1" => Some(Self::V21),
            _ => None,
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::V16 => "1.6",
            Self::V201 => "2.0.1",
            Self::V21 => "2.1",
        }
    }

    #[must_use]
    pub fn subprotocol(self) -> &'static str {
        match self {
            Self::V16 => "ocpp1.6",
            Self::V201 => "ocpp2.0.1",
            Self::V21 => "ocpp2.1",
        }
    }

    /// CALLRESULTERROR (5) and SEND (6) exist only from 2.1 on.
    #[must_use]
    pub fn has_send_and_result_error(self) -> bool {
        self == Self::V21
    }

    /// What to do with a message type number this version does not know.
    /// 1.6 and 2.1 ignore it; 2.0.1 answers `MessageTypeNotSupported`.
    #[must_use]
    pub fn answers_unknown_message_type(self) -> bool {
        self == Self::V201
    }

    /// Error code for an RPC-level problem (unreadable id, wrong element count, ...).
    /// 1.6 has no `RpcFrameworkError`; `FormationViolation` is the closest code it has.
    #[must_use]
    pub fn rpc_error(self) -> ErrorCode {
        match self {
            Self::V16 => ErrorCode::FormatViolation,
            Self::V201 | Self::V21 => ErrorCode::RpcFrameworkError,
        }
    }

    /// Error code for a CALL whose id equals one still being processed.
    #[must_use]
    pub fn duplicate_id_error(self) -> ErrorCode {
        match self {
            Self::V16 => ErrorCode::GenericError,
            Self::V201 | Self::V21 => ErrorCode::RpcFrameworkError,
        }
    }
}

/// The message id used when the id of a bad frame cannot be read.
pub const UNREADABLE_ID: &str = "-1";

/// Longest message id the envelope allows (sized for a UUID).
pub const MAX_MESSAGE_ID_LEN: usize = 36;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_names_and_subprotocols() {
        assert_eq!(Version::parse("ocpp2.0.1"), Some(Version::V201));
        assert_eq!(Version::parse("1.6"), Some(Version::V16));
        assert_eq!(Version::parse("ocpp2.0"), None);
        for v in Version::ALL {
            assert_eq!(Version::parse(v.subprotocol()), Some(v));
            assert_eq!(Version::parse(v.name()), Some(v));
        }
    }
}

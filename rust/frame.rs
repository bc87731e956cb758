//! OCPP-J RPC frames: parsing text into [`Frame`]s and serialising them back.
//!
//! Envelope rules (protocol notes §2.1): the message type id is a JSON integer, the message
//! id a string of at most 36 characters, the payload an object (`null` is read as `{}`),
//! CALLERROR details an object. Numbers keep their integer/float form as written.

use serde_json::{Map, Value};

use crate::error::ErrorCode;
use crate::version::{Version, MAX_MESSAGE_ID_LEN};

pub const CALL: u8 = 2;
pub const CALL_RESULT: u8 = 3;
pub const CALL_ERROR: u8 = 4;
pub const CALL_RESULT_ERROR: u8 = 5;
pub const SEND: u8 = 6;

/// One parsed OCPP-J message.
#[derive(Clone, PartialEq, Debug)]
pub enum Frame {
    Call {
        id: String,
        action: String,
        payload: Value,
    },
    CallResult {
        id: String,
        payload: Value,
    },
    CallError {
        id: String,
        code: String,
        description: String,
        details: Value,
    },
    /// 2.1: the peer could not process our CALLRESULT to its CALL `id`.
    CallResultError {
        id: String,
        code: String,
        description: String,
        details: Value,
    },
    /// 2.1: fire-and-forget message, never answered.
    Send {
        id: String,
        action: String,
        payload: Value,
    },
}

/// Why a text could not be read as a frame, with what (if anything) to answer.
#[derive(Clone, PartialEq, Debug)]
pub enum FrameError {
    /// The message is broken. `answer` is true when the broken message was (or may have
    /// been) a CALL, so a CALLERROR is due; responses are never answered.
    Malformed {
        id: Option<String>,
        code: ErrorCode,
        message: String,
        answer: bool,
    },
    /// A message type number this version does not know.
    UnknownType { id: Option<String>, type_id: i64 },
}

impl FrameError {
    fn malformed(id: Option<String>, code: ErrorCode, message: impl Into<String>, answer: bool) -> Self {
        Self::Malformed {
            id,
            code,
            message: message.into(),
            answer,
        }
    }
}

/// Deepest JSON nesting a frame may have by default (the envelope array is level 1, the
/// payload object level 2); OCPP payloads need fewer than 10 levels.
pub const DEFAULT_MAX_DEPTH: usize = 32;

/// Whether `text` nests arrays/objects deeper than `max_depth`, judged from the raw text
/// without parsing it: brackets inside strings are skipped, nothing is allocated, and the
/// scan stops at the first level too deep. Unbalanced text is not an error here (the JSON
/// parser reports it).
#[must_use]
pub fn exceeds_depth(text: &str, max_depth: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Reads the message type and id of a frame that is not parsed as a whole (e.g. because it
/// nests too deeply): `[ <integer> , "<id>"` at the start of `text`. The id is `None` unless
/// it is a JSON string of at most 36 characters; the type is `None` unless it is an integer.
#[must_use]
pub fn peek_envelope(text: &str) -> (Option<i64>, Option<String>) {
    let rest = text.trim_start_matches([' ', '\t', '\n', '\r']);
    let Some(rest) = rest.strip_prefix('[') else {
        return (None, None);
    };
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\r']);
    let digits = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    let type_id = rest[..digits].parse::<i64>().ok();
    let rest = rest[digits..].trim_start_matches([' ', '\t', '\n', '\r']);
    let Some(type_id) = type_id.filter(|_| rest.starts_with([',', ']'])) else {
        // `2.0`, `"2"`, `2e0`, `-`: not an integer type id.
        return (None, None);
    };
    let Some(rest) = rest.strip_prefix(',') else {
        return (Some(type_id), None);
    };
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\r']);
    if !rest.starts_with('"') {
        return (Some(type_id), None);
    }
    // Find the closing quote, then let serde_json decode the escapes of just that literal.
    let mut escaped = false;
    let end = rest.bytes().enumerate().skip(1).find_map(|(i, b)| {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            return Some(i);
        }
        None
    });
    let id = end
        .and_then(|end| serde_json::from_str::<String>(&rest[..=end]).ok())
        .filter(|id| id.chars().count() <= MAX_MESSAGE_ID_LEN);
    (Some(type_id), id)
}

/// Parses one text frame for `version` with the [`DEFAULT_MAX_DEPTH`] nesting limit.
///
/// # Errors
/// [`FrameError`] says what was wrong and which error code and id an answer would carry.
pub fn parse(text: &str, version: Version) -> Result<Frame, FrameError> {
    parse_with_max_depth(text, version, DEFAULT_MAX_DEPTH)
}

/// Parses one text frame for `version`; a frame nesting deeper than `max_depth` levels
/// (envelope array = level 1) is malformed, answered like unreadable JSON.
///
/// # Errors
/// [`FrameError`] says what was wrong and which error code and id an answer would carry.
pub fn parse_with_max_depth(text: &str, version: Version, max_depth: usize) -> Result<Frame, FrameError> {
    let rpc = version.rpc_error();
    if exceeds_depth(text, max_depth) {
        let (type_id, id) = peek_envelope(text);
        // Answers and SENDs are never answered; anything else (a CALL, or unreadable) is.
        let never_answered =
            matches!(type_id, Some(3..=5)) || (type_id == Some(6) && version.has_send_and_result_error());
        return Err(FrameError::malformed(
            id,
            rpc,
            format!("message nests deeper than {max_depth} levels"),
            !never_answered,
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| FrameError::malformed(None, rpc, format!("message is not valid JSON: {e}"), true))?;
    let Value::Array(mut items) = value else {
        return Err(FrameError::malformed(None, rpc, "message is not a JSON array", true));
    };
    let id = match items.get(1) {
        Some(Value::String(s)) if s.chars().count() <= MAX_MESSAGE_ID_LEN => Some(s.clone()),
        _ => None,
    };
    let Some(type_id) = items
        .first()
        .and_then(Value::as_i64)
        .filter(|_| items[0].is_i64() || items[0].is_u64())
    else {
        return Err(FrameError::malformed(
            id,
            rpc,
            "message type id is not an integer",
            true,
        ));
    };
    let known = matches!(type_id, 2..=4) || (version.has_send_and_result_error() && matches!(type_id, 5 | 6));
    if !known {
        return Err(FrameError::UnknownType { id, type_id });
    }
    // Only a CALL gets a CALLERROR; responses and 2.1 SENDs are never answered.
    let answerable = type_id == 2;
    let id = match (&items.get(1), id) {
        (_, Some(id)) => id,
        (Some(Value::String(_)), None) => {
            return Err(FrameError::malformed(
                None,
                rpc,
                "message id is longer than 36 characters",
                answerable,
            ))
        }
        _ => {
            return Err(FrameError::malformed(
                None,
                rpc,
                "message id is not a string",
                answerable,
            ))
        }
    };
    let expected_len = match type_id {
        2 | 6 => 4,
        3 => 3,
        _ => 5,
    };
    if items.len() != expected_len {
        return Err(FrameError::malformed(
            Some(id),
            rpc,
            format!(
                "message type {type_id} needs {expected_len} elements, got {}",
                items.len()
            ),
            answerable,
        ));
    }
    match type_id {
        2 | 6 => {
            let payload = items.pop().unwrap_or(Value::Null);
            let Some(Value::String(action)) = items.pop() else {
                return Err(FrameError::malformed(
                    Some(id),
                    rpc,
                    "action is not a string",
                    type_id == 2,
                ));
            };
            let Some(payload) = payload_object(payload) else {
                return Err(FrameError::malformed(
                    Some(id),
                    ErrorCode::FormatViolation,
                    "payload is not a JSON object",
                    type_id == 2,
                ));
            };
            Ok(if type_id == 2 {
                Frame::Call { id, action, payload }
            } else {
                Frame::Send { id, action, payload }
            })
        }
        3 => {
            // A non-object payload is kept so that the connection can fail the pending call
            // with it and, in 2.1, answer with a CALLRESULTERROR (the schema wants an object).
            let payload = items.pop().unwrap_or(Value::Null);
            let payload = payload_object(payload.clone()).unwrap_or(payload);
            Ok(Frame::CallResult { id, payload })
        }
        _ => {
            let details = items.pop().unwrap_or(Value::Null);
            let description = items.pop();
            let code = items.pop();
            let (Some(Value::String(code)), Some(Value::String(description))) = (code, description) else {
                return Err(FrameError::malformed(
                    Some(id),
                    rpc,
                    "error code and description must be strings",
                    false,
                ));
            };
            let Some(details) = payload_object(details) else {
                return Err(FrameError::malformed(
                    Some(id),
                    rpc,
                    "error details are not a JSON object",
                    false,
                ));
            };
            Ok(if type_id == 4 {
                Frame::CallError {
                    id,
                    code,
                    description,
                    details,
                }
            } else {
                Frame::CallResultError {
                    id,
                    code,
                    description,
                    details,
                }
            })
        }
    }
}

/// `null` is read as `{}` (the specs ask for `{}`, senders use both); other non-objects fail.
fn payload_object(value: Value) -> Option<Value> {
    match value {
        Value::Object(_) => Some(value),
        Value::Null => Some(Value::Object(Map::new())),
        _ => None,
    }
}

/// Serialises into a byte buffer: writing JSON values into a `Vec` cannot fail and the
/// output is UTF-8 by construction.
struct Writer(Vec<u8>);

impl Writer {
    fn new(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    fn raw(&mut self, s: &str) -> &mut Self {
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    fn string(&mut self, s: &str) -> &mut Self {
        let _ = serde_json::to_writer(&mut self.0, s);
        self
    }

    fn value(&mut self, v: &Value) -> &mut Self {
        let _ = serde_json::to_writer(&mut self.0, v);
        self
    }

    fn finish(&mut self) -> String {
        String::from_utf8(std::mem::take(&mut self.0)).unwrap_or_default()
    }
}

fn type_prefix(type_id: u8) -> &'static str {
    match type_id {
        CALL => "[2,",
        CALL_RESULT => "[3,",
        CALL_ERROR => "[4,",
        CALL_RESULT_ERROR => "[5,",
        _ => "[6,",
    }
}

/// `[2, id, action, payload]` (or 6 for a SEND).
#[must_use]
pub fn encode_call(type_id: u8, id: &str, action: &str, payload: &Value) -> String {
    Writer::new(64)
        .raw(type_prefix(type_id))
        .string(id)
        .raw(",")
        .string(action)
        .raw(",")
        .value(payload)
        .raw("]")
        .finish()
}

/// `[3, id, payload]`.
#[must_use]
pub fn encode_result(id: &str, payload: &Value) -> String {
    Writer::new(64)
        .raw("[3,")
        .string(id)
        .raw(",")
        .value(payload)
        .raw("]")
        .finish()
}

/// `[4, id, code, description, details]` (or 5 for a 2.1 CALLRESULTERROR).
/// Details that are not an object are sent as `{}`: the envelope demands an object.
#[must_use]
pub fn encode_error(type_id: u8, id: &str, code: &str, description: &str, details: &Value) -> String {
    let mut w = Writer::new(96);
    w.raw(type_prefix(type_id))
        .string(id)
        .raw(",")
        .string(code)
        .raw(",")
        .string(description)
        .raw(",");
    if details.is_object() {
        w.value(details);
    } else {
        w.raw("{}");
    }
    w.raw("]").finish()
}

/// Serialises a parsed frame back to text (used by tests and relays).
#[must_use]
pub fn encode(frame: &Frame) -> String {
    match frame {
        Frame::Call { id, action, payload } => encode_call(CALL, id, action, payload),
        Frame::Send { id, action, payload } => encode_call(SEND, id, action, payload),
        Frame::CallResult { id, payload } => encode_result(id, payload),
        Frame::CallError {
            id,
            code,
            description,
            details,
        } => encode_error(CALL_ERROR, id, code, description, details),
        Frame::CallResultError {
            id,
            code,
            description,
            details,
        } => encode_error(CALL_RESULT_ERROR, id, code, description, details),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn malformed_code(text: &str, v: Version) -> (Option<String>, ErrorCode, bool) {
        match parse(text, v) {
            Err(FrameError::Malformed { id, code, answer, .. }) => (id, code, answer),
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn parses_each_type_and_keeps_number_forms() {
        let f = parse(r#"[2,"1","Heartbeat",{"a":1,"b":1.0}]"#, Version::V16).unwrap();
        let Frame::Call { payload, .. } = &f else { panic!() };
        assert!(payload["a"].is_u64());
        assert!(payload["b"].is_f64());
        assert_eq!(encode(&f), r#"[2,"1","Heartbeat",{"a":1,"b":1.0}]"#);
        assert!(matches!(
            parse(r#"[3,"1",{}]"#, Version::V201),
            Ok(Frame::CallResult { .. })
        ));
        assert!(matches!(
            parse(r#"[4,"1","NotSupported","",{}]"#, Version::V201),
            Ok(Frame::CallError { .. })
        ));
        assert!(matches!(
            parse(r#"[5,"1","FormatViolation","",{}]"#, Version::V21),
            Ok(Frame::CallResultError { .. })
        ));
        assert!(matches!(
            parse(r#"[6,"1","NotifyPeriodicEventStream",{}]"#, Version::V21),
            Ok(Frame::Send { .. })
        ));
    }

    #[test]
    fn null_payload_is_empty_object() {
        let f = parse(r#"[2,"1","Heartbeat",null]"#, Version::V16).unwrap();
        assert_eq!(
            f,
            Frame::Call {
                id: "1".into(),
                action: "Heartbeat".into(),
                payload: json!({})
            }
        );
    }

    #[test]
    fn envelope_errors() {
        assert_eq!(
            malformed_code("nope", Version::V201),
            (None, ErrorCode::RpcFrameworkError, true)
        );
        assert_eq!(
            malformed_code("{}", Version::V16),
            (None, ErrorCode::FormatViolation, true)
        );
        assert_eq!(
            malformed_code(r#"["2","1","A",{}]"#, Version::V201).1,
            ErrorCode::RpcFrameworkError
        );
        assert_eq!(malformed_code(r#"[2,1,"A",{}]"#, Version::V201).0, None);
        let long = format!(r#"[2,"{}","A",{{}}]"#, "x".repeat(37));
        assert_eq!(malformed_code(&long, Version::V201).0, None);
        let ok36 = format!(r#"[2,"{}","A",{{}}]"#, "x".repeat(36));
        assert!(parse(&ok36, Version::V201).is_ok());
        assert_eq!(
            malformed_code(r#"[2,"1","A",[]]"#, Version::V201),
            (Some("1".into()), ErrorCode::FormatViolation, true)
        );
        assert_eq!(malformed_code(r#"[2,"1","A"]"#, Version::V201).0, Some("1".into()));
        assert!(
            !malformed_code(r#"[3,"1"]"#, Version::V201).2,
            "responses are never answered"
        );
        // A CALLRESULT with a non-object payload is parsed; the connection fails the call.
        assert!(matches!(
            parse(r#"[3,"1",5]"#, Version::V201),
            Ok(Frame::CallResult { .. })
        ));
        assert!(
            !malformed_code(r#"[6,"1","A"]"#, Version::V21).2,
            "a SEND is never answered"
        );
        assert!(!malformed_code(r#"[4,"1","X","y","z"]"#, Version::V201).2);
    }

    #[test]
    fn unknown_types_depend_on_version() {
        for v in [Version::V16, Version::V201] {
            assert!(matches!(
                parse(r#"[6,"1","A",{}]"#, v),
                Err(FrameError::UnknownType { type_id: 6, .. })
            ));
        }
        assert!(matches!(
            parse(r#"[7,"1","A",{}]"#, Version::V21),
            Err(FrameError::UnknownType { type_id: 7, .. })
        ));
    }

    #[test]
    fn depth_prescan_skips_strings() {
        assert!(!exceeds_depth(r#"[2,"1","A",{"a":[1,{"b":2}]}]"#, 4));
        assert!(exceeds_depth(r#"[2,"1","A",{"a":[1,{"b":2}]}]"#, 3));
        assert!(!exceeds_depth(r#"[2,"[[[[{{{{","A",{"s":"\"[[[[\\"}]"#, 2));
        assert!(
            exceeds_depth(r#"[2,"\\",[[{}]]]"#, 3),
            "an escaped backslash ends no string"
        );
        assert!(!exceeds_depth("]]]]]][[", 2), "unbalanced text is left to the parser");
        assert!(!exceeds_depth("", 0));
    }

    #[test]
    fn peek_reads_type_and_id() {
        assert_eq!(peek_envelope(r#" [ 2 , "a\"b" , {"#), (Some(2), Some("a\"b".into())));
        assert_eq!(peek_envelope(r#"[3,"x"]"#), (Some(3), Some("x".into())));
        assert_eq!(peek_envelope(r#"[2.0,"x"]"#), (None, None));
        assert_eq!(peek_envelope(r#"["2","x"]"#), (None, None));
        assert_eq!(peek_envelope(r#"[2,5]"#), (Some(2), None));
        assert_eq!(peek_envelope(r#"[2,"unterminated"#), (Some(2), None));
        let long = format!(r#"[2,"{}",{{}}]"#, "x".repeat(37));
        assert_eq!(peek_envelope(&long), (Some(2), None));
        assert_eq!(peek_envelope("{}"), (None, None));
        assert_eq!(peek_envelope("[5 ]"), (Some(5), None));
        assert_eq!(peek_envelope(r#"[-,"x"]"#), (None, None));
    }

    #[test]
    fn too_deep_frames_are_malformed_with_their_id() {
        let deep = |open: &str, close: &str, n: usize| {
            format!(
                r#"[2,"d","DataTransfer",{{"data":{}1{}}}]"#,
                open.repeat(n),
                close.repeat(n)
            )
        };
        assert!(parse(&deep("[", "]", 30), Version::V16).is_ok(), "32 levels in all");
        for text in [deep("[", "]", 31), deep("{\"a\":", "}", 40), deep("[", "]", 100_000)] {
            for v in Version::ALL {
                let (id, code, answer) = malformed_code(&text, v);
                assert_eq!((id.as_deref(), code, answer), (Some("d"), v.rpc_error(), true));
            }
        }
        // A limit above serde_json's own (128 levels): serde_json's error is answered instead.
        let text = deep("[", "]", 200);
        assert!(matches!(
            parse_with_max_depth(&text, Version::V201, 300),
            Err(FrameError::Malformed { .. })
        ));
        assert!(parse_with_max_depth(&deep("[", "]", 2), Version::V201, 5).is_ok());
        assert!(parse_with_max_depth(&deep("[", "]", 2), Version::V201, 4).is_ok());
        assert!(parse_with_max_depth(&deep("[", "]", 2), Version::V201, 3).is_err());
        let response = format!(r#"[3,"r",{}{}]"#, "[".repeat(50), "]".repeat(50));
        assert_eq!(
            malformed_code(&response, Version::V201),
            (Some("r".into()), ErrorCode::RpcFrameworkError, false)
        );
        let send = format!(r#"[6,"s","X",{}{}]"#, "[".repeat(50), "]".repeat(50));
        assert!(!malformed_code(&send, Version::V21).2);
        let unreadable = format!("{}{}", "[".repeat(50), "]".repeat(50));
        assert_eq!(
            malformed_code(&unreadable, Version::V16),
            (None, ErrorCode::FormatViolation, true)
        );
    }

    #[test]
    fn error_details_must_be_object() {
        let text = encode_error(CALL_ERROR, "x", "GenericError", "a \"quoted\" text", &Value::Null);
        assert_eq!(text, r#"[4,"x","GenericError","a \"quoted\" text",{}]"#);
        assert!(parse(&text, Version::V16).is_ok());
    }
}

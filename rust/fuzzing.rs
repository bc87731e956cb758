//! Fuzzing harness shared by the cargo-fuzz target (`fuzz/`) and the stable-Rust property
//! test below: [`exercise`] feeds one input to every entry point that reads peer text and
//! panics when an invariant breaks. Built for `cargo test` and with the `fuzzing` feature.
//!
//! Invariants checked for each version:
//! * nothing panics (parse, validate, receive, reply, reply_error, poll, close);
//! * every `Transmit` is a JSON array of type 3, 4 or 5 whose id is the incoming id or "-1";
//!   errors carry a code spelled for the version, a description of at most 255 characters
//!   and an object as details;
//! * a parsed frame survives `encode` → `parse` unchanged; the cheap envelope peek agrees
//!   with the full parser;
//! * validation is monotonic: what strict options accept, lenient ones and the fully
//!   relaxed registry accept too; a delivered CALL/result passed its schema (strict mode)
//!   or carries the violation the registry reports (lenient mode).

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use serde_json::{json, Map, Value};

use crate::connection::{Connection, ConnectionOptions, Event, ValidationMode};
use crate::error::ErrorCode;
use crate::frame::{self, Frame};
use crate::schema::{DateTimeMode, Direction, Registry, SchemaError, ValidationOptions, RELAXATIONS};
use crate::version::{Version, UNREADABLE_ID};

const MAX_DESCRIPTION: usize = 255;

fn relaxed_registry(version: Version) -> Arc<Registry> {
    static CELLS: [OnceLock<Arc<Registry>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let index = Version::ALL.iter().position(|v| *v == version).unwrap_or(0);
    CELLS[index]
        .get_or_init(|| {
            let names: Vec<&str> = RELAXATIONS.iter().map(|r| r.name).collect();
            Arc::new(
                Registry::bundled(version)
                    .relaxed(&names)
                    .expect("every relaxation name is known"),
            )
        })
        .clone()
}

/// Sorted action names of a version's bundled registry, and those with a request schema.
fn action_lists(version: Version) -> &'static (Vec<String>, Vec<String>) {
    static CELLS: [OnceLock<(Vec<String>, Vec<String>)>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let index = Version::ALL.iter().position(|v| *v == version).unwrap_or(0);
    CELLS[index].get_or_init(|| {
        let registry = Registry::bundled(version);
        let all: Vec<String> = registry.actions().into_iter().map(str::to_owned).collect();
        let callable = all
            .iter()
            .filter(|a| registry.has(a, Direction::Request))
            .cloned()
            .collect();
        (all, callable)
    })
}

/// A stable, cheap hash (FNV-1a) to derive choices from the input.
fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs every check on `data` (read as UTF-8, invalid sequences replaced).
pub fn exercise(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for version in Version::ALL {
        exercise_text(&text, version);
    }
}

/// Runs every check on `text` for one version.
pub fn exercise_text(text: &str, version: Version) {
    let h = hash(text.as_bytes());
    let raw: Option<Value> = serde_json::from_str(text).ok();
    check_peek(text, raw.as_ref());
    let allowed_ids: HashSet<String> = [answer_id(text, raw.as_ref())].into_iter().collect();

    if let Ok(parsed) = frame::parse(text, version) {
        let again = frame::parse(&frame::encode(&parsed), version).expect("an encoded frame parses again");
        assert_eq!(again, parsed, "encode/parse round trip");
        match &parsed {
            Frame::Call { action, payload, .. } => check_validation(version, action, Direction::Request, payload),
            Frame::Send { action, payload, .. } => check_validation(version, action, Direction::Send, payload),
            Frame::CallResult { payload, .. } => {
                let actions = &action_lists(version).0;
                let action = &actions[usize::try_from(h).unwrap_or(0) % actions.len()];
                check_validation(version, action, Direction::Response, payload);
            }
            _ => {}
        }
    }

    // A connection with one call of ours pending, fed the text twice (the second time a CALL
    // id is a duplicate of one still being processed).
    let mode = if h & 1 == 0 {
        ValidationMode::Strict
    } else {
        ValidationMode::Lenient
    };
    let (mut conn, pending) = connection(version, mode, h);
    let mut open_calls = Vec::new();
    for round in 0..2 {
        let events = conn.receive(text, 1.0 + f64::from(round));
        open_calls.extend(check_events(&conn, &events, &allowed_ids, &pending, mode));
    }
    assert!(
        open_calls.len() <= 1,
        "a repeated CALL id is refused while the first is open"
    );
    for (id, payload) in open_calls {
        answer(&mut conn, &id, &payload);
    }
    poll_and_close(&mut conn);

    // The same frame as the answer to our pending call: its id replaced by the call's id.
    if let Some(Value::Array(mut items)) = raw {
        if items.len() > 1 && items[1].is_string() {
            let (mut conn, pending) = connection(version, mode, h);
            items[1] = Value::String(pending.1.clone());
            let reply_value = Value::Array(items);
            let reply_text = reply_value.to_string();
            let ids: HashSet<String> = [answer_id(&reply_text, Some(&reply_value))].into_iter().collect();
            let events = conn.receive(&reply_text, 1.0);
            for (id, payload) in check_events(&conn, &events, &ids, &pending, mode) {
                answer(&mut conn, &id, &payload);
            }
            poll_and_close(&mut conn);
        }
    }
}

/// The one id an answer to `text` may carry: the message id when it is readable (a string
/// of at most 36 characters, read by the JSON parser, or from the envelope start when the
/// frame nests too deeply to be parsed), else "-1".
fn answer_id(text: &str, raw: Option<&Value>) -> String {
    let readable = if frame::exceeds_depth(text, frame::DEFAULT_MAX_DEPTH) {
        frame::peek_envelope(text).1
    } else {
        match raw {
            Some(Value::Array(items)) => items
                .get(1)
                .and_then(Value::as_str)
                .filter(|id| id.chars().count() <= crate::version::MAX_MESSAGE_ID_LEN)
                .map(str::to_owned),
            _ => None,
        }
    };
    readable.unwrap_or_else(|| UNREADABLE_ID.to_owned())
}

/// The envelope peek used for too-deep frames reads what the full JSON parser reads.
fn check_peek(text: &str, raw: Option<&Value>) {
    let Some(Value::Array(items)) = raw else { return };
    let Some(type_id) = items.first().filter(|t| t.is_i64()).and_then(Value::as_i64) else {
        return;
    };
    let expected_id = items
        .get(1)
        .and_then(Value::as_str)
        .filter(|id| id.chars().count() <= crate::version::MAX_MESSAGE_ID_LEN)
        .map(str::to_owned);
    assert_eq!(
        frame::peek_envelope(text),
        (Some(type_id), expected_id),
        "peek of {text:?}"
    );
}

fn connection(version: Version, incoming: ValidationMode, h: u64) -> (Connection, (String, String)) {
    let registry = Registry::bundled(version);
    let options = ConnectionOptions {
        incoming,
        outgoing: ValidationMode::Off,
        ..ConnectionOptions::default()
    };
    let mut conn = Connection::new(version, registry.clone(), options);
    let actions = &action_lists(version).1;
    let action = actions[usize::try_from(h >> 8).unwrap_or(0) % actions.len()].clone();
    let (id, events) = conn
        .call(&action, &json!({}), 0.0, 30.0)
        .expect("a known action can be called with outgoing validation off");
    match &events[..] {
        [Event::Transmit(text)] => {
            let frame: Value = serde_json::from_str(text).expect("our CALL is JSON");
            assert_eq!(frame, json!([2, id, action, {}]));
        }
        other => panic!("the first call goes out at once: {other:?}"),
    }
    (conn, (action, id))
}

fn poll_and_close(conn: &mut Connection) {
    for event in conn.poll(1e12) {
        assert!(matches!(event, Event::CallTimeout { .. }), "poll: {event:?}");
    }
    for event in conn.close() {
        assert!(matches!(event, Event::CallAborted { .. }), "close: {event:?}");
    }
    assert_eq!(conn.calls_in_progress(), 0);
}

/// Checks an outgoing error frame: `[4|5, id, code, description, {details}]`.
fn check_error_frame(frame: &[Value], version: Version) {
    assert_eq!(frame.len(), 5, "error frame {frame:?}");
    let code = frame[2].as_str().expect("error code is a string");
    let parsed = ErrorCode::parse(code).unwrap_or_else(|| panic!("unknown code {code:?}"));
    assert_eq!(parsed.wire(version), code, "code spelled for {version:?}");
    let description = frame[3].as_str().expect("description is a string");
    assert!(description.chars().count() <= MAX_DESCRIPTION, "description too long");
    assert!(frame[4].is_object(), "details must be an object: {frame:?}");
}

/// Parses an outgoing text; returns its elements after checking type and id.
fn check_transmit(text: &str, allowed_ids: &HashSet<String>, version: Version) -> Vec<Value> {
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("Transmit is not JSON ({e}): {text:?}"));
    let Value::Array(frame) = value else {
        panic!("Transmit is not an array: {text:?}")
    };
    let type_id = frame.first().and_then(Value::as_u64);
    assert!(matches!(type_id, Some(3..=5)), "Transmit type {type_id:?}: {text:?}");
    let id = frame.get(1).and_then(Value::as_str).expect("Transmit id is a string");
    assert!(
        allowed_ids.contains(id),
        "Transmit id {id:?} is neither the incoming id nor -1"
    );
    match type_id {
        Some(3) => {
            assert_eq!(frame.len(), 3);
            assert!(frame[2].is_object());
        }
        Some(5) => {
            assert!(version.has_send_and_result_error(), "CALLRESULTERROR outside 2.1");
            check_error_frame(&frame, version);
        }
        _ => check_error_frame(&frame, version),
    }
    frame
}

/// Checks the events of one `receive`; returns the incoming calls to answer.
fn check_events(
    conn: &Connection,
    events: &[Event],
    allowed_ids: &HashSet<String>,
    pending: &(String, String),
    mode: ValidationMode,
) -> Vec<(String, Value)> {
    let mut calls = Vec::new();
    let version = conn.version();
    let registry = conn.registry().clone();
    let transmits = events.iter().filter(|e| matches!(e, Event::Transmit(_))).count();
    assert!(transmits <= 1, "one frame in, at most one frame out: {events:?}");
    for event in events {
        match event {
            Event::Transmit(text) => {
                check_transmit(text, allowed_ids, version);
            }
            Event::IncomingCall {
                id,
                action,
                payload,
                violation,
            } => {
                assert!(allowed_ids.contains(id));
                assert!(payload.is_object());
                let verdict = registry.validate(action, Direction::Request, payload, conn.options.schema);
                match (mode, violation) {
                    (ValidationMode::Strict, None) => assert_eq!(verdict, Ok(())),
                    (ValidationMode::Lenient, Some(v)) => assert_eq!(verdict, Err(SchemaError::Invalid(v.clone()))),
                    (ValidationMode::Lenient, None) => assert_eq!(verdict, Ok(())),
                    other => panic!("unexpected violation {other:?}"),
                }
                calls.push((id.clone(), payload.clone()));
            }
            Event::IncomingSend { id, payload, .. } => {
                assert!(version.has_send_and_result_error());
                assert!(allowed_ids.contains(id));
                assert!(payload.is_object());
            }
            Event::CallResult {
                id, action, payload, ..
            } => {
                assert_eq!((action, id), (&pending.0, &pending.1));
                assert!(payload.is_object());
            }
            Event::CallError {
                id, action, details, ..
            } => {
                assert_eq!((action, id), (&pending.0, &pending.1));
                assert!(details.is_object());
            }
            Event::InvalidResponse { id, action, .. } => assert_eq!((action, id), (&pending.0, &pending.1)),
            Event::ResultErrorReceived { details, .. } => assert!(details.is_object()),
            Event::ProtocolViolation { .. } | Event::UnmatchedResponse { .. } => {}
            Event::CallTimeout { .. } | Event::CallAborted { .. } => panic!("receive never ends calls by time"),
        }
    }
    calls
}

/// Answers an incoming call: a CALLRESULT with the request payload (usually invalid), then
/// (the call being closed or not) a CALLERROR with a long description and odd details.
fn answer(conn: &mut Connection, id: &str, payload: &Value) {
    let version = conn.version();
    let ids: HashSet<String> = [id.to_owned()].into_iter().collect();
    match conn.reply(id, payload) {
        Ok(text) => {
            let frame = check_transmit(&text, &ids, version);
            assert_eq!(&frame[2], payload);
            assert!(conn.reply(id, payload).is_err(), "a call is answered once");
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
    let description = format!("{payload} {}", "é".repeat(300));
    let details = [payload.clone(), Value::Null, json!([1, 2]), json!("text")];
    let pick = usize::try_from(hash(id.as_bytes())).unwrap_or(0) % details.len();
    let code = ErrorCode::ALL[pick * 3 % ErrorCode::ALL.len()];
    let text = conn.reply_error(id, code, &description, &details[pick]);
    let frame = check_transmit(&text, &ids, version);
    assert_eq!(frame[0], 4);
}

/// Strict → lenient → off, and original → relaxed, only ever accept more.
fn check_validation(version: Version, action: &str, direction: Direction, payload: &Value) {
    let strict = ValidationOptions::default();
    let lenient = ValidationOptions {
        date_time: DateTimeMode::Lenient,
        multiple_of: false,
    };
    let off = ValidationOptions {
        date_time: DateTimeMode::Off,
        multiple_of: false,
    };
    let registry = Registry::bundled(version);
    let relaxed = relaxed_registry(version);
    let verdicts: Vec<bool> = [strict, lenient, off]
        .iter()
        .map(|o| match registry.validate(action, direction, payload, *o) {
            Ok(()) => true,
            Err(SchemaError::Invalid(v)) => {
                assert!(!v.describe().is_empty());
                false
            }
            Err(_) => true, // unknown action / no schema: nothing to compare
        })
        .collect();
    assert!(
        verdicts.windows(2).all(|w| !w[0] || w[1]),
        "{action}: looser options reject what stricter accept"
    );
    if verdicts[0] {
        let relaxed_verdict = relaxed.validate(action, direction, payload, strict);
        assert!(
            !matches!(relaxed_verdict, Err(SchemaError::Invalid(_))),
            "{action}: the relaxed registry rejects what the original accepts: {relaxed_verdict:?}"
        );
    }
}

/// Valid frames of every kind and version: the seeds of the property test and of the
/// cargo-fuzz corpus (`fuzz/seeds/`).
#[must_use]
pub fn seed_frames() -> Vec<String> {
    let ts = "2024-05-01T12:00:00Z";
    let frames = [
        json!([2, "1", "Heartbeat", {}]),
        json!([2, "boot-1", "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "X1",
            "chargePointSerialNumber": "SN-123", "firmwareVersion": "1.0.0"}]),
        json!([2, "mv", "MeterValues", {"connectorId": 1, "transactionId": 7, "meterValue": [{"timestamp": ts,
            "sampledValue": [{"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                             {"value": "50", "measurand": "Frequency", "unit": "Hertz"}]}]}]),
        json!([2, "st", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available",
            "timestamp": ts}]),
        json!([2, "tx", "StartTransaction", {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": ts}]),
        json!([2, "stop", "StopTransaction", {"transactionId": 7, "meterStop": 99, "timestamp": ts, "reason": "Local",
            "transactionData": [{"timestamp": ts, "sampledValue": [{"value": "21.5", "unit": "Celsius"}]}]}]),
        json!([2, "dt", "DataTransfer", {"vendorId": "acme", "messageId": "m", "data": "{\"a\":1}"}]),
        json!([2, "sc", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {"chargingProfileId": 1,
            "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 12.7}]}}}]),
        json!([2, "b2", "BootNotification", {"reason": "PowerUp", "chargingStation": {"model": "M",
            "vendorName": "V", "serialNumber": "S", "modem": {"iccid": "1", "imsi": "2"}}}]),
        json!([2, "te", "TransactionEvent", {"eventType": "Updated", "timestamp": ts, "triggerReason": "MeterValuePeriodic",
            "seqNo": 3, "transactionInfo": {"transactionId": "t-1", "chargingState": "Charging"},
            "evse": {"id": 1, "connectorId": 1}, "idToken": {"idToken": "abc", "type": "ISO14443"},
            "meterValue": [{"timestamp": ts, "sampledValue": [{"value": 1.5, "signedMeterValue": {
                "signedMeterData": "AAAA", "signingMethod": "ECDSA", "encodingMethod": "base64", "publicKey": "k"}}]}],
            "customData": {"vendorId": "acme", "anything": [1, {"x": null}]}}]),
        json!([2, "nr", "NotifyReport", {"requestId": 1, "generatedAt": ts, "seqNo": 0, "tbc": false,
            "reportData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
            "variableAttribute": [{"value": "300", "type": "Actual"}]}]}]),
        json!([6, "se", "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": ts,
            "data": [{"t": 0.5, "v": "230.1"}]}]),
        json!([3, "r1", {"status": "Accepted", "currentTime": ts, "interval": 300}]),
        json!([3, "r2", {"configurationKey": [{"key": "K", "readonly": true, "value": "v"}], "unknownKey": ["U"]}]),
        json!([3, "r3", null]),
        json!([4, "e1", "NotImplemented", "no such action", {}]),
        json!([4, "e2", "FormationViolation", "", {"path": "x"}]),
        json!([5, "e3", "FormatViolation", "bad result", {}]),
    ];
    let mut seeds: Vec<String> = frames.iter().map(Value::to_string).collect();
    seeds.push("[2, \"ws\" ,\n\t\"Heartbeat\" , { } ]".into());
    seeds.push(format!(
        "[2,\"deep\",\"DataTransfer\",{{\"vendorId\":\"v\",\"data\":{}\"x\"{}}}]",
        "[".repeat(30),
        "]".repeat(30)
    ));
    seeds
}

/// Deterministic SplitMix64: no dependency, same sequence on every platform.
pub struct Rng(u64);

impl Rng {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % (n as u64)).unwrap_or(0)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Tokens that tend to hit edge cases: structure, escapes, odd numbers, unicode.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "\"",
    "\\",
    ",",
    ":",
    "null",
    "true",
    "false",
    "0",
    "-0",
    "1.0",
    "1e400",
    "-1e-400",
    "1E+2",
    "123456789012345678901234567890",
    "-9223372036854775809",
    "18446744073709551616",
    "NaN",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "\"\\uDBFF\\uDFFF\"",
    "\"é\"",
    "😀",
    "\u{feff}",
    "\u{2028}",
    "\0",
    " ",
    "\n",
    "\"-1\"",
    "{\"customData\":{\"vendorId\":\"v\"}}",
    "[[[[[[[[",
    "]]]]]]]]",
    "{\"a\":{\"a\":{\"a\":",
];

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 8 } else { 10 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => json!(rng.next_u64()),
        3 => json!(-i64::try_from(rng.next_u64() >> 1).unwrap_or(0)),
        4 => {
            let f = f64::from_bits(rng.next_u64());
            if f.is_finite() {
                json!(f)
            } else {
                json!(0.1)
            }
        }
        5 => json!(*rng.pick(&[
            "",
            "Accepted",
            "Celsius",
            "Hz",
            "2024-01-01T00:00:00",
            "Error",
            "é😀\u{0}"
        ])),
        6 => Value::String("x".repeat(*rng.pick(&[20, 21, 25, 26, 36, 37, 50, 51, 255, 256, 2501, 40_000]))),
        7 => json!(rng.below(100)),
        8 => Value::Array((0..rng.below(4)).map(|_| random_value(rng, depth + 1)).collect()),
        _ => {
            let keys = [
                "status",
                "value",
                "unit",
                "data",
                "idTag",
                "connectorId",
                "customData",
                "meterValue",
                "x",
            ];
            let map: Map<String, Value> = (0..rng.below(4))
                .map(|_| ((*rng.pick(&keys)).to_owned(), random_value(rng, depth + 1)))
                .collect();
            Value::Object(map)
        }
    }
}

/// Replaces one randomly chosen node of `value` (counting depth-first) with a random value.
fn replace_random_node(rng: &mut Rng, value: &mut Value) {
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(items) => items.iter().map(count).sum(),
            Value::Object(map) => map.values().map(count).sum(),
            _ => 0,
        }
    }
    fn nth<'a>(v: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
        if *n == 0 {
            return Some(v);
        }
        *n -= 1;
        match v {
            Value::Array(items) => items.iter_mut().find_map(|item| nth(item, n)),
            Value::Object(map) => map.values_mut().find_map(|item| nth(item, n)),
            _ => None,
        }
    }
    let mut n = rng.below(count(value));
    let replacement = random_value(rng, 0);
    if let Some(node) = nth(value, &mut n) {
        *node = replacement;
    }
}

/// One mutated input built from the seeds: structural edits on the JSON (wrong types, odd
/// ids and type numbers, deep nesting), then byte-level edits (flips, truncation, splices,
/// tokens). The result is bytes: it may not be UTF-8.
pub fn mutate(rng: &mut Rng, seeds: &[String]) -> Vec<u8> {
    let seed = rng.pick(seeds).clone();
    let mut text = seed.clone();
    if let Ok(mut value) = serde_json::from_str::<Value>(&seed) {
        for _ in 0..rng.below(3) {
            match rng.below(4) {
                0 | 1 => replace_random_node(rng, &mut value),
                2 => {
                    if let Some(first) = value.as_array_mut().and_then(|items| items.first_mut()) {
                        *first = rng
                            .pick(&[
                                json!(0),
                                json!(1),
                                json!(3),
                                json!(4),
                                json!(5),
                                json!(6),
                                json!(7),
                                json!(-1),
                                json!(2.0),
                                json!("2"),
                                json!(u64::MAX),
                                Value::Null,
                            ])
                            .clone();
                    }
                }
                _ => {
                    if let Value::Array(items) = &mut value {
                        if items.len() > 1 {
                            items[1] = rng
                                .pick(&[
                                    json!("-1"),
                                    json!(""),
                                    json!("x".repeat(36)),
                                    json!("x".repeat(37)),
                                    json!("é".repeat(36)),
                                    json!("\"\\"),
                                    json!(17),
                                    Value::Null,
                                ])
                                .clone();
                        }
                    }
                }
            }
        }
        text = value.to_string();
    }
    if rng.below(6) == 0 {
        let n = *rng.pick(&[1, 29, 30, 31, 32, 33, 127, 128, 129, 5_000]);
        let at = (0..=text.len())
            .filter(|i| text.is_char_boundary(*i))
            .nth(rng.below(text.chars().count() + 1));
        let at = at.unwrap_or(text.len());
        let (open, close) = if rng.below(2) == 0 {
            ("[", "]")
        } else {
            ("{\"a\":", "}")
        };
        let balanced = rng.below(3) != 0;
        let tail = if balanced { close.repeat(n) } else { String::new() };
        text = format!("{}{}1{}{}", &text[..at], open.repeat(n), tail, &text[at..]);
    }
    let mut bytes = text.into_bytes();
    // Half of the inputs stay well-formed enough to reach the schemas and the connection.
    let edits = if rng.below(2) == 0 { 0 } else { 1 + rng.below(3) };
    for _ in 0..edits {
        let len = bytes.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => bytes.truncate(rng.below(len)),
            2 if len > 0 => {
                let start = rng.below(len);
                let end = (start + rng.below(8)).min(len);
                bytes.drain(start..end);
            }
            3 => {
                let other = rng.pick(seeds).as_bytes();
                let cut = rng.below(other.len() + 1);
                let at = rng.below(len + 1);
                bytes.splice(at..at, other[cut..].iter().copied());
            }
            _ => {
                let at = rng.below(len + 1);
                bytes.splice(at..at, rng.pick(TOKENS).bytes());
            }
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_valid_frames() {
        for seed in seed_frames() {
            let ok = Version::ALL.iter().any(|v| frame::parse(&seed, *v).is_ok());
            assert!(ok, "{seed}");
            exercise(seed.as_bytes());
        }
    }

    /// The stable-Rust stand-in for `cargo fuzz` (what CI runs): seeded random mutations of
    /// valid frames. `OCPP_PROPTEST_CASES` and `OCPP_PROPTEST_SEED` override the defaults.
    #[test]
    fn mutated_frames_hold_the_invariants() {
        let cases: usize = std::env::var("OCPP_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let seed: u64 = std::env::var("OCPP_PROPTEST_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0x0c99_2024);
        let seeds = seed_frames();
        let mut rng = Rng::new(seed);
        for case in 0..cases {
            let input = mutate(&mut rng, &seeds);
            let outcome = std::panic::catch_unwind(|| exercise(&input));
            if outcome.is_err() {
                panic!(
                    "case {case} (seed {seed}) broke an invariant; input: {:?}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }

    #[test]
    fn hostile_shapes() {
        let inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"[".repeat(1_000_000),
            b"{\"a\":".repeat(100_000),
            format!("[2,\"x\",\"Heartbeat\",{}]", "[".repeat(200)).into_bytes(),
            vec![0xff, 0xfe, b'[', b'2'],
            b"[2,\"\\ud800\",\"Heartbeat\",{}]".to_vec(),
            format!("[2,\"{}\",\"Heartbeat\",{{}}]", "\\\"".repeat(40)).into_bytes(),
            b"[4,\"x\",\"GenericError\",\"d\",null]".to_vec(),
            b"[3,\"x\",{}, 1]".to_vec(),
            b"[2,\"x\",\"BootNotification\",{\"chargePointVendor\":1e400}]".to_vec(),
        ];
        for input in inputs {
            exercise(&input);
        }
    }
}

//! Sans-IO per-connection state: text in → [`Event`]s out, calls in → text out.
//!
//! Rules kept here (protocol notes §2.2–2.7):
//! * at most one outstanding CALL per direction: our further calls wait in a FIFO;
//! * incoming CALLs are never blocked by our own pending CALL;
//! * a CALLRESULT/CALLERROR is matched to the pending call by id and validated against that
//!   action's response schema; answers to unknown or expired ids are reported, not fatal;
//! * deadlines come from the `now` the caller passes in: the core never reads a clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{CoreResult, ErrorCode, LocalError};
use crate::frame::{self, Frame, FrameError, CALL, CALL_ERROR, CALL_RESULT_ERROR, SEND};
use crate::schema::{Direction, Registry, SchemaError, ValidationOptions, Violation};
use crate::version::{Version, UNREADABLE_ID};

/// What happens to a payload that breaks its schema.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ValidationMode {
    /// Answer with the CALLERROR (incoming) or refuse to send (outgoing).
    Strict,
    /// Accept, and report the violation with the event.
    Lenient,
    /// Do not validate.
    Off,
}

impl ValidationMode {
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "strict" => Some(Self::Strict),
            "lenient" => Some(Self::Lenient),
            "off" => Some(Self::Off),
            _ => None,
        }
    }
}

/// Longest CALLERROR description 2.x allows.
const MAX_DESCRIPTION: usize = 255;

/// Something the caller must act on.
#[derive(Clone, PartialEq, Debug)]
pub enum Event {
    /// Text to write to the socket now (an answer or a released queued call).
    Transmit(String),
    /// A valid incoming CALL; answer it with [`Connection::reply`] or [`Connection::reply_error`].
    /// `violation` is set when a lenient mode let an invalid payload through.
    IncomingCall {
        id: String,
        action: String,
        payload: Value,
        violation: Option<Violation>,
    },
    /// A 2.1 SEND (never answered).
    IncomingSend {
        id: String,
        action: String,
        payload: Value,
        violation: Option<Violation>,
    },
    /// Our call `id` succeeded.
    CallResult {
        id: String,
        action: String,
        payload: Value,
        violation: Option<Violation>,
    },
    /// Our call `id` was answered with a CALLERROR.
    CallError {
        id: String,
        action: String,
        code: String,
        description: String,
        details: Value,
    },
    /// Our call `id` got an answer that breaks the envelope or the response schema.
    InvalidResponse {
        id: String,
        action: String,
        code: ErrorCode,
        description: String,
    },
    /// Our call `id` expired before an answer came.
    CallTimeout { id: String, action: String },
    /// Our call `id` was dropped without an answer (connection closed).
    CallAborted { id: String, action: String },
    /// 2.1 CALLRESULTERROR: the peer could not process our answer to its call `id`.
    ResultErrorReceived {
        id: String,
        code: String,
        description: String,
        details: Value,
    },
    /// The peer sent something wrong or unexpected; any answer is in a `Transmit` event.
    ProtocolViolation {
        id: Option<String>,
        code: ErrorCode,
        description: String,
    },
    /// A CALLRESULT/CALLERROR for an id we are not waiting for (late, unknown or duplicate).
    UnmatchedResponse { id: String },
}

#[derive(Debug)]
struct QueuedCall {
    id: String,
    action: String,
    text: String,
    deadline: f64,
}

#[derive(Debug)]
struct PendingCall {
    id: String,
    action: String,
    deadline: f64,
}

/// Settings of one connection.
#[derive(Clone, Debug)]
pub struct ConnectionOptions {
    pub incoming: ValidationMode,
    pub outgoing: ValidationMode,
    pub schema: ValidationOptions,
    /// Per-action override of the incoming mode (for actions that known stations get wrong).
    pub action_modes: HashMap<String, ValidationMode>,
    /// Most outgoing calls that may wait behind the pending one.
    pub max_queued_calls: usize,
    /// Deepest JSON nesting of a received frame (envelope array = level 1); deeper frames
    /// are answered like unreadable JSON, before any parsing.
    pub max_depth: usize,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self {
            incoming: ValidationMode::Strict,
            outgoing: ValidationMode::Strict,
            schema: ValidationOptions::default(),
            action_modes: HashMap::new(),
            max_queued_calls: 1000,
            max_depth: frame::DEFAULT_MAX_DEPTH,
        }
    }
}

/// The sans-IO state of one OCPP-J connection.
#[derive(Debug)]
pub struct Connection {
    version: Version,
    registry: Arc<Registry>,
    pub options: ConnectionOptions,
    pending: Option<PendingCall>,
    queue: VecDeque<QueuedCall>,
    /// Incoming CALLs not yet answered: id → action.
    in_progress: HashMap<String, String>,
}

fn truncate(mut text: String, max_chars: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max_chars) {
        text.truncate(cut);
    }
    text
}

impl Connection {
    #[must_use]
    pub fn new(version: Version, registry: Arc<Registry>, options: ConnectionOptions) -> Self {
        Self {
            version,
            registry,
            options,
            pending: None,
            queue: VecDeque::new(),
            in_progress: HashMap::new(),
        }
    }

    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    #[must_use]
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Swaps the schemas used from now on (e.g. a [`Registry::relaxed`] one once the
    /// station's model is known). Calls in flight are checked against the new schemas.
    ///
    /// # Errors
    /// The registry is for another protocol version; nothing changes.
    pub fn set_registry(&mut self, registry: Arc<Registry>) -> Result<(), String> {
        if registry.version != self.version {
            return Err(format!(
                "the registry is for OCPP {}, this connection speaks OCPP {}",
                registry.version.name(),
                self.version.name()
            ));
        }
        self.registry = registry;
        Ok(())
    }

    /// Id of the call awaiting its answer, if any.
    #[must_use]
    pub fn pending_call(&self) -> Option<&str> {
        self.pending.as_ref().map(|p| p.id.as_str())
    }

    #[must_use]
    pub fn queued_calls(&self) -> usize {
        self.queue.len()
    }

    #[must_use]
    pub fn calls_in_progress(&self) -> usize {
        self.in_progress.len()
    }

    /// Earliest deadline of a pending or queued call: when [`Connection::poll`] has work.
    #[must_use]
    pub fn next_deadline(&self) -> Option<f64> {
        let queued = self.queue.iter().map(|q| q.deadline);
        self.pending.iter().map(|p| p.deadline).chain(queued).reduce(f64::min)
    }

    fn error_text(&self, id: &str, code: ErrorCode, description: &str, details: &Value) -> String {
        let description = truncate(description.to_owned(), MAX_DESCRIPTION);
        frame::encode_error(CALL_ERROR, id, code.wire(self.version), &description, details)
    }

    fn mode_for(&self, action: &str) -> ValidationMode {
        self.options
            .action_modes
            .get(action)
            .copied()
            .unwrap_or(self.options.incoming)
    }

    /// Checks a received payload; `Err` carries the violation in strict mode.
    fn check_incoming(
        &self,
        action: &str,
        direction: Direction,
        payload: &Value,
    ) -> Result<Option<Violation>, Violation> {
        let mode = self.mode_for(action);
        if mode == ValidationMode::Off {
            return Ok(None);
        }
        match self.registry.validate(action, direction, payload, self.options.schema) {
            Ok(()) | Err(SchemaError::UnknownAction | SchemaError::NoSchema) => Ok(None),
            Err(SchemaError::Invalid(v)) if mode == ValidationMode::Lenient => Ok(Some(v)),
            Err(SchemaError::Invalid(v)) => Err(v),
        }
    }

    /// Processes one received text frame at time `now`.
    pub fn receive(&mut self, text: &str, now: f64) -> Vec<Event> {
        let mut events = Vec::with_capacity(1);
        match frame::parse_with_max_depth(text, self.version, self.options.max_depth) {
            Ok(Frame::Call { id, action, payload }) => self.on_call(id, action, payload, &mut events),
            Ok(Frame::Send { id, action, payload }) => self.on_send(id, action, payload, &mut events),
            Ok(Frame::CallResult { id, payload }) => self.on_result(id, payload, now, &mut events),
            Ok(Frame::CallError {
                id,
                code,
                description,
                details,
            }) => {
                match self.take_pending(&id) {
                    Some(call) => events.push(Event::CallError {
                        id,
                        action: call.action,
                        code,
                        description,
                        details,
                    }),
                    None => events.push(Event::UnmatchedResponse { id }),
                }
                self.release(now, &mut events);
            }
            Ok(Frame::CallResultError {
                id,
                code,
                description,
                details,
            }) => {
                events.push(Event::ResultErrorReceived {
                    id,
                    code,
                    description,
                    details,
                });
            }
            Err(FrameError::Malformed {
                id,
                code,
                message,
                answer,
            }) => {
                if answer {
                    let reply_id = id.as_deref().unwrap_or(UNREADABLE_ID);
                    events.push(Event::Transmit(self.error_text(
                        reply_id,
                        code,
                        &message,
                        &Value::Object(Map::new()),
                    )));
                } else if let Some(call) = id.as_deref().and_then(|id| self.take_pending(id)) {
                    // A broken answer still ends our call: fail it rather than wait for the timeout.
                    events.push(Event::InvalidResponse {
                        id: call.id,
                        action: call.action,
                        code,
                        description: message.clone(),
                    });
                    self.release(now, &mut events);
                }
                events.push(Event::ProtocolViolation {
                    id,
                    code,
                    description: message,
                });
            }
            Err(FrameError::UnknownType { id, type_id }) => {
                let description = format!("message type {type_id} is not supported");
                if self.version.answers_unknown_message_type() {
                    let reply_id = id.as_deref().unwrap_or(UNREADABLE_ID);
                    let text = self.error_text(
                        reply_id,
                        ErrorCode::MessageTypeNotSupported,
                        &description,
                        &Value::Object(Map::new()),
                    );
                    events.push(Event::Transmit(text));
                }
                events.push(Event::ProtocolViolation {
                    id,
                    code: ErrorCode::MessageTypeNotSupported,
                    description,
                });
            }
        }
        events
    }

    fn reject(&self, id: String, code: ErrorCode, description: String, details: &Value, events: &mut Vec<Event>) {
        events.push(Event::Transmit(self.error_text(&id, code, &description, details)));
        events.push(Event::ProtocolViolation {
            id: Some(id),
            code,
            description,
        });
    }

    fn on_call(&mut self, id: String, action: String, payload: Value, events: &mut Vec<Event>) {
        let empty = Value::Object(Map::new());
        if self.in_progress.contains_key(&id) {
            let code = self.version.duplicate_id_error();
            return self.reject(
                id,
                code,
                "a call with this message id is still being processed".into(),
                &empty,
                events,
            );
        }
        if !self.registry.has(&action, Direction::Request) {
            let description = format!(
                "action {:?} is not known in OCPP {}",
                truncate(action, 64),
                self.version.name()
            );
            return self.reject(id, ErrorCode::NotImplemented, description, &empty, events);
        }
        match self.check_incoming(&action, Direction::Request, &payload) {
            Ok(violation) => {
                self.in_progress.insert(id.clone(), action.clone());
                events.push(Event::IncomingCall {
                    id,
                    action,
                    payload,
                    violation,
                });
            }
            Err(v) => {
                let mut details = Map::new();
                details.insert("path".into(), Value::String(v.path.clone()));
                details.insert("keyword".into(), Value::String(v.keyword.name().into()));
                self.reject(id, v.code(), v.describe(), &Value::Object(details), events);
            }
        }
    }

    fn on_send(&mut self, id: String, action: String, payload: Value, events: &mut Vec<Event>) {
        // A SEND is never answered, whatever is wrong with it.
        if !self.registry.has(&action, Direction::Send) {
            let description = format!("SEND action {:?} is not known", truncate(action, 64));
            events.push(Event::ProtocolViolation {
                id: Some(id),
                code: ErrorCode::NotImplemented,
                description,
            });
            return;
        }
        match self.check_incoming(&action, Direction::Send, &payload) {
            Ok(violation) => events.push(Event::IncomingSend {
                id,
                action,
                payload,
                violation,
            }),
            Err(v) => events.push(Event::ProtocolViolation {
                id: Some(id),
                code: v.code(),
                description: v.describe(),
            }),
        }
    }

    fn on_result(&mut self, id: String, payload: Value, now: f64, events: &mut Vec<Event>) {
        if !payload.is_object() {
            return self.on_non_object_result(id, now, events);
        }
        let Some(call) = self.take_pending(&id) else {
            events.push(Event::UnmatchedResponse { id });
            return;
        };
        match self.check_incoming(&call.action, Direction::Response, &payload) {
            Ok(violation) => events.push(Event::CallResult {
                id,
                action: call.action,
                payload,
                violation,
            }),
            Err(v) => {
                if self.version.has_send_and_result_error() {
                    // 2.1: a CALLRESULT that fails its schema is answered with CALLRESULTERROR.
                    let description = truncate(v.describe(), MAX_DESCRIPTION);
                    let text = frame::encode_error(
                        CALL_RESULT_ERROR,
                        &id,
                        v.code().wire(self.version),
                        &description,
                        &Value::Object(Map::new()),
                    );
                    events.push(Event::Transmit(text));
                }
                events.push(Event::InvalidResponse {
                    id,
                    action: call.action,
                    code: v.code(),
                    description: v.describe(),
                });
            }
        }
        self.release(now, events);
    }

    /// A CALLRESULT whose payload is not an object breaks the envelope rules: it fails our
    /// pending call (2.1: answered with CALLRESULTERROR) and is reported.
    fn on_non_object_result(&mut self, id: String, now: f64, events: &mut Vec<Event>) {
        let code = ErrorCode::FormatViolation;
        let description = "payload is not a JSON object".to_owned();
        if let Some(call) = self.take_pending(&id) {
            if self.version.has_send_and_result_error() {
                let empty = Value::Object(Map::new());
                let text = frame::encode_error(CALL_RESULT_ERROR, &id, code.wire(self.version), &description, &empty);
                events.push(Event::Transmit(text));
            }
            events.push(Event::InvalidResponse {
                id: id.clone(),
                action: call.action,
                code,
                description: description.clone(),
            });
            self.release(now, events);
        }
        events.push(Event::ProtocolViolation {
            id: Some(id),
            code,
            description,
        });
    }

    fn take_pending(&mut self, id: &str) -> Option<PendingCall> {
        if self.pending.as_ref().is_some_and(|p| p.id == id) {
            self.pending.take()
        } else {
            None
        }
    }

    /// Sends the next queued call if nothing is pending; expired queued calls time out.
    fn release(&mut self, now: f64, events: &mut Vec<Event>) {
        while self.pending.is_none() {
            let Some(next) = self.queue.pop_front() else { return };
            if next.deadline <= now {
                events.push(Event::CallTimeout {
                    id: next.id,
                    action: next.action,
                });
                continue;
            }
            events.push(Event::Transmit(next.text));
            self.pending = Some(PendingCall {
                id: next.id,
                action: next.action,
                deadline: next.deadline,
            });
        }
    }

    fn check_outgoing(&self, action: &str, direction: Direction, payload: &Value) -> CoreResult<()> {
        if !payload.is_object() {
            return Err(LocalError::new(
                ErrorCode::FormatViolation,
                "payload must be a JSON object",
            ));
        }
        let unknown = || match direction {
            Direction::Response => ErrorCode::InternalError,
            _ => ErrorCode::NotImplemented,
        };
        match self.registry.validate(action, direction, payload, self.options.schema) {
            Ok(()) => Ok(()),
            Err(SchemaError::UnknownAction | SchemaError::NoSchema) => Err(LocalError::new(
                unknown(),
                format!("{action} has no {direction:?} schema in OCPP {}", self.version.name()).to_lowercase(),
            )),
            Err(SchemaError::Invalid(_)) if self.options.outgoing != ValidationMode::Strict => Ok(()),
            Err(SchemaError::Invalid(v)) => Err(LocalError::new(
                v.code(),
                format!("{action} {direction:?}: {}", v.describe()),
            )),
        }
    }

    /// Queues an outgoing CALL with a fresh message id. The call is transmitted at once when
    /// nothing else is pending (a `Transmit` event), otherwise when its turn comes.
    ///
    /// # Errors
    /// [`LocalError`] when the action is unknown, the payload breaks the request schema
    /// (strict outgoing mode) or the queue is full.
    pub fn call(&mut self, action: &str, payload: &Value, now: f64, timeout: f64) -> CoreResult<(String, Vec<Event>)> {
        self.check_outgoing(action, Direction::Request, payload)?;
        if self.pending.is_some() && self.queue.len() >= self.options.max_queued_calls {
            return Err(LocalError::new(
                ErrorCode::GenericError,
                format!("too many queued calls ({}) for this charge point", self.queue.len()),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let text = frame::encode_call(CALL, &id, action, payload);
        self.queue.push_back(QueuedCall {
            id: id.clone(),
            action: action.to_owned(),
            text,
            deadline: now + timeout,
        });
        let mut events = Vec::new();
        self.release(now, &mut events);
        Ok((id, events))
    }

    /// Builds a 2.1 SEND frame (not subject to the one-outstanding rule, never answered).
    ///
    /// # Errors
    /// [`LocalError`] outside 2.1, for an unknown action or an invalid payload.
    pub fn send(&mut self, action: &str, payload: &Value) -> CoreResult<String> {
        if !self.version.has_send_and_result_error() {
            return Err(LocalError::new(
                ErrorCode::MessageTypeNotSupported,
                "SEND exists only in OCPP 2.1",
            ));
        }
        self.check_outgoing(action, Direction::Send, payload)?;
        Ok(frame::encode_call(
            SEND,
            &uuid::Uuid::new_v4().to_string(),
            action,
            payload,
        ))
    }

    /// Answers incoming call `id` with a CALLRESULT, validated against the response schema.
    /// On a validation failure the call stays open so the caller can answer with an error.
    ///
    /// # Errors
    /// [`LocalError`] when no such call is open or the payload breaks the response schema.
    pub fn reply(&mut self, id: &str, payload: &Value) -> CoreResult<String> {
        let action = self.in_progress.get(id).ok_or_else(|| {
            LocalError::new(
                ErrorCode::InternalError,
                format!("no open incoming call with id {id:?}"),
            )
        })?;
        self.check_outgoing(action, Direction::Response, payload)?;
        self.in_progress.remove(id);
        Ok(frame::encode_result(id, payload))
    }

    /// Answers incoming call `id` with a CALLERROR, `code` spelled for this version.
    pub fn reply_error(&mut self, id: &str, code: ErrorCode, description: &str, details: &Value) -> String {
        self.in_progress.remove(id);
        self.error_text(id, code, description, details)
    }

    /// Expires calls whose deadline has passed and releases the next queued one.
    pub fn poll(&mut self, now: f64) -> Vec<Event> {
        let mut events = Vec::new();
        if self.pending.as_ref().is_some_and(|p| p.deadline <= now) {
            if let Some(call) = self.pending.take() {
                events.push(Event::CallTimeout {
                    id: call.id,
                    action: call.action,
                });
            }
        }
        let (expired, waiting): (VecDeque<_>, VecDeque<_>) = self.queue.drain(..).partition(|q| q.deadline <= now);
        self.queue = waiting;
        events.extend(expired.into_iter().map(|q| Event::CallTimeout {
            id: q.id,
            action: q.action,
        }));
        self.release(now, &mut events);
        events
    }

    /// Forgets call `id` (its caller gave up); if it was pending, the next call is released.
    pub fn cancel(&mut self, id: &str, now: f64) -> Vec<Event> {
        let mut events = Vec::new();
        if self.take_pending(id).is_none() {
            self.queue.retain(|q| q.id != id);
        }
        self.release(now, &mut events);
        events
    }

    /// The connection is gone: every pending and queued call is aborted.
    pub fn close(&mut self) -> Vec<Event> {
        self.in_progress.clear();
        let pending = self.pending.take().map(|p| (p.id, p.action));
        pending
            .into_iter()
            .chain(self.queue.drain(..).map(|q| (q.id, q.action)))
            .map(|(id, action)| Event::CallAborted { id, action })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn(version: Version) -> Connection {
        Connection::new(version, Registry::bundled(version), ConnectionOptions::default())
    }

    fn transmitted(events: &[Event]) -> Vec<Value> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Transmit(t) => Some(serde_json::from_str(t).unwrap()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn incoming_call_reply_roundtrip() {
        let mut c = conn(Version::V16);
        let events = c.receive(r#"[2,"a1","Heartbeat",{}]"#, 0.0);
        assert!(matches!(&events[..], [Event::IncomingCall { id, action, .. }] if id == "a1" && action == "Heartbeat"));
        let text = c.reply("a1", &json!({"currentTime": "2024-01-01T00:00:00Z"})).unwrap();
        assert_eq!(text, r#"[3,"a1",{"currentTime":"2024-01-01T00:00:00Z"}]"#);
        assert!(c.reply("a1", &json!({})).is_err(), "already answered");
    }

    #[test]
    fn invalid_reply_keeps_call_open() {
        let mut c = conn(Version::V201);
        c.receive(r#"[2,"x","Heartbeat",{}]"#, 0.0);
        let err = c.reply("x", &json!({"currentTime": 5})).unwrap_err();
        assert_eq!(err.code, ErrorCode::TypeConstraintViolation);
        assert!(err.message.contains("currentTime"), "{}", err.message);
        let text = c.reply_error("x", ErrorCode::InternalError, "oops", &json!({}));
        assert_eq!(text, r#"[4,"x","InternalError","oops",{}]"#);
    }

    #[test]
    fn unknown_action_and_schema_errors_use_version_spelling() {
        let mut c = conn(Version::V16);
        let out = transmitted(&c.receive(r#"[2,"1","Nope",{}]"#, 0.0));
        assert_eq!(out[0][2], "NotImplemented");
        let out = transmitted(&c.receive(r#"[2,"2","BootNotification",{"chargePointVendor":"v"}]"#, 0.0));
        assert_eq!(out[0][2], "OccurenceConstraintViolation");
        assert!(out[0][3].as_str().unwrap().contains("chargePointModel"));
        let mut c = conn(Version::V201);
        let out = transmitted(&c.receive(r#"[2,"2","BootNotification",{"reason":"PowerUp"}]"#, 0.0));
        assert_eq!(out[0][2], "OccurrenceConstraintViolation");
    }

    #[test]
    fn one_outstanding_call_and_fifo() {
        let mut c = conn(Version::V16);
        let (id1, ev1) = c.call("ClearCache", &json!({}), 0.0, 30.0).unwrap();
        assert_eq!(transmitted(&ev1).len(), 1);
        let (id2, ev2) = c.call("ClearCache", &json!({}), 0.0, 30.0).unwrap();
        assert!(ev2.is_empty(), "second call waits");
        assert_ne!(id1, id2);
        // an incoming call is served while ours is pending
        assert!(matches!(
            c.receive(r#"[2,"cp","Heartbeat",{}]"#, 1.0)[0],
            Event::IncomingCall { .. }
        ));
        let events = c.receive(&format!(r#"[3,"{id1}",{{"status":"Accepted"}}]"#), 1.0);
        assert!(matches!(&events[0], Event::CallResult { id, .. } if *id == id1));
        let sent = transmitted(&events);
        assert_eq!(sent[0][1], id2.as_str());
        assert_eq!(c.pending_call(), Some(id2.as_str()));
    }

    #[test]
    fn invalid_response_and_unmatched() {
        let mut c = conn(Version::V16);
        let (id, _) = c.call("ClearCache", &json!({}), 0.0, 30.0).unwrap();
        let ev = c.receive(&format!(r#"[3,"{id}",{{"status":"Maybe"}}]"#), 0.0);
        assert!(matches!(
            &ev[0],
            Event::InvalidResponse {
                code: ErrorCode::PropertyConstraintViolation,
                ..
            }
        ));
        let ev = c.receive(&format!(r#"[3,"{id}",{{"status":"Accepted"}}]"#), 0.0);
        assert!(matches!(&ev[0], Event::UnmatchedResponse { .. }));
    }

    #[test]
    fn v21_answers_non_object_result_with_callresulterror() {
        let mut c = conn(Version::V21);
        let (id, _) = c.call("ClearCache", &json!({}), 0.0, 30.0).unwrap();
        let ev = c.receive(&format!(r#"[3,"{id}",[]]"#), 0.0);
        assert_eq!(transmitted(&ev)[0][0], 5);
        assert!(ev.iter().any(|e| matches!(e, Event::InvalidResponse { .. })));
        let mut c = conn(Version::V201);
        let (id, _) = c.call("ClearCache", &json!({}), 0.0, 30.0).unwrap();
        let ev = c.receive(&format!(r#"[3,"{id}","x"]"#), 0.0);
        assert!(transmitted(&ev).is_empty(), "2.0.1 never answers a response");
        assert!(ev.iter().any(|e| matches!(e, Event::InvalidResponse { .. })));
    }

    #[test]
    fn v21_answers_bad_result_with_callresulterror() {
        let mut c = conn(Version::V21);
        let (id, _) = c.call("ClearCache", &json!({}), 0.0, 30.0).unwrap();
        let ev = c.receive(&format!(r#"[3,"{id}",{{"status":"Maybe"}}]"#), 0.0);
        assert_eq!(transmitted(&ev)[0][0], 5);
    }

    #[test]
    fn timeouts_and_close() {
        let mut c = conn(Version::V201);
        let (a, _) = c.call("ClearCache", &json!({}), 0.0, 5.0).unwrap();
        let (b, _) = c.call("ClearCache", &json!({}), 0.0, 10.0).unwrap();
        let (d, _) = c.call("ClearCache", &json!({}), 0.0, 100.0).unwrap();
        assert_eq!(c.next_deadline(), Some(5.0));
        assert!(c.poll(4.0).is_empty());
        let ev = c.poll(11.0);
        assert!(matches!(&ev[0], Event::CallTimeout { id, .. } if *id == a));
        assert!(matches!(&ev[1], Event::CallTimeout { id, .. } if *id == b));
        assert_eq!(transmitted(&ev)[0][1], d.as_str());
        let ev = c.close();
        assert!(matches!(&ev[..], [Event::CallAborted { id, .. }] if *id == d));
    }

    #[test]
    fn outgoing_payload_is_validated() {
        let mut c = conn(Version::V16);
        let err = c.call("Reset", &json!({"type": "Soft", "x": 1}), 0.0, 1.0).unwrap_err();
        assert_eq!(err.code, ErrorCode::FormatViolation);
        assert!(c.call("Bogus", &json!({}), 0.0, 1.0).is_err());
        assert!(c.pending_call().is_none());
    }

    #[test]
    fn duplicate_incoming_id_and_unknown_types() {
        let mut c = conn(Version::V201);
        c.receive(r#"[2,"d","Heartbeat",{}]"#, 0.0);
        let out = transmitted(&c.receive(r#"[2,"d","Heartbeat",{}]"#, 0.0));
        assert_eq!(out[0][2], "RpcFrameworkError");
        let out = transmitted(&c.receive(r#"[6,"s","X",{}]"#, 0.0));
        assert_eq!(out[0][2], "MessageTypeNotSupported");
        let mut c = conn(Version::V16);
        assert!(
            transmitted(&c.receive(r#"[9,"s","X",{}]"#, 0.0)).is_empty(),
            "1.6 ignores unknown types"
        );
        let out = transmitted(&c.receive("garbage", 0.0));
        assert_eq!(out[0][1], "-1");
    }

    #[test]
    fn lenient_mode_reports_and_delivers() {
        let mut c = conn(Version::V16);
        c.options
            .action_modes
            .insert("BootNotification".into(), ValidationMode::Lenient);
        let ev = c.receive(
            r#"[2,"b","BootNotification",{"chargePointVendor":"v","chargePointModel":"m","chargePointSerialNumber":"12345678901234567890123456"}]"#,
            0.0,
        );
        assert!(
            matches!(&ev[0], Event::IncomingCall { violation: Some(v), .. } if v.path == "chargePointSerialNumber")
        );
    }

    #[test]
    fn too_deep_frames_are_answered_like_bad_json() {
        let deep = format!(
            r#"[2,"deep","DataTransfer",{{"vendorId":"v","data":{}"x"{}}}]"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        let mut c = conn(Version::V16);
        let out = transmitted(&c.receive(&deep, 0.0));
        assert_eq!(
            out,
            vec![json!([
                4,
                "deep",
                "FormationViolation",
                "message nests deeper than 32 levels",
                {}
            ])]
        );
        assert_eq!(c.calls_in_progress(), 0);
        let mut c = conn(Version::V201);
        let hostile = "[".repeat(1_000_000);
        let out = transmitted(&c.receive(&hostile, 0.0));
        assert_eq!(
            (out[0][1].as_str(), out[0][2].as_str()),
            (Some("-1"), Some("RpcFrameworkError"))
        );
        c.options.max_depth = 64;
        c.options
            .action_modes
            .insert("DataTransfer".into(), ValidationMode::Off);
        assert!(matches!(c.receive(&deep, 0.0)[0], Event::IncomingCall { .. }));
    }

    #[test]
    fn set_registry_checks_the_version() {
        let mut c = conn(Version::V16);
        assert!(c.set_registry(Registry::bundled(Version::V201)).is_err());
        let relaxed = Arc::new(
            Registry::bundled(Version::V16)
                .relaxed(&["status-error-codes"])
                .unwrap(),
        );
        let text = r#"[2,"s","StatusNotification",{"connectorId":1,"errorCode":"Error","status":"Faulted"}]"#;
        assert_eq!(transmitted(&c.receive(text, 0.0))[0][2], "PropertyConstraintViolation");
        c.set_registry(relaxed).unwrap();
        assert!(matches!(c.receive(text, 0.0)[0], Event::IncomingCall { .. }));
    }
}

//! `Connection` and its event classes for Python.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use serde_json::{Map, Value};

use super::convert::{from_py, to_py};
use super::errors::{code_name, local_error, parse_code, parse_version};
use super::registry::{schema_options, SchemaRegistryPy, ValidationFailurePy};
use crate::connection::{Connection, ConnectionOptions, Event, ValidationMode};
use crate::schema::Registry;

macro_rules! event_class {
    ($rust:ident, $name:literal, $doc:literal, { $($field:ident),* }) => {
        #[doc = $doc]
        #[pyclass(name = $name, module = "ocpp_router._core", frozen, get_all)]
        pub struct $rust {
            $(pub $field: Py<PyAny>,)*
        }

        #[pymethods]
        impl $rust {
            #[classattr]
            fn __match_args__(py: Python<'_>) -> PyResult<Py<PyTuple>> {
                Ok(PyTuple::new(py, [$(stringify!($field)),*])?.unbind())
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                let parts: Vec<String> = vec![$(format!("{}={}", stringify!($field), self.$field.bind(py).repr()?)),*];
                Ok(format!("{}({})", $name, parts.join(", ")))
            }
        }
    };
}

event_class!(TransmitPy, "Transmit", "Text to write to the socket now.", { text });
event_class!(IncomingCallPy, "IncomingCall", "A valid CALL from the peer; answer it with reply()/reply_error().", { id, action, payload, violation });
event_class!(IncomingSendPy, "IncomingSend", "A 2.1 SEND from the peer (never answered).", { id, action, payload, violation });
event_class!(CallResultPy, "CallResult", "Our call succeeded.", { id, action, payload, violation });
event_class!(CallErrorReceivedPy, "CallErrorReceived", "Our call was answered with a CALLERROR.", { id, action, code, description, details });
event_class!(InvalidResponsePy, "InvalidResponse", "Our call got a malformed or schema-breaking answer.", { id, action, code, description });
event_class!(CallTimeoutPy, "CallTimeout", "Our call expired without an answer.", { id, action });
event_class!(CallAbortedPy, "CallAborted", "Our call was dropped because the connection closed.", { id, action });
event_class!(ResultErrorReceivedPy, "ResultErrorReceived", "2.1 CALLRESULTERROR: the peer could not process our answer.", { id, code, description, details });
event_class!(ProtocolViolationPy, "ProtocolViolation", "The peer sent something wrong; any answer was emitted as Transmit.", { id, code, description });
event_class!(
    UnmatchedResponsePy,
    "UnmatchedResponse",
    "An answer for an id we are not waiting for.",
    { id }
);

fn s(py: Python<'_>, text: &str) -> Py<PyAny> {
    PyString::new(py, text).into_any().unbind()
}

fn violation(py: Python<'_>, v: Option<crate::schema::Violation>) -> PyResult<Py<PyAny>> {
    Ok(match v {
        Some(v) => Py::new(py, ValidationFailurePy::from(v))?.into_any(),
        None => py.None(),
    })
}

fn event_to_py(py: Python<'_>, event: Event) -> PyResult<Py<PyAny>> {
    Ok(match event {
        Event::Transmit(text) => Py::new(py, TransmitPy { text: s(py, &text) })?.into_any(),
        Event::IncomingCall {
            id,
            action,
            payload,
            violation: v,
        } => Py::new(
            py,
            IncomingCallPy {
                id: s(py, &id),
                action: s(py, &action),
                payload: to_py(py, &payload)?.unbind(),
                violation: violation(py, v)?,
            },
        )?
        .into_any(),
        Event::IncomingSend {
            id,
            action,
            payload,
            violation: v,
        } => Py::new(
            py,
            IncomingSendPy {
                id: s(py, &id),
                action: s(py, &action),
                payload: to_py(py, &payload)?.unbind(),
                violation: violation(py, v)?,
            },
        )?
        .into_any(),
        Event::CallResult {
            id,
            action,
            payload,
            violation: v,
        } => Py::new(
            py,
            CallResultPy {
                id: s(py, &id),
                action: s(py, &action),
                payload: to_py(py, &payload)?.unbind(),
                violation: violation(py, v)?,
            },
        )?
        .into_any(),
        Event::CallError {
            id,
            action,
            code,
            description,
            details,
        } => Py::new(
            py,
            CallErrorReceivedPy {
                id: s(py, &id),
                action: s(py, &action),
                code: s(py, &code),
                description: s(py, &description),
                details: to_py(py, &details)?.unbind(),
            },
        )?
        .into_any(),
        Event::InvalidResponse {
            id,
            action,
            code,
            description,
        } => Py::new(
            py,
            InvalidResponsePy {
                id: s(py, &id),
                action: s(py, &action),
                code: s(py, code_name(code)),
                description: s(py, &description),
            },
        )?
        .into_any(),
        Event::CallTimeout { id, action } => Py::new(
            py,
            CallTimeoutPy {
                id: s(py, &id),
                action: s(py, &action),
            },
        )?
        .into_any(),
        Event::CallAborted { id, action } => Py::new(
            py,
            CallAbortedPy {
                id: s(py, &id),
                action: s(py, &action),
            },
        )?
        .into_any(),
        Event::ResultErrorReceived {
            id,
            code,
            description,
            details,
        } => Py::new(
            py,
            ResultErrorReceivedPy {
                id: s(py, &id),
                code: s(py, &code),
                description: s(py, &description),
                details: to_py(py, &details)?.unbind(),
            },
        )?
        .into_any(),
        Event::ProtocolViolation { id, code, description } => Py::new(
            py,
            ProtocolViolationPy {
                id: id.map_or_else(|| py.None(), |id| s(py, &id)),
                code: s(py, code_name(code)),
                description: s(py, &description),
            },
        )?
        .into_any(),
        Event::UnmatchedResponse { id } => Py::new(py, UnmatchedResponsePy { id: s(py, &id) })?.into_any(),
    })
}

fn events_to_py(py: Python<'_>, events: Vec<Event>) -> PyResult<Py<PyList>> {
    let list = PyList::empty(py);
    for event in events {
        list.append(event_to_py(py, event)?)?;
    }
    Ok(list.unbind())
}

fn parse_mode(text: &str) -> PyResult<ValidationMode> {
    ValidationMode::parse(text)
        .ok_or_else(|| PyValueError::new_err(format!("validation mode must be strict, lenient or off, not {text:?}")))
}

// The Python signature spells the default as a literal (so it shows in `__text_signature__`).
const _: () = assert!(crate::frame::DEFAULT_MAX_DEPTH == 32);

/// Sans-IO state of one OCPP-J connection: feed it received text, act on the events.
#[pyclass(name = "Connection", module = "ocpp_router._core")]
pub struct ConnectionPy {
    inner: Connection,
}

#[pymethods]
impl ConnectionPy {
    #[new]
    #[pyo3(signature = (
        version, registry = None, *, incoming = "strict", outgoing = "strict", date_time = "strict",
        multiple_of = true, max_queued_calls = 1000, max_depth = 32
    ))]
    #[allow(clippy::too_many_arguments)] // mirrors the keyword-only Python signature
    fn new(
        version: &str,
        registry: Option<&SchemaRegistryPy>,
        incoming: &str,
        outgoing: &str,
        date_time: &str,
        multiple_of: bool,
        max_queued_calls: usize,
        max_depth: usize,
    ) -> PyResult<Self> {
        if max_depth < 2 {
            return Err(PyValueError::new_err(
                "max_depth must be at least 2 (the envelope array and the payload object)",
            ));
        }
        let version = parse_version(version)?;
        let registry = match registry {
            Some(r) if r.inner.version != version => {
                return Err(PyValueError::new_err("the registry is for another OCPP version"));
            }
            Some(r) => r.inner.clone(),
            None => Registry::bundled(version),
        };
        let options = ConnectionOptions {
            incoming: parse_mode(incoming)?,
            outgoing: parse_mode(outgoing)?,
            schema: schema_options(date_time, multiple_of)?,
            action_modes: std::collections::HashMap::new(),
            max_queued_calls,
            max_depth,
        };
        Ok(Self {
            inner: Connection::new(version, registry, options),
        })
    }

    #[getter]
    fn version(&self) -> &'static str {
        self.inner.version().name()
    }

    /// The schemas this connection validates with.
    #[getter]
    fn registry(&self) -> SchemaRegistryPy {
        SchemaRegistryPy {
            inner: self.inner.registry().clone(),
        }
    }

    /// Validates with `registry` from now on (e.g. `SchemaRegistry.relaxed([...])` once the
    /// station's model is known). Raises ValueError for another OCPP version's registry.
    fn set_registry(&mut self, registry: &SchemaRegistryPy) -> PyResult<()> {
        self.inner
            .set_registry(registry.inner.clone())
            .map_err(PyValueError::new_err)
    }

    #[getter]
    fn max_depth(&self) -> usize {
        self.inner.options.max_depth
    }

    /// Overrides the incoming validation mode for one action ("strict", "lenient", "off");
    /// `None` removes the override.
    #[pyo3(signature = (action, mode))]
    fn set_action_mode(&mut self, action: String, mode: Option<&str>) -> PyResult<()> {
        match mode {
            Some(mode) => {
                self.inner.options.action_modes.insert(action, parse_mode(mode)?);
            }
            None => {
                self.inner.options.action_modes.remove(&action);
            }
        }
        Ok(())
    }

    /// Sets the incoming validation mode for all actions without an override.
    fn set_incoming_mode(&mut self, mode: &str) -> PyResult<()> {
        self.inner.options.incoming = parse_mode(mode)?;
        Ok(())
    }

    /// Processes one received text frame at time `now`.
    fn receive(&mut self, py: Python<'_>, text: &str, now: f64) -> PyResult<Py<PyList>> {
        let events = self.inner.receive(text, now);
        events_to_py(py, events)
    }

    /// Queues an outgoing CALL; returns its message id and the events (a Transmit when it
    /// can go out now). Raises LocalProtocolError for an invalid call.
    fn call(
        &mut self,
        py: Python<'_>,
        action: &str,
        payload: &Bound<'_, PyAny>,
        now: f64,
        timeout: f64,
    ) -> PyResult<(String, Py<PyList>)> {
        let value = from_py(payload)?;
        let (id, events) = self.inner.call(action, &value, now, timeout).map_err(local_error)?;
        Ok((id, events_to_py(py, events)?))
    }

    /// Builds a 2.1 SEND frame.
    fn send(&mut self, action: &str, payload: &Bound<'_, PyAny>) -> PyResult<String> {
        let value = from_py(payload)?;
        self.inner.send(action, &value).map_err(local_error)
    }

    /// CALLRESULT text answering incoming call `id`, validated against the response schema.
    fn reply(&mut self, id: &str, payload: &Bound<'_, PyAny>) -> PyResult<String> {
        let value = from_py(payload)?;
        self.inner.reply(id, &value).map_err(local_error)
    }

    /// CALLERROR text answering incoming call `id`; `code` in any version's spelling.
    #[pyo3(signature = (id, code, description = "", details = None))]
    fn reply_error(
        &mut self,
        id: &str,
        code: &str,
        description: &str,
        details: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let code = parse_code(code)?;
        let details = match details {
            Some(d) => from_py(d)?,
            None => Value::Object(Map::new()),
        };
        Ok(self.inner.reply_error(id, code, description, &details))
    }

    /// Expires overdue calls and releases the next queued one.
    fn poll(&mut self, py: Python<'_>, now: f64) -> PyResult<Py<PyList>> {
        let events = self.inner.poll(now);
        events_to_py(py, events)
    }

    /// Forgets call `id` (its caller gave up).
    fn cancel(&mut self, py: Python<'_>, id: &str, now: f64) -> PyResult<Py<PyList>> {
        let events = self.inner.cancel(id, now);
        events_to_py(py, events)
    }

    /// The connection is gone: aborts every pending and queued call.
    fn close(&mut self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let events = self.inner.close();
        events_to_py(py, events)
    }

    fn next_deadline(&self) -> Option<f64> {
        self.inner.next_deadline()
    }

    #[getter]
    fn pending_call(&self) -> Option<String> {
        self.inner.pending_call().map(str::to_owned)
    }

    #[getter]
    fn queued_calls(&self) -> usize {
        self.inner.queued_calls()
    }

    #[getter]
    fn calls_in_progress(&self) -> usize {
        self.inner.calls_in_progress()
    }
}

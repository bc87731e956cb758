//! `SchemaRegistry` and `ValidationFailure` for Python.

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;

use super::convert::from_py;
use super::errors::{code_name, parse_version};
use crate::schema::{DateTimeMode, Direction, Registry, SchemaError, ValidationOptions, Violation, RELAXATIONS};

/// One schema violation, as seen from Python.
#[pyclass(name = "ValidationFailure", module = "ocpp_router._core", frozen, get_all)]
pub struct ValidationFailurePy {
    /// Canonical (2.x) OCPP error code for this failure.
    pub code: &'static str,
    /// The schema keyword that failed.
    pub keyword: &'static str,
    /// Dotted path of the offending field ("" for the payload itself).
    pub path: String,
    pub message: String,
}

#[pymethods]
impl ValidationFailurePy {
    /// `"<path>: <message>"`.
    #[getter]
    fn description(&self) -> String {
        let path = if self.path.is_empty() { "payload" } else { &self.path };
        format!("{path}: {}", self.message)
    }

    fn __repr__(&self) -> String {
        format!(
            "ValidationFailure(code={:?}, keyword={:?}, path={:?}, message={:?})",
            self.code, self.keyword, self.path, self.message
        )
    }
}

impl From<Violation> for ValidationFailurePy {
    fn from(v: Violation) -> Self {
        Self {
            code: code_name(v.code()),
            keyword: v.keyword.name(),
            path: v.path,
            message: v.message,
        }
    }
}

pub fn parse_direction(text: &str) -> PyResult<Direction> {
    Direction::parse(text).ok_or_else(|| {
        PyValueError::new_err(format!(
            "direction must be 'request', 'response' or 'send', not {text:?}"
        ))
    })
}

pub fn schema_options(date_time: &str, multiple_of: bool) -> PyResult<ValidationOptions> {
    let date_time = match date_time {
        "strict" => DateTimeMode::Strict,
        "lenient" => DateTimeMode::Lenient,
        "off" => DateTimeMode::Off,
        other => {
            return Err(PyValueError::new_err(format!(
                "date_time must be strict, lenient or off, not {other:?}"
            )))
        }
    };
    Ok(ValidationOptions { date_time, multiple_of })
}

/// The compiled schemas of one OCPP version.
#[pyclass(name = "SchemaRegistry", module = "ocpp_router._core", frozen)]
pub struct SchemaRegistryPy {
    pub inner: Arc<Registry>,
}

#[pymethods]
impl SchemaRegistryPy {
    /// The official OCA schemas bundled with the library (compiled once per process).
    #[staticmethod]
    fn bundled(version: &str) -> PyResult<Self> {
        Ok(Self {
            inner: Registry::bundled(parse_version(version)?),
        })
    }

    /// Schemas from official-style files: `files` maps file stems (`BootNotificationRequest`,
    /// 1.6 `BootNotification`, `...Response`) to the file text.
    #[staticmethod]
    fn from_files(version: &str, files: HashMap<String, String>) -> PyResult<Self> {
        let version = parse_version(version)?;
        let registry = Registry::from_files(version, files.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(PyValueError::new_err)?;
        Ok(Self {
            inner: Arc::new(registry),
        })
    }

    /// Names of every relaxation `relaxed()` accepts.
    #[staticmethod]
    fn relaxation_names() -> Vec<&'static str> {
        RELAXATIONS.iter().map(|r| r.name).collect()
    }

    /// A copy with the named relaxations applied (the original is unchanged). Raises
    /// ValueError for an unknown name.
    fn relaxed(&self, names: Vec<String>) -> PyResult<Self> {
        let registry = self.inner.relaxed(&names).map_err(PyValueError::new_err)?;
        Ok(Self {
            inner: Arc::new(registry),
        })
    }

    /// Names of the relaxations applied to this registry (sorted).
    #[getter]
    fn relaxations(&self) -> Vec<&'static str> {
        self.inner.relaxations().to_vec()
    }

    #[getter]
    fn version(&self) -> &'static str {
        self.inner.version.name()
    }

    fn actions(&self) -> Vec<String> {
        self.inner.actions().into_iter().map(str::to_owned).collect()
    }

    /// Whether `action` has a schema for `direction` ("request", "response", "send").
    fn has(&self, action: &str, direction: &str) -> PyResult<bool> {
        Ok(self.inner.has(action, parse_direction(direction)?))
    }

    /// Validates a Python payload; returns the first failure or None.
    #[pyo3(signature = (action, direction, payload, *, date_time = "strict", multiple_of = true))]
    fn validate(
        &self,
        action: &str,
        direction: &str,
        payload: &Bound<'_, PyAny>,
        date_time: &str,
        multiple_of: bool,
    ) -> PyResult<Option<ValidationFailurePy>> {
        let value = from_py(payload)?;
        self.check(action, direction, &value, schema_options(date_time, multiple_of)?)
    }

    /// Validates a payload given as JSON text (keeps `1` vs `1.0` as written).
    #[pyo3(signature = (action, direction, text, *, date_time = "strict", multiple_of = true))]
    fn validate_json(
        &self,
        action: &str,
        direction: &str,
        text: &str,
        date_time: &str,
        multiple_of: bool,
    ) -> PyResult<Option<ValidationFailurePy>> {
        let value = serde_json::from_str(text).map_err(|e| PyValueError::new_err(format!("not JSON: {e}")))?;
        self.check(action, direction, &value, schema_options(date_time, multiple_of)?)
    }

    fn __repr__(&self) -> String {
        let relaxations = self.inner.relaxations();
        let relaxed = if relaxations.is_empty() {
            String::new()
        } else {
            format!(", relaxations={relaxations:?}")
        };
        format!(
            "SchemaRegistry(version={:?}, actions={}{relaxed})",
            self.inner.version.name(),
            self.inner.actions().len()
        )
    }
}

impl SchemaRegistryPy {
    fn check(
        &self,
        action: &str,
        direction: &str,
        value: &serde_json::Value,
        options: ValidationOptions,
    ) -> PyResult<Option<ValidationFailurePy>> {
        match self.inner.validate(action, parse_direction(direction)?, value, options) {
            Ok(()) => Ok(None),
            Err(SchemaError::Invalid(v)) => Ok(Some(v.into())),
            Err(SchemaError::UnknownAction) => Err(PyKeyError::new_err(format!("unknown action {action:?}"))),
            Err(SchemaError::NoSchema) => Err(PyKeyError::new_err(format!("{action} has no {direction} schema"))),
        }
    }
}

//! The single mapping from core errors to Python exceptions.
//! The exception classes themselves live in `ocpp_router.errors` (pure Python).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::error::{ErrorCode, LocalError};
use crate::version::Version;

pyo3::import_exception!(ocpp_router.errors, LocalProtocolError);

/// Canonical (2.x) name of a code, e.g. `FormatViolation`.
pub fn code_name(code: ErrorCode) -> &'static str {
    code.wire(Version::V201)
}

pub fn local_error(err: LocalError) -> PyErr {
    LocalProtocolError::new_err((err.message, code_name(err.code)))
}

pub fn parse_version(text: &str) -> PyResult<Version> {
    Version::parse(text).ok_or_else(|| PyValueError::new_err(format!("unknown OCPP version {text:?}")))
}

pub fn parse_code(text: &str) -> PyResult<ErrorCode> {
    ErrorCode::parse(text).ok_or_else(|| PyValueError::new_err(format!("unknown OCPP error code {text:?}")))
}

//! The `ocpp_router._core` extension module: glue only.

mod connection;
mod convert;
mod errors;
mod registry;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<registry::SchemaRegistryPy>()?;
    m.add_class::<registry::ValidationFailurePy>()?;
    m.add_class::<connection::ConnectionPy>()?;
    m.add_class::<connection::TransmitPy>()?;
    m.add_class::<connection::IncomingCallPy>()?;
    m.add_class::<connection::IncomingSendPy>()?;
    m.add_class::<connection::CallResultPy>()?;
    m.add_class::<connection::CallErrorReceivedPy>()?;
    m.add_class::<connection::InvalidResponsePy>()?;
    m.add_class::<connection::CallTimeoutPy>()?;
    m.add_class::<connection::CallAbortedPy>()?;
    m.add_class::<connection::ResultErrorReceivedPy>()?;
    m.add_class::<connection::ProtocolViolationPy>()?;
    m.add_class::<connection::UnmatchedResponsePy>()?;
    Ok(())
}

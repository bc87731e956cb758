//! Sans-IO core of ocpp-router: OCPP-J frames, schema validation and call correlation.
//!
//! Nothing here touches sockets, clocks or an event loop: text goes in, events and text come
//! out. The Python binding (feature `python`) is a thin layer in [`python`].

pub mod connection;
pub mod error;
pub mod frame;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod schema;
pub mod version;

#[cfg(feature = "python")]
mod python;

pub use connection::{Connection, ConnectionOptions, Event, ValidationMode};
pub use error::{CoreResult, ErrorCode, LocalError};
pub use frame::{Frame, FrameError};
pub use schema::{DateTimeMode, Direction, Registry, ValidationOptions, Violation};
pub use version::Version;

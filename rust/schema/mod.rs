//! Schema registry: (version, action, direction) → compiled schema, built once.

mod compile;
mod datetime;
mod relax;
mod validate;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

pub use compile::Schema;
pub use datetime::is_date_time;
pub use relax::{Patch, Relaxation, RelaxationEntry, RELAXATIONS};
pub use validate::{validate, DateTimeMode, Keyword, ValidationOptions, Violation};

use crate::version::Version;

/// Which payload of an action a schema describes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Direction {
    Request,
    Response,
    /// 2.1 SEND payload (no response).
    Send,
}

impl Direction {
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "request" => Some(Self::Request),
            "response" => Some(Self::Response),
            "send" => Some(Self::Send),
            _ => None,
        }
    }
}

/// The compiled schemas of one action. Shared (`Arc`) so that a relaxed copy of a
/// registry clones only the schemas it patches.
#[derive(Clone, Default, Debug)]
pub struct ActionSchemas {
    pub request: Option<Arc<Schema>>,
    pub response: Option<Arc<Schema>>,
    pub send: Option<Arc<Schema>>,
}

impl ActionSchemas {
    #[must_use]
    pub fn get(&self, direction: Direction) -> Option<&Schema> {
        match direction {
            Direction::Request => self.request.as_deref(),
            Direction::Response => self.response.as_deref(),
            Direction::Send => self.send.as_deref(),
        }
    }

    fn slot(&mut self, direction: Direction) -> &mut Option<Arc<Schema>> {
        match direction {
            Direction::Request => &mut self.request,
            Direction::Response => &mut self.response,
            Direction::Send => &mut self.send,
        }
    }
}

/// Why a payload cannot be checked or is invalid.
#[derive(Clone, PartialEq, Debug)]
pub enum SchemaError {
    /// The action is not known in this registry.
    UnknownAction,
    /// The action exists but has no schema for this direction (e.g. a SEND used as a CALL).
    NoSchema,
    Invalid(Violation),
}

/// All schemas of one protocol version.
#[derive(Clone, Debug)]
pub struct Registry {
    pub version: Version,
    actions: HashMap<String, ActionSchemas>,
    /// Names of the [`RELAXATIONS`] applied, sorted.
    relaxations: Vec<&'static str>,
}

const BUNDLED_V16: &str = include_str!("../schemas/v16.json");
const BUNDLED_V201: &str = include_str!("../schemas/v201.json");
const BUNDLED_V21: &str = include_str!("../schemas/v21.json");

impl Registry {
    /// The schemas generated from the official OCA files (see `scripts/generate.py`),
    /// compiled on first use and shared for the life of the process.
    #[must_use]
    pub fn bundled(version: Version) -> Arc<Registry> {
        static CELLS: [OnceLock<Arc<Registry>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let (cell, data) = match version {
            Version::V16 => (&CELLS[0], BUNDLED_V16),
            Version::V201 => (&CELLS[1], BUNDLED_V201),
            Version::V21 => (&CELLS[2], BUNDLED_V21),
        };
        cell.get_or_init(|| {
            // The data is generated and checked by the test suite; failing here is a build defect.
            Arc::new(Self::from_bundle(version, data).unwrap_or_else(|e| panic!("bundled {version:?} schemas: {e}")))
        })
        .clone()
    }

    /// Reads the generated bundle format: `{"messages": {Action: {"request": .., "response": ..}}}`.
    ///
    /// # Errors
    /// A message naming the action and schema that failed to parse or compile.
    pub fn from_bundle(version: Version, text: &str) -> Result<Registry, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("bundle is not JSON: {e}"))?;
        let messages = doc
            .get("messages")
            .and_then(Value::as_object)
            .ok_or("bundle has no messages object")?;
        let mut actions = HashMap::with_capacity(messages.len());
        for (action, entry) in messages {
            let entry = entry
                .as_object()
                .ok_or_else(|| format!("{action}: entry is not an object"))?;
            let mut schemas = ActionSchemas::default();
            for (key, schema) in entry {
                let direction = Direction::parse(key).ok_or_else(|| format!("{action}: unknown direction {key:?}"))?;
                let compiled = Schema::compile(schema).map_err(|e| format!("{action}.{key}: {e}"))?;
                *schemas.slot(direction) = Some(Arc::new(compiled));
            }
            actions.insert(action.clone(), schemas);
        }
        Ok(Registry {
            version,
            actions,
            relaxations: Vec::new(),
        })
    }

    /// Builds a registry from official schema files (`BootNotification.json`,
    /// `BootNotificationRequest.json`, `BootNotificationResponse.json`, ...): `files` maps each
    /// file stem to its text. Lets users load newer OCA editions or vendor messages.
    ///
    /// # Errors
    /// A message naming the file that failed to parse or compile.
    pub fn from_files<'a>(
        version: Version,
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Registry, String> {
        let mut actions: HashMap<String, ActionSchemas> = HashMap::new();
        for (stem, text) in files {
            let doc: Value = serde_json::from_str(text).map_err(|e| format!("{stem}: not JSON: {e}"))?;
            let schema = Schema::compile(&doc).map_err(|e| format!("{stem}: {e}"))?;
            let (action, direction) = if let Some(action) = stem.strip_suffix("Response") {
                (action, Direction::Response)
            } else if let Some(action) = stem.strip_suffix("Request") {
                (action, Direction::Request)
            } else if version == Version::V16 {
                (stem, Direction::Request)
            } else {
                // 2.x files without a suffix are SEND payloads (2.1 NotifyPeriodicEventStream).
                (stem, Direction::Send)
            };
            *actions.entry(action.to_owned()).or_default().slot(direction) = Some(Arc::new(schema));
        }
        Ok(Registry {
            version,
            actions,
            relaxations: Vec::new(),
        })
    }

    #[must_use]
    pub fn actions(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.actions.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Names of the relaxations applied to this registry (sorted; empty for the originals).
    #[must_use]
    pub fn relaxations(&self) -> &[&'static str] {
        &self.relaxations
    }

    /// A copy of this registry with the named [`RELAXATIONS`] applied on top (the schema
    /// files are never edited). Only the schemas a relaxation touches are cloned, so this is
    /// cheap enough to do once per charge-point model. Relaxations already applied, and
    /// entries whose action or field this registry does not have (a user schema set), are
    /// skipped.
    ///
    /// # Errors
    /// An unknown relaxation name (nothing is applied then).
    pub fn relaxed<S: AsRef<str>>(&self, names: &[S]) -> Result<Registry, String> {
        relax::apply(self, names)
    }

    #[must_use]
    pub fn get(&self, action: &str) -> Option<&ActionSchemas> {
        self.actions.get(action)
    }

    #[must_use]
    pub fn has(&self, action: &str, direction: Direction) -> bool {
        self.actions.get(action).and_then(|a| a.get(direction)).is_some()
    }

    /// Validates one payload.
    ///
    /// # Errors
    /// [`SchemaError`] for an unknown action, a missing schema, or a violation.
    pub fn validate(
        &self,
        action: &str,
        direction: Direction,
        payload: &Value,
        options: ValidationOptions,
    ) -> Result<(), SchemaError> {
        let schemas = self.actions.get(action).ok_or(SchemaError::UnknownAction)?;
        let schema = schemas.get(direction).ok_or(SchemaError::NoSchema)?;
        validate(schema, payload, options).map_err(SchemaError::Invalid)
    }
}

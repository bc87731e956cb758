//! Named relaxations: overlays on a compiled [`Registry`] for field deviations that known
//! charge points get wrong, enabled per station model by the application.
//!
//! The whole table is [`RELAXATIONS`]: name → version → list of (action, direction, field
//! path, patch). The schema files are never edited; [`Registry::relaxed`] clones the
//! compiled schemas an entry touches and patches the node found at the path. A path names
//! properties separated by `.`; `[]` steps into the items of an array. When the path leads
//! through a `$ref`, the referenced definition is patched, i.e. for every use of that
//! definition within the same payload schema (e.g. all `SignedMeterValueType`s of one
//! message).

use std::sync::Arc;

use serde_json::Value;

use super::compile::{types, Node, Schema};
use super::{Direction, Registry};
use crate::version::Version;
use Direction::{Request as REQ, Response as RES};

/// What a relaxation changes on one schema node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Patch {
    /// Add these strings to the node's `enum` (no-op for a node without an enum).
    ExtendEnum(&'static [&'static str]),
    /// Drop the `enum`: any value of the node's type passes.
    DropEnum,
    /// Drop `maxLength`.
    NoMaxLength,
    /// Raise `maxLength` to at least this (never lowers a bound, never adds one).
    RaiseMaxLength(usize),
    /// Also accept these JSON types (bits of `compile::types`); no-op on an untyped node.
    AlsoTypes(u8),
    /// Accept any JSON type (type and enum dropped; string bounds still apply to strings).
    AnyType,
}

impl Patch {
    fn apply(self, node: &mut Node) {
        match self {
            Self::ExtendEnum(values) => {
                if let Some(allowed) = &mut node.enumeration {
                    for value in values {
                        let value = Value::String((*value).to_owned());
                        if !allowed.contains(&value) {
                            allowed.push(value);
                        }
                    }
                }
            }
            Self::DropEnum => node.enumeration = None,
            Self::NoMaxLength => node.max_length = None,
            Self::RaiseMaxLength(at_least) => {
                if let Some(max) = &mut node.max_length {
                    *max = (*max).max(at_least);
                }
            }
            Self::AlsoTypes(bits) => {
                if node.types != 0 {
                    node.types |= bits;
                }
            }
            Self::AnyType => {
                node.types = 0;
                node.enumeration = None;
            }
        }
    }
}

/// One patch of a relaxation: where (action, direction, field path) and what.
#[derive(Clone, Copy, Debug)]
pub struct RelaxationEntry {
    pub action: &'static str,
    pub direction: Direction,
    /// E.g. `meterValue[].sampledValue[].unit`.
    pub path: &'static str,
    pub patch: Patch,
}

/// A named set of patches, per protocol version (versions not listed: no-op).
#[derive(Debug)]
pub struct Relaxation {
    pub name: &'static str,
    /// The field deviation seen in the field that this relaxation accepts.
    pub covers: &'static str,
    pub versions: &'static [(Version, &'static [RelaxationEntry])],
}

impl Relaxation {
    /// The entries for `version` (empty where the relaxation does not apply).
    #[must_use]
    pub fn entries(&self, version: Version) -> &'static [RelaxationEntry] {
        self.versions
            .iter()
            .find(|(v, _)| *v == version)
            .map_or(&[], |(_, entries)| entries)
    }
}

const fn entry(action: &'static str, direction: Direction, path: &'static str, patch: Patch) -> RelaxationEntry {
    RelaxationEntry {
        action,
        direction,
        path,
        patch,
    }
}

const UNITS: Patch = Patch::ExtendEnum(&["Celsius", "Celcius", "Hertz", "Hz"]);
const NUMBERS_TOO: Patch = Patch::AlsoTypes(types::NUMBER | types::INTEGER);
const SIGNED_METER_DATA_2_1: Patch = Patch::RaiseMaxLength(32_768);

/// The relaxation table. Each entry's `covers` line says which field deviation it accepts.
pub static RELAXATIONS: &[Relaxation] = &[
    Relaxation {
        name: "unit-spellings",
        covers: "1.6 sampledValue.unit spelled Celsius/Celcius/Hertz/Hz (the enums have only some of them)",
        versions: &[(
            Version::V16,
            &[
                entry("MeterValues", REQ, "meterValue[].sampledValue[].unit", UNITS),
                entry("StopTransaction", REQ, "transactionData[].sampledValue[].unit", UNITS),
            ],
        )],
    },
    Relaxation {
        name: "long-serial-numbers",
        covers: "BootNotification serial numbers longer than 25 characters (1.6 charge point/box/meter, 2.x chargingStation.serialNumber)",
        versions: &[
            (
                Version::V16,
                &[
                    entry("BootNotification", REQ, "chargePointSerialNumber", Patch::NoMaxLength),
                    entry("BootNotification", REQ, "chargeBoxSerialNumber", Patch::NoMaxLength),
                    entry("BootNotification", REQ, "meterSerialNumber", Patch::NoMaxLength),
                ],
            ),
            (
                Version::V201,
                &[entry("BootNotification", REQ, "chargingStation.serialNumber", Patch::NoMaxLength)],
            ),
            (
                Version::V21,
                &[entry("BootNotification", REQ, "chargingStation.serialNumber", Patch::NoMaxLength)],
            ),
        ],
    },
    Relaxation {
        name: "numeric-strings",
        covers: "1.6 numbers sent where strings are required: sampledValue.value, DataTransfer.data, GetConfiguration values",
        versions: &[(
            Version::V16,
            &[
                entry("MeterValues", REQ, "meterValue[].sampledValue[].value", NUMBERS_TOO),
                entry("StopTransaction", REQ, "transactionData[].sampledValue[].value", NUMBERS_TOO),
                entry("DataTransfer", REQ, "data", NUMBERS_TOO),
                entry("DataTransfer", RES, "data", NUMBERS_TOO),
                entry("GetConfiguration", RES, "configurationKey[].value", NUMBERS_TOO),
            ],
        )],
    },
    Relaxation {
        name: "status-error-codes",
        covers: "1.6 StatusNotification.errorCode outside the enum (vendors send e.g. \"Error\"): any string",
        versions: &[(
            Version::V16,
            &[entry("StatusNotification", REQ, "errorCode", Patch::DropEnum)],
        )],
    },
    Relaxation {
        name: "datatransfer-data-any",
        covers: "1.6 DataTransfer.data as an object, array, number, ... instead of a string",
        versions: &[(
            Version::V16,
            &[
                entry("DataTransfer", REQ, "data", Patch::AnyType),
                entry("DataTransfer", RES, "data", Patch::AnyType),
            ],
        )],
    },
    Relaxation {
        name: "signed-meter-data-length",
        covers: "2.0.1 SignedMeterValueType.signedMeterData longer than 2500 characters (2.1 allows 32768)",
        versions: &[(
            Version::V201,
            &[
                entry(
                    "MeterValues",
                    REQ,
                    "meterValue[].sampledValue[].signedMeterValue.signedMeterData",
                    SIGNED_METER_DATA_2_1,
                ),
                entry(
                    "TransactionEvent",
                    REQ,
                    "meterValue[].sampledValue[].signedMeterValue.signedMeterData",
                    SIGNED_METER_DATA_2_1,
                ),
            ],
        )],
    },
    Relaxation {
        name: "exi-response-length",
        covers: "2.0.1 Get15118EVCertificateResponse.exiResponse longer than 7500 characters (2.1 allows 17000)",
        versions: &[(
            Version::V201,
            &[entry("Get15118EVCertificate", RES, "exiResponse", Patch::RaiseMaxLength(17_000))],
        )],
    },
];

/// The relaxation called `name`.
#[must_use]
pub fn find(name: &str) -> Option<&'static Relaxation> {
    RELAXATIONS.iter().find(|r| r.name == name)
}

fn deref(schema: &Schema, mut index: usize) -> usize {
    // Reference chains are acyclic (the compiler rejects `$ref` cycles).
    while let Some(target) = schema.nodes[index].reference {
        index = target;
    }
    index
}

/// Index of the node at `path` (see the module docs), following `$ref`s.
#[must_use]
pub fn resolve(schema: &Schema, path: &str) -> Option<usize> {
    let mut index = deref(schema, Schema::ROOT);
    for step in path.split('.') {
        let name = step.trim_end_matches("[]");
        let depth = (step.len() - name.len()) / 2;
        let &(_, child) = schema.nodes[index].properties.iter().find(|(n, _)| n == name)?;
        index = deref(schema, child);
        for _ in 0..depth {
            index = deref(schema, schema.nodes[index].items?);
        }
    }
    Some(index)
}

pub(super) fn apply<S: AsRef<str>>(registry: &Registry, names: &[S]) -> Result<Registry, String> {
    let chosen = names
        .iter()
        .map(|name| {
            let name = name.as_ref();
            find(name).ok_or_else(|| {
                let known: Vec<&str> = RELAXATIONS.iter().map(|r| r.name).collect();
                format!("unknown relaxation {name:?} (known: {})", known.join(", "))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = registry.clone();
    for relaxation in chosen {
        if out.relaxations.contains(&relaxation.name) {
            continue;
        }
        for e in relaxation.entries(out.version) {
            let Some(slot) = out.actions.get_mut(e.action).and_then(|a| a.slot(e.direction).as_mut()) else {
                continue;
            };
            if resolve(slot, e.path).is_none() {
                continue; // a user schema set without this field
            }
            let schema = Arc::make_mut(slot);
            if let Some(index) = resolve(schema, e.path) {
                e.patch.apply(&mut schema.nodes[index]);
            }
        }
        out.relaxations.push(relaxation.name);
    }
    out.relaxations.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{SchemaError, ValidationOptions};
    use serde_json::json;

    fn check(registry: &Registry, action: &str, direction: Direction, payload: &Value) -> Result<(), String> {
        match registry.validate(action, direction, payload, ValidationOptions::default()) {
            Ok(()) => Ok(()),
            Err(SchemaError::Invalid(v)) => Err(v.describe()),
            Err(other) => panic!("{action}: {other:?}"),
        }
    }

    /// The deviating payload fails without the relaxation and passes with it; `still_bad`
    /// (another violation) fails either way.
    fn relaxes(version: Version, name: &str, action: &str, direction: Direction, deviating: &Value, still_bad: &Value) {
        let strict = Registry::bundled(version);
        let relaxed = strict.relaxed(&[name]).unwrap();
        assert!(
            check(&strict, action, direction, deviating).is_err(),
            "{name}: deviating payload passes without relaxation"
        );
        if let Err(e) = check(&relaxed, action, direction, deviating) {
            panic!("{name}: deviating payload still fails: {e}");
        }
        assert!(
            check(&relaxed, action, direction, still_bad).is_err(),
            "{name}: {still_bad}"
        );
        assert!(
            check(&strict, action, direction, deviating).is_err(),
            "the original is untouched"
        );
    }

    fn meter_values(sampled: &Value) -> Value {
        json!({"connectorId": 1, "meterValue": [{"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [sampled]}]})
    }

    fn stop_transaction(sampled: &Value) -> Value {
        json!({"transactionId": 1, "timestamp": "2024-01-01T00:00:00Z", "meterStop": 5,
               "transactionData": [{"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [sampled]}]})
    }

    #[test]
    fn every_entry_resolves_in_its_bundled_schemas() {
        for r in RELAXATIONS {
            assert!(!r.covers.is_empty());
            for (version, entries) in r.versions {
                let registry = Registry::bundled(*version);
                for e in *entries {
                    let schema = registry
                        .get(e.action)
                        .and_then(|a| a.get(e.direction))
                        .unwrap_or_else(|| panic!("{}: no {} {:?}", r.name, e.action, e.direction));
                    let index = resolve(schema, e.path)
                        .unwrap_or_else(|| panic!("{}: {} {} not found", r.name, e.action, e.path));
                    let mut node = schema.nodes[index].clone();
                    let before = format!("{node:?}");
                    e.patch.apply(&mut node);
                    assert_ne!(
                        before,
                        format!("{node:?}"),
                        "{} {}: the patch changes nothing",
                        r.name,
                        e.path
                    );
                }
            }
        }
        let mut names: Vec<_> = RELAXATIONS.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RELAXATIONS.len(), "names are unique");
    }

    #[test]
    fn unit_spellings() {
        for unit in ["Celsius", "Celcius", "Hertz", "Hz"] {
            let ok = json!({"value": "50", "unit": unit});
            let bad = json!({"value": "50", "unit": "Kelvin"});
            let relaxed = Registry::bundled(Version::V16).relaxed(&["unit-spellings"]).unwrap();
            for (action, payload, bad) in [
                ("MeterValues", meter_values(&ok), meter_values(&bad)),
                ("StopTransaction", stop_transaction(&ok), stop_transaction(&bad)),
            ] {
                check(&relaxed, action, REQ, &payload).unwrap();
                assert!(check(&relaxed, action, REQ, &bad).is_err());
            }
        }
        // Hz is in neither 1.6 enum, Hertz is missing from StopTransaction's.
        let hz = json!({"value": "50", "unit": "Hz"});
        let kelvin = json!({"value": "50", "unit": "Kelvin"});
        relaxes(
            Version::V16,
            "unit-spellings",
            "MeterValues",
            REQ,
            &meter_values(&hz),
            &meter_values(&kelvin),
        );
        let hertz = json!({"value": "50", "unit": "Hertz"});
        relaxes(
            Version::V16,
            "unit-spellings",
            "StopTransaction",
            REQ,
            &stop_transaction(&hertz),
            &stop_transaction(&json!({"value": 50, "unit": "Hertz"})),
        );
    }

    #[test]
    fn long_serial_numbers() {
        let long = "S".repeat(40);
        for field in ["chargePointSerialNumber", "chargeBoxSerialNumber", "meterSerialNumber"] {
            let mut ok = json!({"chargePointVendor": "v", "chargePointModel": "m"});
            ok[field] = json!(long);
            let mut bad = ok.clone();
            bad["chargePointModel"] = json!("M".repeat(21));
            relaxes(Version::V16, "long-serial-numbers", "BootNotification", REQ, &ok, &bad);
        }
        for version in [Version::V201, Version::V21] {
            let ok = json!({"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v", "serialNumber": long}});
            let bad =
                json!({"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v", "serialNumber": 5}});
            relaxes(version, "long-serial-numbers", "BootNotification", REQ, &ok, &bad);
        }
    }

    #[test]
    fn numeric_strings() {
        let name = "numeric-strings";
        relaxes(
            Version::V16,
            name,
            "MeterValues",
            REQ,
            &meter_values(&json!({"value": 12.5})),
            &meter_values(&json!({"value": true})),
        );
        relaxes(
            Version::V16,
            name,
            "StopTransaction",
            REQ,
            &stop_transaction(&json!({"value": 3})),
            &stop_transaction(&json!({"value": [3]})),
        );
        for direction in [REQ, RES] {
            let (ok, bad) = if direction == REQ {
                (json!({"vendorId": "v", "data": 42}), json!({"data": 42}))
            } else {
                (
                    json!({"status": "Accepted", "data": 4.2}),
                    json!({"status": "Nope", "data": 4.2}),
                )
            };
            relaxes(Version::V16, name, "DataTransfer", direction, &ok, &bad);
        }
        relaxes(
            Version::V16,
            name,
            "GetConfiguration",
            RES,
            &json!({"configurationKey": [{"key": "HeartbeatInterval", "readonly": false, "value": 300}]}),
            &json!({"configurationKey": [{"key": "HeartbeatInterval", "readonly": "no", "value": 300}]}),
        );
        let relaxed = Registry::bundled(Version::V16).relaxed(&[name]).unwrap();
        assert!(check(&relaxed, "DataTransfer", REQ, &json!({"vendorId": "v", "data": {}})).is_err());
    }

    #[test]
    fn status_error_codes() {
        let payload = |code: Value| json!({"connectorId": 1, "errorCode": code, "status": "Faulted"});
        relaxes(
            Version::V16,
            "status-error-codes",
            "StatusNotification",
            REQ,
            &payload(json!("Error")),
            &payload(json!(7)),
        );
        let relaxed = Registry::bundled(Version::V16)
            .relaxed(&["status-error-codes"])
            .unwrap();
        let bad_status = json!({"connectorId": 1, "errorCode": "Error", "status": "Broken"});
        assert!(check(&relaxed, "StatusNotification", REQ, &bad_status).is_err());
    }

    #[test]
    fn datatransfer_data_any() {
        for data in [json!({"a": [1, 2]}), json!([1]), json!(1.5), json!(true), json!(null)] {
            relaxes(
                Version::V16,
                "datatransfer-data-any",
                "DataTransfer",
                REQ,
                &json!({"vendorId": "v", "data": data}),
                &json!({"vendorId": "v", "data": data, "extra": 1}),
            );
            relaxes(
                Version::V16,
                "datatransfer-data-any",
                "DataTransfer",
                RES,
                &json!({"status": "Accepted", "data": data}),
                &json!({"data": data}),
            );
        }
    }

    #[test]
    fn signed_meter_data_length() {
        let sampled = |data: &str, method: &str| {
            json!({"value": 1, "signedMeterValue": {"signedMeterData": data, "signingMethod": method,
                   "encodingMethod": "base64", "publicKey": "k"}})
        };
        let long = "A".repeat(10_000);
        let meter = |s: Value| json!([{"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [s]}]);
        let mv = |s: Value| json!({"evseId": 1, "meterValue": meter(s)});
        let long_method = "m".repeat(51);
        relaxes(
            Version::V201,
            "signed-meter-data-length",
            "MeterValues",
            REQ,
            &mv(sampled(&long, "m")),
            &mv(sampled(&long, &long_method)),
        );
        let te = |s: Value| {
            json!({"eventType": "Updated", "timestamp": "2024-01-01T00:00:00Z", "triggerReason": "MeterValuePeriodic",
                   "seqNo": 1, "transactionInfo": {"transactionId": "t"}, "meterValue": meter(s)})
        };
        relaxes(
            Version::V201,
            "signed-meter-data-length",
            "TransactionEvent",
            REQ,
            &te(sampled(&long, "m")),
            &te(sampled(&"A".repeat(32_769), "m")),
        );
    }

    #[test]
    fn exi_response_length() {
        let payload = |len: usize| json!({"status": "Accepted", "exiResponse": "E".repeat(len)});
        relaxes(
            Version::V201,
            "exi-response-length",
            "Get15118EVCertificate",
            RES,
            &payload(10_000),
            &payload(17_001),
        );
    }

    #[test]
    fn names_are_checked_and_not_applicable_versions_are_untouched() {
        let v16 = Registry::bundled(Version::V16);
        let err = v16.relaxed(&["unit-spellings", "nope"]).unwrap_err();
        assert!(err.contains("\"nope\"") && err.contains("numeric-strings"), "{err}");
        let both = v16
            .relaxed(&["unit-spellings", "numeric-strings", "unit-spellings"])
            .unwrap();
        assert_eq!(both.relaxations(), ["numeric-strings", "unit-spellings"]);
        assert_eq!(
            both.relaxed(&["numeric-strings"]).unwrap().relaxations(),
            both.relaxations()
        );
        assert!(v16.relaxations().is_empty());
        // Not applicable: nothing is cloned.
        let v21 = Registry::bundled(Version::V21);
        let same = v21.relaxed(&["unit-spellings", "numeric-strings"]).unwrap();
        for action in v21.actions() {
            let (a, b) = (v21.get(action).unwrap(), same.get(action).unwrap());
            for d in [REQ, RES, Direction::Send] {
                if let (Some(x), Some(y)) = (a.get(d), b.get(d)) {
                    assert!(std::ptr::eq(x, y), "{action} was cloned");
                }
            }
        }
        // Only the touched schemas are cloned.
        let boot = v16.relaxed(&["long-serial-numbers"]).unwrap();
        assert!(!std::ptr::eq(
            v16.get("BootNotification").unwrap().get(REQ).unwrap(),
            boot.get("BootNotification").unwrap().get(REQ).unwrap()
        ));
        assert!(std::ptr::eq(
            v16.get("Heartbeat").unwrap().get(REQ).unwrap(),
            boot.get("Heartbeat").unwrap().get(REQ).unwrap()
        ));
    }

    #[test]
    fn user_schema_sets_without_the_field_are_skipped() {
        let text = r#"{"type": "object", "properties": {"other": {"type": "string"}}}"#;
        let registry = Registry::from_files(Version::V16, [("MeterValues", text)]).unwrap();
        let relaxed = registry.relaxed(&["unit-spellings"]).unwrap();
        assert_eq!(relaxed.relaxations(), ["unit-spellings"]);
    }
}

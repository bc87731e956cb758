//! Validates a JSON value against a compiled [`Schema`], stopping at the first violation.

use std::fmt::Write;

use serde_json::Value;

use super::compile::{types, Format, Node, Schema};
use super::datetime::is_date_time;
use crate::error::ErrorCode;

/// How `format: date-time` is enforced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DateTimeMode {
    /// RFC 3339, offset required (what the schemas say).
    Strict,
    /// ISO 8601 as 1.6 stations send it: offset optional, space separator allowed.
    Lenient,
    /// Not checked.
    Off,
}

/// Validation settings that the schemas leave to the implementation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ValidationOptions {
    pub date_time: DateTimeMode,
    /// Check `multipleOf` (decimal-correct: 12.7 is a multiple of 0.1).
    pub multiple_of: bool,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        Self {
            date_time: DateTimeMode::Strict,
            multiple_of: true,
        }
    }
}

/// The schema keyword that failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Keyword {
    Type,
    Required,
    AdditionalProperties,
    Enum,
    MaxLength,
    MinLength,
    Minimum,
    Maximum,
    MultipleOf,
    MinItems,
    MaxItems,
    Format,
}

impl Keyword {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Type => "type",
            Self::Required => "required",
            Self::AdditionalProperties => "additionalProperties",
            Self::Enum => "enum",
            Self::MaxLength => "maxLength",
            Self::MinLength => "minLength",
            Self::Minimum => "minimum",
            Self::Maximum => "maximum",
            Self::MultipleOf => "multipleOf",
            Self::MinItems => "minItems",
            Self::MaxItems => "maxItems",
            Self::Format => "format",
        }
    }

    /// The OCPP error code for a failure of this keyword (protocol notes §2.6 table).
    #[must_use]
    pub fn error_code(self) -> ErrorCode {
        match self {
            Self::Type | Self::MaxLength | Self::MinLength | Self::Format => ErrorCode::TypeConstraintViolation,
            Self::Required | Self::MinItems | Self::MaxItems => ErrorCode::OccurrenceConstraintViolation,
            Self::AdditionalProperties => ErrorCode::FormatViolation,
            Self::Enum | Self::Minimum | Self::Maximum | Self::MultipleOf => ErrorCode::PropertyConstraintViolation,
        }
    }
}

/// The first schema violation found in a payload.
#[derive(Clone, PartialEq, Debug)]
pub struct Violation {
    pub keyword: Keyword,
    /// Dotted path of the offending field, e.g. `chargingSchedule.chargingSchedulePeriod[0].limit`;
    /// empty for the payload itself.
    pub path: String,
    pub message: String,
}

impl Violation {
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        self.keyword.error_code()
    }

    /// `"<path>: <message>"`, the text that goes into a CALLERROR description.
    #[must_use]
    pub fn describe(&self) -> String {
        if self.path.is_empty() {
            format!("payload: {}", self.message)
        } else {
            format!("{}: {}", self.path, self.message)
        }
    }
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

struct Validator<'s, 'v> {
    schema: &'s Schema,
    options: ValidationOptions,
    path: Vec<Segment<'v>>,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn expected_types(bits: u8) -> String {
    let names = [
        (types::OBJECT, "object"),
        (types::ARRAY, "array"),
        (types::STRING, "string"),
        (types::INTEGER, "integer"),
        (types::NUMBER, "number"),
        (types::BOOLEAN, "boolean"),
        (types::NULL, "null"),
    ];
    names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Decimal-correct `multipleOf`: 12.7 / 0.1 is 126.99999999999999 in binary floating point.
fn is_multiple(value: f64, of: f64) -> bool {
    let quotient = value / of;
    if !quotient.is_finite() {
        return false;
    }
    (quotient - quotient.round()).abs() <= 1e-9 * quotient.abs().max(1.0)
}

fn short(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > 40 {
        let cut = (0..=40).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}

impl<'s: 'v, 'v> Validator<'s, 'v> {
    fn fail(&self, keyword: Keyword, message: String) -> Violation {
        let mut path = String::new();
        for segment in &self.path {
            match segment {
                Segment::Key(k) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                }
                Segment::Index(i) => {
                    let _ = write!(path, "[{i}]");
                }
            }
        }
        Violation { keyword, path, message }
    }

    fn is_type(&self, bits: u8, value: &Value) -> bool {
        match value {
            Value::Object(_) => bits & types::OBJECT != 0,
            Value::Array(_) => bits & types::ARRAY != 0,
            Value::String(_) => bits & types::STRING != 0,
            Value::Bool(_) => bits & types::BOOLEAN != 0,
            Value::Null => bits & types::NULL != 0,
            Value::Number(n) => {
                if bits & types::NUMBER != 0 {
                    return true;
                }
                if bits & types::INTEGER == 0 {
                    return false;
                }
                if n.is_f64() {
                    // Draft 6 counts 1.0 as an integer, draft 4 does not.
                    !self.schema.draft4 && n.as_f64().is_some_and(|f| f.fract() == 0.0)
                } else {
                    true
                }
            }
        }
    }

    fn check(&mut self, index: usize, value: &'v Value) -> Result<(), Violation> {
        let mut node: &'s Node = &self.schema.nodes[index];
        while let Some(target) = node.reference {
            node = &self.schema.nodes[target];
        }
        if node.types != 0 && !self.is_type(node.types, value) {
            return Err(self.fail(
                Keyword::Type,
                format!("expected {}, got {}", expected_types(node.types), type_name(value)),
            ));
        }
        if let Some(allowed) = &node.enumeration {
            if !allowed.contains(value) {
                let list = allowed.iter().map(short).collect::<Vec<_>>();
                let shown = if list.len() > 12 {
                    format!("{}, …", list[..12].join(", "))
                } else {
                    list.join(", ")
                };
                return Err(self.fail(Keyword::Enum, format!("{} is not one of [{shown}]", short(value))));
            }
        }
        match value {
            Value::Object(map) => {
                for name in &node.required {
                    if !map.contains_key(name) {
                        self.path.push(Segment::Key(name.as_str()));
                        let err = self.fail(Keyword::Required, "required field is missing".into());
                        return Err(err);
                    }
                }
                for (key, member) in map {
                    let sub = node.properties.iter().find(|(name, _)| name == key).map(|(_, i)| *i);
                    self.path.push(Segment::Key(key.as_str()));
                    match sub {
                        Some(sub) => self.check(sub, member)?,
                        None if node.closed => {
                            return Err(self.fail(Keyword::AdditionalProperties, "field is not allowed here".into()))
                        }
                        None => {}
                    }
                    self.path.pop();
                }
            }
            Value::Array(list) => {
                if node.min_items.is_some_and(|min| list.len() < min) {
                    return Err(self.fail(
                        Keyword::MinItems,
                        format!(
                            "needs at least {} items, got {}",
                            node.min_items.unwrap_or(0),
                            list.len()
                        ),
                    ));
                }
                if node.max_items.is_some_and(|max| list.len() > max) {
                    return Err(self.fail(
                        Keyword::MaxItems,
                        format!(
                            "allows at most {} items, got {}",
                            node.max_items.unwrap_or(0),
                            list.len()
                        ),
                    ));
                }
                if let Some(items) = node.items {
                    for (i, item) in list.iter().enumerate() {
                        self.path.push(Segment::Index(i));
                        self.check(items, item)?;
                        self.path.pop();
                    }
                }
            }
            Value::String(text) => {
                if node.max_length.is_some() || node.min_length.is_some() {
                    let len = text.chars().count();
                    if let Some(max) = node.max_length.filter(|max| len > *max) {
                        return Err(self.fail(Keyword::MaxLength, format!("longer than {max} characters ({len})")));
                    }
                    if let Some(min) = node.min_length.filter(|min| len < *min) {
                        return Err(self.fail(Keyword::MinLength, format!("shorter than {min} characters ({len})")));
                    }
                }
                if node.format == Some(Format::DateTime) && self.options.date_time != DateTimeMode::Off {
                    let lenient = self.options.date_time == DateTimeMode::Lenient;
                    if !is_date_time(text, lenient) {
                        return Err(self.fail(Keyword::Format, format!("{} is not a valid date-time", short(value))));
                    }
                }
            }
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if let Some(min) = node.minimum.filter(|min| f < *min) {
                    return Err(self.fail(Keyword::Minimum, format!("{n} is less than the minimum {min}")));
                }
                if let Some(max) = node.maximum.filter(|max| f > *max) {
                    return Err(self.fail(Keyword::Maximum, format!("{n} is greater than the maximum {max}")));
                }
                if let Some(of) = node
                    .multiple_of
                    .filter(|of| self.options.multiple_of && !is_multiple(f, *of))
                {
                    return Err(self.fail(Keyword::MultipleOf, format!("{n} is not a multiple of {of}")));
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
        Ok(())
    }
}

/// Validates `value` against `schema`.
///
/// # Errors
/// The first [`Violation`] found.
pub fn validate(schema: &Schema, value: &Value, options: ValidationOptions) -> Result<(), Violation> {
    Validator {
        schema,
        options,
        path: Vec::new(),
    }
    .check(Schema::ROOT, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(doc: &Value) -> Schema {
        Schema::compile(doc).unwrap()
    }

    fn err(s: &Schema, v: &Value) -> Violation {
        validate(s, v, ValidationOptions::default()).unwrap_err()
    }

    #[test]
    fn keywords_map_to_codes_with_paths() {
        let s = schema(&json!({
            "draft": 4,
            "type": "object",
            "additionalProperties": false,
            "required": ["a"],
            "properties": {
                "a": {"type": "integer"},
                "b": {"type": "array", "items": {"type": "object", "properties": {"c": {"type": "string", "maxLength": 3}}}},
                "e": {"type": "string", "enum": ["X", "Y"]},
                "l": {"type": "number", "multipleOf": 0.1},
                "t": {"type": "string", "format": "date-time"}
            }
        }));
        assert_eq!(err(&s, &json!({})).path, "a");
        assert_eq!(err(&s, &json!({})).code(), ErrorCode::OccurrenceConstraintViolation);
        assert_eq!(
            err(&s, &json!({"a": 1.0})).code(),
            ErrorCode::TypeConstraintViolation,
            "draft 4: 1.0 is no integer"
        );
        let v = err(&s, &json!({"a": 1, "b": [{"c": "abc"}, {"c": "abcd"}]}));
        assert_eq!((v.path.as_str(), v.keyword), ("b[1].c", Keyword::MaxLength));
        assert_eq!(err(&s, &json!({"a": 1, "z": 0})).code(), ErrorCode::FormatViolation);
        assert_eq!(
            err(&s, &json!({"a": 1, "e": "Z"})).code(),
            ErrorCode::PropertyConstraintViolation
        );
        assert_eq!(
            err(&s, &json!({"a": 1, "t": "2024-01-01T00:00:00"})).keyword,
            Keyword::Format
        );
        for ok in [0.3, 8.1, 9.1, 12.7, 32.0] {
            assert!(
                validate(&s, &json!({"a": 1, "l": ok}), ValidationOptions::default()).is_ok(),
                "{ok}"
            );
        }
        for bad in [11.04, 6.25] {
            assert_eq!(err(&s, &json!({"a": 1, "l": bad})).keyword, Keyword::MultipleOf);
        }
        let relaxed = ValidationOptions {
            date_time: DateTimeMode::Lenient,
            multiple_of: false,
        };
        assert!(validate(&s, &json!({"a": 1, "l": 6.25, "t": "2024-01-01T00:00:00"}), relaxed).is_ok());
    }

    #[test]
    fn draft6_counts_integral_floats_as_integers() {
        let s =
            schema(&json!({"draft": 6, "type": "object", "properties": {"a": {"type": "integer", "minimum": 0.0}}}));
        assert!(validate(&s, &json!({"a": 1.0}), ValidationOptions::default()).is_ok());
        assert_eq!(err(&s, &json!({"a": 1.5})).keyword, Keyword::Type);
        assert_eq!(err(&s, &json!({"a": -1})).keyword, Keyword::Minimum);
    }
}

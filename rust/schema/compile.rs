//! Compiles a (reduced or official) OCPP JSON schema document into a [`Schema`]: an arena of
//! nodes with `$ref`s resolved to indices, built once and validated against many times.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// JSON types as a bit set (`type` may in principle be a list).
pub mod types {
    pub const OBJECT: u8 = 1;
    pub const ARRAY: u8 = 2;
    pub const STRING: u8 = 4;
    pub const INTEGER: u8 = 8;
    pub const NUMBER: u8 = 16;
    pub const BOOLEAN: u8 = 32;
    pub const NULL: u8 = 64;
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    DateTime,
    /// Not asserted (like the reference validator without an URI checker); kept for completeness.
    Uri,
}

#[derive(Clone, Default, Debug)]
pub struct Node {
    /// 0 = any type.
    pub types: u8,
    pub properties: Vec<(String, usize)>,
    pub required: Vec<String>,
    pub closed: bool,
    pub items: Option<usize>,
    pub min_items: Option<usize>,
    pub max_items: Option<usize>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub format: Option<Format>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub multiple_of: Option<f64>,
    pub enumeration: Option<Vec<Value>>,
    /// Set when the node is a `$ref`: in drafts 4 and 6 a `$ref` replaces its siblings.
    pub reference: Option<usize>,
}

/// One compiled schema document.
#[derive(Clone, Debug)]
pub struct Schema {
    pub nodes: Vec<Node>,
    /// Draft 4: a number written with a fraction (`1.0`) is not an integer.
    pub draft4: bool,
}

impl Schema {
    pub const ROOT: usize = 0;

    /// # Errors
    /// A message naming what in the document could not be compiled.
    pub fn compile(doc: &Value) -> Result<Schema, String> {
        let Value::Object(root) = doc else {
            return Err("schema document is not an object".into());
        };
        let draft4 = match (root.get("draft"), root.get("$schema")) {
            (Some(d), _) => d.as_u64() == Some(4),
            (None, Some(Value::String(s))) => s.contains("draft-04"),
            _ => false,
        };
        let definitions = match root.get("definitions") {
            Some(Value::Object(defs)) => Some(defs),
            None => None,
            Some(_) => return Err("definitions is not an object".into()),
        };
        let mut compiler = Compiler {
            nodes: vec![Node::default()],
            definitions,
            resolved: HashMap::new(),
        };
        let root_node = compiler.node(root)?;
        compiler.nodes[Self::ROOT] = root_node;
        // A definition that is only a `$ref` to itself (directly or around a loop) would make
        // every reader of the reference chain spin forever.
        let nodes = &compiler.nodes;
        for start in 0..nodes.len() {
            let mut index = start;
            let mut steps = 0;
            while let Some(target) = nodes[index].reference {
                index = target;
                steps += 1;
                if steps > nodes.len() {
                    return Err("$ref cycle: a definition refers to itself without a subschema between".into());
                }
            }
        }
        Ok(Schema {
            nodes: compiler.nodes,
            draft4,
        })
    }
}

struct Compiler<'a> {
    nodes: Vec<Node>,
    definitions: Option<&'a Map<String, Value>>,
    resolved: HashMap<String, usize>,
}

fn as_usize(v: &Value, key: &str) -> Result<usize, String> {
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("{key} is not a non-negative integer"))
}

fn as_f64(v: &Value, key: &str) -> Result<f64, String> {
    v.as_f64().ok_or_else(|| format!("{key} is not a number"))
}

fn type_bit(name: &str) -> Result<u8, String> {
    Ok(match name {
        "object" => types::OBJECT,
        "array" => types::ARRAY,
        "string" => types::STRING,
        "integer" => types::INTEGER,
        "number" => types::NUMBER,
        "boolean" => types::BOOLEAN,
        "null" => types::NULL,
        other => return Err(format!("unknown type {other:?}")),
    })
}

impl<'a> Compiler<'a> {
    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn child(&mut self, value: &Value) -> Result<usize, String> {
        match value {
            Value::Object(map) => {
                let node = self.node(map)?;
                Ok(self.push(node))
            }
            Value::Bool(true) => Ok(self.push(Node::default())),
            _ => Err("subschema is not an object".into()),
        }
    }

    fn resolve(&mut self, reference: &str) -> Result<usize, String> {
        if let Some(&index) = self.resolved.get(reference) {
            return Ok(index);
        }
        let name = reference
            .strip_prefix("#/definitions/")
            .ok_or_else(|| format!("unsupported $ref {reference:?} (only #/definitions/... refs are used by OCPP)"))?;
        let target = self
            .definitions
            .and_then(|defs| defs.get(name))
            .ok_or_else(|| format!("$ref {reference:?} names no definition"))?;
        // Reserve the slot first so recursive definitions terminate.
        let index = self.push(Node::default());
        self.resolved.insert(reference.to_owned(), index);
        let Value::Object(map) = target else {
            return Err(format!("definition {name:?} is not an object"));
        };
        let node = self.node(map)?;
        self.nodes[index] = node;
        Ok(index)
    }

    fn node(&mut self, map: &Map<String, Value>) -> Result<Node, String> {
        let mut node = Node::default();
        if let Some(reference) = map.get("$ref") {
            let reference = reference.as_str().ok_or("$ref is not a string")?;
            node.reference = Some(self.resolve(reference)?);
            return Ok(node);
        }
        for (key, value) in map {
            match key.as_str() {
                "type" => {
                    node.types = match value {
                        Value::String(s) => type_bit(s)?,
                        Value::Array(list) => list.iter().try_fold(0, |acc, t| {
                            Ok::<u8, String>(acc | type_bit(t.as_str().ok_or("type list entry is not a string")?)?)
                        })?,
                        _ => return Err("type is neither a string nor a list".into()),
                    }
                }
                "properties" => {
                    let Value::Object(props) = value else {
                        return Err("properties is not an object".into());
                    };
                    for (name, schema) in props {
                        let index = self.child(schema).map_err(|e| format!("{name}: {e}"))?;
                        node.properties.push((name.clone(), index));
                    }
                }
                "required" => {
                    let Value::Array(names) = value else {
                        return Err("required is not a list".into());
                    };
                    node.required = names
                        .iter()
                        .map(|n| n.as_str().map(str::to_owned).ok_or("required entry is not a string"))
                        .collect::<Result<_, _>>()?;
                }
                "additionalProperties" => match value {
                    Value::Bool(allowed) => node.closed = !allowed,
                    Value::Object(_) => {} // an open schema for extra members: OCPP never constrains them
                    _ => return Err("additionalProperties is neither a bool nor an object".into()),
                },
                "items" => node.items = Some(self.child(value)?),
                "minItems" => node.min_items = Some(as_usize(value, key)?),
                "maxItems" => node.max_items = Some(as_usize(value, key)?),
                "minLength" => node.min_length = Some(as_usize(value, key)?),
                "maxLength" => node.max_length = Some(as_usize(value, key)?),
                "minimum" => node.minimum = Some(as_f64(value, key)?),
                "maximum" => node.maximum = Some(as_f64(value, key)?),
                "multipleOf" => {
                    let m = as_f64(value, key)?;
                    if m <= 0.0 {
                        return Err("multipleOf must be positive".into());
                    }
                    node.multiple_of = Some(m);
                }
                "enum" => {
                    let Value::Array(values) = value else {
                        return Err("enum is not a list".into());
                    };
                    node.enumeration = Some(values.clone());
                }
                "format" => {
                    node.format = match value.as_str() {
                        Some("date-time") => Some(Format::DateTime),
                        Some("uri") => Some(Format::Uri),
                        _ => None, // unknown formats are annotations
                    }
                }
                // Everything else (descriptions, javaType, comment, defaults, additionalItems
                // next to a single-schema items, ...) does not change validation.
                _ => {}
            }
        }
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_resolve_once_and_may_recurse() {
        let doc = json!({
            "draft": 6,
            "definitions": {"A": {"type": "object", "properties": {"next": {"$ref": "#/definitions/A"}}}},
            "type": "object",
            "properties": {"a": {"$ref": "#/definitions/A"}, "b": {"$ref": "#/definitions/A"}}
        });
        let schema = Schema::compile(&doc).unwrap();
        let a = schema.nodes[schema.nodes[0].properties[0].1].reference;
        let b = schema.nodes[schema.nodes[0].properties[1].1].reference;
        assert_eq!(a, b);
        assert!(!schema.draft4);
    }

    #[test]
    fn ref_cycles_are_rejected() {
        let doc = json!({
            "definitions": {"A": {"$ref": "#/definitions/B"}, "B": {"$ref": "#/definitions/A"}},
            "properties": {"x": {"$ref": "#/definitions/A"}}
        });
        let err = Schema::compile(&doc).unwrap_err();
        assert!(err.contains("cycle"), "{err}");
        let doc = json!({"definitions": {"A": {"$ref": "#/definitions/A"}}, "properties": {"x": {"$ref": "#/definitions/A"}}});
        assert!(Schema::compile(&doc).is_err());
    }

    #[test]
    fn bad_refs_are_reported() {
        let err = Schema::compile(&json!({"properties": {"x": {"$ref": "#/definitions/Nope"}}})).unwrap_err();
        assert!(err.contains("Nope"), "{err}");
    }
}

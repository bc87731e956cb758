//! Every conversion between Python objects and JSON values lives here.

use std::cell::RefCell;
use std::collections::HashMap;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// Deeper nesting than any OCPP message needs; guards the stack against hostile input.
const MAX_DEPTH: usize = 64;

/// Object keys come from a small vocabulary (the schemas' property names), so their Python
/// strings are made once per thread and shared; bounded, since `customData` keys are free.
const KEY_CACHE_LIMIT: usize = 4096;
const KEY_CACHE_MAX_LEN: usize = 64;

thread_local! {
    static KEYS: RefCell<HashMap<String, Py<PyString>>> = RefCell::new(HashMap::new());
}

fn key<'py>(py: Python<'py>, name: &str) -> Bound<'py, PyString> {
    if name.len() > KEY_CACHE_MAX_LEN {
        return PyString::new(py, name);
    }
    KEYS.with(|cell| {
        let mut cache = cell.borrow_mut();
        if let Some(found) = cache.get(name) {
            return found.bind(py).clone();
        }
        let made = PyString::new(py, name);
        if cache.len() < KEY_CACHE_LIMIT {
            cache.insert(name.to_owned(), made.clone().unbind());
        }
        made
    })
}

/// JSON value → Python object (dict, list, str, int, float, bool, None).
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let converted = items.iter().map(|item| to_py(py, item)).collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, converted)?.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (name, item) in map {
                dict.set_item(key(py, name), to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Python object → JSON value. Accepts dicts with `str` keys, lists, tuples, `str` (and
/// `str` enums), `int`, finite `float`, `bool` and `None`; anything else is a `TypeError`.
pub fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    from_py_at(obj, 0)
}

fn from_py_at(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err("payload is nested too deeply"));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(dict.len());
        for (key, item) in dict.iter() {
            let key = key
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("payload keys must be str"))?
                .to_str()?
                .to_owned();
            map.insert(key, from_py_at(&item, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    // bool before int: Python's bool is an int subclass.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        return Err(PyValueError::new_err("integer does not fit in 64 bits"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err("NaN and infinity cannot be sent as JSON"));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return list
            .iter()
            .map(|item| from_py_at(&item, depth + 1))
            .collect::<PyResult<_>>()
            .map(Value::Array);
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return tuple
            .iter()
            .map(|item| from_py_at(&item, depth + 1))
            .collect::<PyResult<_>>()
            .map(Value::Array);
    }
    Err(PyTypeError::new_err(format!(
        "cannot send a {} as JSON (use dicts, lists, str, int, float, bool, None or a message's to_wire())",
        obj.get_type().name()?
    )))
}

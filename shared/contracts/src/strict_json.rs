//! Strict JSON parsing for request bodies and provider responses.
//!
//! serde_json quietly keeps the last of two equal keys and turns integers beyond 2^64 into
//! floats, so a body can mean something other than what its sender wrote. The gateway
//! parses request bodies with it, and workers parse provider responses with it. This parser
//! builds the same `serde_json::Value` but rejects, with the path of the fault:
//! - an object with the same key twice,
//! - a string with a NUL or another C0 control character other than tab, line feed and
//!   carriage return,
//! - a number whose magnitude exceeds 2^53, the largest integer every JSON parser keeps
//!   exactly.
//!
//! Nesting deeper than 128 levels is rejected by serde_json itself.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Largest magnitude of a number in a request body: 2^53.
const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Why a body was rejected.
#[derive(Debug, PartialEq, Eq)]
pub enum StrictError {
    /// Not JSON at all; the message is serde_json's, with line and column.
    Syntax(String),
    /// Valid JSON whose content is rejected; `path` is dotted (`owners.0.ssn`).
    Content { path: String, message: String },
}

/// Parses a request body.
pub fn parse(bytes: &[u8]) -> Result<Value, StrictError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Node {
        path: String::new(),
    }
    .deserialize(&mut deserializer)
    .map_err(classify)?;
    deserializer
        .end()
        .map_err(|error| StrictError::Syntax(error.to_string()))?;
    Ok(value)
}

/// Content errors travel through serde as custom messages prefixed with a marker.
const MARKER: &str = "\u{1}strict\u{1}";

fn classify(error: serde_json::Error) -> StrictError {
    let text = error.to_string();
    match text.strip_prefix(MARKER) {
        Some(rest) => {
            // serde_json appends " at line L column C" to custom errors.
            let rest = rest.rsplit_once(" at line ").map_or(rest, |(head, _)| head);
            let (path, message) = rest.split_once(MARKER).unwrap_or(("", rest));
            StrictError::Content {
                path: path.to_string(),
                message: message.to_string(),
            }
        }
        None => StrictError::Syntax(text),
    }
}

fn content_error<E: de::Error>(path: &str, message: impl fmt::Display) -> E {
    E::custom(format!("{MARKER}{path}{MARKER}{message}"))
}

fn join(path: &str, segment: &str) -> String {
    if path.is_empty() {
        segment.to_string()
    } else {
        format!("{path}.{segment}")
    }
}

/// A value at `path`.
struct Node {
    path: String,
}

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Node {
    fn number<E: de::Error>(&self, number: Number, too_large: bool) -> Result<Value, E> {
        if too_large {
            return Err(content_error(
                &self.path,
                "is a number beyond 2^53 (9007199254740992), which JSON parsers cannot keep exactly; send it as a string",
            ));
        }
        Ok(Value::Number(number))
    }

    fn string<E: de::Error>(&self, text: &str) -> Result<Value, E> {
        if let Some(bad) = text
            .chars()
            .find(|c| c.is_control() && (*c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
        {
            return Err(content_error(
                &self.path,
                format!(
                    "contains the control character U+{:04X}; remove it",
                    bad as u32
                ),
            ));
        }
        Ok(Value::String(text.to_string()))
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        self.number(Number::from(value), value.unsigned_abs() > MAX_SAFE_INTEGER)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        self.number(Number::from(value), value > MAX_SAFE_INTEGER)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        match Number::from_f64(value) {
            Some(number) => self.number(number, value.abs() > MAX_SAFE_INTEGER as f64),
            None => Err(content_error(&self.path, "is not a finite number")),
        }
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        self.string(value)
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        self.string(&value)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = join(&self.path, &items.len().to_string());
            match seq.next_element_seed(Node { path })? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = join(&self.path, &key);
            let node = Node { path };
            node.string::<A::Error>(&key)?;
            let path = node.path;
            if object.contains_key(&key) {
                return Err(content_error(
                    &path,
                    "appears twice in the same object; send each key once",
                ));
            }
            let value = map.next_value_seed(Node { path })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(body: &str) -> (String, String) {
        match parse(body.as_bytes()) {
            Err(StrictError::Content { path, message }) => (path, message),
            other => panic!("expected a content error for {body}, got {other:?}"),
        }
    }

    #[test]
    fn valid_body_parses_like_serde_json() {
        let body = r#"{"a": [1, -2, 3.5, "x\ty", null, true], "b": {"c": 9007199254740992}}"#;
        assert_eq!(
            parse(body.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(body).unwrap()
        );
    }

    #[test]
    fn duplicate_key_names_path() {
        let (path, message) = content(r#"{"owners": [{"ssn": "1", "ssn": "2"}]}"#);
        assert_eq!(path, "owners.0.ssn");
        assert!(message.contains("twice"), "{message}");
    }

    #[test]
    fn control_characters_are_rejected() {
        let (path, message) = content(r#"{"name": "a\u0000b"}"#);
        assert_eq!(path, "name");
        assert!(message.contains("U+0000"), "{message}");
        let (path, _) = content(r#"{"a\u0007": 1}"#);
        assert_eq!(path, "a\u{7}");
    }

    #[test]
    fn large_numbers_are_rejected() {
        for number in [
            "9007199254740993",
            "18446744073709551616",
            "-9223372036854775809",
            "1e300",
        ] {
            let (path, message) = content(&format!(r#"{{"metadata": {{"n": {number}}}}}"#));
            assert_eq!(path, "metadata.n", "{number}");
            assert!(message.contains("2^53"), "{message}");
        }
    }

    #[test]
    fn syntax_errors_stay_syntax() {
        assert!(matches!(parse(b"{\"a\": "), Err(StrictError::Syntax(_))));
        assert!(matches!(parse(b"{} {}"), Err(StrictError::Syntax(_))));
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(StrictError::Syntax(_))
        ));
    }
}

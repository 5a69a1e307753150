//! Request and response bodies as JSON values, whatever their depth.
//!
//! serde_json refuses a document nested deeper than 128 levels (its stack guard), and a body it
//! refuses hides everything in it: a privileged container sent beside 130 nested arrays would
//! pass every rule that looks inside the pod. [`value`] reads a body the same way, but stands
//! `null` in for whatever lies deeper than [`MAX_DEPTH`] levels, skipped without recursion; the
//! fields rules read (a few levels down) are always there.

use std::fmt;

use serde::{
    Deserialize,
    de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor},
};
use serde_json::{Map, Value};

/// Levels kept: far below serde_json's limit (128), far above any path a rule names.
pub const MAX_DEPTH: usize = 100;

/// Parse `text` as [`serde_json::from_str`] would, with anything deeper than [`MAX_DEPTH`]
/// levels read as `null` instead of failing the whole document.
pub fn value(text: &str) -> Result<Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Bounded { depth: 0 }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Reads one value `depth` levels down.
#[derive(Clone, Copy)]
struct Bounded {
    depth: usize,
}

impl Bounded {
    fn below(self) -> Bounded {
        Bounded { depth: self.depth + 1 }
    }
}

impl<'de> DeserializeSeed<'de> for Bounded {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.depth >= MAX_DEPTH {
            // serde_json skips an ignored value with a loop, not recursion: any depth is safe.
            IgnoredAny::deserialize(deserializer)?;
            return Ok(Value::Null);
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self.below())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self.below())?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn nested(depth: usize, inner: &str) -> String {
        format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn a_deep_sibling_no_longer_hides_the_fields_beside_it() {
        let body = format!(
            r#"{{"spec":{{"containers":[{{"securityContext":{{"privileged":true}}}}]}},"x":{}}}"#,
            nested(130, "1")
        );
        assert!(serde_json::from_str::<Value>(&body).is_err(), "serde_json alone refuses it");
        let read = value(&body).unwrap();
        assert_eq!(read["spec"]["containers"][0]["securityContext"]["privileged"], true);
        let mut deepest = &read["x"];
        let mut levels = 1;
        while let Some(inner) = deepest.get(0) {
            deepest = inner;
            levels += 1;
        }
        assert_eq!((levels, deepest), (MAX_DEPTH, &Value::Null), "cut at the limit");
        // Very deep input costs no stack.
        assert!(value(&nested(1_000_000, "{}")).is_ok());
    }

    #[test]
    fn bad_json_is_still_an_error() {
        for text in ["", "{", r#"{"a":1"#, "[1,]", "nul", r#"{"a":1} x"#, &nested(200, "")[..150]] {
            assert!(value(text).is_err(), "{text}");
        }
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Below the limit it reads exactly what serde_json reads.
        #[test]
        fn shallow_documents_read_as_serde_json_reads_them(v in any_json(), wrap in 0usize..90) {
            let text = nested(wrap, &v.to_string());
            prop_assert_eq!(value(&text).unwrap(), serde_json::from_str::<Value>(&text).unwrap());
        }

        /// Any text: a value or an error, never a panic; valid JSON is always read.
        #[test]
        fn any_text_reads_or_fails_cleanly(text in ".{0,200}", depth in 0usize..400) {
            let _ = value(&text);
            let wrapped = nested(depth, "null");
            prop_assert!(value(&wrapped).is_ok());
        }
    }
}

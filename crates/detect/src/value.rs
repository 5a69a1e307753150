//! Values as rules see them, and the generic walk over JSON documents.
//!
//! Field paths use dots; a key that itself contains dots (annotation and label keys such as
//! `authorization.k8s.io/decision`) is found by trying longer and longer joins of the path's
//! parts. Arrays mean "any element", as in Sigma.

use serde_json::Value;

/// One value of a field.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// An object or array, for `contains` on its JSON text.
    Json(&'a Value),
    /// Raw JSON text of an object (request and response bodies before parsing).
    RawJson(&'a str),
}

impl<'a> Val<'a> {
    pub fn of(value: &'a Value) -> Val<'a> {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Val::Int(i),
                None => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Val::Str(s),
            Value::Array(_) | Value::Object(_) => Val::Json(value),
        }
    }
}

/// Visit the values at `path` below `value`; stops at the first `visit` returning true and
/// returns whether one did. An array at the end of the path is visited element by element.
pub fn walk<'v>(value: &'v Value, path: &[String], visit: &mut dyn FnMut(Val<'v>) -> bool) -> bool {
    match value {
        Value::Array(items) => {
            if path.is_empty() && items.iter().all(|i| !i.is_array() && !i.is_object()) {
                return items.iter().any(|item| visit(Val::of(item)));
            }
            items.iter().any(|item| walk(item, path, visit))
        }
        Value::Object(map) if !path.is_empty() => {
            if let Some(child) = map.get(&path[0])
                && walk(child, &path[1..], visit)
            {
                return true;
            }
            // Keys with dots in them: only objects that have such keys pay for the search.
            map.iter().any(|(key, child)| {
                dotted_prefix(key, path).is_some_and(|used| used > 1 && walk(child, &path[used..], visit))
            })
        }
        _ if path.is_empty() => visit(Val::of(value)),
        _ => false,
    }
}

/// How many parts of `path` the dotted `key` spells out (`a.b` against `[a, b, c]` is 2).
fn dotted_prefix(key: &str, path: &[String]) -> Option<usize> {
    let mut rest = key;
    for (used, part) in path.iter().enumerate() {
        rest = rest.strip_prefix(part.as_str())?;
        if rest.is_empty() {
            return Some(used + 1);
        }
        rest = rest.strip_prefix('.')?;
    }
    None
}

/// Split a field name at dots.
pub fn split_path(field: &str) -> Vec<String> {
    field.split('.').map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(value: &Value, path: &str) -> Vec<String> {
        let mut seen = Vec::new();
        walk(value, &split_path(path), &mut |v| {
            seen.push(match v {
                Val::Str(s) => s.to_string(),
                Val::Int(i) => i.to_string(),
                Val::Bool(b) => b.to_string(),
                other => format!("{other:?}"),
            });
            false
        });
        seen
    }

    #[test]
    fn arrays_are_any_element_and_dotted_keys_are_found() {
        let pod = serde_json::json!({
            "metadata": {"labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"containers": [
                {"securityContext": {"privileged": false}},
                {"securityContext": {"privileged": true, "capabilities": {"add": ["NET_ADMIN", "SYS_ADMIN"]}}}
            ]}
        });
        assert_eq!(strings(&pod, "spec.containers.securityContext.privileged"), ["false", "true"]);
        assert_eq!(
            strings(&pod, "spec.containers.securityContext.capabilities.add"),
            ["NET_ADMIN", "SYS_ADMIN"]
        );
        assert_eq!(strings(&pod, "metadata.labels.app.kubernetes.io/name"), ["web"]);
        assert!(strings(&pod, "spec.volumes").is_empty());
    }
}

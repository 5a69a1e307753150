//! Value matchers: one Sigma value with its modifiers, compiled once, run per event.

use kir_audit::pattern::{Cidr, Glob};
use serde_json::Value;

use crate::value::Val;

#[derive(Debug)]
pub enum Matcher {
    /// `field: null`: the field is absent or null.
    Null,
    /// `field|exists: true|false`.
    Exists(bool),
    /// Any non-null value (`'*'`).
    Any,
    Text(TextMatcher),
    /// Equality with a number, also against numeric strings.
    Number(f64),
    Compare(Comparison, f64),
    Bool(bool),
    Regex(regex::Regex),
    Cidr(Cidr),
}

#[derive(Debug, Clone, Copy)]
pub enum Comparison {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

#[derive(Debug)]
pub struct TextMatcher {
    kind: TextKind,
    /// Lower-cased unless `cased`.
    pattern: String,
    cased: bool,
}

#[derive(Debug)]
enum TextKind {
    Exact,
    Prefix,
    Suffix,
    Contains,
    Glob(Glob),
}

/// How a string value is positioned, from the modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Whole,
    Contains,
    StartsWith,
    EndsWith,
}

/// How a rule's string values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// Sigma rules: `*` and `?` are wildcards in every value, `\` escapes them.
    Sigma,
    /// kir's own rules: every value is literal; only values under `|glob` are patterns, so a
    /// `*` meant as a character (RBAC's `pods/*`) never matches more than itself.
    Kir,
}

/// Whether `value` has a `*` or `?` that is not escaped.
pub fn has_wildcard(value: &str) -> bool {
    let mut escaped = false;
    value.chars().any(|c| {
        let wild = !escaped && (c == '*' || c == '?');
        escaped = !escaped && c == '\\';
        wild
    })
}

impl TextMatcher {
    /// Build from a Sigma string (where `*` and `?` are wildcards and `\` escapes them).
    pub fn new(value: &str, position: Position, cased: bool) -> TextMatcher {
        if has_wildcard(value) {
            let fold = |s: String| if cased { s } else { s.to_lowercase() };
            let pattern = match position {
                Position::Whole => value.to_string(),
                Position::Contains => format!("*{value}*"),
                Position::StartsWith => format!("{value}*"),
                Position::EndsWith => format!("*{value}"),
            };
            let glob = if cased { Glob::new(&pattern) } else { Glob::case_insensitive(&pattern) };
            return TextMatcher { kind: TextKind::Glob(glob), pattern: fold(pattern), cased };
        }
        TextMatcher::literal(&unescape(value), position, cased)
    }

    /// Build from a string that is matched as it is, every character itself.
    pub fn literal(literal: &str, position: Position, cased: bool) -> TextMatcher {
        let fold = |s: &str| if cased { s.to_string() } else { s.to_lowercase() };
        let kind = match position {
            Position::Whole => TextKind::Exact,
            Position::Contains => TextKind::Contains,
            Position::StartsWith => TextKind::Prefix,
            Position::EndsWith => TextKind::Suffix,
        };
        TextMatcher { kind, pattern: fold(literal), cased }
    }

    pub fn matches(&self, text: &str) -> bool {
        if let TextKind::Glob(glob) = &self.kind {
            return glob.matches(text);
        }
        if self.cased || text.is_ascii() && self.pattern.is_ascii() {
            let (t, p) = (text.as_bytes(), self.pattern.as_bytes());
            let eq = |a: &[u8], b: &[u8]| if self.cased { a == b } else { a.eq_ignore_ascii_case(b) };
            return match self.kind {
                TextKind::Exact => eq(t, p),
                TextKind::Prefix => t.len() >= p.len() && eq(&t[..p.len()], p),
                TextKind::Suffix => t.len() >= p.len() && eq(&t[t.len() - p.len()..], p),
                TextKind::Contains if self.cased => memchr::memmem::find(t, p).is_some(),
                TextKind::Contains => p.is_empty() || t.windows(p.len()).any(|w| w.eq_ignore_ascii_case(p)),
                TextKind::Glob(_) => unreachable!("handled above"),
            };
        }
        let lower = text.to_lowercase();
        match self.kind {
            TextKind::Exact => lower == self.pattern,
            TextKind::Prefix => lower.starts_with(&self.pattern),
            TextKind::Suffix => lower.ends_with(&self.pattern),
            TextKind::Contains => lower.contains(&self.pattern),
            TextKind::Glob(_) => unreachable!("handled above"),
        }
    }

    /// The one string this matches exactly (lower-cased unless `cased`), if it is that simple.
    pub fn exact(&self) -> Option<&str> {
        matches!(self.kind, TextKind::Exact).then_some(self.pattern.as_str())
    }

    /// Whether this only ever matches text containing `literal` (for the position).
    pub fn is_contains(&self) -> bool {
        matches!(self.kind, TextKind::Contains)
            || matches!(&self.kind, TextKind::Glob(_) if self.pattern.starts_with('*'))
    }
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next @ ('*' | '?' | '\\')) => out.push(next),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Matcher {
    /// Whether this matcher is satisfied by a field that has no value at all.
    pub fn matches_absent(&self) -> bool {
        matches!(self, Matcher::Null | Matcher::Exists(false))
    }

    pub fn matches(&self, value: Val<'_>) -> bool {
        match (self, value) {
            (Matcher::Null, Val::Null) => true,
            (Matcher::Null, _) => false,
            (Matcher::Exists(expected), v) => *expected != matches!(v, Val::Null),
            (Matcher::Any, v) => !matches!(v, Val::Null),
            (Matcher::Text(t), Val::Str(s)) => t.matches(s),
            (Matcher::Text(t), Val::Int(i)) => t.matches(&i.to_string()),
            (Matcher::Text(t), Val::Float(f)) => t.matches(&f.to_string()),
            (Matcher::Text(t), Val::Bool(b)) => t.matches(if b { "true" } else { "false" }),
            (Matcher::Text(t), Val::Json(v)) => t.is_contains() && t.matches(&v.to_string()),
            (Matcher::Text(t), Val::RawJson(raw)) => t.is_contains() && t.matches(raw),
            (Matcher::Text(_), Val::Null) => false,
            (Matcher::Number(n), v) => number(v).is_some_and(|x| x == *n),
            (Matcher::Compare(op, n), v) => number(v).is_some_and(|x| match op {
                Comparison::Greater => x > *n,
                Comparison::GreaterOrEqual => x >= *n,
                Comparison::Less => x < *n,
                Comparison::LessOrEqual => x <= *n,
            }),
            (Matcher::Bool(b), Val::Bool(v)) => *b == v,
            (Matcher::Bool(b), Val::Str(s)) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
            (Matcher::Bool(_), _) => false,
            (Matcher::Regex(re), Val::Str(s)) => re.is_match(s),
            (Matcher::Regex(re), Val::Int(i)) => re.is_match(&i.to_string()),
            (Matcher::Regex(_), _) => false,
            (Matcher::Cidr(c), Val::Str(s)) => c.contains_text(s),
            (Matcher::Cidr(_), _) => false,
        }
    }
}

fn number(value: Val<'_>) -> Option<f64> {
    match value {
        Val::Int(i) => Some(i as f64),
        Val::Float(f) => Some(f),
        Val::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The modifiers kir understands, parsed from `field|mod1|mod2`.
#[derive(Debug, Default, Clone)]
pub struct Modifiers {
    pub position: Option<Position>,
    pub all: bool,
    pub cased: bool,
    pub regex: bool,
    pub regex_flags: String,
    pub cidr: bool,
    pub exists: bool,
    pub compare: Option<Comparison>,
    /// `|glob`: the values are patterns with `*` and `?` (kir's rules; Sigma's values always are).
    pub glob: bool,
    /// `|expand`: the value is a placeholder (`%system_namespaces%`) for one of kir's lists.
    pub expand: bool,
}

impl Modifiers {
    pub fn parse(names: &[&str]) -> Result<Modifiers, String> {
        let mut m = Modifiers::default();
        for name in names {
            match *name {
                "contains" => m.position = Some(Position::Contains),
                "startswith" => m.position = Some(Position::StartsWith),
                "endswith" => m.position = Some(Position::EndsWith),
                "all" => m.all = true,
                "cased" => m.cased = true,
                "re" => m.regex = true,
                "i" | "m" | "s" if m.regex => m.regex_flags.push_str(name),
                "cidr" => m.cidr = true,
                "exists" => m.exists = true,
                "gt" => m.compare = Some(Comparison::Greater),
                "gte" => m.compare = Some(Comparison::GreaterOrEqual),
                "lt" => m.compare = Some(Comparison::Less),
                "lte" => m.compare = Some(Comparison::LessOrEqual),
                "glob" => m.glob = true,
                "expand" => m.expand = true,
                other => {
                    return Err(format!(
                        "modifier {other:?} is not supported (kir supports contains, startswith, endswith, all, cased, re (with i, m, s), cidr, exists, gt, gte, lt, lte, glob, expand)"
                    ));
                }
            }
        }
        Ok(m)
    }

    /// Compile one value of the rule.
    pub fn compile(&self, value: &Value, syntax: Syntax) -> Result<Matcher, String> {
        if self.exists {
            return match value {
                Value::Bool(b) => Ok(Matcher::Exists(*b)),
                other => Err(format!("|exists needs true or false, not {other}")),
            };
        }
        if let Some(op) = self.compare {
            return match value {
                Value::Number(n) => Ok(Matcher::Compare(op, n.as_f64().unwrap_or(f64::NAN))),
                Value::String(s) => s
                    .parse()
                    .map(|n| Matcher::Compare(op, n))
                    .map_err(|_| format!("comparison needs a number, not {s:?}")),
                other => Err(format!("comparison needs a number, not {other}")),
            };
        }
        if self.cidr {
            let text = value.as_str().ok_or_else(|| format!("|cidr needs a string, not {value}"))?;
            return text.parse().map(Matcher::Cidr).map_err(|e| format!("|cidr: {e}"));
        }
        if self.regex {
            let text = value.as_str().ok_or_else(|| format!("|re needs a string, not {value}"))?;
            let pattern = if self.regex_flags.is_empty() {
                text.to_string()
            } else {
                format!("(?{}){text}", self.regex_flags)
            };
            return regex::Regex::new(&pattern).map(Matcher::Regex).map_err(|e| format!("|re: {e}"));
        }
        let position = self.position.unwrap_or(Position::Whole);
        let patterns = self.glob || syntax == Syntax::Sigma;
        match value {
            Value::Null => Ok(Matcher::Null),
            Value::Bool(b) => Ok(Matcher::Bool(*b)),
            Value::Number(n) if position == Position::Whole => {
                Ok(Matcher::Number(n.as_f64().unwrap_or(f64::NAN)))
            }
            Value::Number(n) => Ok(Matcher::Text(TextMatcher::literal(&n.to_string(), position, self.cased))),
            Value::String(s) if self.glob && syntax == Syntax::Kir && !has_wildcard(s) => {
                Err(format!("|glob value {s:?} has no * or ?: write it without |glob"))
            }
            Value::String(s) if patterns && s == "*" && position == Position::Whole => Ok(Matcher::Any),
            Value::String(s) if patterns => Ok(Matcher::Text(TextMatcher::new(s, position, self.cased))),
            Value::String(s) => Ok(Matcher::Text(TextMatcher::literal(s, position, self.cased))),
            other => Err(format!("a value must be a string, number, boolean or null, not {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(mods: &[&str], value: Value) -> Matcher {
        Modifiers::parse(mods).unwrap().compile(&value, Syntax::Sigma).unwrap()
    }

    fn kir(mods: &[&str], value: Value) -> Result<Matcher, String> {
        Modifiers::parse(mods).unwrap().compile(&value, Syntax::Kir)
    }

    /// In kir's rules a value is literal unless marked as a glob: RBAC's `pods/*` names every
    /// subresource of pods and must not match `pods/log`.
    #[test]
    fn kir_values_are_literal_unless_globs() {
        let literal = kir(&[], json!("pods/*")).unwrap();
        assert!(literal.matches(Val::Str("pods/*")) && !literal.matches(Val::Str("pods/log")));
        let star = kir(&[], json!("*")).unwrap();
        assert!(star.matches(Val::Str("*")) && !star.matches(Val::Str("get")));
        assert!(!kir(&[], json!("a?c")).unwrap().matches(Val::Str("abc")));
        assert!(kir(&["contains"], json!("*")).unwrap().matches(Val::Str("verbs: [*]")));
        assert!(!kir(&["contains"], json!("*")).unwrap().matches(Val::Str("get")));
        let glob = kir(&["glob"], json!("system:node:*")).unwrap();
        assert!(glob.matches(Val::Str("system:node:n1")) && !glob.matches(Val::Str("system:nodes")));
        assert!(kir(&["glob"], json!("pods\\*")).unwrap_err().contains("no * or ?"));
        assert!(kir(&["glob"], json!("pods")).unwrap_err().contains("without |glob"));
        assert!(compile(&[], json!("pods/*")).matches(Val::Str("pods/log")), "Sigma values are globs");
    }

    #[test]
    fn sigma_string_semantics() {
        assert!(compile(&[], json!("Create")).matches(Val::Str("create")), "case-insensitive by default");
        assert!(!compile(&["cased"], json!("Create")).matches(Val::Str("create")));
        assert!(compile(&["contains"], json!("/bin/sh")).matches(Val::Str("command=%2Fx&command=/bin/sh")));
        assert!(compile(&["startswith"], json!("system:")).matches(Val::Str("System:node:a")));
        assert!(compile(&["endswith"], json!(".sh")).matches(Val::Str("run.SH")));
        assert!(
            compile(&[], json!("system:serviceaccount:*")).matches(Val::Str("system:serviceaccount:a:b"))
        );
        assert!(compile(&[], json!("\\*")).matches(Val::Str("*")));
        assert!(!compile(&[], json!("\\*")).matches(Val::Str("get")), "escaped star is literal");
        assert!(compile(&[], json!("*")).matches(Val::Str("anything")));
        assert!(!compile(&[], json!("*")).matches(Val::Null));
        assert!(compile(&[], json!(403)).matches(Val::Int(403)));
        assert!(compile(&[], json!(403)).matches(Val::Str("403")), "numbers match numeric strings");
        assert!(compile(&[], json!("403")).matches(Val::Int(403)), "strings match numbers as text");
        assert!(compile(&[], json!(true)).matches(Val::Bool(true)));
        assert!(compile(&["gte"], json!(400)).matches(Val::Int(403)));
        assert!(compile(&["cidr"], json!("10.0.0.0/8")).matches(Val::Str("10.3.4.5")));
        assert!(compile(&["re"], json!("^kube(ctl|adm)/")).matches(Val::Str("kubectl/v1")));
        assert!(compile(&["re", "i"], json!("^KUBECTL")).matches(Val::Str("kubectl/v1")));
        assert!(compile(&["exists"], json!(false)).matches_absent());
        assert!(compile(&[], Value::Null).matches_absent());
        let raw = Val::RawJson(r#"{"data":{"aws_access_key_id":"x"}}"#);
        assert!(compile(&["contains"], json!("AWS_ACCESS_KEY_ID")).matches(raw));
        assert!(!compile(&[], json!("x")).matches(raw), "objects only match contains");
    }

    #[test]
    fn unknown_modifiers_are_named() {
        let error = Modifiers::parse(&["base64offset"]).unwrap_err();
        assert!(error.contains("base64offset") && error.contains("contains"), "{error}");
    }
}

//! Sigma detection logic: selections of field conditions, and the condition combining them.
//!
//! Used for Sigma rules loaded from files and for kir's own built-in rules alike, over audit
//! events and runtime events alike: what a field name means is up to the [`Record`] type.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::{
    lists,
    matcher::{Matcher, Modifiers, Position, Syntax, TextMatcher},
    value::Val,
};

/// Something rules can look at: fields by compiled name, and its whole text for keywords.
pub trait Record {
    type Field;

    /// Call `visit` with each value of `field`; stop and return true as soon as it does.
    fn visit(&self, field: &Self::Field, visit: &mut dyn FnMut(Val<'_>) -> bool) -> bool;

    /// The record as text, for keyword (field-less) searches.
    fn text(&self) -> &str;
}

/// Turns a rule's field name into whatever the record type looks up fast.
pub trait FieldCompiler {
    type Field;
    fn compile(&self, name: &str) -> Result<Self::Field, String>;

    /// Relative cost of reading the field: cheap conditions are checked first, so that
    /// request bodies are parsed only for events that already passed the others.
    fn cost(&self, _field: &Self::Field) -> u8 {
        0
    }
}

#[derive(Debug)]
pub struct Detection<F> {
    selections: Vec<Selection<F>>,
    condition: Cond,
}

#[derive(Debug)]
enum Selection<F> {
    /// Alternatives, each a set of conditions that must all hold.
    Maps(Vec<Vec<Item<F>>>),
    /// Field-less values searched in the whole record.
    Keywords(Vec<Matcher>),
}

#[derive(Debug)]
struct Item<F> {
    field: F,
    matchers: Vec<Matcher>,
    all: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    Selection(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    AnyOf(Vec<usize>),
    AllOf(Vec<usize>),
}

impl<F> Detection<F> {
    /// Compile a Sigma `detection` block.
    pub fn compile(detection: &Value, fields: &dyn FieldCompiler<Field = F>) -> Result<Detection<F>, String> {
        Detection::compile_as(detection, fields, Syntax::Sigma)
    }

    /// Compile a `detection` block whose values are read as `syntax` says.
    pub fn compile_as(
        detection: &Value,
        fields: &dyn FieldCompiler<Field = F>,
        syntax: Syntax,
    ) -> Result<Detection<F>, String> {
        let map = detection.as_object().ok_or("`detection` must be a mapping")?;
        let mut names = Vec::new();
        let mut selections = Vec::new();
        let mut conditions: Vec<String> = Vec::new();
        for (key, value) in map {
            match key.as_str() {
                "condition" => match value {
                    Value::String(s) => conditions.push(s.clone()),
                    Value::Array(list) => {
                        for c in list {
                            conditions.push(
                                c.as_str().ok_or("`condition` list entries must be strings")?.to_string(),
                            );
                        }
                    }
                    _ => return Err("`condition` must be a string or a list of strings".into()),
                },
                "timeframe" => {
                    return Err("`timeframe` (aggregation) is not supported: kir evaluates events one by one; use a correlation tool for counts".into());
                }
                name => {
                    let selection = compile_selection(value, fields, syntax)
                        .map_err(|e| format!("selection `{name}`: {e}"))?;
                    names.push(name.to_string());
                    selections.push(selection);
                }
            }
        }
        if conditions.is_empty() {
            return Err("`detection` has no `condition`".into());
        }
        let mut alternatives = Vec::new();
        for text in &conditions {
            alternatives.push(parse_condition(text, &names).map_err(|e| format!("condition {text:?}: {e}"))?);
        }
        let condition =
            if alternatives.len() == 1 { alternatives.pop().unwrap() } else { Cond::Or(alternatives) };
        Ok(Detection { selections, condition })
    }

    pub fn matches<R: Record<Field = F>>(&self, record: &R) -> bool {
        self.eval(&self.condition, record)
    }

    fn eval<R: Record<Field = F>>(&self, cond: &Cond, record: &R) -> bool {
        match cond {
            Cond::Selection(i) => self.selection(*i, record),
            Cond::Not(inner) => !self.eval(inner, record),
            Cond::And(parts) => parts.iter().all(|c| self.eval(c, record)),
            Cond::Or(parts) => parts.iter().any(|c| self.eval(c, record)),
            Cond::AnyOf(list) => list.iter().any(|i| self.selection(*i, record)),
            Cond::AllOf(list) => list.iter().all(|i| self.selection(*i, record)),
        }
    }

    fn selection<R: Record<Field = F>>(&self, index: usize, record: &R) -> bool {
        match &self.selections[index] {
            Selection::Maps(alternatives) => {
                alternatives.iter().any(|items| items.iter().all(|item| item_matches(item, record)))
            }
            Selection::Keywords(matchers) => {
                let text = record.text();
                matchers.iter().any(|m| m.matches(Val::Str(text)))
            }
        }
    }

    /// The values a field must have for the rule to match (lower-case; "" stands for absent),
    /// when the condition implies such a list: an engine can then skip the rule for events
    /// with other values. `None` when the condition does not restrict the field.
    pub fn required_values(&self, is_field: &dyn Fn(&F) -> bool) -> Option<BTreeSet<String>> {
        self.required(&self.condition, is_field)
    }

    fn required(&self, cond: &Cond, is_field: &dyn Fn(&F) -> bool) -> Option<BTreeSet<String>> {
        let intersect = |a: BTreeSet<String>, b: BTreeSet<String>| a.intersection(&b).cloned().collect();
        let union = |sets: Vec<BTreeSet<String>>| sets.into_iter().flatten().collect();
        match cond {
            Cond::Selection(i) => self.selection_required(*i, is_field),
            Cond::Not(_) => None,
            Cond::And(parts) => parts.iter().filter_map(|p| self.required(p, is_field)).reduce(intersect),
            Cond::AllOf(list) => {
                list.iter().filter_map(|i| self.selection_required(*i, is_field)).reduce(intersect)
            }
            Cond::Or(parts) => {
                parts.iter().map(|p| self.required(p, is_field)).collect::<Option<Vec<_>>>().map(union)
            }
            Cond::AnyOf(list) => list
                .iter()
                .map(|i| self.selection_required(*i, is_field))
                .collect::<Option<Vec<_>>>()
                .map(union),
        }
    }

    fn selection_required(&self, index: usize, is_field: &dyn Fn(&F) -> bool) -> Option<BTreeSet<String>> {
        let Selection::Maps(alternatives) = &self.selections[index] else { return None };
        let per_alternative = alternatives.iter().map(|items| {
            let item = items.iter().find(|item| is_field(&item.field) && !item.all)?;
            item.matchers
                .iter()
                .map(|m| match m {
                    Matcher::Null => Some(String::new()),
                    Matcher::Text(t) => t.exact().map(str::to_lowercase),
                    _ => None,
                })
                .collect::<Option<BTreeSet<String>>>()
        });
        per_alternative.collect::<Option<Vec<_>>>().map(|sets| sets.into_iter().flatten().collect())
    }
}

fn item_matches<F, R: Record<Field = F>>(item: &Item<F>, record: &R) -> bool {
    if item.all {
        return item.matchers.iter().all(|m| {
            let mut seen = false;
            record.visit(&item.field, &mut |v| {
                seen = true;
                m.matches(v)
            }) || (!seen && m.matches_absent())
        });
    }
    let mut seen = false;
    let hit = record.visit(&item.field, &mut |v| {
        seen = true;
        item.matchers.iter().any(|m| m.matches(v))
    });
    hit || (!seen && item.matchers.iter().any(Matcher::matches_absent))
}

fn compile_selection<F>(
    value: &Value,
    fields: &dyn FieldCompiler<Field = F>,
    syntax: Syntax,
) -> Result<Selection<F>, String> {
    let keyword = |text: &str| {
        Matcher::Text(match syntax {
            Syntax::Sigma => TextMatcher::new(text, Position::Contains, false),
            Syntax::Kir => TextMatcher::literal(text, Position::Contains, false),
        })
    };
    match value {
        Value::Object(map) => Ok(Selection::Maps(vec![compile_map(map, fields, syntax)?])),
        Value::Array(list) if list.iter().all(Value::is_object) && !list.is_empty() => {
            let maps = list.iter().map(|m| compile_map(m.as_object().expect("checked"), fields, syntax));
            Ok(Selection::Maps(maps.collect::<Result<_, _>>()?))
        }
        Value::Array(list) => {
            let mut matchers = Vec::new();
            for item in list {
                let text = match item {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => return Err(format!("keyword lists hold strings, not {other}")),
                };
                matchers.push(keyword(&text));
            }
            Ok(Selection::Keywords(matchers))
        }
        Value::String(s) => Ok(Selection::Keywords(vec![keyword(s)])),
        other => Err(format!("a selection must be a mapping or a list, not {other}")),
    }
}

/// The values of `|expand` placeholders: each value names one of kir's lists.
fn expand(values: Vec<&Value>) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for value in values {
        let list = value.as_str().and_then(lists::expand).ok_or_else(|| {
            format!("|expand takes placeholders: %{}%, not {value}", lists::PLACEHOLDERS.join("%, %"))
        })?;
        out.extend(list);
    }
    Ok(out)
}

fn compile_map<F>(
    map: &Map<String, Value>,
    fields: &dyn FieldCompiler<Field = F>,
    syntax: Syntax,
) -> Result<Vec<Item<F>>, String> {
    let mut items = Vec::new();
    for (key, value) in map {
        let mut parts = key.split('|');
        let name = parts.next().unwrap_or_default();
        let modifier_names: Vec<&str> = parts.collect();
        let modifiers = Modifiers::parse(&modifier_names).map_err(|e| format!("field `{key}`: {e}"))?;
        let values: Vec<&Value> = match value {
            Value::Array(list) => list.iter().collect(),
            one => vec![one],
        };
        if values.is_empty() {
            return Err(format!("field `{key}` has an empty list of values"));
        }
        let expanded;
        let values = if modifiers.expand {
            expanded = expand(values).map_err(|e| format!("field `{key}`: {e}"))?;
            expanded.iter().collect()
        } else {
            values
        };
        let matchers = values
            .into_iter()
            .map(|v| modifiers.compile(v, syntax))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("field `{key}`: {e}"))?;
        let field = fields.compile(name).map_err(|e| format!("field `{name}`: {e}"))?;
        items.push(Item { field, matchers, all: modifiers.all });
    }
    items.sort_by_key(|item| fields.cost(&item.field));
    Ok(items)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Open,
    Close,
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' | ' ' | '\t' | '\n' => {
                if !word.is_empty() {
                    tokens.push(Token::Word(std::mem::take(&mut word)));
                }
                match c {
                    '(' => tokens.push(Token::Open),
                    ')' => tokens.push(Token::Close),
                    _ => {}
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        tokens.push(Token::Word(word));
    }
    tokens
}

/// Precedence, lowest first: `or`, `and`, `not`, `x of`, brackets.
fn parse_condition(text: &str, names: &[String]) -> Result<Cond, String> {
    if text.contains('|') {
        return Err("aggregations (`| count() ...`) are not supported".into());
    }
    let tokens = tokenize(text);
    let mut parser = Parser { tokens: &tokens, pos: 0, names };
    let cond = parser.or()?;
    if parser.pos != tokens.len() {
        return Err(format!("unexpected {:?} at word {}", tokens[parser.pos], parser.pos + 1));
    }
    Ok(cond)
}

struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
    names: &'t [String],
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.pos) {
            Some(Token::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut parts = vec![self.and()?];
        while self.peek_word().is_some_and(|w| w.eq_ignore_ascii_case("or")) {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.pop().unwrap() } else { Cond::Or(parts) })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut parts = vec![self.not()?];
        while self.peek_word().is_some_and(|w| w.eq_ignore_ascii_case("and")) {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 { parts.pop().unwrap() } else { Cond::And(parts) })
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.peek_word().is_some_and(|w| w.eq_ignore_ascii_case("not")) {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        match self.tokens.get(self.pos).cloned() {
            None => Err("the condition ends too early".into()),
            Some(Token::Close) => Err("unexpected `)`".into()),
            Some(Token::Open) => {
                self.pos += 1;
                let inner = self.or()?;
                if self.tokens.get(self.pos) != Some(&Token::Close) {
                    return Err("a `(` is not closed".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Word(word)) => {
                self.pos += 1;
                let quantifier = match word.to_ascii_lowercase().as_str() {
                    "1" | "any" => Some(true),
                    "all" => Some(false),
                    _ => None,
                };
                if let Some(any) = quantifier
                    && self.peek_word().is_some_and(|w| w.eq_ignore_ascii_case("of"))
                {
                    self.pos += 1;
                    let target =
                        self.peek_word().ok_or("`of` needs `them` or a selection pattern")?.to_string();
                    self.pos += 1;
                    let list = self.expand(&target)?;
                    return Ok(if any { Cond::AnyOf(list) } else { Cond::AllOf(list) });
                }
                match self.names.iter().position(|n| *n == word) {
                    Some(i) => Ok(Cond::Selection(i)),
                    None => Err(format!(
                        "`{word}` is not a selection of this rule (selections: {})",
                        self.names.join(", ")
                    )),
                }
            }
        }
    }

    fn expand(&self, target: &str) -> Result<Vec<usize>, String> {
        let list: Vec<usize> = if target == "them" {
            (0..self.names.len()).filter(|i| !self.names[*i].starts_with('_')).collect()
        } else {
            let glob = kir_audit::pattern::Glob::new(target);
            (0..self.names.len()).filter(|i| glob.matches(&self.names[*i])).collect()
        };
        if list.is_empty() {
            return Err(format!("`{target}` names no selection"));
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{split_path, walk};

    struct Json(Value, String);

    impl Record for Json {
        type Field = Vec<String>;
        fn visit(&self, field: &Vec<String>, visit: &mut dyn FnMut(Val<'_>) -> bool) -> bool {
            walk(&self.0, field, visit)
        }
        fn text(&self) -> &str {
            &self.1
        }
    }

    struct Paths;
    impl FieldCompiler for Paths {
        type Field = Vec<String>;
        fn compile(&self, name: &str) -> Result<Vec<String>, String> {
            Ok(split_path(name))
        }
    }

    fn detection(yaml: &str) -> Detection<Vec<String>> {
        let value: Value = serde_saphyr::from_str(yaml).unwrap();
        Detection::compile(&value, &Paths).unwrap()
    }

    fn record(json: Value) -> Json {
        let text = json.to_string();
        Json(json, text)
    }

    #[test]
    fn conditions_combine_selections_with_precedence() {
        let d = detection(
            "sel_a: {verb: create}\nsel_b: {resource: [pods, secrets]}\nfilter: {user: admin}\ncondition: 1 of sel_* and not filter",
        );
        assert!(d.matches(&record(serde_json::json!({"verb": "create", "user": "eve"}))));
        assert!(d.matches(&record(serde_json::json!({"resource": "secrets"}))));
        assert!(!d.matches(&record(serde_json::json!({"verb": "create", "user": "admin"}))));
        let d = detection("a: {x: 1}\nb: {y: 2}\nc: {z: 3}\ncondition: a or b and c");
        assert!(d.matches(&record(serde_json::json!({"x": 1}))), "and binds tighter than or");
        assert!(!d.matches(&record(serde_json::json!({"y": 2}))));
        let d = detection("a: {x: 1}\nb: {y: 2}\ncondition: all of them");
        assert!(!d.matches(&record(serde_json::json!({"x": 1}))));
        let d = detection("a: {x: 1}\nb: {y: 2}\ncondition: not (a or b)");
        assert!(d.matches(&record(serde_json::json!({"z": 1}))));
        let d = detection("a: {x: 1}\nb: {y: 2}\ncondition: [a, b]");
        assert!(d.matches(&record(serde_json::json!({"y": 2}))));
    }

    #[test]
    fn lists_of_maps_keywords_null_and_all() {
        let d = detection("sel:\n  - {verb: delete}\n  - {verb: create, code: 201}\ncondition: sel");
        assert!(d.matches(&record(serde_json::json!({"verb": "delete"}))));
        assert!(!d.matches(&record(serde_json::json!({"verb": "create", "code": 200}))));
        let d = detection("kw: [trufflehog, azurehound]\ncondition: kw");
        assert!(d.matches(&record(serde_json::json!({"ua": "TruffleHog/3"}))));
        let d = detection("sel: {ns: null}\ncondition: sel");
        assert!(d.matches(&record(serde_json::json!({"verb": "list"}))));
        assert!(!d.matches(&record(serde_json::json!({"ns": "x"}))));
        let d = detection("sel: {verbs|all: [get, list]}\ncondition: sel");
        assert!(d.matches(&record(serde_json::json!({"verbs": ["list", "get", "watch"]}))));
        assert!(!d.matches(&record(serde_json::json!({"verbs": ["list"]}))));
    }

    #[test]
    fn required_values_follow_the_condition() {
        let required = |yaml: &str| detection(yaml).required_values(&|f: &Vec<String>| f[0] == "resource");
        let set = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
        assert_eq!(
            required("a: {resource: [Pods, secrets], verb: get}\ncondition: a"),
            set(&["pods", "secrets"])
        );
        assert_eq!(
            required("a: {resource: pods}\nb: {resource: [pods, nodes]}\ncondition: a and b"),
            set(&["pods"])
        );
        assert_eq!(
            required("a: {resource: pods}\nb: {verb: get}\ncondition: a or b"),
            None,
            "b allows any resource"
        );
        assert_eq!(
            required("a: {resource: pods}\nb: {resource: null}\ncondition: 1 of them"),
            set(&["", "pods"])
        );
        assert_eq!(required("a: {resource: pods}\ncondition: not a"), None);
        assert_eq!(required("a: {resource: 'pod*'}\ncondition: a"), None, "wildcards are not a list");
        assert_eq!(required("a:\n  - {resource: pods}\n  - {verb: get}\ncondition: a"), None);
    }

    #[test]
    fn bad_conditions_are_explained() {
        let value: Value = serde_saphyr::from_str("a: {x: 1}\ncondition: a and b").unwrap();
        let error = Detection::compile(&value, &Paths).unwrap_err();
        assert!(error.contains("`b` is not a selection") && error.contains("selections: a"), "{error}");
        let value: Value = serde_saphyr::from_str("a: {x: 1}\ncondition: (a").unwrap();
        assert!(Detection::compile(&value, &Paths).unwrap_err().contains("not closed"));
        let value: Value = serde_saphyr::from_str("a: {x: 1}\ncondition: a | count() > 5").unwrap();
        assert!(Detection::compile(&value, &Paths).unwrap_err().contains("aggregations"));
        let value: Value = serde_saphyr::from_str("a: {x|base64: 1}\ncondition: a").unwrap();
        assert!(Detection::compile(&value, &Paths).unwrap_err().contains("base64"));
    }
}

//! Rules: what they say about themselves (id, title, severity, ATT&CK, the response to run)
//! and their detection logic, loaded from kir's rule files or from Sigma rules.

use std::{fmt, path::Path, str::FromStr};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    detection::{Detection, FieldCompiler},
    matcher::Syntax,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

impl Severity {
    /// One step less severe (info stays info): what an attempt that was denied or failed is
    /// worth next to the same thing done.
    pub fn lower(self) -> Severity {
        match self {
            Severity::Info | Severity::Low => Severity::Info,
            Severity::Medium => Severity::Low,
            Severity::High => Severity::Medium,
            Severity::Critical => Severity::High,
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(text: &str) -> Result<Severity, String> {
        match text.to_ascii_lowercase().as_str() {
            "info" | "informational" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!("unknown severity {other:?} (info, low, medium, high, critical)")),
        }
    }
}

/// What a rule's matches on denied or failed requests (401, 403, 404, 409, 422, any other
/// answer of 400 or more, or the authorization decision `forbid`) mean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Denied {
    /// The request did not do what the rule looks for: reported apart, as an attempt, one
    /// severity lower.
    #[default]
    Attempt,
    /// The denial is what the rule looks for (enumeration): reported as found.
    Signal,
}

/// Where a rule came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Builtin,
    Sigma(String),
    Baseline,
}

/// What a rule says about itself.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleMeta {
    pub id: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    /// MITRE ATT&CK technique ids, e.g. `T1609`.
    pub attack: Vec<String>,
    /// The kir command to run next, with `{user}`, `{namespace}`, `{name}`, `{object}` and
    /// `{pod}` (NS/POD) filled in from the finding.
    pub response: String,
    /// What its matches on denied or failed requests mean.
    pub denied: Denied,
    #[serde(skip)]
    pub origin: Origin,
}

/// At least `count` matching events (or, with `distinct`, events on `count` distinct objects)
/// of one identity from one peer address within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub count: usize,
    pub window_seconds: i64,
    pub distinct: Option<Distinct>,
}

/// What a threshold counts instead of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distinct {
    /// Objects (namespace and name): one identity reading many different secrets.
    Objects,
}

/// A compiled rule over records whose fields are `F`.
#[derive(Debug)]
pub struct Rule<F> {
    pub meta: RuleMeta,
    pub detection: Detection<F>,
    pub threshold: Option<Threshold>,
}

/// A rule file of kir's own format (see docs/detect.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub id: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    #[serde(default)]
    pub attack: Vec<String>,
    pub response: String,
    /// `attempt` (the default) or `signal`: see [`Denied`].
    #[serde(default)]
    pub denied: Denied,
    pub detection: Value,
    #[serde(default)]
    pub threshold: Option<ThresholdFile>,
    #[serde(default)]
    pub tests: RuleTests,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdFile {
    pub count: usize,
    /// `30s`, `5m`, `1h`.
    pub window: String,
    #[serde(default)]
    pub distinct: Option<Distinct>,
}

/// Events a rule must match and must not match; checked by the unit tests of this crate.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTests {
    #[serde(default, rename = "match")]
    pub matching: Vec<Value>,
    /// Denied or failed requests the rule matches, to be reported as attempts.
    #[serde(default)]
    pub attempt: Vec<Value>,
    #[serde(default)]
    pub no_match: Vec<Value>,
}

#[derive(Debug, thiserror::Error)]
#[error("rule {source_name}: {detail}")]
pub struct RuleError {
    pub source_name: String,
    pub detail: String,
}

fn parse_window(text: &str) -> Result<i64, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| format!("window {text:?} needs a number, like 60s"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("window {text:?}: unit must be s, m or h")),
    };
    Ok(number * factor)
}

impl RuleFile {
    pub fn parse(text: &str, source_name: &str) -> Result<RuleFile, RuleError> {
        serde_saphyr::from_str(text)
            .map_err(|e| RuleError { source_name: source_name.to_string(), detail: e.to_string() })
    }

    pub fn compile<F>(
        &self,
        fields: &dyn FieldCompiler<Field = F>,
        origin: Origin,
    ) -> Result<Rule<F>, RuleError> {
        let error = |detail: String| RuleError { source_name: self.id.clone(), detail };
        let detection = Detection::compile_as(&self.detection, fields, Syntax::Kir).map_err(error)?;
        let threshold = match &self.threshold {
            None => None,
            Some(t) => Some(Threshold {
                count: t.count.max(1),
                window_seconds: parse_window(&t.window).map_err(error)?,
                distinct: t.distinct,
            }),
        };
        Ok(Rule {
            meta: RuleMeta {
                id: self.id.clone(),
                title: self.title.clone(),
                description: self.description.trim().to_string(),
                severity: self.severity,
                attack: self.attack.clone(),
                response: self.response.clone(),
                denied: self.denied,
                origin,
            },
            detection,
            threshold,
        })
    }
}

/// A Sigma rule file (<https://sigmahq.io>), the parts kir reads.
#[derive(Debug, Deserialize)]
struct SigmaFile {
    title: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    logsource: Option<LogSource>,
    detection: Option<Value>,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    correlation: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct LogSource {
    #[serde(default)]
    product: Option<String>,
    #[serde(default)]
    service: Option<String>,
}

/// What loading one Sigma file gave.
#[derive(Debug)]
pub enum SigmaLoad<F> {
    Rule(Box<Rule<F>>),
    /// Not a Kubernetes audit rule (another log source): not an error.
    OtherLogSource,
}

/// Load a Sigma rule for product `kubernetes`, service `audit`. Category is ignored (SigmaHQ
/// uses `application` on some rules and none on others).
pub fn load_sigma<F>(
    text: &str,
    path: &Path,
    fields: &dyn FieldCompiler<Field = F>,
) -> Result<SigmaLoad<F>, RuleError> {
    let source_name = path.display().to_string();
    let error = |detail: String| RuleError { source_name: source_name.clone(), detail };
    let file: SigmaFile =
        serde_saphyr::from_str(text).map_err(|e| error(format!("not a Sigma rule: {e}")))?;
    let logsource = file.logsource.unwrap_or_default();
    let is_k8s_audit = logsource.product.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("kubernetes"))
        && logsource.service.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("audit"));
    if file.correlation.is_some() {
        if is_k8s_audit {
            return Err(error("correlation rules are not supported: kir evaluates events one by one".into()));
        }
        return Ok(SigmaLoad::OtherLogSource);
    }
    if !is_k8s_audit {
        return Ok(SigmaLoad::OtherLogSource);
    }
    let mut detection = file.detection.ok_or_else(|| error("no `detection` block".into()))?;
    fix_allow_quirk(&mut detection);
    let denied = if names_response_code(&detection) { Denied::Signal } else { Denied::Attempt };
    let detection = Detection::compile(&detection, fields).map_err(&error)?;
    let severity = match file.level.as_deref() {
        Some(level) => level.parse().map_err(&error)?,
        None => Severity::Medium,
    };
    let attack = file
        .tags
        .iter()
        .filter_map(|t| {
            t.strip_prefix("attack.").filter(|t| t.starts_with(['t', 'T'])).map(str::to_uppercase)
        })
        .collect();
    let id = file
        .id
        .unwrap_or_else(|| format!("sigma:{}", path.file_stem().unwrap_or_default().to_string_lossy()));
    Ok(SigmaLoad::Rule(Box::new(Rule {
        meta: RuleMeta {
            id,
            title: file.title,
            description: file.description.unwrap_or_default().trim().to_string(),
            severity,
            attack,
            response: "kir audit timeline {logs} --user {user}".to_string(),
            denied,
            origin: Origin::Sigma(source_name.clone()),
        },
        detection,
        threshold: None,
    })))
}

/// Whether a Sigma detection tests `responseStatus.code` itself: such a rule says which
/// answers it looks for (SigmaHQ's 401/403 rule looks for the denials), so its matches on
/// denied requests are not attempts.
fn names_response_code(detection: &Value) -> bool {
    let Some(map) = detection.as_object() else { return false };
    map.values().any(|selection| {
        let maps: Vec<&serde_json::Map<String, Value>> = match selection {
            Value::Object(m) => vec![m],
            Value::Array(list) => list.iter().filter_map(Value::as_object).collect(),
            _ => Vec::new(),
        };
        maps.iter().any(|m| m.keys().any(|k| k.split('|').next() == Some("responseStatus.code")))
    })
}

/// SigmaHQ's enumeration rule compares `responseStatus.code` (an integer) with the string
/// `ALLOW`, which can never match; what it means is the authorization decision annotation.
fn fix_allow_quirk(detection: &mut Value) {
    let Some(map) = detection.as_object_mut() else { return };
    for (_, selection) in map.iter_mut() {
        let maps: Vec<&mut serde_json::Map<String, Value>> = match selection {
            Value::Object(m) => vec![m],
            Value::Array(list) => list.iter_mut().filter_map(Value::as_object_mut).collect(),
            _ => continue,
        };
        for m in maps {
            if m.get("responseStatus.code")
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case("allow"))
            {
                m.remove("responseStatus.code");
                m.insert("annotations.authorization.k8s.io/decision".into(), Value::String("allow".into()));
            }
        }
    }
}

/// What a finding's response template is filled with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fill<'a> {
    pub user: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    /// The audit logs the finding was read from, as the command line named them.
    pub logs: &'a [String],
}

/// Fill the response template of a finding: `{user}`, `{namespace}`, `{name}`, `{object}`,
/// `{pod}` and `{logs}`. One pass over the template, so a value that holds a placeholder's
/// spelling stays a value.
pub fn fill_response(template: &str, fill: &Fill<'_>) -> String {
    // A name still unknown (or only a generateName prefix) cannot be acted on: leave the
    // placeholder for the responder to fill. The same for a request that named no user.
    let name = if fill.name.is_empty() || fill.name.ends_with('*') { "NAME" } else { fill.name };
    let user = if fill.user.is_empty() { "USER" } else { fill.user };
    let object =
        if fill.namespace.is_empty() { name.to_string() } else { format!("{}/{name}", fill.namespace) };
    let logs = if fill.logs.is_empty() {
        "AUDIT-LOG".to_string()
    } else {
        fill.logs.iter().map(|l| shell_word(l)).collect::<Vec<_>>().join(" ")
    };
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let close = after.find('}').map(|c| c + 1).unwrap_or(after.len());
        // Values come from the log, which an attacker may have shaped: quoted, they can be
        // pasted into a shell as the arguments they are and nothing more.
        match &after[..close] {
            "{user}" => out.push_str(&shell_word(user)),
            "{namespace}" => out.push_str(&shell_word(fill.namespace)),
            "{name}" => out.push_str(&shell_word(name)),
            "{object}" | "{pod}" => out.push_str(&shell_word(&object)),
            "{logs}" => out.push_str(&logs),
            other => out.push_str(other),
        }
        rest = &after[close..];
    }
    out.push_str(rest);
    out
}

/// `text` as one shell word: unchanged when it holds only characters no shell treats
/// specially, else single-quoted.
pub fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod response_tests {
    use super::{Fill, fill_response};

    fn user(user: &str) -> Fill<'_> {
        Fill { user, ..Default::default() }
    }

    #[test]
    fn suggested_commands_quote_what_the_log_supplied() {
        let template = "kir audit timeline {logs} --user {user}";
        assert_eq!(
            fill_response(template, &user("system:serviceaccount:ns:sa")),
            "kir audit timeline AUDIT-LOG --user system:serviceaccount:ns:sa"
        );
        assert_eq!(fill_response(template, &user("")), "kir audit timeline AUDIT-LOG --user USER");
        assert_eq!(
            fill_response(template, &user("eve; rm -rf ~")),
            "kir audit timeline AUDIT-LOG --user 'eve; rm -rf ~'"
        );
        assert_eq!(
            fill_response(template, &user("o'brien")),
            "kir audit timeline AUDIT-LOG --user 'o'\\''brien'"
        );
        let pod = Fill { namespace: "shop", name: "web-1", ..Default::default() };
        assert_eq!(
            fill_response("kir respond compromised-pod {pod}", &pod),
            "kir respond compromised-pod shop/web-1"
        );
    }

    #[test]
    fn the_logs_read_are_named_and_a_value_never_becomes_a_placeholder() {
        let logs = ["/var/log/audit.log".to_string(), "my logs/old.log".to_string()];
        let fill = Fill { user: "{logs}", namespace: "{user}", name: "x", logs: &logs };
        assert_eq!(
            fill_response("kir audit timeline {logs} --user {user} -n {namespace} {unknown}", &fill),
            "kir audit timeline /var/log/audit.log 'my logs/old.log' --user '{logs}' -n '{user}' {unknown}"
        );
        assert_eq!(fill_response("unclosed {user", &fill), "unclosed {user");
    }
}

//! Audit events as rule records: Sigma field names to event fields, with the field mapping
//! real SigmaHQ Kubernetes rules need.

use std::cell::OnceCell;

use kir_audit::Event;
use serde_json::Value;

use crate::{
    detection::{FieldCompiler, Record},
    value::{Val, split_path, walk},
};

/// A field of an audit event, resolved once per rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditField {
    Verb,
    AuditId,
    Stage,
    Level,
    RequestUri,
    UserAgent,
    Username,
    UserUid,
    UserGroups,
    UserExtra(String),
    ImpersonatedUsername,
    ImpersonatedGroups,
    SourceIps,
    Resource,
    Subresource,
    Namespace,
    Name,
    ApiGroup,
    ApiVersion,
    ObjectUid,
    Code,
    StatusReason,
    RequestReceivedTimestamp,
    StageTimestamp,
    Annotation(String),
    /// `requestObject` (empty path: the whole body) or a path inside it.
    RequestObject(Vec<String>),
    ResponseObject(Vec<String>),
    /// Anything else: looked up in the whole record.
    Other(Vec<String>),
    /// Several fields, any of which may match (from the field mapping).
    AnyOf(Vec<AuditField>),
}

/// Field names used by SigmaHQ's Kubernetes rules that are not audit event paths, and what
/// they stand for. Public so the documentation and tests can list it.
pub const SIGMA_FIELD_MAPPING: &[(&str, &[&str])] = &[
    ("apiGroup", &["objectRef.apiGroup"]),
    (
        "hostPath",
        &[
            "requestObject.spec.volumes.hostPath.path",
            "requestObject.spec.template.spec.volumes.hostPath.path",
        ],
    ),
    (
        "capabilities",
        &[
            "requestObject.spec.containers.securityContext.capabilities.add",
            "requestObject.spec.initContainers.securityContext.capabilities.add",
            "requestObject.spec.ephemeralContainers.securityContext.capabilities.add",
            "requestObject.spec.template.spec.containers.securityContext.capabilities.add",
        ],
    ),
];

/// Compiles audit field names; applies [`SIGMA_FIELD_MAPPING`].
pub struct AuditFields;

impl FieldCompiler for AuditFields {
    type Field = AuditField;

    fn compile(&self, name: &str) -> Result<AuditField, String> {
        if name.is_empty() {
            return Err("empty field name".into());
        }
        if let Some((_, targets)) = SIGMA_FIELD_MAPPING.iter().find(|(from, _)| *from == name) {
            let mapped = targets.iter().map(|t| resolve(t)).collect();
            return Ok(AuditField::AnyOf(mapped));
        }
        Ok(resolve(name))
    }

    fn cost(&self, field: &AuditField) -> u8 {
        match field {
            AuditField::RequestObject(_) | AuditField::ResponseObject(_) => 2,
            AuditField::Other(_) => 3,
            AuditField::AnyOf(fields) => fields.iter().map(|f| self.cost(f)).max().unwrap_or(0),
            _ => 0,
        }
    }
}

fn resolve(name: &str) -> AuditField {
    use AuditField::*;
    let known = match name {
        "verb" => Some(Verb),
        "auditID" => Some(AuditId),
        "stage" => Some(Stage),
        "level" => Some(Level),
        "requestURI" => Some(RequestUri),
        "userAgent" => Some(UserAgent),
        "user.username" => Some(Username),
        "user.uid" => Some(UserUid),
        "user.groups" => Some(UserGroups),
        "impersonatedUser.username" => Some(ImpersonatedUsername),
        "impersonatedUser.groups" => Some(ImpersonatedGroups),
        "sourceIPs" => Some(SourceIps),
        "objectRef.resource" => Some(Resource),
        "objectRef.subresource" => Some(Subresource),
        "objectRef.namespace" => Some(Namespace),
        "objectRef.name" => Some(Name),
        "objectRef.apiGroup" => Some(ApiGroup),
        "objectRef.apiVersion" => Some(ApiVersion),
        "objectRef.uid" => Some(ObjectUid),
        "responseStatus.code" => Some(Code),
        "responseStatus.reason" => Some(StatusReason),
        "requestReceivedTimestamp" => Some(RequestReceivedTimestamp),
        "stageTimestamp" => Some(StageTimestamp),
        "requestObject" => Some(RequestObject(Vec::new())),
        "responseObject" => Some(ResponseObject(Vec::new())),
        _ => None,
    };
    if let Some(field) = known {
        return field;
    }
    // Annotation and extra keys contain dots themselves: the rest of the name is the key.
    if let Some(key) = name.strip_prefix("annotations.") {
        return Annotation(key.to_string());
    }
    if let Some(key) = name.strip_prefix("user.extra.") {
        return UserExtra(key.to_string());
    }
    if let Some(path) = name.strip_prefix("requestObject.") {
        return RequestObject(split_path(path));
    }
    if let Some(path) = name.strip_prefix("responseObject.") {
        return ResponseObject(split_path(path));
    }
    Other(split_path(name))
}

/// One audit event under evaluation; request and response bodies are parsed at most once, and
/// only if a rule looks inside them.
pub struct AuditRecord<'e, 'a> {
    pub event: &'e Event<'a>,
    raw: Option<&'e str>,
    request: OnceCell<Option<Value>>,
    response: OnceCell<Option<Value>>,
    whole: OnceCell<Value>,
    text: OnceCell<String>,
}

impl<'e, 'a> AuditRecord<'e, 'a> {
    pub fn new(event: &'e Event<'a>, raw: Option<&'e str>) -> AuditRecord<'e, 'a> {
        AuditRecord {
            event,
            raw,
            request: OnceCell::new(),
            response: OnceCell::new(),
            whole: OnceCell::new(),
            text: OnceCell::new(),
        }
    }

    fn whole(&self) -> &Value {
        self.whole.get_or_init(|| match self.raw {
            Some(raw) => kir_audit::json::value(raw).unwrap_or(Value::Null),
            None => serde_json::to_value(self.event).unwrap_or(Value::Null),
        })
    }

    fn visit_field(&self, field: &AuditField, visit: &mut dyn FnMut(Val<'_>) -> bool) -> bool {
        let e = self.event;
        let text = |s: &str, visit: &mut dyn FnMut(Val<'_>) -> bool| !s.is_empty() && visit(Val::Str(s));
        match field {
            AuditField::Verb => text(&e.verb, visit),
            AuditField::AuditId => text(&e.audit_id, visit),
            AuditField::Stage => text(&e.stage, visit),
            AuditField::Level => text(&e.level, visit),
            AuditField::RequestUri => text(&e.request_uri, visit),
            AuditField::UserAgent => text(&e.user_agent, visit),
            AuditField::Username => text(&e.user.username, visit),
            AuditField::UserUid => text(&e.user.uid, visit),
            AuditField::UserGroups => e.user.groups.iter().any(|g| visit(Val::Str(g))),
            AuditField::UserExtra(key) => {
                e.user.extra.get(key).is_some_and(|values| values.iter().any(|v| visit(Val::Str(v))))
            }
            AuditField::ImpersonatedUsername => {
                e.impersonated_user.as_ref().is_some_and(|u| text(&u.username, visit))
            }
            AuditField::ImpersonatedGroups => {
                e.impersonated_user.as_ref().is_some_and(|u| u.groups.iter().any(|g| visit(Val::Str(g))))
            }
            AuditField::SourceIps => e.source_ips.iter().any(|ip| visit(Val::Str(ip))),
            AuditField::Resource => text(e.resource(), visit),
            AuditField::Subresource => text(e.subresource(), visit),
            AuditField::Namespace => text(e.namespace(), visit),
            AuditField::Name => text(e.name(), visit),
            AuditField::ApiGroup => {
                // The core group is "" in events; rules write it as "" too, so keep it visible.
                e.object_ref.as_ref().is_some_and(|o| visit(Val::Str(&o.api_group)))
            }
            AuditField::ApiVersion => e.object_ref.as_ref().is_some_and(|o| text(&o.api_version, visit)),
            AuditField::ObjectUid => e.object_ref.as_ref().is_some_and(|o| text(&o.uid, visit)),
            AuditField::Code => e.code().is_some_and(|c| visit(Val::Int(c))),
            AuditField::StatusReason => e.response_status.as_ref().is_some_and(|s| text(&s.reason, visit)),
            AuditField::RequestReceivedTimestamp => text(&e.request_received_timestamp, visit),
            AuditField::StageTimestamp => text(&e.stage_timestamp, visit),
            AuditField::Annotation(key) => e.annotation(key).is_some_and(|v| visit(Val::Str(v))),
            AuditField::RequestObject(path) => {
                body(e.request_object.map(|r| r.get()), &self.request, path, visit)
            }
            AuditField::ResponseObject(path) => {
                body(e.response_object.map(|r| r.get()), &self.response, path, visit)
            }
            AuditField::Other(path) => walk(self.whole(), path, visit),
            AuditField::AnyOf(fields) => fields.iter().any(|f| self.visit_field(f, visit)),
        }
    }
}

fn body(
    raw: Option<&str>,
    cache: &OnceCell<Option<Value>>,
    path: &[String],
    visit: &mut dyn FnMut(Val<'_>) -> bool,
) -> bool {
    let Some(raw) = raw else { return false };
    if path.is_empty() {
        return visit(Val::RawJson(raw));
    }
    // Read to any depth: a deep sibling must not hide the fields rules look at.
    match cache.get_or_init(|| kir_audit::json::value(raw).ok()) {
        Some(value) => walk(value, path, visit),
        None => false,
    }
}

impl Record for AuditRecord<'_, '_> {
    type Field = AuditField;

    fn visit(&self, field: &AuditField, visit: &mut dyn FnMut(Val<'_>) -> bool) -> bool {
        self.visit_field(field, visit)
    }

    fn text(&self) -> &str {
        match self.raw {
            Some(raw) => raw,
            None => self.text.get_or_init(|| serde_json::to_string(self.event).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detection::Detection;

    fn matches(detection_yaml: &str, event_json: &str) -> bool {
        let value: Value = serde_saphyr::from_str(detection_yaml).unwrap();
        let detection = Detection::compile(&value, &AuditFields).unwrap();
        let event: Event<'_> = serde_json::from_str(event_json).unwrap();
        detection.matches(&AuditRecord::new(&event, Some(event_json)))
    }

    const POD: &str = r#"{"auditID":"1","verb":"create","objectRef":{"resource":"pods","namespace":"ns","apiGroup":""},"annotations":{"authorization.k8s.io/decision":"allow"},"requestObject":{"spec":{"volumes":[{"name":"h","hostPath":{"path":"/etc"}}],"containers":[{"name":"c","securityContext":{"capabilities":{"add":["SYS_ADMIN"]}}}]}}}"#;

    #[test]
    fn sigma_pseudo_fields_and_dotted_annotations_resolve() {
        assert!(matches("s: {verb: create, hostPath: '*'}\ncondition: s", POD));
        assert!(matches("s: {capabilities: SYS_ADMIN}\ncondition: s", POD));
        assert!(matches("s: {apiGroup: ''}\ncondition: s", POD));
        assert!(matches("s: {annotations.authorization.k8s.io/decision: allow}\ncondition: s", POD));
        assert!(matches("s: {requestObject.spec.volumes.hostPath.path|startswith: /et}\ncondition: s", POD));
        assert!(matches("s: {requestObject|contains: SYS_ADMIN}\ncondition: s", POD));
        assert!(!matches("s: {objectRef.subresource: exec}\ncondition: s", POD));
        assert!(matches("s: {objectRef.subresource: null}\ncondition: s", POD));
        assert!(matches("s: {kind|exists: false}\ncondition: s", POD), "unknown fields read the whole event");
    }
}

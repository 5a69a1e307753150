//! One record of input (a line, or a whole JSON document) to the audit events it holds.
//!
//! A record may be a plain Event, an EventList (webhook batch), a JSON array of events, a GKE
//! Cloud Logging entry (`protoPayload`), an AKS diagnostic record (`properties.log` as an object
//! or as a JSON string), or a CloudWatch record (`message` / `@message`, or a subscription
//! batch with `logEvents[]`). The shape is detected per record, so mixed files work.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    event::{Event, ObjectRef, Pairs, ResponseStatus, UserInfo},
    scan::SkipReason,
    text::Text,
};

/// Which shape a record had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Event,
    EventList,
    Gke,
    Aks,
    CloudWatch,
}

/// What a record that yields no event was.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The JSON ended early: a line cut off by rotation, a full disk or a size limit.
    #[error("truncated JSON: {0}")]
    Truncated(String),
    /// Not JSON, or JSON of the wrong types.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// Valid JSON, but no audit event in any known shape.
    #[error("not an audit event (no auditID/verb and no known envelope: {0})")]
    NotAudit(&'static str),
}

impl DecodeError {
    /// What is wrong, without the kind (which the skip reason already says).
    pub fn detail(&self) -> String {
        match self {
            DecodeError::Truncated(d) | DecodeError::Malformed(d) => d.clone(),
            DecodeError::NotAudit(d) => format!("no auditID/verb and no known envelope ({d})"),
        }
    }

    /// How the scan report counts a record (or batch item) that failed so.
    pub fn reason(&self) -> SkipReason {
        match self {
            DecodeError::Truncated(_) => SkipReason::Truncated,
            DecodeError::Malformed(_) => SkipReason::Malformed,
            DecodeError::NotAudit(_) => SkipReason::NotAuditEvent,
        }
    }

    fn from_json(error: serde_json::Error) -> DecodeError {
        if error.is_eof() {
            DecodeError::Truncated(error.to_string())
        } else {
            DecodeError::Malformed(error.to_string())
        }
    }
}

/// What one record held.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Events handed to the sink.
    pub events: usize,
    /// Items of a batch (EventList, JSON array, CloudWatch `logEvents`) that held no event, by
    /// reason. One bad item does not cost the batch: its other items are read.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// The first [`MAX_ITEM_EXAMPLES`] of those items.
    pub examples: Vec<ItemSkip>,
}

/// How many skipped batch items one record reports with their position.
pub const MAX_ITEM_EXAMPLES: usize = 5;

/// A batch item without an event.
#[derive(Debug)]
pub struct ItemSkip {
    /// Position in its batch counted from 0, as jq's `.items[N]`; positions in nested batches
    /// are joined with dots (`1.4` is item 4 of the batch that is item 1).
    pub item: String,
    /// Byte offset of the item in the record, when the item is text of the record itself
    /// rather than of a JSON string inside it (an AKS or CloudWatch message).
    pub offset: Option<usize>,
    pub error: DecodeError,
}

/// Envelopes nest (a CloudWatch message holding an AKS record is possible in theory); hostile
/// input could nest strings in strings forever, so stop here.
const MAX_NESTING: usize = 4;

/// Decode `text` and hand every event in it to `sink`, with the event's own JSON text when it
/// has one (GKE entries are converted, so they have none). An error means the record held no
/// event at all; batch items without an event are counted in [`Decoded::skipped`] instead.
pub fn decode(
    text: &str,
    sink: &mut dyn FnMut(&Event<'_>, Option<&str>, Format),
) -> Result<Decoded, DecodeError> {
    let mut decoder = Decoder { record: text, sink, path: Vec::new(), decoded: Decoded::default() };
    decoder.nested(text, 0, None)?;
    Ok(decoder.decoded)
}

struct Decoder<'r, 's> {
    record: &'r str,
    sink: &'s mut dyn FnMut(&Event<'_>, Option<&str>, Format),
    /// Positions of the batch items being decoded, outermost first.
    path: Vec<usize>,
    decoded: Decoded,
}

impl Decoder<'_, '_> {
    fn emit(&mut self, event: &Event<'_>, raw: Option<&str>, format: Format) {
        (self.sink)(event, raw, format);
        self.decoded.events += 1;
    }

    fn nested(&mut self, text: &str, depth: usize, outer: Option<Format>) -> Result<(), DecodeError> {
        if depth > MAX_NESTING {
            return Err(DecodeError::NotAudit("envelopes nested too deeply"));
        }
        let trimmed = text.trim_start();
        if trimmed.starts_with('[') {
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(DecodeError::from_json)?;
            self.items(&items, depth, outer.unwrap_or(Format::EventList));
            return Ok(());
        }
        if trimmed.starts_with('"') {
            // A JSON string holding JSON: AKS `properties.log`, CloudWatch `message`.
            let inner: String = serde_json::from_str(text).map_err(DecodeError::from_json)?;
            return self.nested(&inner, depth + 1, outer);
        }
        let event: Event<'_> = serde_json::from_str(text).map_err(DecodeError::from_json)?;
        if event.looks_like_event() {
            self.emit(&event, Some(text), outer.unwrap_or(Format::Event));
            return Ok(());
        }
        if let Some(items) = event.items {
            let items: Vec<&RawValue> = serde_json::from_str(items.get()).map_err(DecodeError::from_json)?;
            self.items(&items, depth, outer.unwrap_or(Format::EventList));
            return Ok(());
        }
        if event.proto_payload.is_some() {
            let entry: GkeEntry<'_> = serde_json::from_str(text).map_err(DecodeError::from_json)?;
            self.emit(&entry.into_event(), None, Format::Gke);
            return Ok(());
        }
        if let Some(properties) = event.properties {
            let properties: AksProperties<'_> =
                serde_json::from_str(properties.get()).map_err(DecodeError::from_json)?;
            return match properties.log {
                Some(log) => self.nested(log.get(), depth + 1, Some(Format::Aks)),
                None => Err(DecodeError::NotAudit("`properties` without `log`")),
            };
        }
        if let Some(log_events) = event.log_events {
            let records: Vec<&RawValue> =
                serde_json::from_str(log_events.get()).map_err(DecodeError::from_json)?;
            for (index, record) in records.iter().enumerate() {
                self.item(index, record.get(), |decoder, text| {
                    let record: CloudWatchEvent<'_> =
                        serde_json::from_str(text).map_err(DecodeError::from_json)?;
                    match record.message {
                        Some(message) => decoder.nested(message.get(), depth + 1, Some(Format::CloudWatch)),
                        None => Err(DecodeError::NotAudit("CloudWatch log event without `message`")),
                    }
                });
            }
            return Ok(());
        }
        if let Some(message) = event.message.or(event.at_message) {
            return self.nested(message.get(), depth + 1, Some(Format::CloudWatch));
        }
        Err(DecodeError::NotAudit(if event.kind.is_empty() { "unknown object" } else { "unknown kind" }))
    }

    fn items(&mut self, items: &[&RawValue], depth: usize, format: Format) {
        for (index, item) in items.iter().enumerate() {
            self.item(index, item.get(), |decoder, text| decoder.nested(text, depth + 1, Some(format)));
        }
    }

    /// Decode one batch item; an item without an event is counted, and the batch goes on.
    fn item(
        &mut self,
        index: usize,
        text: &str,
        decode: impl FnOnce(&mut Self, &str) -> Result<(), DecodeError>,
    ) {
        self.path.push(index);
        if let Err(error) = decode(self, text) {
            *self.decoded.skipped.entry(error.reason()).or_default() += 1;
            if self.decoded.examples.len() < MAX_ITEM_EXAMPLES {
                let item = self.path.iter().map(usize::to_string).collect::<Vec<_>>().join(".");
                self.decoded.examples.push(ItemSkip { item, offset: offset_in(self.record, text), error });
            }
        }
        self.path.pop();
    }
}

/// Where `part` starts in `whole`, when it is a slice of it.
fn offset_in(whole: &str, part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start + part.len() <= whole.len()).then_some(start)
}

#[derive(Deserialize)]
struct AksProperties<'a> {
    #[serde(borrow)]
    log: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CloudWatchEvent<'a> {
    #[serde(borrow)]
    message: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GkeEntry<'a> {
    #[serde(borrow, default)]
    proto_payload: GkePayload<'a>,
    #[serde(borrow, default)]
    timestamp: Text<'a>,
    #[serde(borrow, default)]
    insert_id: Text<'a>,
    #[serde(borrow, default)]
    labels: Pairs<'a, Text<'a>>,
    #[serde(borrow, default)]
    operation: Option<GkeOperation<'a>>,
}

#[derive(Deserialize, Default)]
struct GkeOperation<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GkePayload<'a> {
    #[serde(borrow, default)]
    authentication_info: GkeAuthentication<'a>,
    #[serde(default)]
    authorization_info: Vec<GkeAuthorization>,
    #[serde(borrow, default)]
    method_name: Text<'a>,
    #[serde(borrow, default)]
    resource_name: Text<'a>,
    #[serde(borrow, default)]
    request_metadata: GkeRequestMetadata<'a>,
    #[serde(borrow, default)]
    status: Option<GkeStatus<'a>>,
    #[serde(borrow, default)]
    request: Option<&'a RawValue>,
    #[serde(borrow, default)]
    response: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GkeAuthentication<'a> {
    #[serde(borrow, default)]
    principal_email: Text<'a>,
    /// Callers of a third-party identity (workforce or workload identity federation) have this
    /// instead of an email.
    #[serde(borrow, default)]
    principal_subject: Text<'a>,
    /// The authority the caller asked to act with; not proof that it was allowed to.
    #[serde(borrow, default)]
    authority_selector: Text<'a>,
}

/// One permission checked for the request. Protobuf's JSON leaves `false` out: an item
/// without `granted` was denied.
#[derive(Deserialize, Default)]
struct GkeAuthorization {
    #[serde(default)]
    granted: bool,
}

/// The caller's address is `callerIp` in Cloud Logging's JSON; exported samples also spell it
/// `callerIP`, and `caller_ip` is the protobuf field's own name, which JSON readers of protobuf
/// accept too. Three fields rather than aliases: a record with two spellings still reads.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GkeRequestMetadata<'a> {
    #[serde(borrow, default)]
    caller_ip: Text<'a>,
    #[serde(rename = "callerIP", borrow, default)]
    caller_ip_upper: Text<'a>,
    #[serde(rename = "caller_ip", borrow, default)]
    caller_ip_snake: Text<'a>,
    #[serde(borrow, default)]
    caller_supplied_user_agent: Text<'a>,
}

impl<'a> GkeRequestMetadata<'a> {
    fn caller(&self) -> Option<Text<'a>> {
        [&self.caller_ip, &self.caller_ip_upper, &self.caller_ip_snake]
            .into_iter()
            .find(|ip| !ip.is_empty())
            .cloned()
    }
}

#[derive(Deserialize, Default)]
struct GkeStatus<'a> {
    #[serde(default)]
    code: Option<i64>,
    #[serde(borrow, default)]
    message: Text<'a>,
}

/// The annotation the API server writes with its authorization decision.
const DECISION_KEY: &str = "authorization.k8s.io/decision";

impl<'a> GkeEntry<'a> {
    fn into_event(self) -> Event<'a> {
        let payload = self.proto_payload;
        let authentication = payload.authentication_info;
        let checked = &payload.authorization_info;
        let denied = checked.iter().any(|a| !a.granted);
        let mut annotations = self.labels;
        // The API server's own annotation (in `labels`) when the entry has it; else the
        // decision from the permissions checked: denied if any was.
        if annotations.get(DECISION_KEY).is_none() && !checked.is_empty() {
            let decision = if denied { "forbid" } else { "allow" };
            annotations.0.push((Text::borrowed(DECISION_KEY), Text::borrowed(decision)));
        }
        let status_code = payload.status.as_ref().and_then(|s| s.code);
        let code = match status_code {
            Some(code) => grpc_to_http(code),
            None if denied => 403,
            None => 200,
        };
        let mut extra = Vec::new();
        let (username, subject) = if authentication.principal_email.is_empty() {
            (authentication.principal_subject, Text::default())
        } else {
            (authentication.principal_email, authentication.principal_subject)
        };
        if !subject.is_empty() {
            extra.push((Text::borrowed("authenticationInfo.principalSubject"), vec![subject]));
        }
        if !authentication.authority_selector.is_empty() {
            extra.push((
                Text::borrowed("authenticationInfo.authoritySelector"),
                vec![authentication.authority_selector],
            ));
        }
        let method = MethodName::parse(&payload.method_name);
        let path = ResourcePath::parse(&payload.resource_name);
        let audit_id = match self.operation {
            Some(op) if !op.id.is_empty() => op.id,
            _ => self.insert_id,
        };
        let object_ref = (!method.resource.is_empty()).then(|| ObjectRef {
            resource: Text::owned(method.resource.clone()),
            subresource: Text::owned(method.subresource.clone()),
            api_group: Text::owned(method.group.clone()),
            api_version: Text::owned(method.version.clone()),
            namespace: Text::owned(path.namespace.clone()),
            name: Text::owned(path.name.clone()),
            ..ObjectRef::default()
        });
        Event {
            level: Text::default(),
            audit_id,
            stage: Text::borrowed("ResponseComplete"),
            request_uri: Text::owned(path.request_uri(&payload.resource_name)),
            verb: Text::owned(method.verb),
            user: UserInfo { username, extra: Pairs(extra), ..UserInfo::default() },
            source_ips: payload.request_metadata.caller().into_iter().collect(),
            user_agent: payload.request_metadata.caller_supplied_user_agent,
            object_ref,
            response_status: Some(ResponseStatus {
                code: Some(code),
                reason: payload.status.map(|s| s.message).unwrap_or_default(),
                status: Text::default(),
            }),
            request_object: payload.request,
            response_object: payload.response,
            request_received_timestamp: self.timestamp.clone(),
            stage_timestamp: self.timestamp,
            annotations,
            ..Event::default()
        }
    }
}

/// `io.k8s.core.v1.pods.exec.create` → group "", version v1, resource pods, subresource exec,
/// verb create. `io.k8s.get` (non-resource URLs) has a verb only.
#[derive(Debug, Default, PartialEq)]
struct MethodName {
    group: String,
    version: String,
    resource: String,
    subresource: String,
    verb: String,
}

impl MethodName {
    fn parse(method: &str) -> MethodName {
        let parts: Vec<&str> = method.split('.').collect();
        let Some((verb, rest)) = parts.split_last() else { return MethodName::default() };
        let rest = rest.strip_prefix(&["io", "k8s"]).unwrap_or(rest);
        let Some(version_at) = rest.iter().position(|p| is_api_version(p)) else {
            return MethodName { verb: verb.to_string(), ..MethodName::default() };
        };
        let group_parts = &rest[..version_at];
        let group = match group_parts {
            [] | ["core"] => String::new(),
            [single] if ["apps", "batch", "autoscaling", "policy", "extensions"].contains(single) => {
                single.to_string()
            }
            parts => {
                let reversed: Vec<&str> = parts.iter().rev().copied().collect();
                format!("{}.k8s.io", reversed.join("."))
            }
        };
        let after = &rest[version_at + 1..];
        MethodName {
            group,
            version: rest[version_at].to_string(),
            resource: after.first().map(|s| s.to_string()).unwrap_or_default(),
            subresource: after.get(1).map(|s| s.to_string()).unwrap_or_default(),
            verb: verb.to_string(),
        }
    }
}

fn is_api_version(part: &str) -> bool {
    let Some(rest) = part.strip_prefix('v') else { return false };
    rest.starts_with(|c: char| c.is_ascii_digit()) && rest.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `core/v1/namespaces/default/pods/my-pod` or `apps/v1/namespaces/ns/deployments/web`.
#[derive(Debug, Default)]
struct ResourcePath {
    namespace: String,
    name: String,
}

impl ResourcePath {
    fn parse(resource_name: &str) -> ResourcePath {
        let parts: Vec<&str> = resource_name.split('/').collect();
        let mut path = ResourcePath::default();
        if let Some(at) = parts.iter().position(|p| *p == "namespaces") {
            path.namespace = parts.get(at + 1).map(|s| s.to_string()).unwrap_or_default();
            path.name = parts.get(at + 3).map(|s| s.to_string()).unwrap_or_default();
            if parts.len() == at + 2 {
                // The namespace object itself: namespaces/NAME.
                path.name = std::mem::take(&mut path.namespace);
            }
        } else if parts.len() >= 4 {
            path.name = parts[3].to_string();
        }
        path
    }

    fn request_uri(&self, resource_name: &str) -> String {
        match resource_name.split_once('/') {
            Some(("core", rest)) => format!("/api/{rest}"),
            Some(_) => format!("/apis/{resource_name}"),
            None => format!("/{resource_name}"),
        }
    }
}

/// GKE records gRPC status codes; the rest of kir speaks HTTP.
fn grpc_to_http(code: i64) -> i64 {
    match code {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(text: &str) -> Result<Vec<(String, String, Format, bool)>, DecodeError> {
        let mut seen = Vec::new();
        decode(text, &mut |event, raw, format| {
            seen.push((event.audit_id.to_string(), event.verb.to_string(), format, raw.is_some()))
        })?;
        Ok(seen)
    }

    #[test]
    fn method_names_split_into_group_version_resource_verb() {
        let m = MethodName::parse("io.k8s.core.v1.pods.exec.create");
        assert_eq!((m.group.as_str(), m.version.as_str(), m.resource.as_str()), ("", "v1", "pods"));
        assert_eq!((m.subresource.as_str(), m.verb.as_str()), ("exec", "create"));
        let m = MethodName::parse("io.k8s.authorization.rbac.v1.clusterrolebindings.create");
        assert_eq!(m.group, "rbac.authorization.k8s.io");
        assert_eq!(MethodName::parse("io.k8s.apps.v1.deployments.patch").group, "apps");
        let m = MethodName::parse("io.k8s.get");
        assert_eq!((m.verb.as_str(), m.resource.as_str()), ("get", ""));
    }

    #[test]
    fn resource_names_give_namespace_and_name() {
        let p = ResourcePath::parse("core/v1/namespaces/default/pods/my-pod");
        assert_eq!((p.namespace.as_str(), p.name.as_str()), ("default", "my-pod"));
        assert_eq!(
            p.request_uri("core/v1/namespaces/default/pods/my-pod"),
            "/api/v1/namespaces/default/pods/my-pod"
        );
        let p = ResourcePath::parse("core/v1/namespaces/prod");
        assert_eq!((p.namespace.as_str(), p.name.as_str()), ("", "prod"));
    }

    #[test]
    fn every_envelope_yields_its_event() {
        let event = r#"{"auditID":"a1","verb":"get","requestURI":"/api","user":{"username":"u"}}"#;
        assert_eq!(decode_all(event).unwrap(), vec![("a1".into(), "get".into(), Format::Event, true)]);
        let list = format!(r#"{{"kind":"EventList","items":[{event},{event}]}}"#);
        assert_eq!(decode_all(&list).unwrap().len(), 2);
        let array = format!("[{event}]");
        assert_eq!(decode_all(&array).unwrap()[0].2, Format::EventList);
        let aks_object = format!(r#"{{"category":"kube-audit","properties":{{"log":{event}}}}}"#);
        assert_eq!(decode_all(&aks_object).unwrap()[0].2, Format::Aks);
        let escaped = serde_json::to_string(event).unwrap();
        let aks_string = format!(r#"{{"category":"kube-audit","properties":{{"log":{escaped}}}}}"#);
        assert_eq!(decode_all(&aks_string).unwrap(), vec![("a1".into(), "get".into(), Format::Aks, true)]);
        let cloudwatch =
            format!(r#"{{"messageType":"DATA_MESSAGE","logEvents":[{{"id":"1","message":{escaped}}}]}}"#);
        assert_eq!(decode_all(&cloudwatch).unwrap()[0].2, Format::CloudWatch);
        let insights = format!(r#"{{"@timestamp":"x","@message":{escaped}}}"#);
        assert_eq!(decode_all(&insights).unwrap()[0].2, Format::CloudWatch);
        let gke = r#"{"protoPayload":{"methodName":"io.k8s.core.v1.secrets.list","authenticationInfo":{"principalEmail":"me@x"},"status":{"code":7}},"insertId":"i1","timestamp":"2025-01-01T00:00:00Z"}"#;
        let mut seen = None;
        decode(gke, &mut |e, raw, f| {
            seen = Some((e.user.username.to_string(), e.resource().to_string(), e.code(), raw.is_none(), f))
        })
        .unwrap();
        assert_eq!(seen, Some(("me@x".into(), "secrets".into(), Some(403), true, Format::Gke)));
    }

    /// Identity from `principalEmail` or `principalSubject` (with `authoritySelector` kept), the
    /// decision from `authorizationInfo[].granted`, the caller in every spelling.
    #[test]
    fn gke_entries_give_identity_decision_and_caller() {
        let entry = |auth: &str, authz: &str, metadata: &str, labels: &str, status: &str| {
            format!(
                r#"{{"protoPayload":{{"methodName":"io.k8s.core.v1.secrets.get","resourceName":"core/v1/namespaces/prod/secrets/db","authenticationInfo":{{{auth}}},"authorizationInfo":[{authz}],"requestMetadata":{{{metadata}}}{status}}},"labels":{{{labels}}},"insertId":"i1","timestamp":"2026-11-27T10:00:00Z"}}"#
            )
        };
        let read = |text: String| {
            let mut seen = None;
            decode(&text, &mut |e, _, _| {
                let extra = |key: &str| e.user.extra.get(key).map(|v| v[0].to_string());
                seen = Some((
                    e.user.username.to_string(),
                    extra("authenticationInfo.principalSubject"),
                    extra("authenticationInfo.authoritySelector"),
                    e.annotation(DECISION_KEY).map(str::to_string),
                    e.code(),
                    e.peer().to_string(),
                ))
            })
            .unwrap();
            seen.unwrap()
        };
        let subject = "principal://iam.googleapis.com/locations/global/workforcePools/p/subject/mallory";
        let seen = read(entry(
            &format!(r#""principalSubject":"{subject}","authoritySelector":"admin@x""#),
            r#"{"permission":"io.k8s.core.v1.secrets.get","resource":"core/v1/namespaces/prod/secrets/db"}"#,
            r#""callerIP":"203.0.113.9""#,
            "",
            "",
        ));
        assert_eq!(
            seen,
            (
                subject.into(),
                None,
                Some("admin@x".into()),
                Some("forbid".into()),
                Some(403),
                "203.0.113.9".into()
            )
        );
        let seen = read(entry(
            &format!(r#""principalEmail":"me@x","principalSubject":"{subject}""#),
            r#"{"granted":true},{"granted":true}"#,
            r#""caller_ip":"198.51.100.4""#,
            "",
            r#","status":{}"#,
        ));
        assert_eq!(
            seen,
            (
                "me@x".into(),
                Some(subject.into()),
                None,
                Some("allow".into()),
                Some(200),
                "198.51.100.4".into()
            )
        );
        // The API server's own annotation wins; the documented spelling wins over the others.
        let seen = read(entry(
            r#""principalEmail":"me@x""#,
            r#"{"granted":false}"#,
            r#""callerIP":"10.0.0.2","callerIp":"10.0.0.1""#,
            r#""authorization.k8s.io/decision":"allow""#,
            r#","status":{"code":0}"#,
        ));
        assert_eq!((seen.3.as_deref(), seen.4, seen.5.as_str()), (Some("allow"), Some(200), "10.0.0.1"));
    }

    #[test]
    fn a_bad_batch_item_is_skipped_alone_with_its_position() {
        let event = |id: &str| format!(r#"{{"auditID":"{id}","verb":"get","requestURI":"/api"}}"#);
        let list = format!(r#"{{"kind":"EventList","items":[{},{{"foo":1}},{}]}}"#, event("a1"), event("a3"));
        let mut ids = Vec::new();
        let decoded = decode(&list, &mut |e, _, _| ids.push(e.audit_id.to_string())).unwrap();
        assert_eq!(ids, ["a1", "a3"], "the items after the bad one are read");
        assert_eq!((decoded.events, decoded.skipped[&SkipReason::NotAuditEvent]), (2, 1));
        let skip = &decoded.examples[0];
        assert_eq!(skip.item, "1");
        assert_eq!(&list[skip.offset.unwrap()..][..9], r#"{"foo":1}"#, "the offset points at the item");

        // Wrong types in one item, and a batch nested in a batch; a CloudWatch batch whose
        // message is a JSON string has no offset in the record for its items.
        let array = format!(r#"[{{"auditID":5}},[{},"x"],{}]"#, event("b1"), event("b2"));
        let mut ids = Vec::new();
        let decoded = decode(&array, &mut |e, _, _| ids.push(e.audit_id.to_string())).unwrap();
        assert_eq!(ids, ["b1", "b2"]);
        let items: Vec<(&str, SkipReason)> =
            decoded.examples.iter().map(|s| (s.item.as_str(), s.error.reason())).collect();
        assert_eq!(items, [("0", SkipReason::Malformed), ("1.1", SkipReason::Malformed)]);
        let escaped = serde_json::to_string(&format!("[{},{{}}]", event("c1"))).unwrap();
        let cloudwatch = format!(r#"{{"logEvents":[{{"message":{escaped}}},{{"id":"2"}}]}}"#);
        let decoded = decode(&cloudwatch, &mut |_, _, _| {}).unwrap();
        assert_eq!(decoded.events, 1);
        let items: Vec<(&str, Option<usize>)> =
            decoded.examples.iter().map(|s| (s.item.as_str(), s.offset)).collect();
        assert_eq!(items, [("0.1", None), ("1", Some(cloudwatch.find(r#"{"id""#).unwrap()))]);
    }

    #[test]
    fn bad_records_say_what_is_wrong() {
        assert!(matches!(decode_all(r#"{"auditID":"a","verb":"#), Err(DecodeError::Truncated(_))));
        assert!(matches!(decode_all("not json"), Err(DecodeError::Malformed(_))));
        assert!(matches!(decode_all(r#"{"hello":"world"}"#), Err(DecodeError::NotAudit(_))));
        assert!(matches!(decode_all(r#"{"auditID":5}"#), Err(DecodeError::Malformed(_))));
        let deep =
            (0..10).fold(r#"{"auditID":"a"}"#.to_string(), |acc, _| serde_json::to_string(&acc).unwrap());
        assert!(matches!(decode_all(&deep), Err(DecodeError::NotAudit(_))));
    }
}

//! `kir audit timeline --user U` or `--credential-id ID`: what one user or credential did, the
//! actions that matter first.

use serde::Serialize;

use crate::{
    credential::{TokenNote, token_notes},
    event::Event,
};

/// How much an action matters to a responder reviewing a stolen credential (step S3), most
/// important first. The order of the variants is the order of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Role bindings created or changed: the credential granted itself (or others) power.
    BindingWritten,
    /// Roles, service accounts, tokens, CSRs, webhooks written: more persistence and power.
    PrivilegeWritten,
    /// Exec, attach, port-forward, ephemeral containers: hands inside workloads.
    PodAccess,
    /// Secrets read: what else may now be compromised.
    SecretRead,
    /// Pods and workload controllers created.
    WorkloadCreated,
    /// Any other create, update, patch or delete.
    OtherWrite,
    /// Requests the API server refused (401/403): probing.
    Denied,
    /// Everything else: reads.
    Read,
}

impl Category {
    pub fn title(self) -> &'static str {
        match self {
            Category::BindingWritten => "role bindings written",
            Category::PrivilegeWritten => "roles, accounts, tokens, certificates, webhooks written",
            Category::PodAccess => "exec, attach, port-forward into pods",
            Category::SecretRead => "secrets read",
            Category::WorkloadCreated => "pods and workloads created",
            Category::OtherWrite => "other writes",
            Category::Denied => "denied requests",
            Category::Read => "reads",
        }
    }

    pub fn of(event: &Event<'_>) -> Category {
        let verb = event.verb.as_str();
        let write = matches!(verb, "create" | "update" | "patch" | "delete" | "deletecollection");
        let resource = event.resource();
        let sub = event.subresource();
        if matches!(event.code(), Some(401 | 403)) {
            return Category::Denied;
        }
        if resource == "pods" && matches!(sub, "exec" | "attach" | "portforward" | "ephemeralcontainers") {
            return Category::PodAccess;
        }
        if write && matches!(resource, "rolebindings" | "clusterrolebindings") {
            return Category::BindingWritten;
        }
        if write
            && (matches!(
                resource,
                "roles"
                    | "clusterroles"
                    | "serviceaccounts"
                    | "certificatesigningrequests"
                    | "mutatingwebhookconfigurations"
                    | "validatingwebhookconfigurations"
                    | "validatingadmissionpolicies"
                    | "validatingadmissionpolicybindings"
            ) || (resource == "secrets" && verb != "delete"))
        {
            return Category::PrivilegeWritten;
        }
        if resource == "secrets" && matches!(verb, "get" | "list" | "watch") {
            return Category::SecretRead;
        }
        if verb == "create"
            && sub.is_empty()
            && matches!(
                resource,
                "pods" | "deployments" | "daemonsets" | "statefulsets" | "replicasets" | "jobs" | "cronjobs"
            )
        {
            return Category::WorkloadCreated;
        }
        if write { Category::OtherWrite } else { Category::Read }
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub category: Category,
    pub time: String,
    pub user: String,
    pub verb: String,
    pub resource: String,
    pub object: String,
    pub code: Option<i64>,
    pub source_ips: Vec<String>,
    pub user_agent: String,
    #[serde(rename = "auditID")]
    pub audit_id: String,
    /// The credential id the request authenticated with, when the API server recorded one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// What the API server noted of the service-account token used: stale, legacy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub token_markers: Vec<TokenNote>,
    /// A case's journal accounts for the request as kir's own (see [`crate::footprint`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub responder: bool,
}

/// The longest credential id or annotation value an entry keeps, in characters: real ones are
/// far shorter, and a forged log must not flood the report.
const LONGEST_KEPT: usize = 256;

fn clipped(text: &str) -> String {
    match text.char_indices().nth(LONGEST_KEPT) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} more bytes)", &text[..cut], text.len() - cut),
    }
}

impl Entry {
    pub fn of(event: &Event<'_>) -> Entry {
        Entry {
            responder: false,
            category: Category::of(event),
            time: event.time_text().to_string(),
            user: event.effective_user().to_string(),
            verb: event.verb.to_string(),
            resource: event.resource_path(),
            object: event.object_display(),
            code: event.code(),
            source_ips: event.source_ips.iter().map(|s| s.to_string()).collect(),
            user_agent: event.user_agent.to_string(),
            audit_id: event.audit_id.to_string(),
            credential_id: {
                let ids: Vec<&str> = event.credential_ids().collect();
                (!ids.is_empty()).then(|| clipped(&ids.join(", ")))
            },
            token_markers: token_notes(event)
                .into_iter()
                .map(|note| TokenNote { value: clipped(&note.value), ..note })
                .collect(),
        }
    }
}

/// Order entries for the report: by category (most important first), then by time.
pub fn arrange(entries: &mut [Entry]) {
    entries.sort_by(|a, b| a.category.cmp(&b.category).then_with(|| a.time.cmp(&b.time)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn category(json: &str) -> Category {
        Category::of(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn actions_are_ranked_writes_first() {
        let binding = r#"{"verb":"create","objectRef":{"resource":"clusterrolebindings"}}"#;
        let exec = r#"{"verb":"create","objectRef":{"resource":"pods","subresource":"exec"}}"#;
        let secret = r#"{"verb":"list","objectRef":{"resource":"secrets"}}"#;
        let pod = r#"{"verb":"create","objectRef":{"resource":"pods"}}"#;
        let denied = r#"{"verb":"list","objectRef":{"resource":"secrets"},"responseStatus":{"code":403}}"#;
        let read = r#"{"verb":"get","objectRef":{"resource":"configmaps"}}"#;
        assert_eq!(category(binding), Category::BindingWritten);
        assert_eq!(category(exec), Category::PodAccess);
        assert_eq!(category(secret), Category::SecretRead);
        assert_eq!(category(pod), Category::WorkloadCreated);
        assert_eq!(category(denied), Category::Denied);
        assert_eq!(category(read), Category::Read);
        let mut entries: Vec<Entry> = [read, pod, binding, secret]
            .iter()
            .map(|j| Entry::of(&serde_json::from_str(j).unwrap()))
            .collect();
        arrange(&mut entries);
        let order: Vec<Category> = entries.iter().map(|e| e.category).collect();
        assert_eq!(
            order,
            [Category::BindingWritten, Category::SecretRead, Category::WorkloadCreated, Category::Read]
        );
    }

    #[test]
    fn entries_carry_the_credential_and_its_token_markers_clipped() {
        let line = serde_json::json!({
            "auditID": "1", "verb": "get",
            "user": {"username": "system:serviceaccount:ci:deployer",
                     "extra": {"authentication.kubernetes.io/credential-id": ["JTI=abc"]}},
            "annotations": {
                "authentication.k8s.io/legacy-token": "system:serviceaccount:ci:deployer",
                "authentication.k8s.io/legacy-token-manual-secret": format!("\u{1b}[2J{}", "é".repeat(100_000)),
            }
        })
        .to_string();
        let entry = Entry::of(&serde_json::from_str(&line).unwrap());
        assert_eq!(entry.credential_id.as_deref(), Some("JTI=abc"));
        let secret = &entry.token_markers[1];
        let cut = "… (199496 more bytes)";
        assert!(secret.value.starts_with("\u{1b}[2Jéé") && secret.value.ends_with(cut));
        assert_eq!(secret.value.chars().count(), 256 + cut.chars().count());
        assert_eq!(secret.to_string(), format!("secret: {}", secret.value));
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["credentialId"], "JTI=abc");
        assert_eq!(json["tokenMarkers"][0]["marker"], "legacy-token");
        assert_eq!(json["tokenMarkers"][0]["value"], "system:serviceaccount:ci:deployer");

        let plain = Entry::of(&serde_json::from_str(r#"{"auditID":"2","verb":"get"}"#).unwrap());
        let json = serde_json::to_value(&plain).unwrap();
        assert!(json.get("credentialId").is_none() && json.get("tokenMarkers").is_none(), "{json}");
    }
}

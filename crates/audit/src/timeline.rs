//! `kir audit timeline --user U`: what one credential did, the actions that matter first.

use serde::Serialize;

use crate::event::Event;

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
}

impl Entry {
    pub fn of(event: &Event<'_>) -> Entry {
        Entry {
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
}

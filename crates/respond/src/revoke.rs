//! `kir creds revoke`: take a subject out of every binding that names it (the binding edited
//! where it keeps other subjects, deleted where the subject was all it named), each change
//! journaled with what reverses it, then proved: the bindings read back, and the API server's
//! own authorizer (SubjectAccessReview) asked whether what the subject could do before is now
//! denied.

use k8s_openapi::api::rbac::v1::{PolicyRule, Subject};
use kir_cluster::{Cluster, probe::AccessCheck};
use kir_evidence::{Case, JournalRecord};
use kir_rbac::{BindingKind, Grant, Identity, RbacSnapshot, Request, SubjectRef};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    Error, Result,
    blocking::record,
    creds::rbac_snapshot,
    undo::{BindingRecord, Reversal},
};

/// Groups every user (or every service account) belongs to: taking them out of bindings would
/// take the access of everyone away, so revoke never does.
const EVERYONE: &[&str] = &["system:authenticated", "system:unauthenticated", "system:serviceaccounts"];

/// One binding to change.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingChange {
    pub binding: BindingRecord,
    /// `ClusterRole edit`, as the binding's roleRef says.
    pub role: String,
    /// Delete the binding (it named only the subject), or edit its subjects.
    pub delete: bool,
    pub removed: Vec<Subject>,
    /// The subjects the binding keeps.
    pub remaining: Vec<Subject>,
    #[serde(skip)]
    role_ref: Value,
    /// The binding's own labels and annotations, for undo to re-create it as it was.
    #[serde(skip)]
    labels: std::collections::BTreeMap<String, String>,
    #[serde(skip)]
    annotations: std::collections::BTreeMap<String, String>,
    #[serde(skip)]
    resource_version: String,
}

impl BindingChange {
    pub fn describe(&self) -> String {
        let removed: Vec<String> = self.removed.iter().map(subject_text).collect();
        if self.delete {
            format!(
                "delete {} (-> {}; it names only {})",
                self.binding.describe(),
                self.role,
                removed.join(", ")
            )
        } else {
            format!(
                "remove {} from {} (-> {}; it keeps {})",
                removed.join(", "),
                self.binding.describe(),
                self.role,
                self.remaining.iter().map(subject_text).collect::<Vec<_>>().join(", ")
            )
        }
    }
}

/// A request the subject could make before, to ask the authorizer about afterwards.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    pub request: Request,
    /// The binding that granted it.
    pub granted_by: String,
}

impl Probe {
    pub fn describe(&self) -> String {
        let request = &self.request;
        if let Some(url) = &request.non_resource_url {
            return format!("{} {url}", request.verb);
        }
        let mut text = format!("{} {}", request.verb, request.resource);
        if !request.subresource.is_empty() {
            text.push_str(&format!("/{}", request.subresource));
        }
        if !request.group.is_empty() {
            text.push_str(&format!(".{}", request.group));
        }
        if let Some(name) = &request.name {
            text.push_str(&format!(" {name}"));
        }
        match &request.namespace {
            Some(ns) => format!("{text} in {ns}"),
            None => format!("{text} (cluster-wide)"),
        }
    }
}

/// What revoking would change, and what is asked afterwards.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokePlan {
    pub user: String,
    pub groups: Vec<String>,
    pub changes: Vec<BindingChange>,
    /// What the subject could do through the bindings changed: each must be denied afterwards
    /// unless a binding kept (a group left alone) still grants it.
    pub probes: Vec<Probe>,
    /// Groups named by bindings and left alone (not asked for, or everyone's).
    pub kept_groups: Vec<String>,
}

/// How one probe came out after the revocation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeOutcome {
    pub probe: String,
    pub denied: bool,
    /// When still allowed: what grants it now, as the RBAC objects read back say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub still_granted_by: Option<String>,
}

/// How a change came out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeOutcome {
    pub change: String,
    /// `done` (read back), `failed`, or `unconfirmed` (accepted, but reading it back disagrees).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeReport {
    pub plan: RevokePlan,
    pub changes: Vec<ChangeOutcome>,
    pub probes: Vec<ProbeOutcome>,
    /// Every change read back and every probe denied (or granted only by what was kept).
    pub revoked: bool,
}

impl RevokeReport {
    pub fn failed(&self) -> bool {
        self.changes.iter().any(|c| c.status != "done")
    }
}

/// The subject entries that name `who`: the subject itself, a service account also by its user
/// name, and with `include_groups` its groups (never everyone's).
pub fn entries_to_revoke(
    subject: &SubjectRef,
    who: &Identity,
    include_groups: bool,
) -> (Vec<SubjectRef>, Vec<String>) {
    let mut entries = vec![subject.clone()];
    if let SubjectRef::ServiceAccount { .. } = subject {
        entries.push(SubjectRef::User { name: who.user.clone() });
    }
    let mut kept = Vec::new();
    if !matches!(subject, SubjectRef::Group { .. }) {
        for group in &who.groups {
            if include_groups && !EVERYONE.contains(&group.as_str()) {
                entries.push(SubjectRef::Group { name: group.clone() });
            } else {
                kept.push(group.clone());
            }
        }
    }
    (entries, kept)
}

/// Plan the revocation of `entries` (see [`entries_to_revoke`]) from the RBAC objects read now.
pub fn plan(
    snapshot: &RbacSnapshot,
    who: &Identity,
    entries: &[SubjectRef],
    kept_groups: Vec<String>,
) -> RevokePlan {
    // Per binding, the positions of every entry to remove.
    let mut by_binding: Vec<(BindingRecord, String, Vec<usize>)> = Vec::new();
    for entry in entries {
        for found in snapshot.bindings_naming(entry) {
            let record = BindingRecord {
                kind: found.binding.kind,
                namespace: found.binding.namespace.map(str::to_string),
                name: found.binding.name.to_string(),
                uid: String::new(),
            };
            let role = format!("{} {}", found.role.kind, found.role.name);
            match by_binding.iter_mut().find(|(b, _, _)| *b == record) {
                Some((_, _, indices)) => indices.extend(found.subject_indices.iter().copied()),
                None => by_binding.push((record, role, found.subject_indices.clone())),
            }
        }
    }
    let mut changes = Vec::new();
    for (mut record, role, mut indices) in by_binding {
        indices.sort_unstable();
        indices.dedup();
        let Some((metadata, role_ref, subjects)) = binding_parts(snapshot, &record) else { continue };
        record.uid = metadata.uid.clone().unwrap_or_default();
        let picked = |keep: bool| -> Vec<Subject> {
            subjects
                .iter()
                .enumerate()
                .filter(|(i, _)| indices.contains(i) != keep)
                .map(|(_, s)| s.clone())
                .collect()
        };
        let (removed, remaining) = (picked(false), picked(true));
        changes.push(BindingChange {
            binding: record,
            role,
            delete: remaining.is_empty(),
            removed,
            remaining,
            role_ref: serde_json::to_value(role_ref).unwrap_or_default(),
            labels: metadata.labels.clone().unwrap_or_default(),
            annotations: metadata.annotations.clone().unwrap_or_default(),
            resource_version: metadata.resource_version.clone().unwrap_or_default(),
        });
    }
    let changed = |grant: &Grant| {
        changes.iter().any(|c| {
            c.binding.kind == grant.binding.kind
                && c.binding.namespace.as_deref() == grant.binding.namespace
                && c.binding.name == grant.binding.name
        })
    };
    let mut probes: Vec<Probe> = Vec::new();
    for grant in snapshot.grants(who).iter().filter(|g| changed(g)) {
        let granted_by = format!("{:?} {}", grant.binding.kind, grant.binding.name);
        for probe in probes_of(grant.rule, grant.namespace, &granted_by) {
            if !probes.iter().any(|p| p.describe() == probe.describe()) {
                probes.push(probe);
            }
        }
    }
    RevokePlan { user: who.user.clone(), groups: who.groups.clone(), changes, probes, kept_groups }
}

/// The binding's metadata, roleRef and subjects, as read.
fn binding_parts<'s>(
    snapshot: &'s RbacSnapshot,
    record: &BindingRecord,
) -> Option<(
    &'s k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    &'s k8s_openapi::api::rbac::v1::RoleRef,
    &'s [Subject],
)> {
    match record.kind {
        BindingKind::RoleBinding => snapshot
            .role_bindings
            .iter()
            .find(|b| {
                b.metadata.namespace == record.namespace && b.metadata.name.as_deref() == Some(&record.name)
            })
            .map(|b| (&b.metadata, &b.role_ref, b.subjects.as_deref().unwrap_or_default())),
        BindingKind::ClusterRoleBinding => snapshot
            .cluster_role_bindings
            .iter()
            .find(|b| b.metadata.name.as_deref() == Some(&record.name))
            .map(|b| (&b.metadata, &b.role_ref, b.subjects.as_deref().unwrap_or_default())),
    }
}

/// Concrete requests a rule allows where it applies: one per verb and resource it lists
/// (wildcards stand for a request they cover), at most a few dozen.
fn probes_of(rule: &PolicyRule, namespace: Option<&str>, granted_by: &str) -> Vec<Probe> {
    const LIMIT: usize = 24;
    let concrete =
        |value: &str, instead: &str| if value == "*" { instead.to_string() } else { value.to_string() };
    let mut probes = Vec::new();
    for verb in &rule.verbs {
        let verb = concrete(verb, "get");
        for url in rule.non_resource_urls.iter().flatten() {
            let url = url.trim_end_matches('*');
            let url =
                if url.is_empty() || url.ends_with('/') { format!("{url}healthz") } else { url.to_string() };
            let url = if url.starts_with('/') { url } else { format!("/{url}") };
            probes.push(Probe {
                request: Request::non_resource(&verb, url),
                granted_by: granted_by.to_string(),
            });
        }
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
                let resource = concrete(resource, if subresource.is_empty() { "configmaps" } else { "pods" });
                let mut request =
                    Request::resource(&verb, concrete(group, ""), resource).subresource(subresource);
                if let Some(name) = rule.resource_names.as_ref().and_then(|n| n.first()) {
                    request = request.named(name);
                }
                if let Some(namespace) = namespace {
                    request = request.in_namespace(namespace);
                }
                probes.push(Probe { request, granted_by: granted_by.to_string() });
            }
        }
    }
    probes.truncate(LIMIT);
    probes
}

fn subject_text(subject: &Subject) -> String {
    match (subject.kind.as_str(), &subject.namespace) {
        ("ServiceAccount", Some(ns)) => format!("ServiceAccount {ns}/{}", subject.name),
        (kind, _) => format!("{kind} {}", subject.name),
    }
}

/// Read the RBAC objects and plan.
pub async fn plan_from_cluster(
    cluster: &Cluster,
    who: &Identity,
    entries: &[SubjectRef],
    kept_groups: Vec<String>,
) -> Result<RevokePlan> {
    let snapshot = rbac_snapshot(cluster).await?;
    Ok(plan(&snapshot, who, entries, kept_groups))
}

/// Make the changes of `plan`, each journaled with its reversal, then prove them.
pub async fn apply(cluster: &Cluster, case: &Case, actor: &str, plan: RevokePlan) -> Result<RevokeReport> {
    preflight(cluster, &plan).await?;
    let mut outcomes = Vec::new();
    for change in &plan.changes {
        let reversal = if change.delete {
            Reversal::RecreateBinding {
                binding: change.binding.clone(),
                role_ref: change.role_ref.clone(),
                subjects: change.removed.clone(),
                labels: change.labels.clone(),
                annotations: change.annotations.clone(),
            }
        } else {
            Reversal::RestoreSubjects { binding: change.binding.clone(), subjects: change.removed.clone() }
        };
        let action = reversal.action();
        let target = reversal.target();
        let intent = record(
            case,
            JournalRecord::new(actor, action)
                .target(target.clone())
                .parameters(json!({"change": change, "description": change.describe()}))
                .result(json!({"status": "started"}))
                .undo(serde_json::to_value(&reversal).unwrap_or_default()),
        )
        .await?;
        let made = make(cluster, change).await;
        let (status, detail, uid) = match &made {
            Ok(uid) => ("applied", None, Some(uid.clone())),
            Err(error) => ("failed", Some(error.to_string()), None),
        };
        record(
            case,
            JournalRecord::new(actor, action)
                .target(target)
                .parameters(json!({"intent": intent.seq}))
                .result(json!({"status": status, "error": detail, "uid": uid})),
        )
        .await?;
        outcomes.push(ChangeOutcome {
            change: change.describe(),
            status: if made.is_ok() { "done" } else { "failed" },
            detail,
        });
    }
    // The read-back: the bindings as they are now, and the authorizer's answers.
    let snapshot = rbac_snapshot(cluster).await?;
    for (change, outcome) in plan.changes.iter().zip(outcomes.iter_mut()) {
        if outcome.status != "done" {
            continue;
        }
        if let Some(why) = still_there(&snapshot, change) {
            outcome.status = "unconfirmed";
            outcome.detail = Some(why);
        }
    }
    let who = Identity { user: plan.user.clone(), groups: plan.groups.clone() };
    // The authorizer reads RBAC through an informer: it may answer from the old bindings for a
    // moment. A request no binding read back grants any more is asked again for a while.
    let deadline = tokio::time::Instant::now() + AUTHORIZER_LAG;
    let mut probes = Vec::new();
    for probe in &plan.probes {
        let request = probe.request.clone();
        let granted_now = snapshot
            .who_can(&request)
            .iter()
            .find(|h| h.subject.applies_to(&who))
            .map(|h| format!("{:?} {} (as {})", h.binding.kind, h.binding.name, h.subject));
        let allowed = loop {
            let allowed = ask(cluster, &who, probe).await?;
            if !allowed || granted_now.is_some() || tokio::time::Instant::now() >= deadline {
                break allowed;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        };
        let still_granted_by = allowed
            .then(|| granted_now.clone().unwrap_or_else(|| "an authorizer other than RBAC".to_string()));
        probes.push(ProbeOutcome { probe: probe.describe(), denied: !allowed, still_granted_by });
    }
    let kept_explains = |p: &ProbeOutcome| {
        p.denied
            || plan.kept_groups.iter().any(|g| p.still_granted_by.as_deref().is_some_and(|by| by.contains(g)))
    };
    let revoked = outcomes.iter().all(|o| o.status == "done") && probes.iter().all(kept_explains);
    Ok(RevokeReport { plan, changes: outcomes, probes, revoked })
}

/// Refuse before changing anything when the responder may not make every change of `plan` and
/// the reviews that prove it: a revocation made but not proved, or half made, helps no one.
async fn preflight(cluster: &Cluster, plan: &RevokePlan) -> Result<()> {
    let mut checks = vec![AccessCheck::new("create", "authorization.k8s.io", "subjectaccessreviews")];
    for change in &plan.changes {
        let resource = match change.binding.kind {
            BindingKind::RoleBinding => "rolebindings",
            BindingKind::ClusterRoleBinding => "clusterrolebindings",
        };
        let verb = if change.delete { "delete" } else { "patch" };
        let mut check = AccessCheck::new(verb, "rbac.authorization.k8s.io", resource);
        check.name = Some(change.binding.name.clone());
        if let Some(ns) = &change.binding.namespace {
            check = check.in_namespace(ns);
        }
        if !checks.contains(&check) {
            checks.push(check);
        }
    }
    crate::preflight::refuse_unless_allowed(cluster, &checks, "\"creds revoke\"").await
}

/// How long the authorizer may lag behind the bindings read back.
const AUTHORIZER_LAG: std::time::Duration = std::time::Duration::from_secs(10);

/// The authorizer's answer to `probe` for `who`.
async fn ask(cluster: &Cluster, who: &Identity, probe: &Probe) -> Result<bool> {
    let request = &probe.request;
    let decision = match &request.non_resource_url {
        Some(url) => cluster.review_url_access(&who.user, &who.groups, &request.verb, url).await?,
        None => {
            let mut check = AccessCheck::new(&request.verb, &request.group, &request.resource);
            check.subresource = request.subresource.clone();
            check.name = request.name.clone();
            if let Some(ns) = &request.namespace {
                check = check.in_namespace(ns);
            }
            cluster.review_access(&who.user, &who.groups, &check).await?
        }
    };
    Ok(decision.allowed)
}

/// Delete the binding (bound to its UID) or write its remaining subjects (bound to its UID and
/// the resourceVersion read: a binding changed since is not overwritten). The UID it has.
async fn make(cluster: &Cluster, change: &BindingChange) -> kir_cluster::Result<String> {
    let binding = &change.binding;
    if change.delete {
        cluster
            .delete_object(
                binding.api_version(),
                binding.kind_name(),
                binding.namespace.as_deref(),
                &binding.name,
                &binding.uid,
            )
            .await?;
        return Ok(binding.uid.clone());
    }
    let patch = json!({
        "metadata": {"uid": binding.uid, "resourceVersion": change.resource_version},
        "subjects": change.remaining,
    });
    let patched = cluster
        .merge_patch(
            binding.api_version(),
            binding.kind_name(),
            binding.namespace.as_deref(),
            &binding.name,
            &patch,
        )
        .await?;
    Ok(patched.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string())
}

/// Why the read-back disagrees with the change, if it does.
fn still_there(snapshot: &RbacSnapshot, change: &BindingChange) -> Option<String> {
    let live = binding_parts(snapshot, &change.binding);
    match live {
        None if change.delete => None,
        None => Some(format!("{} is gone: someone deleted it meanwhile", change.binding.describe())),
        Some((metadata, _, _)) if change.delete && metadata.uid.as_deref() == Some(&change.binding.uid) => {
            Some(format!("{} still exists", change.binding.describe()))
        }
        Some(_) if change.delete => None,
        Some((_, _, subjects)) => {
            let left: Vec<String> =
                subjects.iter().filter(|s| change.removed.contains(s)).map(subject_text).collect();
            (!left.is_empty())
                .then(|| format!("{} still names {}", change.binding.describe(), left.join(", ")))
        }
    }
}

/// A revoke request the responder made wrong: refused before anything is read.
pub fn refuse_everyone(subject: &SubjectRef) -> Result<()> {
    match subject {
        SubjectRef::Group { name } if EVERYONE.contains(&name.as_str()) => Err(Error::Invalid(format!(
            "group {name} is every user's: revoking it would take the access of everyone away; revoke the \
             subjects that matter instead"
        ))),
        _ => Ok(()),
    }
}

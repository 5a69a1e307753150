//! Reversing what kir did, from the case journal: `kir undo CASE` reverses every recorded
//! change, `kir release pod` those about one pod.
//!
//! A case folder is input like any other: whoever can write it could append a line. So undo
//! never performs an operation a file describes. It knows a closed set of reversals, one per
//! kind of change kir's commands make ([`Reversal`]), each naming only the pod (by UID) or node
//! it concerns; the object to act on and what it must look like are derived here, in code.
//! Before acting, the live object is read and compared with what kir made: the UID the API
//! server answered with when kir made it, kir's labels and this case's id on it, the spec kir
//! wrote. Anything else is reported and left alone. Each reversal is journaled too, so running
//! undo again (or after an interruption) reverses nothing twice.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::Subject;
use kir_cluster::Cluster;
use kir_evidence::{Case, JournalEntry, JournalRecord};
use kir_rbac::BindingKind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use kir_image::{Pattern, admission};

use crate::{
    Error, Result,
    block::{self, BlockKind, CASE_LABEL as BLOCK_CASE_LABEL},
    blocking::{blocking, record},
    contain::{CORDONED_BY_ANNOTATION, REMOVED_LABELS_ANNOTATION},
    isolate::{CASE_ANNOTATION, cases_of},
    netpol::{self, MANAGED_BY_LABEL, MANAGED_BY_VALUE, QUARANTINE_LABEL, quarantine_name},
    node::{HELPER_CREATE, HELPER_DELETE, HELPER_LABEL},
    selector::Labels,
};

/// The containment objects kir creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyKind {
    NetworkPolicy,
    CiliumNetworkPolicy,
    AdminNetworkPolicy,
}

impl PolicyKind {
    pub fn api_version(self) -> &'static str {
        match self {
            PolicyKind::NetworkPolicy => "networking.k8s.io/v1",
            PolicyKind::CiliumNetworkPolicy => "cilium.io/v2",
            PolicyKind::AdminNetworkPolicy => "policy.networking.k8s.io/v1alpha1",
        }
    }

    fn name(self) -> &'static str {
        match self {
            PolicyKind::NetworkPolicy => "NetworkPolicy",
            PolicyKind::CiliumNetworkPolicy => "CiliumNetworkPolicy",
            PolicyKind::AdminNetworkPolicy => "AdminNetworkPolicy",
        }
    }

    /// AdminNetworkPolicies are cluster-scoped.
    fn namespace(self, pod_namespace: &str) -> Option<&str> {
        (self != PolicyKind::AdminNetworkPolicy).then_some(pod_namespace)
    }

    /// The object kir creates of this kind for the pod.
    fn object(self, namespace: &str, pod: &str, pod_uid: &str) -> Value {
        match self {
            PolicyKind::NetworkPolicy => {
                serde_json::to_value(netpol::deny_all_policy(namespace, pod, pod_uid)).unwrap_or_default()
            }
            PolicyKind::CiliumNetworkPolicy => netpol::cilium_deny_policy(namespace, pod, pod_uid),
            PolicyKind::AdminNetworkPolicy => netpol::admin_deny_policy(namespace, pod, pod_uid),
        }
    }

    /// The journal action of the change this reverses.
    fn action(self) -> &'static str {
        match self {
            PolicyKind::NetworkPolicy => "isolate.create-networkpolicy",
            PolicyKind::CiliumNetworkPolicy => "isolate.create-ciliumnetworkpolicy",
            PolicyKind::AdminNetworkPolicy => "isolate.create-adminnetworkpolicy",
        }
    }
}

/// What reverses one change, journaled with the intent of the change. The closed set of
/// reversals kir makes: nothing else in a journal is ever acted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reverse", rename_all = "camelCase", deny_unknown_fields)]
pub enum Reversal {
    /// Delete the quarantine policy kir created for the pod.
    #[serde(rename_all = "camelCase")]
    DeletePolicy { kind: PolicyKind, namespace: String, pod: String, pod_uid: String },
    /// Take the quarantine label (and this case's id) off the pod.
    #[serde(rename_all = "camelCase")]
    RemoveQuarantineLabel { namespace: String, pod: String, pod_uid: String },
    /// Put back the labels the orphaning removed.
    #[serde(rename_all = "camelCase")]
    RestoreLabels { namespace: String, pod: String, pod_uid: String, labels: Labels },
    /// Uncordon the node kir cordoned while isolating the pod.
    #[serde(rename_all = "camelCase")]
    Uncordon { node: String, namespace: String, pod: String, pod_uid: String },
    /// Take this case's id off a pod another case quarantined.
    #[serde(rename_all = "camelCase")]
    LeaveCase { namespace: String, pod: String, pod_uid: String },
    /// Give back the subjects `kir creds revoke` took out of a binding that kept others.
    #[serde(rename_all = "camelCase")]
    RestoreSubjects { binding: BindingRecord, subjects: Vec<Subject> },
    /// Re-create a binding `kir creds revoke` deleted, with the roleRef, subjects, labels and
    /// annotations it had.
    #[serde(rename_all = "camelCase")]
    RecreateBinding {
        binding: BindingRecord,
        role_ref: Value,
        subjects: Vec<Subject>,
        #[serde(default, skip_serializing_if = "Labels::is_empty")]
        labels: Labels,
        #[serde(default, skip_serializing_if = "Labels::is_empty")]
        annotations: Labels,
    },
    /// Delete an admission object `kir image block` created for the pattern; its name and the
    /// spec it must have are derived from the pattern.
    #[serde(rename_all = "camelCase")]
    LiftImageBlock {
        kind: BlockKind,
        /// As [`Pattern::parse`] reads it.
        pattern: String,
        /// The digest its tag was resolved to when the block was made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resolved: Option<String>,
    },
    /// Delete the helper pod kir started on the node of `pod` (in its namespace), which a run
    /// killed before deleting it left there.
    #[serde(rename_all = "camelCase")]
    DeleteHelper { namespace: String, helper: String, pod: String },
}

/// A RoleBinding or ClusterRoleBinding kir changed: which one, and the UID it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindingRecord {
    pub kind: BindingKind,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
}

impl BindingRecord {
    pub fn api_version(&self) -> &'static str {
        "rbac.authorization.k8s.io/v1"
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            BindingKind::RoleBinding => "RoleBinding",
            BindingKind::ClusterRoleBinding => "ClusterRoleBinding",
        }
    }

    /// The binding of this name as it is now, or `None`.
    async fn read(&self, cluster: &Cluster) -> kir_cluster::Result<Option<Value>> {
        found(
            cluster
                .get_object(self.api_version(), self.kind_name(), self.namespace.as_deref(), &self.name)
                .await,
        )
    }

    /// `RoleBinding shop/deployers`, `ClusterRoleBinding ops`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind_name(), self.name),
            None => format!("{} {}", self.kind_name(), self.name),
        }
    }

    /// The journal target: `rolebinding/NS/NAME`, `clusterrolebinding/NAME`.
    fn target(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("rolebinding/{ns}/{}", self.name),
            None => format!("clusterrolebinding/{}", self.name),
        }
    }
}

impl Reversal {
    /// The pod a containment reversal concerns; `None` for a binding.
    fn pod(&self) -> Option<(&str, &str, &str)> {
        match self {
            Reversal::DeletePolicy { namespace, pod, pod_uid, .. }
            | Reversal::RemoveQuarantineLabel { namespace, pod, pod_uid }
            | Reversal::RestoreLabels { namespace, pod, pod_uid, .. }
            | Reversal::Uncordon { namespace, pod, pod_uid, .. }
            | Reversal::LeaveCase { namespace, pod, pod_uid } => Some((namespace, pod, pod_uid)),
            Reversal::RestoreSubjects { .. }
            | Reversal::RecreateBinding { .. }
            | Reversal::LiftImageBlock { .. }
            | Reversal::DeleteHelper { .. } => None,
        }
    }

    /// The admission object of an image block, and the policy name the pattern gives.
    fn image_block(&self) -> Option<(BlockKind, Pattern, String)> {
        let Reversal::LiftImageBlock { kind, pattern, resolved } = self else { return None };
        let mut pattern = Pattern::parse(pattern).ok()?;
        if let Some(digest) = resolved {
            pattern = pattern.with_resolved_digest(kir_image::Digest::parse(digest).ok()?).ok()?;
        }
        let name = admission::policy_name(&pattern);
        Some((*kind, pattern, name))
    }

    fn binding(&self) -> Option<&BindingRecord> {
        match self {
            Reversal::RestoreSubjects { binding, .. } | Reversal::RecreateBinding { binding, .. } => {
                Some(binding)
            }
            _ => None,
        }
    }

    /// The pod's namespace, name and UID; empty for a binding reversal.
    fn pod_or_empty(&self) -> (&str, &str, &str) {
        self.pod().unwrap_or(("", "", ""))
    }

    /// The journal target of the change this reverses.
    pub fn target(&self) -> String {
        if let Reversal::DeleteHelper { namespace, helper, .. } = self {
            return format!("pod/{namespace}/{helper}");
        }
        match (self.pod(), self.binding()) {
            (Some((namespace, pod, _)), _) => format!("pod/{namespace}/{pod}"),
            (None, Some(binding)) => binding.target(),
            (None, None) => self.image_block().map(|(kind, _, name)| kind.target(&name)).unwrap_or_default(),
        }
    }

    /// What `kir release pod` names to reverse this: its target, except for a helper, which
    /// belongs to the pod it was started for.
    fn about(&self) -> String {
        match self {
            Reversal::DeleteHelper { namespace, pod, .. } => format!("pod/{namespace}/{pod}"),
            _ => self.target(),
        }
    }

    /// Whether `entry` journaled the change this reverses: the same action and target, and for
    /// a helper, the pod the intent says it was started for.
    fn belongs_to(&self, entry: &JournalEntry) -> bool {
        let made_for = match self {
            Reversal::DeleteHelper { .. } => {
                entry.parameters.get("for").and_then(Value::as_str) == Some(self.about().as_str())
            }
            _ => true,
        };
        self.action() == entry.action && Some(self.target()) == entry.target && made_for
    }

    /// The journal action of the change this reverses.
    pub fn action(&self) -> &'static str {
        match self {
            Reversal::RestoreSubjects { .. } => "revoke.remove-subjects",
            Reversal::RecreateBinding { .. } => "revoke.delete-binding",
            Reversal::DeletePolicy { kind, .. } => kind.action(),
            Reversal::RemoveQuarantineLabel { .. } => "isolate.label-pod",
            Reversal::RestoreLabels { .. } => "isolate.orphan",
            Reversal::Uncordon { .. } => "isolate.cordon-node",
            Reversal::LeaveCase { .. } => "isolate.join-case",
            Reversal::LiftImageBlock { kind, .. } => kind.action(),
            Reversal::DeleteHelper { .. } => HELPER_CREATE,
        }
    }

    pub fn describe(&self) -> String {
        let (namespace, pod, _) = self.pod_or_empty();
        match self {
            Reversal::RestoreSubjects { binding, subjects } => {
                format!("give {} back to {}", subjects_text(subjects), binding.describe())
            }
            Reversal::RecreateBinding { binding, subjects, .. } => {
                format!("re-create {} for {}", binding.describe(), subjects_text(subjects))
            }
            Reversal::DeletePolicy { kind, pod_uid, .. } => {
                let at = kind.namespace(namespace).map(|n| format!("{n}/")).unwrap_or_default();
                format!("delete {} {at}{}", kind.name(), quarantine_name(pod_uid))
            }
            Reversal::RemoveQuarantineLabel { .. } => {
                format!("remove label {QUARANTINE_LABEL} from pod {namespace}/{pod}")
            }
            Reversal::RestoreLabels { labels, .. } => format!(
                "restore labels {} on pod {namespace}/{pod}",
                labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
            ),
            Reversal::Uncordon { node, .. } => format!("uncordon node {node}"),
            Reversal::LeaveCase { .. } => format!("remove this case's id from pod {namespace}/{pod}"),
            Reversal::LiftImageBlock { kind, .. } => match self.image_block() {
                Some((_, pattern, name)) => format!("delete {} {name} (the block of {pattern})", kind.name()),
                None => format!("delete a {} of an unreadable pattern", kind.name()),
            },
            Reversal::DeleteHelper { namespace, helper, pod } => {
                format!(
                    "delete helper pod {namespace}/{helper}, started on the node of pod {namespace}/{pod}"
                )
            }
        }
    }
}

/// A change the journal says kir made (or may have made: its run was killed before the
/// result), still to be reversed.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The journal entry of the change's intent.
    pub undoes: u64,
    pub reversal: Reversal,
    /// The UID the API server answered with when kir made the change; `None` when the run
    /// ended before the answer was journaled.
    pub made_uid: Option<String>,
}

/// A journal entry that asks for a reversal kir does not make, or whose parts disagree.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refused {
    pub entry: u64,
    pub reason: String,
}

/// What the journal asks to reverse.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Journaled {
    /// Newest first (a label is restored after the policies that depend on it are gone).
    pub pending: Vec<Pending>,
    pub refused: Vec<Refused>,
}

const UNDO_ACTION: &str = "undo";

/// Statuses of an `undo` entry after which nothing is left to reverse.
const SETTLED: [&str; 2] = ["reversed", "already reversed"];

/// The changes still to reverse (of the pod `target` names only, when given). A change the
/// cluster already had (`unchanged`) or that failed was not made by this case, and a helper its
/// own run deleted is gone: nothing to undo.
pub fn pending(entries: &[JournalEntry], target: Option<&str>) -> Journaled {
    let settled: Vec<u64> = entries
        .iter()
        .filter(|e| e.action == UNDO_ACTION)
        .filter(|e| e.result.get("status").and_then(Value::as_str).is_some_and(|s| SETTLED.contains(&s)))
        .filter_map(|e| e.parameters.get("undoes").and_then(Value::as_u64))
        .collect();
    let results: BTreeMap<u64, &JournalEntry> = entries
        .iter()
        .filter_map(|e| Some((e.parameters.get("intent").and_then(Value::as_u64)?, e)))
        .collect();
    let helpers_deleted: Vec<(Option<&str>, &str)> = entries
        .iter()
        .filter(|e| {
            e.action == HELPER_DELETE && e.result.get("deleted").and_then(Value::as_bool) == Some(true)
        })
        .filter_map(|e| Some((e.target.as_deref(), e.parameters.get("uid")?.as_str()?)))
        .collect();
    let mut journaled = Journaled::default();
    for entry in entries.iter().rev().filter(|e| !e.undo.is_null() && !settled.contains(&e.seq)) {
        let reversal = match serde_json::from_value::<Reversal>(entry.undo.clone()) {
            Ok(reversal) => reversal,
            Err(error) => {
                journaled.refused.push(Refused {
                    entry: entry.seq,
                    reason: format!("it asks for a reversal kir does not make ({error}); left alone"),
                });
                continue;
            }
        };
        if !reversal.belongs_to(entry) {
            journaled.refused.push(Refused {
                entry: entry.seq,
                reason: format!(
                    "its reversal ({}) does not belong to its action {} on {}; left alone",
                    reversal.describe(),
                    entry.action,
                    entry.target.as_deref().unwrap_or("nothing")
                ),
            });
            continue;
        }
        if target.is_some_and(|t| reversal.about() != t) {
            continue;
        }
        let result = results.get(&entry.seq);
        let status = result.and_then(|r| r.result.get("status")).and_then(Value::as_str);
        if matches!(status, Some("unchanged" | "failed")) {
            continue;
        }
        let made_uid = result.and_then(|r| r.result.get("uid")).and_then(Value::as_str).map(str::to_string);
        let deleted_by_its_run = matches!(reversal, Reversal::DeleteHelper { .. })
            && made_uid
                .as_deref()
                .is_some_and(|uid| helpers_deleted.contains(&(entry.target.as_deref(), uid)));
        if deleted_by_its_run {
            continue;
        }
        journaled.pending.push(Pending { undoes: entry.seq, reversal, made_uid });
    }
    journaled
}

/// What the live cluster says about one pending reversal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", content = "why", rename_all = "camelCase")]
pub enum Verdict {
    /// The live object is the one kir made: reverse it.
    Reverse,
    /// Nothing is left to reverse (the object is gone, or already as it was).
    AlreadyReversed(String),
    /// The live object is not what kir made: left alone.
    Mismatch(String),
    /// Other cases rely on what this change put in place: left alone unless asked.
    Shared(Vec<String>),
    /// The orphaned pod stays orphaned: re-adoption happens only when asked (`--readopt`).
    KeptOrphaned(String),
}

/// One reversal as planned: what it does and what the live check found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assessed {
    pub undoes: u64,
    pub description: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    #[serde(skip)]
    reversal: Reversal,
    /// The UID the action is made for (delete and patch preconditions).
    #[serde(skip)]
    live_uid: String,
    /// The case ids to leave on the pod once this case's id is taken off.
    #[serde(skip)]
    remaining_cases: Vec<String>,
}

/// One reversal and how it went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub undoes: u64,
    pub description: String,
    /// `reversed` (read back), `already reversed`, `unconfirmed`, `left alone`, `kept: shared`,
    /// `kept orphaned` or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Outcome {
    /// A reversal that was asked for and did not happen.
    pub fn not_done(&self) -> bool {
        !SETTLED.contains(&self.status) && self.status != KEPT_ORPHANED
    }
}

const KEPT_ORPHANED: &str = "kept orphaned";

/// What undo may do beyond the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct UndoOptions {
    /// Reverse changes other cases of the same pod rely on.
    pub release_shared: bool,
    /// Give an orphaned pod its labels back, so its controller adopts it again.
    pub readopt: bool,
}

/// What undo will do, decided from the case's authenticated journal and the live cluster.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UndoPlan {
    pub reversals: Vec<Assessed>,
    pub refused: Vec<Refused>,
}

impl UndoPlan {
    pub fn is_empty(&self) -> bool {
        self.reversals.is_empty() && self.refused.is_empty()
    }

    /// Whether carrying it out changes the cluster.
    pub fn changes_anything(&self) -> bool {
        self.reversals.iter().any(|r| r.verdict == Verdict::Reverse)
    }
}

/// Plan the reversal of every change of the case (of `target` only, when given). Refuses a
/// journal that does not verify, or any line of which is not authenticated by this
/// responder's journal key: only what kir provably wrote is acted on.
pub async fn plan(
    cluster: &Cluster,
    case: &Case,
    target: Option<&str>,
    options: UndoOptions,
) -> Result<UndoPlan> {
    let entries = {
        let case = case.clone();
        blocking(move || case.authenticated_entries()).await?
    };
    let journaled = pending(&entries, target);
    let reversals = assess(cluster, case.id(), &journaled.pending, options).await?;
    Ok(UndoPlan { reversals, refused: journaled.refused })
}

/// Read the live state each pending reversal concerns and decide.
pub async fn assess(
    cluster: &Cluster,
    case_id: &str,
    pending: &[Pending],
    options: UndoOptions,
) -> Result<Vec<Assessed>> {
    let mut assessed = Vec::new();
    // Most reversals of a case concern the same pod: it is read once.
    let mut pods: BTreeMap<(String, String), Option<Value>> = BTreeMap::new();
    for item in pending {
        let pod = match item.reversal.pod() {
            None => None,
            Some((namespace, pod_name, _)) => {
                let key = (namespace.to_string(), pod_name.to_string());
                match pods.get(&key) {
                    Some(pod) => pod.clone(),
                    None => {
                        let pod = found(cluster.get_object("v1", "Pod", Some(namespace), pod_name).await)?;
                        pods.insert(key, pod.clone());
                        pod
                    }
                }
            }
        };
        let live = Live { pod, other: read_other(cluster, &item.reversal).await? };
        let (verdict, live_uid, remaining_cases) = judge(item, case_id, &live, options);
        assessed.push(Assessed {
            undoes: item.undoes,
            description: item.reversal.describe(),
            verdict,
            reversal: item.reversal.clone(),
            live_uid,
            remaining_cases,
        });
    }
    Ok(assessed)
}

/// The live objects a reversal concerns: the pod always (it says which cases rely on it), and
/// the policy or node when the reversal is about one. `None`: not found.
struct Live {
    pod: Option<Value>,
    other: Option<Value>,
}

/// The object read, or `None` when it does not exist.
fn found(fetched: kir_cluster::Result<kir_cluster::objects::Fetched>) -> kir_cluster::Result<Option<Value>> {
    match fetched {
        Ok(fetched) => Ok(Some(fetched.value)),
        Err(kir_cluster::Error::NotFound { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The policy or node a reversal is about, beside its pod; the binding of a binding reversal.
async fn read_other(cluster: &Cluster, reversal: &Reversal) -> Result<Option<Value>> {
    let (namespace, _, pod_uid) = reversal.pod_or_empty();
    Ok(match reversal {
        Reversal::RestoreSubjects { binding, .. } | Reversal::RecreateBinding { binding, .. } => {
            binding.read(cluster).await?
        }
        Reversal::DeletePolicy { kind, .. } => found(
            cluster
                .get_object(
                    kind.api_version(),
                    kind.name(),
                    kind.namespace(namespace),
                    &quarantine_name(pod_uid),
                )
                .await,
        )?,
        Reversal::Uncordon { node, .. } => found(cluster.get_object("v1", "Node", None, node).await)?,
        Reversal::DeleteHelper { namespace, helper, .. } => {
            found(cluster.get_object("v1", "Pod", Some(namespace), helper).await)?
        }
        Reversal::LiftImageBlock { .. } => match reversal.image_block() {
            Some((kind, _, name)) => {
                found(cluster.get_object(kind.api_version(), kind.name(), None, &name).await)?
            }
            None => None,
        },
        _ => None,
    })
}

fn text_at<'v>(value: &'v Value, pointer: &str) -> Option<&'v str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn string_map(value: &Value, pointer: &str) -> Labels {
    value.pointer(pointer).and_then(|m| serde_json::from_value(m.clone()).ok()).unwrap_or_default()
}

/// Decide one reversal from the live objects: the verdict, the UID to act on, and the case
/// ids to leave on the pod.
fn judge(item: &Pending, case_id: &str, live: &Live, options: UndoOptions) -> (Verdict, String, Vec<String>) {
    let reversal = &item.reversal;
    let (namespace, pod_name, pod_uid) = reversal.pod_or_empty();
    // The pod as kir changed it: same UID. A pod recreated under the name is another object.
    let pod = live.pod.as_ref().filter(|p| text_at(p, "/metadata/uid") == Some(pod_uid));
    let cases = pod.map(|p| cases_of(Some(&string_map(p, "/metadata/annotations")))).unwrap_or_default();
    let names_this_case = cases.iter().any(|c| c == case_id);
    let others: Vec<String> = cases.iter().filter(|c| *c != case_id).cloned().collect();
    let shared =
        !others.is_empty() && !options.release_shared && !matches!(reversal, Reversal::LeaveCase { .. });
    let pod_gone = || {
        Verdict::AlreadyReversed(match &live.pod {
            None => format!("pod {namespace}/{pod_name} no longer exists"),
            Some(_) => format!("pod {namespace}/{pod_name} was recreated: it is not the pod kir changed"),
        })
    };
    let verdict = match reversal {
        Reversal::DeletePolicy { kind, .. } => {
            let name = quarantine_name(pod_uid);
            match &live.other {
                None => Verdict::AlreadyReversed(format!("{} {name} no longer exists", kind.name())),
                Some(object) => match policy_mismatch(item, *kind, object, case_id) {
                    Some(why) => Verdict::Mismatch(why),
                    None if shared => Verdict::Shared(others.clone()),
                    None => Verdict::Reverse,
                },
            }
        }
        Reversal::RemoveQuarantineLabel { .. } => match pod {
            None => pod_gone(),
            Some(pod) => match text_at(pod, &format!("/metadata/labels/{}", escape(QUARANTINE_LABEL))) {
                None => Verdict::AlreadyReversed("the pod no longer has the quarantine label".into()),
                Some(value) if value != pod_uid => {
                    Verdict::Mismatch(format!("its quarantine label is {value:?}, not the pod's UID kir set"))
                }
                Some(_) if !names_this_case => Verdict::Mismatch(format!(
                    "the pod's {CASE_ANNOTATION} annotation does not name this case: someone else changed it"
                )),
                Some(_) if shared => Verdict::Shared(others.clone()),
                Some(_) => Verdict::Reverse,
            },
        },
        Reversal::RestoreLabels { labels, .. } => match pod {
            None => pod_gone(),
            Some(pod) => match restore_verdict(pod, labels, shared, &others) {
                Verdict::Reverse if !options.readopt => Verdict::KeptOrphaned(
                    "restoring its labels would let its controller adopt it again and scale down, which deletes the \
                     newest pod: the clean replacement, leaving the suspect serving; --readopt does it anyway"
                        .into(),
                ),
                verdict => verdict,
            },
        },
        Reversal::Uncordon { node, .. } => match &live.other {
            None => Verdict::AlreadyReversed(format!("node {node} no longer exists")),
            Some(object) => {
                let uid = text_at(object, "/metadata/uid");
                let cordoned_by =
                    string_map(object, "/metadata/annotations").get(CORDONED_BY_ANNOTATION).cloned();
                let unschedulable =
                    object.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true);
                if item.made_uid.as_deref().is_some_and(|made| Some(made) != uid) {
                    Verdict::Mismatch(format!("node {node} has another UID than the node kir cordoned"))
                } else if cordoned_by.as_deref() != Some(case_id) {
                    if unschedulable {
                        Verdict::Mismatch(format!(
                            "node {node} is not marked as cordoned by this case ({CORDONED_BY_ANNOTATION}): someone else cordons it"
                        ))
                    } else {
                        Verdict::AlreadyReversed(format!("node {node} is schedulable"))
                    }
                } else {
                    Verdict::Reverse
                }
            }
        },
        Reversal::LeaveCase { .. } => match pod {
            None => pod_gone(),
            Some(_) if !names_this_case => {
                Verdict::AlreadyReversed("the pod no longer names this case".into())
            }
            Some(_) => Verdict::Reverse,
        },
        Reversal::RestoreSubjects { binding, subjects } => match &live.other {
            None => Verdict::Mismatch(format!(
                "{} no longer exists: someone deleted it; kir does not re-create a binding it did not delete",
                binding.describe()
            )),
            Some(live) if text_at(live, "/metadata/uid") != Some(binding.uid.as_str()) => Verdict::Mismatch(format!(
                "{} was re-created by someone else (another UID): left alone",
                binding.describe()
            )),
            Some(live) if missing_subjects(live, subjects).is_empty() => {
                Verdict::AlreadyReversed(format!("{} names them again", binding.describe()))
            }
            Some(_) => Verdict::Reverse,
        },
        Reversal::RecreateBinding { binding, role_ref, subjects, .. } => match &live.other {
            None => Verdict::Reverse,
            Some(live)
                if live.get("roleRef") == Some(role_ref) && missing_subjects(live, subjects).is_empty() =>
            {
                Verdict::AlreadyReversed(format!("{} exists again as it was", binding.describe()))
            }
            Some(_) => Verdict::Mismatch(format!(
                "another {} of that name exists now: not overwritten",
                binding.describe()
            )),
        },
        Reversal::LiftImageBlock { .. } => image_block_verdict(item, case_id, live.other.as_ref()),
        Reversal::DeleteHelper { namespace, helper, .. } => helper_verdict(
            &format!("helper pod {namespace}/{helper}"),
            item.made_uid.as_deref(),
            case_id,
            live.other.as_ref(),
        ),
    };
    let live_uid = match reversal {
        Reversal::DeletePolicy { .. }
        | Reversal::Uncordon { .. }
        | Reversal::RestoreSubjects { .. }
        | Reversal::RecreateBinding { .. }
        | Reversal::LiftImageBlock { .. }
        | Reversal::DeleteHelper { .. } => {
            live.other.as_ref().and_then(|o| text_at(o, "/metadata/uid")).unwrap_or_default().to_string()
        }
        _ => pod_uid.to_string(),
    };
    (verdict, live_uid, others)
}

/// Whether the live admission object is the one kir created for this case's block.
fn image_block_verdict(item: &Pending, case_id: &str, live: Option<&Value>) -> Verdict {
    let Some((kind, pattern, name)) = item.reversal.image_block() else {
        return Verdict::Mismatch("its pattern is not a valid image reference".into());
    };
    let what = format!("{} {name}", kind.name());
    let Some(live) = live else {
        return Verdict::AlreadyReversed(format!("{what} no longer exists"));
    };
    let uid = text_at(live, "/metadata/uid").unwrap_or_default();
    if item.made_uid.as_deref().is_some_and(|made| made != uid) {
        return Verdict::Mismatch(format!(
            "{what} has another UID than kir created: it was re-created by someone else"
        ));
    }
    if string_map(live, "/metadata/labels").get(BLOCK_CASE_LABEL).map(String::as_str) != Some(case_id) {
        return Verdict::Mismatch(format!(
            "{what} does not carry this case's id: another case or someone else made it"
        ));
    }
    match block::foreign(&kind.object(&pattern, case_id), live) {
        Some(why) => Verdict::Mismatch(format!("{what}: {why} since kir created it")),
        None => Verdict::Reverse,
    }
}

/// Whether the live pod is the helper kir started: the UID the API server answered with when kir
/// created it, kir's labels, this case's id. A pod is deleted on that proof only: without the
/// answer (a run killed before it was journaled), a pod of that name is left alone.
fn helper_verdict(what: &str, made_uid: Option<&str>, case_id: &str, live: Option<&Value>) -> Verdict {
    let Some(live) = live else {
        return Verdict::AlreadyReversed(format!("{what} no longer exists"));
    };
    let uid = text_at(live, "/metadata/uid").unwrap_or_default();
    let Some(made) = made_uid else {
        return Verdict::Mismatch(format!(
            "the run was interrupted before the API server's answer was journaled: kir cannot prove {what} (UID \
             {uid}) is the pod it created; check it and delete it by hand"
        ));
    };
    if made != uid {
        return Verdict::Mismatch(format!(
            "{what} has UID {uid}, not {made} as kir created it: another pod took its name"
        ));
    }
    let labels = string_map(live, "/metadata/labels");
    if labels.get(HELPER_LABEL).map(String::as_str) != Some("true")
        || labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(MANAGED_BY_VALUE)
    {
        return Verdict::Mismatch(format!("{what} lacks kir's helper labels"));
    }
    if string_map(live, "/metadata/annotations").get(CASE_ANNOTATION).map(String::as_str) != Some(case_id) {
        return Verdict::Mismatch(format!("{what} does not carry this case's id in {CASE_ANNOTATION}"));
    }
    Verdict::Reverse
}

/// The subjects of `subjects` the live binding does not name.
fn missing_subjects<'s>(live: &Value, subjects: &'s [Subject]) -> Vec<&'s Subject> {
    let names: Vec<Subject> =
        live.get("subjects").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    subjects.iter().filter(|s| !names.contains(s)).collect()
}

fn subjects_text(subjects: &[Subject]) -> String {
    subjects
        .iter()
        .map(|s| match &s.namespace {
            Some(ns) if s.kind == "ServiceAccount" => format!("ServiceAccount {ns}/{}", s.name),
            _ => format!("{} {}", s.kind, s.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a live policy is not the one kir created, if it is not.
fn policy_mismatch(item: &Pending, kind: PolicyKind, live: &Value, case_id: &str) -> Option<String> {
    let (namespace, pod, pod_uid) = item.reversal.pod_or_empty();
    let name = quarantine_name(pod_uid);
    let what = format!("{} {name}", kind.name());
    let uid = text_at(live, "/metadata/uid").unwrap_or_default();
    match &item.made_uid {
        Some(made) if made != uid => {
            return Some(format!(
                "{what} has UID {uid}, not {made} as kir created it: it was re-created by someone else"
            ));
        }
        Some(_) => {}
        None if string_map(live, "/metadata/annotations").get(CASE_ANNOTATION).map(String::as_str)
            != Some(case_id) =>
        {
            return Some(format!(
                "the run was interrupted before the API server's answer was journaled, and {what} does not carry this case's id: kir cannot prove it created it"
            ));
        }
        None => {}
    }
    let labels = string_map(live, "/metadata/labels");
    if labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(MANAGED_BY_VALUE)
        || labels.get(QUARANTINE_LABEL).map(String::as_str) != Some(pod_uid)
    {
        return Some(format!("{what} lacks kir's labels"));
    }
    if !netpol::same_spec(&kind.object(namespace, pod, pod_uid), live) {
        return Some(format!("{what} has another spec than kir wrote: it was changed since"));
    }
    None
}

fn restore_verdict(pod: &Value, labels: &Labels, shared: bool, others: &[String]) -> Verdict {
    let live_labels = string_map(pod, "/metadata/labels");
    let recorded = string_map(pod, "/metadata/annotations").get(REMOVED_LABELS_ANNOTATION).cloned();
    let differing: Vec<&String> = labels
        .iter()
        .filter(|(k, v)| live_labels.get(*k).is_some_and(|live| live != *v))
        .map(|(k, _)| k)
        .collect();
    if !differing.is_empty() {
        let keys = differing.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
        return Verdict::Mismatch(format!(
            "the pod has other values for {keys} now: restoring would overwrite them"
        ));
    }
    match recorded {
        None if labels.iter().all(|(k, v)| live_labels.get(k) == Some(v)) => {
            Verdict::AlreadyReversed("the labels are back".into())
        }
        None => Verdict::Mismatch(format!(
            "the pod has no {REMOVED_LABELS_ANNOTATION} annotation: kir's orphaning is not on it"
        )),
        Some(text) if serde_json::from_str::<Labels>(&text).ok().as_ref() != Some(labels) => {
            Verdict::Mismatch(format!(
                "the pod's {REMOVED_LABELS_ANNOTATION} annotation does not list the labels kir removed"
            ))
        }
        Some(_) if shared => Verdict::Shared(others.to_vec()),
        Some(_) => Verdict::Reverse,
    }
}

/// JSON Pointer escaping of one key.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Carry out the assessed reversals in order, journaling each.
pub async fn apply(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    assessed: &[Assessed],
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for item in assessed {
        let (status, detail) = match &item.verdict {
            Verdict::Reverse => match reverse(cluster, item).await {
                Ok(true) => read_back(cluster, case.id(), item).await,
                Ok(false) => ("already reversed", Some("it was gone when kir acted".to_string())),
                Err(error) => ("failed", Some(error.to_string())),
            },
            Verdict::AlreadyReversed(why) => ("already reversed", Some(why.clone())),
            Verdict::Mismatch(why) => ("left alone", Some(why.clone())),
            Verdict::KeptOrphaned(why) => (KEPT_ORPHANED, Some(why.clone())),
            Verdict::Shared(others) => (
                "kept: shared",
                Some(format!(
                    "case(s) {} also isolated this pod and rely on it; undo them first, or pass --release-shared",
                    others.join(", ")
                )),
            ),
        };
        record(
            case,
            JournalRecord::new(actor, UNDO_ACTION)
                .target(item.reversal.target())
                .parameters(json!({"undoes": item.undoes, "reversal": item.reversal}))
                .result(json!({"status": status, "detail": detail})),
        )
        .await?;
        outcomes.push(Outcome { undoes: item.undoes, description: item.description.clone(), status, detail });
    }
    Ok(outcomes)
}

/// "Reversed" is said only when the live state, read again, has nothing left to reverse;
/// otherwise the reversal stays pending for the next run.
async fn read_back(cluster: &Cluster, case_id: &str, item: &Assessed) -> (&'static str, Option<String>) {
    let live = async {
        let pod = match item.reversal.pod() {
            Some((namespace, pod_name, _)) => {
                found(cluster.get_object("v1", "Pod", Some(namespace), pod_name).await)?
            }
            None => None,
        };
        Ok::<_, Error>(Live { pod, other: read_other(cluster, &item.reversal).await? })
    };
    let pending = Pending { undoes: item.undoes, reversal: item.reversal.clone(), made_uid: None };
    let every_reversal = UndoOptions { release_shared: true, readopt: true };
    match live.await {
        Ok(live) => match judge(&pending, case_id, &live, every_reversal).0 {
            Verdict::AlreadyReversed(_) => ("reversed", None),
            _ => (
                UNCONFIRMED,
                Some("the request succeeded, but reading it back still finds the change in place".into()),
            ),
        },
        Err(error) => {
            (UNCONFIRMED, Some(format!("the request succeeded, but it cannot be read back: {error}")))
        }
    }
}

/// A reversal the API server accepted that the read-back did not confirm.
const UNCONFIRMED: &str = "unconfirmed";

/// Make one reversal, bound to the UID of the object checked. `Ok(false)`: it was gone.
async fn reverse(cluster: &Cluster, item: &Assessed) -> kir_cluster::Result<bool> {
    let uid = &item.live_uid;
    let remaining = || match item.remaining_cases.is_empty() {
        true => Value::Null,
        false => Value::String(item.remaining_cases.join(",")),
    };
    let (namespace, pod, _) = item.reversal.pod_or_empty();
    let patch = match &item.reversal {
        Reversal::RestoreSubjects { binding, subjects } => {
            let live = binding.read(cluster).await?;
            let Some(live) = live else { return Ok(false) };
            let mut names: Vec<Subject> =
                live.get("subjects").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
            names.extend(missing_subjects(&live, subjects).into_iter().cloned());
            let patch = json!({
                "metadata": {"uid": uid, "resourceVersion": text_at(&live, "/metadata/resourceVersion")},
                "subjects": names,
            });
            return gone_is_false(
                cluster
                    .merge_patch(
                        binding.api_version(),
                        binding.kind_name(),
                        binding.namespace.as_deref(),
                        &binding.name,
                        &patch,
                    )
                    .await,
            );
        }
        Reversal::RecreateBinding { binding, role_ref, subjects, labels, annotations } => {
            let mut metadata = json!({"name": binding.name, "labels": labels, "annotations": annotations});
            if let Some(ns) = &binding.namespace {
                metadata["namespace"] = json!(ns);
            }
            let object = json!({
                "apiVersion": binding.api_version(),
                "kind": binding.kind_name(),
                "metadata": metadata,
                "roleRef": role_ref,
                "subjects": subjects,
            });
            return match cluster.create_object(&object).await {
                Ok(_) => Ok(true),
                // Created meanwhile by someone else: the read-back says whether it is as it was.
                Err(kir_cluster::Error::Api { code: 409, .. }) => Ok(false),
                Err(error) => Err(error),
            };
        }
        Reversal::DeletePolicy { kind, pod_uid, .. } => {
            let name = quarantine_name(pod_uid);
            return cluster
                .delete_object(kind.api_version(), kind.name(), kind.namespace(namespace), &name, uid)
                .await;
        }
        Reversal::LiftImageBlock { .. } => {
            let Some((kind, _, name)) = item.reversal.image_block() else { return Ok(false) };
            return cluster.delete_object(kind.api_version(), kind.name(), None, &name, uid).await;
        }
        // At once, as its own run deletes it: nothing of the evidence is in the helper.
        Reversal::DeleteHelper { namespace, helper, .. } => {
            return cluster.delete_pod(namespace, helper, uid, Some(0)).await;
        }
        Reversal::Uncordon { node, .. } => {
            let patch = json!({
                "metadata": {"uid": uid, "annotations": {CORDONED_BY_ANNOTATION: null}},
                "spec": {"unschedulable": null},
            });
            return gone_is_false(cluster.merge_patch("v1", "Node", None, node, &patch).await);
        }
        Reversal::RemoveQuarantineLabel { .. } => json!({"metadata": {
            "uid": uid,
            "labels": {QUARANTINE_LABEL: null},
            "annotations": {CASE_ANNOTATION: remaining()},
        }}),
        Reversal::RestoreLabels { labels, .. } => json!({"metadata": {
            "uid": uid,
            "labels": labels,
            "annotations": {REMOVED_LABELS_ANNOTATION: null},
        }}),
        Reversal::LeaveCase { .. } => {
            json!({"metadata": {"uid": uid, "annotations": {CASE_ANNOTATION: remaining()}}})
        }
    };
    gone_is_false(cluster.merge_patch("v1", "Pod", Some(namespace), pod, &patch).await)
}

/// A patch of an object that is gone, or was recreated under its name (the UID in the patch
/// then fails), has nothing left to reverse.
fn gone_is_false(patched: kir_cluster::Result<Value>) -> kir_cluster::Result<bool> {
    match patched {
        Ok(_) => Ok(true),
        Err(kir_cluster::Error::NotFound { .. }) => Ok(false),
        Err(kir_cluster::Error::Api { code: 409 | 422, message, .. }) if message.contains("uid") => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;

    const UID: &str = "4f0c2a1e-8b7d-4c3e-9a55-1d2e3f4a5b6c";
    const CASE: &str = "20261206-030000-abcdef";

    fn entry(seq: u64, action: &str, parameters: Value, result: Value, undo: Value) -> JournalEntry {
        JournalEntry {
            seq,
            time: Timestamp::UNIX_EPOCH,
            actor: "me".into(),
            action: action.into(),
            target: Some("pod/shop/web-1".into()),
            parameters,
            result,
            undo,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn policy_reversal() -> Reversal {
        Reversal::DeletePolicy {
            kind: PolicyKind::NetworkPolicy,
            namespace: "shop".into(),
            pod: "web-1".into(),
            pod_uid: UID.into(),
        }
    }

    fn label_reversal() -> Reversal {
        Reversal::RemoveQuarantineLabel { namespace: "shop".into(), pod: "web-1".into(), pod_uid: UID.into() }
    }

    fn intent(seq: u64, reversal: &Reversal) -> JournalEntry {
        let action = reversal.action();
        entry(seq, action, json!({}), json!({"status": "started"}), serde_json::to_value(reversal).unwrap())
    }

    fn result(seq: u64, action: &str, intent: u64, status: &str, uid: Option<&str>) -> JournalEntry {
        entry(seq, action, json!({"intent": intent}), json!({"status": status, "uid": uid}), Value::Null)
    }

    #[test]
    fn pending_reversals_are_newest_first_carry_the_uid_and_skip_what_was_settled() {
        let entries = vec![
            intent(2, &policy_reversal()),
            result(3, "isolate.create-networkpolicy", 2, "applied", Some("np-uid")),
            intent(4, &label_reversal()),
            result(5, "isolate.label-pod", 4, "applied", Some(UID)),
        ];
        let journaled = pending(&entries, None);
        assert!(journaled.refused.is_empty());
        let seqs: Vec<(u64, Option<&str>)> =
            journaled.pending.iter().map(|p| (p.undoes, p.made_uid.as_deref())).collect();
        assert_eq!(seqs, [(4, Some(UID)), (2, Some("np-uid"))]);

        let mut undone = entries.clone();
        undone.push(entry(6, "undo", json!({"undoes": 4}), json!({"status": "reversed"}), Value::Null));
        undone.push(entry(7, "undo", json!({"undoes": 2}), json!({"status": "left alone"}), Value::Null));
        let seqs: Vec<u64> = pending(&undone, None).pending.iter().map(|p| p.undoes).collect();
        assert_eq!(seqs, [2], "a reversal left alone is looked at again next time");
        assert!(pending(&entries, Some("pod/shop/other")).pending.is_empty());
    }

    #[test]
    fn changes_that_were_not_made_are_not_reversed_and_killed_runs_have_no_uid() {
        let cordon = Reversal::Uncordon {
            node: "n".into(),
            namespace: "shop".into(),
            pod: "web-1".into(),
            pod_uid: UID.into(),
        };
        let entries = vec![
            intent(2, &policy_reversal()),
            result(3, "isolate.create-networkpolicy", 2, "unchanged", None),
            intent(4, &cordon),
            result(5, "isolate.cordon-node", 4, "failed", None),
            intent(6, &label_reversal()),
        ];
        let journaled = pending(&entries, None);
        assert_eq!(journaled.pending.len(), 1);
        assert_eq!(journaled.pending[0].undoes, 6);
        assert_eq!(journaled.pending[0].made_uid, None);
    }

    #[test]
    fn operations_a_file_describes_are_never_taken_up() {
        let forged = [
            json!({"op": "delete", "apiVersion": "v1", "kind": "Namespace", "name": "victim"}),
            json!({"reverse": "deletePolicy", "kind": "Namespace", "namespace": "shop", "pod": "web-1", "podUid": UID}),
            json!({"reverse": "deletePolicy", "kind": "NetworkPolicy", "namespace": "shop", "pod": "web-1", "podUid": UID, "name": "allow-all"}),
        ];
        let mut entries: Vec<JournalEntry> = forged
            .iter()
            .enumerate()
            .map(|(i, undo)| {
                entry(i as u64 + 2, "isolate.create-networkpolicy", json!({}), json!({}), undo.clone())
            })
            .collect();
        // A known reversal under another action, or about another pod than the entry's target.
        entries.push(entry(
            9,
            "isolate.cordon-node",
            json!({}),
            json!({}),
            serde_json::to_value(policy_reversal()).unwrap(),
        ));
        let mut elsewhere = intent(10, &policy_reversal());
        elsewhere.target = Some("pod/kube-system/coredns".into());
        entries.push(elsewhere);
        let journaled = pending(&entries, None);
        assert!(journaled.pending.is_empty(), "{:?}", journaled.pending);
        let refused: Vec<u64> = journaled.refused.iter().map(|r| r.entry).collect();
        assert_eq!(refused, [10, 9, 4, 3, 2]);
    }

    fn live_pod(cases: &str, labels: Value, annotations: Value) -> Value {
        let mut annotations = annotations;
        if !cases.is_empty() {
            annotations[CASE_ANNOTATION] = json!(cases);
        }
        json!({"metadata": {"uid": UID, "labels": labels, "annotations": annotations}})
    }

    fn live_policy(uid: &str) -> Value {
        let mut object = PolicyKind::NetworkPolicy.object("shop", "web-1", UID);
        object["metadata"]["uid"] = json!(uid);
        object["metadata"]["annotations"][CASE_ANNOTATION] = json!(CASE);
        // The API server leaves out the empty rule lists kir sent.
        object["spec"].as_object_mut().unwrap().remove("ingress");
        object["spec"].as_object_mut().unwrap().remove("egress");
        object
    }

    fn verdict(
        reversal: Reversal,
        made_uid: Option<&str>,
        pod: Value,
        other: Option<Value>,
        release_shared: bool,
    ) -> Verdict {
        let item = Pending { undoes: 2, reversal, made_uid: made_uid.map(str::to_string) };
        judge(&item, CASE, &Live { pod: Some(pod), other }, UndoOptions { release_shared, readopt: true }).0
    }

    #[test]
    fn a_policy_is_deleted_only_when_it_is_the_one_kir_created() {
        let pod = live_pod(CASE, json!({QUARANTINE_LABEL: UID}), json!({}));
        let check = |made: Option<&str>, policy: Value| {
            verdict(policy_reversal(), made, pod.clone(), Some(policy), false)
        };
        assert_eq!(check(Some("np-1"), live_policy("np-1")), Verdict::Reverse);
        assert!(
            matches!(check(Some("np-1"), live_policy("np-2")), Verdict::Mismatch(why) if why.contains("re-created"))
        );
        assert_eq!(
            check(None, live_policy("np-2")),
            Verdict::Reverse,
            "an interrupted run: this case's id on it"
        );

        let mut foreign = live_policy("np-2");
        foreign["metadata"]["annotations"][CASE_ANNOTATION] = json!("another-case");
        assert!(matches!(check(None, foreign), Verdict::Mismatch(why) if why.contains("cannot prove")));

        let mut allow_all = live_policy("np-1");
        allow_all["spec"]["ingress"] = json!([{}]);
        assert!(matches!(check(Some("np-1"), allow_all), Verdict::Mismatch(why) if why.contains("spec")));

        let mut unlabelled = live_policy("np-1");
        unlabelled["metadata"]["labels"] = json!({});
        assert!(matches!(check(Some("np-1"), unlabelled), Verdict::Mismatch(why) if why.contains("labels")));

        let item = Pending { undoes: 2, reversal: policy_reversal(), made_uid: Some("np-1".into()) };
        let gone = judge(&item, CASE, &Live { pod: Some(pod), other: None }, UndoOptions::default()).0;
        assert!(matches!(gone, Verdict::AlreadyReversed(_)));
    }

    #[test]
    fn what_another_case_relies_on_is_kept_unless_asked() {
        let pod = live_pod(&format!("{CASE},later-case"), json!({QUARANTINE_LABEL: UID}), json!({}));
        assert_eq!(
            verdict(label_reversal(), Some(UID), pod.clone(), None, false),
            Verdict::Shared(vec!["later-case".into()])
        );
        assert_eq!(
            verdict(policy_reversal(), Some("np-1"), pod.clone(), Some(live_policy("np-1")), false),
            Verdict::Shared(vec!["later-case".into()])
        );
        assert_eq!(verdict(label_reversal(), Some(UID), pod.clone(), None, true), Verdict::Reverse);
        let leave =
            Reversal::LeaveCase { namespace: "shop".into(), pod: "web-1".into(), pod_uid: UID.into() };
        assert_eq!(
            verdict(leave, Some(UID), pod, None, false),
            Verdict::Reverse,
            "leaving never waits for others"
        );
    }

    #[test]
    fn pod_changes_are_reversed_only_on_the_same_pod_as_kir_left_it() {
        let quarantined = live_pod(CASE, json!({QUARANTINE_LABEL: UID}), json!({}));
        assert_eq!(verdict(label_reversal(), Some(UID), quarantined, None, false), Verdict::Reverse);
        let relabelled = live_pod(CASE, json!({QUARANTINE_LABEL: "something-else"}), json!({}));
        assert!(matches!(
            verdict(label_reversal(), Some(UID), relabelled, None, false),
            Verdict::Mismatch(_)
        ));
        let not_ours = live_pod("", json!({QUARANTINE_LABEL: UID}), json!({}));
        assert!(matches!(verdict(label_reversal(), Some(UID), not_ours, None, false), Verdict::Mismatch(_)));
        let mut recreated = live_pod(CASE, json!({QUARANTINE_LABEL: UID}), json!({}));
        recreated["metadata"]["uid"] = json!("another-uid");
        assert!(matches!(
            verdict(label_reversal(), Some(UID), recreated, None, false),
            Verdict::AlreadyReversed(_)
        ));

        let removed: Labels = [("app".to_string(), "web".to_string())].into();
        let restore = Reversal::RestoreLabels {
            namespace: "shop".into(),
            pod: "web-1".into(),
            pod_uid: UID.into(),
            labels: removed.clone(),
        };
        let annotation = json!({REMOVED_LABELS_ANNOTATION: serde_json::to_string(&removed).unwrap()});
        let orphaned = live_pod(CASE, json!({}), annotation.clone());
        assert_eq!(verdict(restore.clone(), Some(UID), orphaned.clone(), None, false), Verdict::Reverse);
        let item = Pending { undoes: 2, reversal: restore.clone(), made_uid: Some(UID.into()) };
        let live = Live { pod: Some(orphaned), other: None };
        assert!(
            matches!(judge(&item, CASE, &live, UndoOptions::default()).0, Verdict::KeptOrphaned(_)),
            "without --readopt the pod stays orphaned"
        );
        let taken = live_pod(CASE, json!({"app": "evil"}), annotation);
        assert!(matches!(verdict(restore.clone(), Some(UID), taken, None, false), Verdict::Mismatch(_)));
        let back = live_pod(CASE, json!({"app": "web"}), json!({}));
        assert!(matches!(verdict(restore, Some(UID), back, None, false), Verdict::AlreadyReversed(_)));
    }

    #[test]
    fn a_node_is_uncordoned_only_when_this_case_cordoned_it() {
        let cordon = Reversal::Uncordon {
            node: "n1".into(),
            namespace: "shop".into(),
            pod: "web-1".into(),
            pod_uid: UID.into(),
        };
        let pod = live_pod(CASE, json!({}), json!({}));
        let node = |by: &str, unschedulable: bool| json!({"metadata": {"uid": "node-uid", "annotations": {CORDONED_BY_ANNOTATION: by}}, "spec": {"unschedulable": unschedulable}});
        let check =
            |made: Option<&str>, node: Value| verdict(cordon.clone(), made, pod.clone(), Some(node), false);
        assert_eq!(check(Some("node-uid"), node(CASE, true)), Verdict::Reverse);
        assert!(matches!(check(Some("node-uid"), node("someone", true)), Verdict::Mismatch(_)));
        assert!(matches!(check(Some("other-uid"), node(CASE, true)), Verdict::Mismatch(_)));
        assert!(matches!(check(Some("node-uid"), node("someone", false)), Verdict::AlreadyReversed(_)));
    }

    const HELPER_UID: &str = "9b1d3c5e-0a2f-4e6d-8c7b-6a5f4e3d2c1b";

    fn helper_reversal() -> Reversal {
        Reversal::DeleteHelper {
            namespace: "shop".into(),
            helper: "kir-node-helper-abcde".into(),
            pod: "web-1".into(),
        }
    }

    /// The intent `start_helper` journals: its target is the helper, "for" names the suspect.
    fn helper_intent(seq: u64, reversal: &Reversal, made_for: &str) -> JournalEntry {
        let mut intent = intent(seq, reversal);
        intent.target = Some(reversal.target());
        intent.parameters = json!({"node": "n1", "image": "kir:dev", "for": made_for});
        intent
    }

    /// What `stop_helper` journals.
    fn helper_deleted(seq: u64, uid: &str, result: Value) -> JournalEntry {
        let mut deletion = entry(seq, HELPER_DELETE, json!({"uid": uid}), result, Value::Null);
        deletion.target = Some(helper_reversal().target());
        deletion
    }

    #[test]
    fn a_helper_left_behind_is_pending_and_belongs_to_the_pod_it_was_started_for() {
        let entries = vec![
            helper_intent(2, &helper_reversal(), "pod/shop/web-1"),
            result(3, HELPER_CREATE, 2, "created", Some(HELPER_UID)),
        ];
        let journaled = pending(&entries, None);
        assert!(journaled.refused.is_empty(), "{:?}", journaled.refused);
        assert_eq!(
            journaled.pending,
            [Pending { undoes: 2, reversal: helper_reversal(), made_uid: Some(HELPER_UID.into()) }]
        );
        assert_eq!(
            pending(&entries, Some("pod/shop/web-1")).pending.len(),
            1,
            "release pod web-1 removes it"
        );
        assert!(pending(&entries, Some("pod/shop/kir-node-helper-abcde")).pending.is_empty());
        assert!(pending(&entries, Some("pod/shop/web-2")).pending.is_empty());

        let failed = vec![
            helper_intent(2, &helper_reversal(), "pod/shop/web-1"),
            result(3, HELPER_CREATE, 2, "failed", None),
        ];
        assert!(pending(&failed, None).pending.is_empty(), "a helper never created is not deleted");
    }

    #[test]
    fn a_helper_its_own_run_deleted_is_not_deleted_again() {
        let created = vec![
            helper_intent(2, &helper_reversal(), "pod/shop/web-1"),
            result(3, HELPER_CREATE, 2, "created", Some(HELPER_UID)),
        ];
        let mut deleted = created.clone();
        deleted.push(helper_deleted(4, HELPER_UID, json!({"deleted": true})));
        assert!(pending(&deleted, None).pending.is_empty());

        // Gone before its run deleted it, a deletion that failed, or one of another pod: the
        // live check decides.
        for deletion in [
            helper_deleted(4, HELPER_UID, json!({"deleted": false})),
            helper_deleted(
                4,
                HELPER_UID,
                json!({"error": "the server is currently unable to handle the request"}),
            ),
            helper_deleted(4, "another-uid", json!({"deleted": true})),
        ] {
            let mut entries = created.clone();
            entries.push(deletion);
            assert_eq!(pending(&entries, None).pending.len(), 1);
        }
    }

    #[test]
    fn a_helper_entry_naming_another_pod_is_refused() {
        // The reversal names another pod than the entry's target, or another suspect than the
        // intent says the helper was started for.
        let mut elsewhere = helper_intent(2, &helper_reversal(), "pod/shop/web-1");
        elsewhere.target = Some("pod/kube-system/coredns".into());
        let other_suspect = helper_intent(3, &helper_reversal(), "pod/kube-system/coredns");
        let unnamed = helper_intent(4, &helper_reversal(), "");
        let mut under_other_action = helper_intent(5, &helper_reversal(), "pod/shop/web-1");
        under_other_action.action = "isolate.label-pod".into();
        // A UID is never taken from the reversal: the one the API server answered with is.
        let mut with_uid = helper_intent(6, &helper_reversal(), "pod/shop/web-1");
        with_uid.undo["uid"] = json!("another-uid");
        let entries = vec![elsewhere, other_suspect, unnamed, under_other_action, with_uid];
        let journaled = pending(&entries, None);
        assert!(journaled.pending.is_empty(), "{:?}", journaled.pending);
        let refused: Vec<u64> = journaled.refused.iter().map(|r| r.entry).collect();
        assert_eq!(refused, [6, 5, 4, 3, 2]);
    }

    fn live_helper(uid: &str) -> Value {
        let mut helper = crate::node::helper_pod("shop", "kir-node-helper-abcde", "n1", "kir:dev", CASE);
        helper["metadata"]["uid"] = json!(uid);
        helper
    }

    fn helper_check(made: Option<&str>, helper: Option<Value>) -> Verdict {
        let item = Pending { undoes: 2, reversal: helper_reversal(), made_uid: made.map(str::to_string) };
        judge(&item, CASE, &Live { pod: None, other: helper }, UndoOptions::default()).0
    }

    #[test]
    fn a_helper_is_deleted_only_when_it_is_the_pod_kir_started_for_this_case() {
        assert_eq!(helper_check(Some(HELPER_UID), Some(live_helper(HELPER_UID))), Verdict::Reverse);
        let item = Pending { undoes: 2, reversal: helper_reversal(), made_uid: Some(HELPER_UID.into()) };
        let live = Live { pod: None, other: Some(live_helper(HELPER_UID)) };
        assert_eq!(judge(&item, CASE, &live, UndoOptions::default()).1, HELPER_UID, "deleted by this UID");

        assert!(matches!(
            helper_check(Some(HELPER_UID), Some(live_helper("another-uid"))),
            Verdict::Mismatch(why) if why.contains("another pod took its name")
        ));
        assert!(matches!(
            helper_check(None, Some(live_helper(HELPER_UID))),
            Verdict::Mismatch(why) if why.contains("cannot prove")
        ));
        let mut unlabelled = live_helper(HELPER_UID);
        unlabelled["metadata"]["labels"] = json!({});
        assert!(matches!(
            helper_check(Some(HELPER_UID), Some(unlabelled)),
            Verdict::Mismatch(why) if why.contains("labels")
        ));
        let mut other_case = live_helper(HELPER_UID);
        other_case["metadata"]["annotations"][CASE_ANNOTATION] = json!("another-case");
        assert!(matches!(
            helper_check(Some(HELPER_UID), Some(other_case)),
            Verdict::Mismatch(why) if why.contains("this case's id")
        ));
        assert!(matches!(
            helper_check(Some(HELPER_UID), None),
            Verdict::AlreadyReversed(why) if why.contains("no longer exists")
        ));
    }

    #[test]
    fn reversals_read_back_as_written() {
        for reversal in [policy_reversal(), label_reversal(), helper_reversal()] {
            let value = serde_json::to_value(&reversal).unwrap();
            assert_eq!(serde_json::from_value::<Reversal>(value).unwrap(), reversal);
        }
    }
}

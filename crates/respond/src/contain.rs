//! Applying an isolation plan: every change journaled before it is made (with what undoing it
//! needs) and after (with how it went), the replacement awaited, the result read back.

use std::time::{Duration, Instant};

use futures::future::{join_all, try_join_all};
use kir_cluster::Cluster;
use kir_evidence::{Case, JournalRecord};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    Result, blocking,
    isolate::{CASE_ANNOTATION, Change, IsolationPlan, PlannedChange, PodState},
    netpol::{self, QUARANTINE_LABEL},
    selector::{Labels, to_query},
    undo::{PolicyKind, Reversal},
};

/// Annotation holding the labels kir removed from a pod (JSON), for people and for undo.
pub const REMOVED_LABELS_ANNOTATION: &str = "ir.kir.dev/removed-labels";
/// Annotation naming the case that cordoned a node: undo uncordons only a node that says so.
pub const CORDONED_BY_ANNOTATION: &str = "ir.kir.dev/cordoned-by-case";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Applied,
    /// The cluster already had it (a re-run, or another responder).
    Unchanged,
    Failed,
    /// Not attempted: an earlier change it depends on failed (see the error).
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedChange {
    pub description: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub millis: u128,
}

impl AppliedChange {
    /// The cluster has the change: made now, or already there.
    pub fn made(&self) -> bool {
        matches!(self.outcome, Outcome::Applied | Outcome::Unchanged)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    pub name: String,
    /// From the orphaning patch to the replacement Running.
    pub running_after_ms: u128,
}

/// What the cluster holds once the changes are made, read back from it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InPlace {
    pub quarantine_label: bool,
    /// The pod no longer exists (it was replaced): nothing of it is in place any more.
    pub pod_gone: bool,
    pub pod_labels: Labels,
    pub policies: Vec<String>,
    pub node_cordoned: Option<bool>,
    /// Services whose EndpointSlices still list the pod (they were just told to drop it;
    /// the EndpointSlice controller catches up within seconds).
    pub still_routed_by: Vec<String>,
}

impl InPlace {
    /// A deny policy with kir's spec is there, and the pod carries the label it selects (or
    /// the pod is gone: deleted after it was contained).
    fn contains_the_pod(&self) -> bool {
        !self.policies.is_empty() && (self.quarantine_label || self.pod_gone)
    }
}

/// "Isolated after N ms", the one definition: from kir's start ([`apply_and_wait`]'s
/// `started`) to the moment the API server had confirmed both the quarantine label on the pod
/// and a deny policy selecting it; reported only when the read-back then finds both as kir
/// wrote them. "Contained after N ms" is the same figure, claimed only when a network plugin
/// that enforces the policy was seen running (see [`crate::isolate::Enforcement`]).
pub fn isolated_after_ms(started: Instant) -> u128 {
    started.elapsed().as_millis()
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IsolationReport {
    pub pod: String,
    pub plan: IsolationPlan,
    pub changes: Vec<AppliedChange>,
    /// See [`isolated_after_ms`]: `None` when the read-back did not confirm it.
    pub isolated_after_ms: Option<u128>,
    /// `isolated_after_ms`, when the policy's enforcement was seen; else `None`.
    pub contained_after_ms: Option<u128>,
    pub replacement: Option<Replacement>,
    /// The replacement was awaited and did not run: why, as the cluster says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement_missing: Option<String>,
    pub in_place: InPlace,
    /// The read-back could not be made (a permission missing): what is in place is unknown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unconfirmed: bool,
    /// What could not be checked or awaited after the changes (each change's own failure is
    /// in `changes`).
    pub notes: Vec<String>,
}

impl IsolationReport {
    /// A change failed or was not made, or what is in place could not be read back.
    pub fn failed(&self) -> bool {
        self.unconfirmed
            || self.changes.iter().any(|c| matches!(c.outcome, Outcome::Failed | Outcome::Skipped))
    }

    /// Each change that failed or was not made, with why: `create NetworkPolicy ...: forbidden:
    /// create networkpolicies.networking.k8s.io in shop`.
    pub fn failures(&self) -> Vec<String> {
        self.changes
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed | Outcome::Skipped))
            .map(|c| format!("{}: {}", c.description, c.error.as_deref().unwrap_or("not made")))
            .collect()
    }

    /// What the isolation may claim, in one line: contained (enforcement seen), isolated with
    /// enforcement unknown, or not contained.
    pub fn containment(&self) -> String {
        let enforcement = &self.plan.enforcement;
        match (self.isolated_after_ms, enforcement.enforced) {
            (_, Some(false)) => format!("NOT network-contained: {}", enforcement.detail),
            (Some(ms), Some(true)) => format!("contained after {ms} ms ({})", enforcement.detail),
            (Some(ms), None) => {
                format!("isolation in place after {ms} ms; policy enforcement {}", enforcement.detail)
            }
            (None, _) => "NOT contained".to_string(),
        }
    }

    /// Whether the suspect's controller has let go of it (the orphaning patch is in place).
    pub fn orphaned(&self) -> bool {
        self.plan
            .changes
            .iter()
            .zip(&self.changes)
            .any(|(planned, applied)| matches!(planned.change, Change::RemoveLabels { .. }) && applied.made())
    }

    /// Record the awaited replacement, or why it could not be awaited: the changes are made
    /// either way, so this is a note, not a failure of the isolation.
    pub fn settle_replacement(&mut self, replacement: Result<Awaited>) {
        match replacement {
            Ok(Awaited::Running(replacement)) => self.replacement = Some(replacement),
            Ok(Awaited::NotRunning(why)) => self.replacement_missing = Some(why),
            Err(error) => self.notes.push(format!("cannot wait for the replacement: {error}")),
        }
    }

    /// Record what the read-back found, or why it could not read back. "Contained" stands only
    /// when the read-back found the pod under a deny policy as kir wrote it.
    pub fn settle_read_back(&mut self, in_place: Result<InPlace>) {
        match in_place {
            Ok(in_place) => {
                if self.isolated_after_ms.is_some() && !in_place.contains_the_pod() {
                    self.isolated_after_ms = None;
                    self.contained_after_ms = None;
                    self.notes.push(
                        "not contained: the read-back did not find the quarantine label on the pod and a deny policy as \
                         kir wrote it"
                            .into(),
                    );
                }
                self.in_place = in_place;
            }
            Err(error) => {
                self.contained_after_ms = None;
                self.unconfirmed = true;
                if self.isolated_after_ms.take().is_some() {
                    self.notes
                        .push(format!("containment unconfirmed: cannot read back what is in place: {error}"));
                } else {
                    self.notes.push(format!("cannot read back what is in place: {error}"));
                }
            }
        }
    }
}

/// How waiting for the replacement ended.
#[derive(Debug, Clone)]
pub enum Awaited {
    Running(Replacement),
    /// Not running when the wait ended: why, as the cluster says.
    NotRunning(String),
}

/// How often a wait that takes longer than expected says why.
const EXPLAIN_EVERY: Duration = Duration::from_secs(10);

/// A replacement the controller is expected to start: the pod of the controller's selector
/// that appears after the orphaning patch.
pub struct PendingReplacement {
    namespace: String,
    target: String,
    selector: String,
    /// The controller, whose warning events say why it creates no pod.
    owner: Option<String>,
    suspect_uid: String,
    /// The resourceVersion of the orphaning patch: the watch starts there.
    orphaned: String,
    orphaned_at: Instant,
    timeout: Duration,
}

impl PendingReplacement {
    /// Wait (at most the timeout) for the replacement to run, and journal what was seen. A
    /// wait that lasts says why every few seconds (a Pending pod's scheduling, an image pull, a
    /// quota refusing the pod), and a replacement that never ran is reported with the reason.
    pub async fn wait(self, cluster: &Cluster, case: &Case, actor: &str) -> Result<Awaited> {
        let watch =
            cluster.wait_for_new_pod(&self.namespace, &self.selector, &self.orphaned, self.timeout, |p| {
                p.metadata.uid.as_ref().is_some_and(|uid| *uid != self.suspect_uid)
                    && p.metadata.deletion_timestamp.is_none()
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            });
        let explain = async {
            loop {
                tokio::time::sleep(EXPLAIN_EVERY).await;
                if let Ok(Some(why)) = self.why_not_running(cluster).await {
                    tracing::warn!(
                        "waiting for the replacement ({} s of {} s): {why}",
                        self.orphaned_at.elapsed().as_secs(),
                        self.timeout.as_secs()
                    );
                }
            }
        };
        let found = tokio::select! {
            found = watch => found?,
            () = explain => unreachable!("the explanations go on until the watch ends"),
        };
        let awaited = match found.and_then(|p| p.metadata.name) {
            Some(name) => Awaited::Running(Replacement {
                name,
                running_after_ms: self.orphaned_at.elapsed().as_millis(),
            }),
            None => Awaited::NotRunning(match self.why_not_running(cluster).await {
                Ok(Some(why)) => format!("not running after {} s: {why}", self.timeout.as_secs()),
                Ok(None) => format!("not seen running within {} s", self.timeout.as_secs()),
                Err(error) => {
                    format!("not seen running within {} s (why is unknown: {error})", self.timeout.as_secs())
                }
            }),
        };
        let seen = match &awaited {
            Awaited::Running(r) => json!({"status": "running", "pod": r.name, "afterMs": r.running_after_ms}),
            Awaited::NotRunning(why) => {
                json!({"status": "not seen", "waitedSeconds": self.timeout.as_secs(), "why": why})
            }
        };
        blocking::record(
            case,
            JournalRecord::new(actor, "isolate.replacement").target(self.target.clone()).result(seen),
        )
        .await?;
        Ok(awaited)
    }

    async fn why_not_running(&self, cluster: &Cluster) -> Result<Option<String>> {
        Ok(cluster
            .why_not_running(&self.namespace, &self.selector, &self.suspect_uid, self.owner.as_deref())
            .await?)
    }
}

/// Apply `plan` and wait for the replacement (at most `replacement_timeout`; zero: do not
/// wait). `applied` is told, once the changes are made, whether the pod is orphaned. The
/// read-back ([`read_back`]) is left to the caller, who may do other work meanwhile.
#[allow(clippy::too_many_arguments)]
pub async fn apply_and_wait(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    pod: &PodState,
    plan: IsolationPlan,
    started: Instant,
    replacement_timeout: Duration,
    applied: Option<tokio::sync::oneshot::Sender<bool>>,
) -> Result<IsolationReport> {
    let (mut report, pending) = apply(cluster, case, actor, pod, plan, started, replacement_timeout).await?;
    if let Some(applied) = applied {
        let _ = applied.send(report.orphaned());
    }
    if let Some(pending) = pending {
        let replacement = pending.wait(cluster, case, actor).await;
        report.settle_replacement(replacement);
    }
    Ok(report)
}

/// Apply `plan` to the pod, in two rounds. First what needs nothing of the pod: the deny
/// policies (which select the quarantine label no pod has yet) and the cordon. Then one patch
/// of the pod's labels: the quarantine label added and the labels its controller and Services
/// select on removed together, so the pod enters the deny policies at the moment it leaves
/// every policy that selected it by its workload labels (one of which may have restricted it),
/// and its replacement is started without another round trip.
///
/// A change that fails is reported and the others still run: a partial containment beats
/// none. The replacement (awaited at most `replacement_timeout`; zero: not at all) is watched
/// from the patch's resourceVersion.
async fn apply(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    pod: &PodState,
    mut plan: IsolationPlan,
    started: Instant,
    replacement_timeout: Duration,
) -> Result<(IsolationReport, Option<PendingReplacement>)> {
    let target = format!("pod/{}/{}", pod.namespace, pod.name);
    let mut notes = Vec::new();
    let labels_change = |c: &PlannedChange| {
        matches!(c.change, Change::LabelPod { .. } | Change::RemoveLabels { .. } | Change::JoinCase { .. })
    };
    let quarantined_by_another =
        plan.changes.iter().any(|c| matches!(c.change, Change::LabelPod { .. }) && c.already_in_place)
            && !pod.cases.iter().any(|id| id == case.id());
    if quarantined_by_another {
        let change = Change::JoinCase { case: case.id().to_string() };
        let description = change.describe(pod);
        plan.changes.push(PlannedChange { change, already_in_place: false, description });
    }

    let independent: Vec<&PlannedChange> = plan.changes.iter().filter(|c| !labels_change(c)).collect();
    let first_round: Vec<AppliedChange> =
        try_join_all(independent.iter().map(|planned| {
            apply_together(cluster, case, actor, &target, pod, std::slice::from_ref(planned))
        }))
        .await?
        .into_iter()
        .flat_map(|(changes, _)| changes)
        .collect();
    let policy_in_place = independent
        .iter()
        .zip(&first_round)
        .any(|(planned, applied)| planned.change.contains() && applied.made());

    let labels: Vec<&PlannedChange> = plan.changes.iter().filter(|c| labels_change(c)).collect();
    // Taking the pod's labels away also takes it out of every policy that selected it by them,
    // one of which may restrict it: without a deny policy in place that would leave it less
    // confined than before. So the pod is not touched at all.
    let (second_round, patched) = if policy_in_place {
        apply_together(cluster, case, actor, &target, pod, &labels).await?
    } else {
        (stop_without_policy(case, actor, &target, &labels, &first_round).await?, None)
    };
    let labelled = labels
        .iter()
        .zip(&second_round)
        .any(|(planned, applied)| matches!(planned.change, Change::LabelPod { .. }) && applied.made());
    let isolated_after_ms = (labelled && policy_in_place).then(|| isolated_after_ms(started));
    let contained_after_ms = isolated_after_ms.filter(|_| plan.enforcement.enforced == Some(true));
    let orphaned_at = labels
        .iter()
        .zip(&second_round)
        .any(|(planned, applied)| {
            matches!(planned.change, Change::RemoveLabels { .. })
                && !planned.already_in_place
                && applied.outcome == Outcome::Applied
        })
        .then(Instant::now);

    // The report lists the changes in the plan's order.
    let (mut first_round, mut second_round) = (first_round.into_iter(), second_round.into_iter());
    let changes = plan
        .changes
        .iter()
        .filter_map(|c| if labels_change(c) { second_round.next() } else { first_round.next() })
        .collect();
    let selector =
        plan.replaced_by.as_ref().and_then(|c| c.selector.as_ref()).map(to_query).unwrap_or_default();
    let pending = match (orphaned_at, patched) {
        (Some(orphaned_at), Some(orphaned))
            if plan.replaced_by.is_some() && !selector.is_empty() && !replacement_timeout.is_zero() =>
        {
            Some(PendingReplacement {
                namespace: pod.namespace.clone(),
                target: target.clone(),
                selector,
                owner: plan.replaced_by.as_ref().map(|c| c.name.clone()),
                suspect_uid: pod.uid.clone(),
                orphaned,
                orphaned_at,
                timeout: replacement_timeout,
            })
        }
        (Some(_), None) if plan.replaced_by.is_some() => {
            notes.push(
                "the orphaning patch's answer has no resourceVersion: the replacement is not awaited".into(),
            );
            None
        }
        _ => None,
    };
    let report = IsolationReport {
        pod: format!("{}/{}", pod.namespace, pod.name),
        plan,
        changes,
        isolated_after_ms,
        contained_after_ms,
        replacement: None,
        replacement_missing: None,
        in_place: InPlace::default(),
        unconfirmed: false,
        notes,
    };
    Ok((report, pending))
}

/// The pod's label changes, not made because no deny policy is in place; journaled, with the
/// failures that stopped them.
async fn stop_without_policy(
    case: &Case,
    actor: &str,
    target: &str,
    labels: &[&PlannedChange],
    first_round: &[AppliedChange],
) -> Result<Vec<AppliedChange>> {
    let causes: Vec<String> = first_round.iter().filter_map(|c| c.error.clone()).collect();
    let reason = format!(
        "no deny policy is in place ({}): the pod's labels are left as they are, so it stays under every policy \
         that selects it today",
        if causes.is_empty() { "none could be created".to_string() } else { causes.join("; ") }
    );
    blocking::record(
        case,
        JournalRecord::new(actor, "isolate.stopped")
            .target(target)
            .parameters(json!({"notMade": labels.iter().map(|c| &c.description).collect::<Vec<_>>()}))
            .result(json!({"status": "stopped", "reason": reason})),
    )
    .await?;
    Ok(labels
        .iter()
        .map(|planned| AppliedChange {
            description: planned.description.clone(),
            outcome: Outcome::Skipped,
            error: Some(format!("not made: {reason}")),
            millis: 0,
        })
        .collect())
}

/// Make `planned` with one request, each change journaled as its own: every intent (with
/// what undoes it) before the request, every result after. More than one change in one
/// request: the pod's label changes, made by one patch.
async fn apply_together(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    target: &str,
    pod: &PodState,
    planned: &[&PlannedChange],
) -> Result<(Vec<AppliedChange>, Option<String>)> {
    let change_started = Instant::now();
    let pending: Vec<&PlannedChange> = planned.iter().copied().filter(|c| !c.already_in_place).collect();
    let mut intents = Vec::new();
    for change in &pending {
        intents.push(record_intent(case, actor, target, pod, change).await?);
    }
    let (outcome, error, made) = if pending.is_empty() {
        (Outcome::Unchanged, None, None)
    } else {
        let changes: Vec<&Change> = pending.iter().map(|c| &c.change).collect();
        outcome_of(make(cluster, case, pod, &changes).await)
    };
    let uid = made.as_ref().and_then(|m| m.uid.as_deref());
    for (change, intent) in pending.iter().zip(intents) {
        record_result(case, actor, target, change, intent, outcome, error.as_deref(), uid).await?;
    }
    let resource_version = made.and_then(|m| m.resource_version);
    let applied = planned
        .iter()
        .map(|change| {
            if change.already_in_place {
                unchanged(change)
            } else {
                AppliedChange {
                    description: change.description.clone(),
                    outcome,
                    error: error.clone(),
                    millis: change_started.elapsed().as_millis(),
                }
            }
        })
        .collect();
    Ok((applied, resource_version))
}

fn unchanged(planned: &PlannedChange) -> AppliedChange {
    AppliedChange {
        description: planned.description.clone(),
        outcome: Outcome::Unchanged,
        error: None,
        millis: 0,
    }
}

/// The outcome of a request, its error, and what it made (when it changed the cluster).
fn outcome_of(made: kir_cluster::Result<Made>) -> (Outcome, Option<String>, Option<Made>) {
    match made {
        Ok(made) if made.changed => (Outcome::Applied, None, Some(made)),
        Ok(_) => (Outcome::Unchanged, None, None),
        Err(error) => (Outcome::Failed, Some(error.to_string()), None),
    }
}

/// What one request did: whether it changed the cluster (`false`: it already had it), the
/// UID of the object in the API server's answer, and the resourceVersion it wrote.
struct Made {
    changed: bool,
    uid: Option<String>,
    resource_version: Option<String>,
}

impl Made {
    fn from_answer(answer: &Value) -> Made {
        let field = |pointer: &str| answer.pointer(pointer).and_then(Value::as_str).map(str::to_string);
        Made {
            changed: true,
            uid: field("/metadata/uid"),
            resource_version: field("/metadata/resourceVersion"),
        }
    }
}

async fn record_intent(
    case: &Case,
    actor: &str,
    target: &str,
    pod: &PodState,
    planned: &PlannedChange,
) -> Result<u64> {
    let reversal = reversal_of(&planned.change, pod);
    let intent = blocking::record(
        case,
        JournalRecord::new(actor, planned.change.action())
            .target(target)
            .parameters(json!({"change": planned.change, "description": planned.description}))
            .result(json!({"status": "started"}))
            .undo(serde_json::to_value(&reversal).unwrap_or_default()),
    )
    .await?;
    Ok(intent.seq)
}

/// The result of a change; `uid` is the UID of the object the API server answered with (the
/// object created, the node or pod patched), which undo requires of the live object.
#[allow(clippy::too_many_arguments)]
async fn record_result(
    case: &Case,
    actor: &str,
    target: &str,
    planned: &PlannedChange,
    intent: u64,
    outcome: Outcome,
    error: Option<&str>,
    uid: Option<&str>,
) -> Result<()> {
    blocking::record(
        case,
        JournalRecord::new(actor, planned.change.action())
            .target(target)
            .parameters(json!({"intent": intent}))
            .result(json!({"status": outcome, "error": error, "uid": uid})),
    )
    .await?;
    Ok(())
}

/// One merge patch making every label change of `changes`. The UID in it makes it fail on a
/// pod recreated under the same name.
fn label_patch<'c>(case: &Case, pod: &PodState, changes: impl Iterator<Item = &'c Change>) -> Value {
    let mut labels = serde_json::Map::new();
    let mut annotations = serde_json::Map::new();
    let mut cases = pod.cases.clone();
    if !cases.iter().any(|id| id == case.id()) {
        cases.push(case.id().to_string());
    }
    for change in changes {
        match change {
            Change::LabelPod { key, value } => {
                labels.insert(key.clone(), Value::String(value.clone()));
                annotations.insert(CASE_ANNOTATION.to_string(), Value::String(cases.join(",")));
            }
            Change::JoinCase { .. } => {
                annotations.insert(CASE_ANNOTATION.to_string(), Value::String(cases.join(",")));
            }
            Change::RemoveLabels { labels: removed, .. } => {
                labels.extend(removed.keys().map(|k| (k.clone(), Value::Null)));
                annotations.insert(
                    REMOVED_LABELS_ANNOTATION.to_string(),
                    Value::String(serde_json::to_string(removed).unwrap_or_default()),
                );
            }
            _ => {}
        }
    }
    json!({"metadata": {"uid": pod.uid, "labels": labels, "annotations": annotations}})
}

/// What reverses `change` (recorded before the change is made): one of the reversals undo
/// knows, naming the pod by its UID. Undo derives the object and the checks from it.
fn reversal_of(change: &Change, pod: &PodState) -> Reversal {
    let (namespace, pod_name, pod_uid) = (pod.namespace.clone(), pod.name.clone(), pod.uid.clone());
    let policy = |kind| Reversal::DeletePolicy {
        kind,
        namespace: namespace.clone(),
        pod: pod_name.clone(),
        pod_uid: pod_uid.clone(),
    };
    match change {
        Change::LabelPod { .. } => Reversal::RemoveQuarantineLabel { namespace, pod: pod_name, pod_uid },
        Change::CreateNetworkPolicy { .. } => policy(PolicyKind::NetworkPolicy),
        Change::CreateCiliumPolicy { .. } => policy(PolicyKind::CiliumNetworkPolicy),
        Change::CreateAdminNetworkPolicy { .. } => policy(PolicyKind::AdminNetworkPolicy),
        Change::RemoveLabels { labels, .. } => {
            Reversal::RestoreLabels { namespace, pod: pod_name, pod_uid, labels: labels.clone() }
        }
        Change::CordonNode { node } => {
            Reversal::Uncordon { node: node.clone(), namespace, pod: pod_name, pod_uid }
        }
        Change::JoinCase { .. } => Reversal::LeaveCase { namespace, pod: pod_name, pod_uid },
    }
}

/// Make `changes` with one request: one object created, the node cordoned, or the pod's
/// label changes patched.
async fn make(
    cluster: &Cluster,
    case: &Case,
    pod: &PodState,
    changes: &[&Change],
) -> kir_cluster::Result<Made> {
    match changes {
        [
            Change::CreateNetworkPolicy { object }
            | Change::CreateCiliumPolicy { object }
            | Change::CreateAdminNetworkPolicy { object },
        ] => {
            // The case id on the object is part of what undo checks before deleting it.
            let mut object = object.clone();
            object["metadata"]["annotations"][CASE_ANNOTATION] = Value::String(case.id().to_string());
            match cluster.create_object(&object).await {
                Ok(created) => Ok(Made::from_answer(&created)),
                Err(kir_cluster::Error::Api { code: 409, message, what }) => {
                    // Made meanwhile (another run of kir), or a namesake that is not kir's.
                    let (api_version, kind, namespace, name) = identity(&object);
                    let existing = cluster.get_object(api_version, kind, namespace, name).await?;
                    if netpol::same_spec(&object, &existing.value) {
                        Ok(Made { changed: false, uid: None, resource_version: None })
                    } else {
                        Err(kir_cluster::Error::Api {
                            what,
                            code: 409,
                            message: format!(
                                "{message}; the existing {kind} {name} is not kir's deny-all policy (tampered, or \
                                 someone else's): inspect and delete it, then isolate again"
                            ),
                        })
                    }
                }
                Err(e) => Err(e),
            }
        }
        [Change::CordonNode { node }] => {
            let patch = json!({
                "metadata": {"annotations": {CORDONED_BY_ANNOTATION: case.id()}},
                "spec": {"unschedulable": true},
            });
            cluster
                .merge_patch("v1", "Node", None, node, &patch)
                .await
                .map(|patched| Made::from_answer(&patched))
        }
        labels => {
            let patch = label_patch(case, pod, labels.iter().copied());
            let patched = cluster.merge_patch("v1", "Pod", Some(&pod.namespace), &pod.name, &patch).await?;
            Ok(Made::from_answer(&patched))
        }
    }
}

/// `apiVersion`, `kind`, namespace and name of an object kir generated.
fn identity(object: &Value) -> (&str, &str, Option<&str>, &str) {
    let field = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    (
        field("/apiVersion").unwrap_or_default(),
        field("/kind").unwrap_or_default(),
        field("/metadata/namespace"),
        field("/metadata/name").unwrap_or_default(),
    )
}

/// What the cluster holds now for this isolation. The questions are independent, so they are
/// asked together.
pub async fn read_back(cluster: &Cluster, pod: &PodState, plan: &IsolationPlan) -> Result<InPlace> {
    let labels = async {
        match cluster.pod(&pod.namespace, &pod.name).await {
            Ok((current, _)) => Ok((current.metadata.labels.unwrap_or_default(), false)),
            Err(kir_cluster::Error::NotFound { .. }) => Ok((Labels::new(), true)),
            Err(error) => Err(error),
        }
    };
    let policies = join_all(plan.changes.iter().filter_map(|planned| match &planned.change {
        Change::CreateNetworkPolicy { object }
        | Change::CreateCiliumPolicy { object }
        | Change::CreateAdminNetworkPolicy { object } => Some(async move {
            let (api_version, kind, namespace, name) = identity(object);
            // In place means kir's spec under kir's name, not a namesake. A policy that cannot
            // be read (a missing permission) leaves the read-back unanswered, not "absent".
            let live = match cluster.get_object(api_version, kind, namespace, name).await {
                Ok(live) => live,
                Err(kir_cluster::Error::NotFound { .. }) => return Ok(None),
                Err(error) => return Err(error),
            };
            Ok(netpol::same_spec(object, &live.value)
                .then(|| format!("{kind}/{}{name}", namespace.map(|n| format!("{n}/")).unwrap_or_default())))
        }),
        _ => None,
    }));
    let cordon = plan.changes.iter().find_map(|c| match &c.change {
        Change::CordonNode { node } => Some(node.clone()),
        _ => None,
    });
    let node_cordoned = async {
        match cordon {
            Some(node) => cluster.get_raw(&format!("/api/v1/nodes/{node}")).await.map(|fetched| {
                Some(fetched.value.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false))
            }),
            None => Ok(None),
        }
    };
    let released: Vec<String> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.change {
            Change::RemoveLabels { releases, .. } => Some(releases.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|r| r.strip_prefix("Service/").map(str::to_string))
        .collect();
    let routing = try_join_all(released.iter().map(|service| async move {
        let slices = cluster.endpoint_slices(&pod.namespace, service).await?;
        let routed = slices
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .any(|e| e.target_ref.as_ref().and_then(|t| t.uid.as_deref()) == Some(pod.uid.as_str()));
        Ok::<_, kir_cluster::Error>(routed.then(|| service.clone()))
    }));
    let (labels, policies, node_cordoned, routing) = futures::join!(labels, policies, node_cordoned, routing);
    let (labels, pod_gone) = labels?;
    let policies: Vec<String> =
        policies.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect();
    let node_cordoned = node_cordoned?;
    let still_routed_by: Vec<String> = routing?.into_iter().flatten().collect();
    Ok(InPlace {
        quarantine_label: labels.get(QUARANTINE_LABEL) == Some(&pod.uid),
        pod_gone,
        pod_labels: labels,
        policies,
        node_cordoned,
        still_routed_by,
    })
}

//! Applying an isolation plan: every change journaled before it is made (with what undoing it
//! needs) and after (with how it went), the replacement awaited, the result read back.

use std::time::{Duration, Instant};

use futures::future::{join_all, try_join_all};
use kir_cluster::Cluster;
use kir_evidence::{Case, JournalRecord};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    Result,
    isolate::{Change, IsolationPlan, PlannedChange, PodState},
    netpol::{QUARANTINE_LABEL, quarantine_name},
    selector::{Labels, to_query},
    undo::UndoOp,
};

/// Annotation naming the case that acted on an object.
pub const CASE_ANNOTATION: &str = "ir.kir.dev/case";
/// Annotation holding the labels kir removed from a pod (JSON), for people and for undo.
pub const REMOVED_LABELS_ANNOTATION: &str = "ir.kir.dev/removed-labels";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Applied,
    /// The cluster already had it (a re-run, or another responder).
    Unchanged,
    Failed,
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

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IsolationReport {
    pub pod: String,
    pub plan: IsolationPlan,
    pub changes: Vec<AppliedChange>,
    /// From `started` to the moment the pod was contained: its quarantine label and a policy
    /// selecting it both in place.
    pub contained_after_ms: Option<u128>,
    pub replacement: Option<Replacement>,
    pub in_place: InPlace,
    /// What could not be checked or awaited after the changes (each change's own failure is
    /// in `changes`).
    pub notes: Vec<String>,
}

impl IsolationReport {
    pub fn failed(&self) -> bool {
        self.changes.iter().any(|c| c.outcome == Outcome::Failed)
    }

    /// Whether the suspect's controller has let go of it (the orphaning patch is in place).
    pub fn orphaned(&self) -> bool {
        self.plan.changes.iter().zip(&self.changes).any(|(planned, applied)| {
            matches!(planned.change, Change::RemoveLabels { .. }) && applied.outcome != Outcome::Failed
        })
    }

    /// Record the awaited replacement, or why it could not be awaited: the changes are made
    /// either way, so this is a note, not a failure of the isolation.
    pub fn settle_replacement(&mut self, replacement: Result<Option<Replacement>>) {
        match replacement {
            Ok(replacement) => self.replacement = replacement,
            Err(error) => self.notes.push(format!("cannot wait for the replacement: {error}")),
        }
    }

    /// Record what the read-back found, or why it could not read back.
    pub fn settle_read_back(&mut self, in_place: Result<InPlace>) {
        match in_place {
            Ok(in_place) => self.in_place = in_place,
            Err(error) => self.notes.push(format!("cannot read back what is in place: {error}")),
        }
    }
}

/// A replacement the controller is expected to start, to be awaited after the changes.
pub struct PendingReplacement {
    namespace: String,
    target: String,
    selector: String,
    /// The controller's pods before the orphaning: the replacement is the one not among them.
    siblings: Vec<String>,
    /// The resourceVersion of that list: the wait watches from it, without listing again.
    listed: String,
    suspect_uid: String,
    orphaned_at: Instant,
}

impl PendingReplacement {
    /// Wait (at most `timeout`) for the replacement to run, and journal what was seen.
    pub async fn wait(
        &self,
        cluster: &Cluster,
        case: &Case,
        actor: &str,
        timeout: Duration,
    ) -> Result<Option<Replacement>> {
        let found = cluster
            .wait_for_pod(&self.namespace, &self.selector, Some(&self.listed), timeout, |p| {
                p.metadata
                    .uid
                    .as_ref()
                    .is_some_and(|uid| *uid != self.suspect_uid && !self.siblings.contains(uid))
                    && p.metadata.deletion_timestamp.is_none()
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            })
            .await?;
        let replacement = found
            .and_then(|p| p.metadata.name)
            .map(|name| Replacement { name, running_after_ms: self.orphaned_at.elapsed().as_millis() });
        case.record(JournalRecord::new(actor, "isolate.replacement").target(self.target.clone()).result(
            match &replacement {
                Some(r) => json!({"status": "running", "pod": r.name, "afterMs": r.running_after_ms}),
                None => json!({"status": "not seen", "waitedSeconds": timeout.as_secs()}),
            },
        ))?;
        Ok(replacement)
    }
}

/// Apply `plan` and wait for the replacement (at most `replacement_timeout`; zero: do not
/// wait). The read-back ([`read_back`]) is left to the caller, who may do other work meanwhile.
pub async fn apply_and_wait(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    pod: &PodState,
    plan: IsolationPlan,
    started: Instant,
    replacement_timeout: Duration,
) -> Result<IsolationReport> {
    let (mut report, pending) = apply(cluster, case, actor, pod, plan, started).await?;
    if let Some(pending) = pending.filter(|_| !replacement_timeout.is_zero()) {
        let replacement = pending.wait(cluster, case, actor, replacement_timeout).await;
        report.settle_replacement(replacement);
    }
    Ok(report)
}

/// Apply `plan` to the pod. A change that fails is reported and the others still run: a
/// partial containment beats none.
async fn apply(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    pod: &PodState,
    plan: IsolationPlan,
    started: Instant,
) -> Result<(IsolationReport, Option<PendingReplacement>)> {
    let target = format!("pod/{}/{}", pod.namespace, pod.name);
    let mut changes = Vec::new();
    let mut contained_after_ms = None;
    let mut orphaned_at = None;
    let mut notes = Vec::new();
    // The policies select the quarantine label: without it nothing is contained.
    let mut labelled = false;
    // The controller's pods before the orphaning: the replacement is the one not among them.
    let mut siblings: Option<(Vec<String>, String)> = None;
    for planned in &plan.changes {
        if let (Change::RemoveLabels { .. }, Some(controller), false) =
            (&planned.change, &plan.replaced_by, planned.already_in_place)
        {
            let selector = controller.selector.as_ref().map(to_query).unwrap_or_default();
            match cluster.pods_listed(&pod.namespace, &selector).await {
                Ok((pods, listed)) => {
                    siblings = Some((pods.into_iter().filter_map(|p| p.metadata.uid).collect(), listed))
                }
                Err(error) => notes.push(format!(
                    "cannot list the pods of {} before orphaning ({error}): the replacement is not awaited",
                    controller.describe()
                )),
            }
        }
        let change = apply_change(cluster, case, actor, &target, pod, planned).await?;
        if change.outcome != Outcome::Failed {
            labelled |= matches!(planned.change, Change::LabelPod { .. });
            if planned.change.contains() && labelled && contained_after_ms.is_none() {
                contained_after_ms = Some(started.elapsed().as_millis());
            }
            if matches!(planned.change, Change::RemoveLabels { .. }) && !planned.already_in_place {
                orphaned_at = Some(Instant::now());
            }
        }
        changes.push(change);
    }

    let pending = match (&plan.replaced_by, orphaned_at, siblings) {
        (Some(controller), Some(orphaned_at), Some((siblings, listed))) => Some(PendingReplacement {
            namespace: pod.namespace.clone(),
            target: target.clone(),
            selector: controller.selector.as_ref().map(to_query).unwrap_or_default(),
            siblings,
            listed,
            suspect_uid: pod.uid.clone(),
            orphaned_at,
        })
        .filter(|p| !p.selector.is_empty()),
        _ => None,
    };
    let report = IsolationReport {
        pod: format!("{}/{}", pod.namespace, pod.name),
        plan,
        changes,
        contained_after_ms,
        replacement: None,
        in_place: InPlace::default(),
        notes,
    };
    Ok((report, pending))
}

/// Make one planned change, journaled: its intent (with what undoes it) before, its result
/// after.
async fn apply_change(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    target: &str,
    pod: &PodState,
    planned: &PlannedChange,
) -> Result<AppliedChange> {
    let change_started = Instant::now();
    if planned.already_in_place {
        return Ok(AppliedChange {
            description: planned.description.clone(),
            outcome: Outcome::Unchanged,
            error: None,
            millis: 0,
        });
    }
    let undo = undo_of(&planned.change, pod);
    let intent = case.record(
        JournalRecord::new(actor, planned.change.action())
            .target(target)
            .parameters(json!({"change": planned.change, "description": planned.description}))
            .result(json!({"status": "started"}))
            .undo(serde_json::to_value(&undo).unwrap_or_default()),
    )?;
    let (outcome, error) = match make(cluster, case, pod, &planned.change).await {
        Ok(true) => (Outcome::Applied, None),
        Ok(false) => (Outcome::Unchanged, None),
        Err(error) => (Outcome::Failed, Some(error.to_string())),
    };
    case.record(
        JournalRecord::new(actor, planned.change.action())
            .target(target)
            .parameters(json!({"intent": intent.seq}))
            .result(json!({"status": outcome, "error": error})),
    )?;
    Ok(AppliedChange {
        description: planned.description.clone(),
        outcome,
        error,
        millis: change_started.elapsed().as_millis(),
    })
}

/// What reverses `change` (recorded before the change is made).
fn undo_of(change: &Change, pod: &PodState) -> UndoOp {
    let pod_patch = |patch: Value| UndoOp::Patch {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: Some(pod.namespace.clone()),
        name: pod.name.clone(),
        patch,
    };
    let delete = |object: &Value| UndoOp::Delete {
        api_version: object["apiVersion"].as_str().unwrap_or_default().to_string(),
        kind: object["kind"].as_str().unwrap_or_default().to_string(),
        namespace: object.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string),
        name: object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string(),
    };
    match change {
        Change::LabelPod { key, .. } => pod_patch(
            json!({"metadata": {"uid": pod.uid, "labels": {key: null}, "annotations": {CASE_ANNOTATION: null}}}),
        ),
        Change::CreateNetworkPolicy { object }
        | Change::CreateCiliumPolicy { object }
        | Change::CreateAdminNetworkPolicy { object } => delete(object),
        Change::RemoveLabels { labels, .. } => pod_patch(
            json!({"metadata": {"uid": pod.uid, "labels": labels, "annotations": {REMOVED_LABELS_ANNOTATION: null}}}),
        ),
        Change::CordonNode { node } => UndoOp::Patch {
            api_version: "v1".into(),
            kind: "Node".into(),
            namespace: None,
            name: node.clone(),
            patch: json!({"spec": {"unschedulable": null}}),
        },
    }
}

/// Make one change. `Ok(false)`: the cluster already had it.
async fn make(cluster: &Cluster, case: &Case, pod: &PodState, change: &Change) -> kir_cluster::Result<bool> {
    let ns = Some(pod.namespace.as_str());
    match change {
        Change::LabelPod { key, value } => {
            // The UID in the patch makes it fail on a pod recreated under the same name.
            let patch = json!({"metadata": {
                "uid": pod.uid,
                "labels": {key: value},
                "annotations": {CASE_ANNOTATION: case.id()},
            }});
            cluster.merge_patch("v1", "Pod", ns, &pod.name, &patch).await.map(|_| true)
        }
        Change::CreateNetworkPolicy { object }
        | Change::CreateCiliumPolicy { object }
        | Change::CreateAdminNetworkPolicy { object } => match cluster.create_object(object).await {
            Ok(_) => Ok(true),
            Err(kir_cluster::Error::Api { code: 409, .. }) => Ok(false),
            Err(e) => Err(e),
        },
        Change::RemoveLabels { labels, .. } => {
            let removed: serde_json::Map<String, Value> =
                labels.keys().map(|k| (k.clone(), Value::Null)).collect();
            let record = serde_json::to_string(labels).unwrap_or_default();
            let patch = json!({"metadata": {
                "uid": pod.uid,
                "labels": removed,
                "annotations": {REMOVED_LABELS_ANNOTATION: record},
            }});
            cluster.merge_patch("v1", "Pod", ns, &pod.name, &patch).await.map(|_| true)
        }
        Change::CordonNode { node } => cluster
            .merge_patch("v1", "Node", None, node, &json!({"spec": {"unschedulable": true}}))
            .await
            .map(|_| true),
    }
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
    let name = quarantine_name(&pod.uid);
    let policies =
        join_all(plan.changes.iter().filter_map(|planned| {
            let (api_version, kind, namespace) = match &planned.change {
                Change::CreateNetworkPolicy { .. } => {
                    ("networking.k8s.io/v1", "NetworkPolicy", Some(pod.namespace.as_str()))
                }
                Change::CreateCiliumPolicy { .. } => {
                    ("cilium.io/v2", "CiliumNetworkPolicy", Some(pod.namespace.as_str()))
                }
                Change::CreateAdminNetworkPolicy { .. } => {
                    ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy", None)
                }
                _ => return None,
            };
            let name = &name;
            Some(async move {
                cluster.get_object(api_version, kind, namespace, name).await.is_ok().then(|| {
                    format!("{kind}/{}{name}", namespace.map(|n| format!("{n}/")).unwrap_or_default())
                })
            })
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
    let policies: Vec<String> = policies.into_iter().flatten().collect();
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

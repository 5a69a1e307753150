//! `kir image purge`: remove a malicious image from what `kir image find` found, the way the
//! responder chose (a new image in the templates, the workloads scaled to zero, or the pods
//! deleted), bare pods captured before they are deleted, then confirmed: searched again until
//! no running pod uses the image.

use std::time::Duration;

use kir_cluster::{Cluster, images::TemplateKind};
use kir_evidence::{Case, JournalRecord};
use kir_image::{Pattern, admission};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    Error, Result,
    blocking::record,
    capture::{CaptureOptions, capture_pod},
    image::{FindReport, PodHit, TemplateHit, find},
    observe::observe_pod,
    replace::missing_evidence,
};

/// What happens to the workloads that use the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "remedy", content = "image")]
pub enum Remedy {
    /// Their templates get this image instead; controllers that do not roll out (ReplicaSets,
    /// ReplicationControllers) have their pods deleted, Jobs (whose template cannot change) are
    /// suspended.
    SetImage(String),
    /// Replicas to zero; CronJobs and Jobs suspended; a DaemonSet's pods kept off every node.
    ScaleToZero,
    /// Only the pods deleted: their controllers recreate them unless the image is blocked.
    DeletePods,
}

/// The node selector that keeps a DaemonSet's pods off every node.
pub const PURGED_NODE_LABEL: &str = "kir.dev/purged-by-case";

/// One change to a workload.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadChange {
    pub kind: TemplateKind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// In words: `set image of app, init:migrate to web:2.0`.
    pub change: String,
    #[serde(skip)]
    patch: Value,
    #[serde(skip)]
    strategic: bool,
    /// What the fields changed held before, for a responder who wants them back.
    pub before: Value,
}

/// One pod to delete.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDeletion {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// Not started by a controller: captured into the case first.
    pub bare: bool,
    /// Who starts it again, nearest first.
    pub owners: Vec<String>,
}

/// What purging would do.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgePlan {
    pub pattern: String,
    #[serde(flatten)]
    pub remedy: Remedy,
    pub workloads: Vec<WorkloadChange>,
    pub pods: Vec<PodDeletion>,
    /// Static pods: the API cannot remove them; where their manifests are.
    pub static_pods: Vec<String>,
    pub notes: Vec<String>,
}

impl PurgePlan {
    pub fn is_empty(&self) -> bool {
        self.workloads.is_empty() && self.pods.is_empty()
    }
}

/// The plan for `found` (a search of `pattern`) and `remedy`. `blocked`: kir's block of the
/// pattern is in place, so controllers cannot recreate deleted pods with the image.
pub fn plan(found: &FindReport, pattern: &Pattern, remedy: &Remedy, blocked: bool) -> PurgePlan {
    let mut workloads = Vec::new();
    let mut notes = Vec::new();
    let handled_by_owner = |template: &TemplateHit| {
        template.owners.first().is_some_and(|owner| {
            found.templates.iter().any(|t| {
                format!("{} {}", t.kind.name(), t.name) == *owner && t.namespace == template.namespace
            })
        })
    };
    for template in &found.templates {
        if handled_by_owner(template) {
            // A CronJob's change reaches only the Jobs it starts later: a Job it started
            // already is stopped too.
            if template.kind == TemplateKind::Job && *remedy != Remedy::DeletePods {
                workloads.extend(workload_change(template, &Remedy::ScaleToZero));
            }
            continue;
        }
        if let Some(owner) = template.owners.first() {
            notes.push(format!(
                "{} {}/{} (owned by {owner}, which no longer uses the image) keeps it: a rollback would bring it back",
                template.kind.name(),
                template.namespace,
                template.name
            ));
            continue;
        }
        if let Some(change) = workload_change(template, remedy) {
            workloads.push(change);
        }
    }
    // Whether the change to the pod's top controller replaces or removes the pod: a new
    // template reaches running pods only through a rollout (ReplicaSets and
    // ReplicationControllers have none), scaling and suspending remove them.
    let rolls_out = |pod: &PodHit| {
        pod.owners.last().is_some_and(|top| {
            workloads.iter().any(|w| {
                w.namespace == pod.namespace
                    && format!("{} {}", w.kind.name(), w.name) == *top
                    && match remedy {
                        Remedy::SetImage(_) => !without_rollout_kind(w.kind),
                        Remedy::ScaleToZero => true,
                        Remedy::DeletePods => false,
                    }
            })
        })
    };
    let mut pods = Vec::new();
    let mut static_pods = Vec::new();
    for pod in found.running_pods() {
        if pod.mirror {
            static_pods.push(format!(
                "{}/{} on node {}: the kubelet runs it from a manifest file there (its staticPodPath); remove the file on the node",
                pod.namespace,
                pod.name,
                pod.node.as_deref().unwrap_or("?")
            ));
            continue;
        }
        if rolls_out(pod) {
            continue;
        }
        pods.push(PodDeletion {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            bare: pod.owners.is_empty(),
            owners: pod.owners.clone(),
        });
    }
    let recreated = pods.iter().filter(|p| !p.bare).count();
    if recreated > 0 && *remedy == Remedy::DeletePods {
        notes.push(if blocked {
            format!(
                "{recreated} deleted pod(s) have a controller: the block ({}) keeps it from starting them again with the image",
                admission::policy_name(pattern)
            )
        } else {
            format!(
                "{recreated} deleted pod(s) have a controller that starts them again with the image: block it first (kir image block {pattern}), or choose --set-image or --scale-to-zero"
            )
        });
    }
    PurgePlan { pattern: pattern.to_string(), remedy: remedy.clone(), workloads, pods, static_pods, notes }
}

/// The change `remedy` makes to one controller, if any.
fn workload_change(template: &TemplateHit, remedy: &Remedy) -> Option<WorkloadChange> {
    let kind = template.kind;
    let change = |change: String, patch: Value, strategic: bool, before: Value| WorkloadChange {
        kind,
        namespace: template.namespace.clone(),
        name: template.name.clone(),
        uid: template.uid.clone(),
        change,
        patch,
        strategic,
        before,
    };
    let uid = json!({"uid": template.uid});
    let suspend = || {
        change(
            "suspend (spec.suspend: true)".to_string(),
            json!({"metadata": uid, "spec": {"suspend": true}}),
            false,
            json!({"suspend": template.suspended}),
        )
    };
    match remedy {
        Remedy::DeletePods => None,
        // A Job's template cannot change once created: it is stopped instead.
        Remedy::SetImage(_) if kind == TemplateKind::Job => Some(suspend()),
        Remedy::SetImage(image) => {
            let mut lists = serde_json::Map::new();
            let mut before = serde_json::Map::new();
            let mut named = Vec::new();
            for hit in &template.containers {
                let field = match hit.container.kind {
                    kir_cluster::images::ContainerKind::Container => "containers",
                    kir_cluster::images::ContainerKind::Init => "initContainers",
                    // Templates have no ephemeral containers.
                    kir_cluster::images::ContainerKind::Ephemeral => continue,
                };
                if let Some(list) = lists.entry(field).or_insert_with(|| json!([])).as_array_mut() {
                    list.push(json!({"name": hit.container.name, "image": image}));
                }
                before.insert(hit.container.name.clone(), json!(hit.container.image));
                named.push(hit.container.name.clone());
            }
            let spec = json!({"template": {"spec": Value::Object(lists)}});
            let spec = match kind {
                TemplateKind::CronJob => json!({"jobTemplate": {"spec": spec}}),
                _ => spec,
            };
            Some(change(
                format!("set the image of {} to {image}", named.join(", ")),
                json!({"metadata": uid, "spec": spec}),
                true,
                Value::Object(before),
            ))
        }
        Remedy::ScaleToZero => Some(match kind {
            TemplateKind::CronJob | TemplateKind::Job => suspend(),
            TemplateKind::DaemonSet => change(
                format!("keep its pods off every node (nodeSelector {PURGED_NODE_LABEL})"),
                json!({"metadata": uid, "spec": {"template": {"spec": {"nodeSelector": {PURGED_NODE_LABEL: "true"}}}}}),
                false,
                json!({"nodeSelector": null}),
            ),
            _ => change(
                "scale to 0 replicas".to_string(),
                json!({"metadata": uid, "spec": {"replicas": 0}}),
                false,
                json!({"replicas": template.replicas}),
            ),
        }),
    }
}

/// How one change or deletion went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub what: String,
    /// `changed`, `deleted`, `already gone`, `kept: evidence incomplete` or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What purging did, and what still runs the image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgeReport {
    pub pattern: String,
    pub steps: Vec<Step>,
    /// Running pods that still use the image when the wait ended: `ns/name`.
    pub still_running: Vec<String>,
    /// No running pod uses the image, static pods aside (searched again).
    pub purged: bool,
    pub static_pods: Vec<String>,
    /// The search that confirmed it could not read everything.
    pub unread: Vec<String>,
    pub notes: Vec<String>,
    /// Seconds from the first change until no running pod used the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purged_after_seconds: Option<f64>,
}

impl PurgeReport {
    pub fn failed(&self) -> bool {
        self.steps.iter().any(|s| s.status == "failed")
    }

    pub fn evidence_incomplete(&self) -> bool {
        self.steps.iter().any(|s| s.status == KEPT)
    }
}

const KEPT: &str = "kept: evidence incomplete";

/// Carry out `plan`, then search again until no running pod uses the image or `wait` passed.
pub async fn apply(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    pattern: &Pattern,
    namespace: Option<&str>,
    plan: &PurgePlan,
    wait: Duration,
) -> Result<PurgeReport> {
    let started = tokio::time::Instant::now();
    let mut steps = Vec::new();
    let mut without_rollout = Vec::new();
    for workload in &plan.workloads {
        let (step, generation) = change_workload(cluster, case, actor, workload).await?;
        if let Some(generation) = generation.filter(|_| without_rollout_kind(workload.kind)) {
            without_rollout.push((workload, generation));
        }
        steps.push(step);
    }
    // A controller that has not yet seen its new template would start the replacement of a
    // deleted pod from the old one, with the image.
    for (workload, generation) in without_rollout {
        if let Err(why) =
            template_seen(cluster, workload, generation, wait.saturating_sub(started.elapsed())).await
        {
            steps.push(Step {
                what: format!(
                    "{} {}/{}: wait for its controller",
                    workload.kind.name(),
                    workload.namespace,
                    workload.name
                ),
                status: "failed",
                detail: Some(why),
            });
        }
    }
    for pod in &plan.pods {
        steps.push(delete_pod(cluster, case, actor, pod).await?);
    }
    let (still_running, unread) = loop {
        let found = find(cluster, pattern, namespace).await?;
        let running: Vec<String> = found
            .running_pods()
            .filter(|p| !p.mirror)
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .collect();
        if running.is_empty() || started.elapsed() >= wait {
            break (running, found.unread);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let purged = still_running.is_empty() && unread.is_empty();
    let report = PurgeReport {
        pattern: plan.pattern.clone(),
        steps,
        purged,
        purged_after_seconds: purged.then(|| started.elapsed().as_secs_f64()),
        still_running,
        static_pods: plan.static_pods.clone(),
        unread,
        notes: plan.notes.clone(),
    };
    record(
        case,
        JournalRecord::new(actor, "image.purge.confirm").target(format!("image/{}", plan.pattern)).result(
            json!({
                "purged": report.purged,
                "stillRunning": report.still_running,
                "staticPods": report.static_pods,
                "unread": report.unread,
            }),
        ),
    )
    .await?;
    Ok(report)
}

/// Kinds whose pods keep the old template until they are deleted, and whose controllers
/// report the spec generation they have seen.
fn without_rollout_kind(kind: TemplateKind) -> bool {
    matches!(kind, TemplateKind::ReplicaSet | TemplateKind::ReplicationController)
}

/// Wait up to `wait` for the controller of `workload` to reconcile `generation` of its spec;
/// why it is not known to have, otherwise.
async fn template_seen(
    cluster: &Cluster,
    workload: &WorkloadChange,
    generation: i64,
    wait: Duration,
) -> std::result::Result<(), String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let fetched = cluster
            .get_object(
                workload.kind.api_version(),
                workload.kind.name(),
                Some(&workload.namespace),
                &workload.name,
            )
            .await
            .map_err(|error| format!("whether its controller saw the new template is not known: {error}"))?;
        let observed = fetched.value.pointer("/status/observedGeneration").and_then(Value::as_i64);
        if observed.is_some_and(|observed| observed >= generation) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "its controller had not seen the new template (status.observedGeneration {} < {generation}): the pods it starts may still use the image",
                observed.map_or_else(|| "unset".to_string(), |o| o.to_string())
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Patch one workload; when it changed, the generation of its spec that holds the change.
async fn change_workload(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    workload: &WorkloadChange,
) -> Result<(Step, Option<i64>)> {
    let target =
        format!("{}/{}/{}", workload.kind.name().to_ascii_lowercase(), workload.namespace, workload.name);
    let what =
        format!("{} {}/{}: {}", workload.kind.name(), workload.namespace, workload.name, workload.change);
    let intent = record(
        case,
        JournalRecord::new(actor, "image.purge.change-workload")
            .target(target.clone())
            .parameters(json!({"uid": workload.uid, "change": workload.change, "patch": workload.patch, "before": workload.before})),
    )
    .await?;
    let kind = workload.kind;
    let namespace = Some(workload.namespace.as_str());
    let patched = if workload.strategic {
        cluster
            .strategic_patch(kind.api_version(), kind.name(), namespace, &workload.name, &workload.patch)
            .await
    } else {
        cluster.merge_patch(kind.api_version(), kind.name(), namespace, &workload.name, &workload.patch).await
    };
    let (status, detail, generation) = match patched {
        Ok(stored) => ("changed", None, stored.pointer("/metadata/generation").and_then(Value::as_i64)),
        Err(kir_cluster::Error::NotFound { .. }) => ("already gone", None, None),
        Err(error) => ("failed", Some(error.to_string()), None),
    };
    record(
        case,
        JournalRecord::new(actor, "image.purge.change-workload")
            .target(target)
            .parameters(json!({"intent": intent.seq}))
            .result(json!({"status": status, "detail": detail})),
    )
    .await?;
    Ok((Step { what, status, detail }, generation))
}

/// Delete one pod by UID; a bare pod only once its capture is complete in the case.
async fn delete_pod(cluster: &Cluster, case: &Case, actor: &str, pod: &PodDeletion) -> Result<Step> {
    let what = format!("delete pod {}/{}", pod.namespace, pod.name);
    if pod.bare {
        let observed = match observe_pod(cluster, &pod.namespace, &pod.name).await {
            Ok(observed) if observed.state.uid == pod.uid => observed,
            Ok(_) | Err(Error::PodNotFound { .. }) => {
                return Ok(Step { what, status: "already gone", detail: None });
            }
            Err(error) => return Ok(Step { what, status: "failed", detail: Some(error.to_string()) }),
        };
        capture_pod(cluster, case, actor, &observed, CaptureOptions::default()).await?;
        let missing = missing_evidence(case, &observed.state).await?;
        if !missing.is_empty() {
            return Ok(Step {
                what,
                status: KEPT,
                detail: Some(format!(
                    "not deleted: its capture lacks {}; run the purge again to collect it",
                    missing.join("; ")
                )),
            });
        }
    }
    let target = format!("pod/{}/{}", pod.namespace, pod.name);
    let intent = record(
        case,
        JournalRecord::new(actor, "image.purge.delete-pod")
            .target(target.clone())
            .parameters(json!({"uid": pod.uid, "bare": pod.bare, "owners": pod.owners})),
    )
    .await?;
    let (status, detail) = match cluster.delete_pod(&pod.namespace, &pod.name, &pod.uid, None).await {
        Ok(true) => ("deleted", None),
        Ok(false) => ("already gone", None),
        Err(error) if error.status_code() == Some(409) => (
            "already gone",
            Some("the name belongs to another pod now (UID differs): not deleted".to_string()),
        ),
        Err(error) => ("failed", Some(error.to_string())),
    };
    record(
        case,
        JournalRecord::new(actor, "image.purge.delete-pod")
            .target(target)
            .parameters(json!({"intent": intent.seq}))
            .result(json!({"status": status, "detail": detail})),
    )
    .await?;
    Ok(Step { what, status, detail })
}

#[cfg(test)]
mod tests {
    use kir_cluster::images::{ContainerImage, ContainerKind};

    use super::*;
    use crate::image::{ContainerHit, Searched};

    fn hit(kind: ContainerKind, name: &str) -> ContainerHit {
        ContainerHit {
            container: ContainerImage { kind, name: name.into(), image: "evil:1".into(), image_id: None },
            matched: "tag",
        }
    }

    fn template(kind: TemplateKind, name: &str, owners: &[&str]) -> TemplateHit {
        TemplateHit {
            kind,
            namespace: "shop".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            replicas: Some(3),
            suspended: false,
            service_account: None,
            owners: owners.iter().map(|o| o.to_string()).collect(),
            containers: vec![hit(ContainerKind::Container, "app"), hit(ContainerKind::Init, "setup")],
        }
    }

    fn pod(name: &str, owners: &[&str]) -> PodHit {
        PodHit {
            namespace: "shop".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            node: Some("n1".into()),
            service_account: None,
            phase: Some("Running".into()),
            mirror: false,
            terminating: false,
            owners: owners.iter().map(|o| o.to_string()).collect(),
            containers: vec![hit(ContainerKind::Container, "app")],
        }
    }

    fn found() -> FindReport {
        FindReport {
            pattern: "docker.io/library/evil:1".into(),
            resolved: None,
            namespace: None,
            pods: vec![
                pod("web-1-a", &["ReplicaSet web-1", "Deployment web"]),
                pod("legacy-x", &["ReplicationController legacy"]),
                pod("loose", &[]),
            ],
            templates: vec![
                template(TemplateKind::Deployment, "web", &[]),
                template(TemplateKind::ReplicaSet, "web-1", &["Deployment web"]),
                template(TemplateKind::ReplicationController, "legacy", &[]),
                template(TemplateKind::ReplicaSet, "api-0", &["Deployment api"]),
                template(TemplateKind::Job, "once", &[]),
            ],
            searched: Searched::default(),
            unparseable: 0,
            unparseable_examples: Vec::new(),
            unread: Vec::new(),
        }
    }

    #[test]
    fn set_image_patches_top_controllers_and_deletes_what_does_not_roll_out() {
        let pattern = Pattern::parse("evil:1").unwrap();
        let plan = plan(&found(), &pattern, &Remedy::SetImage("good:2".into()), false);
        let changed: Vec<_> = plan.workloads.iter().map(|w| (w.name.as_str(), w.change.as_str())).collect();
        assert_eq!(
            changed,
            [
                ("web", "set the image of app, setup to good:2"),
                ("legacy", "set the image of app, setup to good:2"),
                ("once", "suspend (spec.suspend: true)"),
            ]
        );
        assert_eq!(
            plan.workloads[0].patch["spec"]["template"]["spec"]["initContainers"],
            json!([{"name": "setup", "image": "good:2"}])
        );
        // The Deployment's rollout replaces its pod; the ReplicationController's and the bare one
        // are deleted, the bare one captured first.
        let deleted: Vec<_> = plan.pods.iter().map(|p| (p.name.as_str(), p.bare)).collect();
        assert_eq!(deleted, [("legacy-x", false), ("loose", true)]);
        assert!(plan.notes.iter().any(|n| n.contains("api-0") && n.contains("rollback")));
    }

    #[test]
    fn deleting_pods_only_warns_unless_the_image_is_blocked() {
        let pattern = Pattern::parse("evil:1").unwrap();
        let open = plan(&found(), &pattern, &Remedy::DeletePods, false);
        assert!(open.workloads.is_empty());
        assert_eq!(open.pods.len(), 3);
        assert!(open.notes.iter().any(|n| n.contains("block it first")), "{:?}", open.notes);
        let blocked = plan(&found(), &pattern, &Remedy::DeletePods, true);
        assert!(blocked.notes.iter().any(|n| n.contains("keeps it from starting them again")));
    }

    #[test]
    fn scaling_to_zero_suspends_jobs_and_keeps_daemonsets_off_every_node() {
        let pattern = Pattern::parse("evil:1").unwrap();
        let mut found = found();
        found.templates.push(template(TemplateKind::DaemonSet, "agent", &[]));
        let plan = plan(&found, &pattern, &Remedy::ScaleToZero, false);
        let patch = |name: &str| plan.workloads.iter().find(|w| w.name == name).unwrap().patch.clone();
        assert_eq!(patch("web")["spec"], json!({"replicas": 0}));
        assert_eq!(patch("once")["spec"], json!({"suspend": true}));
        assert_eq!(patch("agent")["spec"]["template"]["spec"]["nodeSelector"][PURGED_NODE_LABEL], "true");
        assert_eq!(patch("web")["metadata"]["uid"], "uid-web");
    }
}

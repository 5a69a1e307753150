//! Collection from the suspect's node, never from inside the suspect: a short-lived helper pod
//! that kir schedules on that node (the host's processes and a read-only view of its files),
//! running kir's own binary as the collector, whose output streams through the API server into
//! the case. The helper is journaled when it is created and when it is deleted, so that a run
//! cut short leaves a record of what to remove.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kir_cluster::Cluster;
use kir_evidence::{Case, JournalRecord};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    Error, Result,
    blocking::record,
    capture::{missing_record, pod_base},
    collect::{Collected, Collector},
    isolate::PodState,
    observe::ObservedPod,
    snapshot::{Runner, SnapshotOptions, SnapshotReport, choose_container, snapshot_pod},
    undo::Reversal,
};

/// Where the helper sees the node's root file system.
pub const HOST_ROOT: &str = "/host";

/// The helper's one container.
pub const HELPER_CONTAINER: &str = "collector";

/// Label of every helper pod, for the eye and for `kubectl get pods -l`.
pub const HELPER_LABEL: &str = "ir.kir.dev/node-helper";

/// The journal actions of the helper's creation and deletion.
pub const HELPER_CREATE: &str = "node.helper.create";
pub const HELPER_DELETE: &str = "node.helper.delete";

/// How the helper is started.
#[derive(Debug, Clone)]
pub struct HelperOptions {
    /// An image holding kir's binary at `/kir` (the testbed builds `kir-testbed/kir:dev`).
    pub image: String,
    /// How long the helper may take to run before kir gives up (and deletes it).
    pub start_timeout: Duration,
}

/// The runtime's ID of `container` of `pod` (`containerd://ID` in the status), without the
/// runtime's prefix: what the node's cgroups and checkpoints are named by.
pub fn container_id(pod: &Pod, container: &str) -> Option<(String, String)> {
    let status = pod.status.as_ref()?;
    let found = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .chain(status.ephemeral_container_statuses.iter().flatten())
        .find(|s| s.name == container)?;
    let (runtime, id) = found.container_id.as_deref()?.split_once("://")?;
    let valid = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| (runtime.to_string(), id.to_ascii_lowercase()))
}

/// The helper pod for `node`: the host's process namespace, the host's root read-only, the
/// privileges that reading other processes' memory and freezing their cgroup need, no
/// service-account token, every taint tolerated, bound to the node without the scheduler.
pub fn helper_pod(namespace: &str, name: &str, node: &str, image: &str, case_id: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {HELPER_LABEL: "true", "app.kubernetes.io/managed-by": "kir"},
            "annotations": {crate::isolate::CASE_ANNOTATION: case_id},
        },
        "spec": {
            "nodeName": node,
            "hostPID": true,
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "terminationGracePeriodSeconds": 1,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": HELPER_CONTAINER,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/kir", "node", "wait"],
                "securityContext": {"privileged": true},
                "volumeMounts": [{"name": "host", "mountPath": HOST_ROOT, "readOnly": true}],
            }],
            "volumes": [{"name": "host", "hostPath": {"path": "/", "type": "Directory"}}],
        },
    })
}

/// A helper pod that runs on the suspect's node.
#[derive(Debug, Clone)]
pub struct Helper {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
}

/// Create the helper on the suspect's node and wait until it runs. A helper that does not run
/// in time is deleted, and the error says why it did not (scheduling, image, node).
pub async fn start_helper(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    suspect: &PodState,
    options: &HelperOptions,
) -> Result<Helper> {
    let node = suspect.node.clone().ok_or_else(|| {
        Error::Invalid(format!(
            "pod {}/{} is not on a node yet: there is no node to collect from",
            suspect.namespace, suspect.name
        ))
    })?;
    let name = format!("kir-node-helper-{}", crate::collect::random_hex(5));
    let object = helper_pod(&suspect.namespace, &name, &node, &options.image, &case.metadata().id);
    let target = format!("pod/{}/{name}", suspect.namespace);
    // A run killed before it deletes the helper leaves it on the node: `kir undo` removes it.
    let reversal = Reversal::DeleteHelper {
        namespace: suspect.namespace.clone(),
        helper: name.clone(),
        pod: suspect.name.clone(),
    };
    let intent = record(
        case,
        JournalRecord::new(actor, HELPER_CREATE)
            .target(target.clone())
            .parameters(json!({"node": node, "image": options.image, "for": format!("pod/{}/{}", suspect.namespace, suspect.name)}))
            .undo(serde_json::to_value(&reversal).unwrap_or_default()),
    )
    .await?;
    let created = cluster.create_object(&object).await;
    let uid = match &created {
        Ok(stored) => stored.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_string),
        Err(_) => None,
    };
    record(
        case,
        JournalRecord::new(actor, HELPER_CREATE)
            .target(target)
            .parameters(json!({"intent": intent.seq}))
            .result(match &created {
                Ok(_) => json!({"status": "created", "uid": uid}),
                Err(error) => json!({"status": "failed", "error": error.to_string()}),
            }),
    )
    .await?;
    created?;
    let helper = Helper { namespace: suspect.namespace.clone(), name, uid: uid.unwrap_or_default(), node };
    match wait_running(cluster, &helper, options.start_timeout).await {
        Ok(()) => Ok(helper),
        Err(why) => {
            stop_helper(cluster, case, actor, &helper).await?;
            Err(Error::Invalid(format!(
                "the helper pod {}/{} did not run on node {} within {}s: {why}; it was deleted",
                helper.namespace,
                helper.name,
                helper.node,
                options.start_timeout.as_secs()
            )))
        }
    }
}

/// Wait until the helper's container runs; why it does not, when it does not in time.
async fn wait_running(
    cluster: &Cluster,
    helper: &Helper,
    timeout: Duration,
) -> std::result::Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match cluster.pod(&helper.namespace, &helper.name).await {
            Ok((pod, _)) => match helper_state(&pod) {
                HelperState::Running => return Ok(()),
                HelperState::Ended(why) => return Err(why),
                HelperState::Waiting(why) => why,
            },
            Err(error) => error.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(match last_event(cluster, helper).await {
                Some(event) => format!("{last}; its last event: {event}"),
                None => last,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The newest event about the helper (`Pulling: Pulling image "..."`), if any can be read.
async fn last_event(cluster: &Cluster, helper: &Helper) -> Option<String> {
    let events = cluster.events_about(&helper.namespace, &helper.uid).await.ok()?;
    let newest = events.value.get("items")?.as_array()?.iter().max_by_key(|e| {
        e.get("lastTimestamp").or(e.get("eventTime")).and_then(Value::as_str).unwrap_or_default().to_string()
    })?;
    let text = |key: &str| newest.get(key).and_then(Value::as_str).unwrap_or_default();
    Some(format!("{}: {}", text("reason"), text("message")))
}

#[derive(Debug, PartialEq, Eq)]
enum HelperState {
    Running,
    /// It will not run: it ended, or its image cannot be pulled.
    Ended(String),
    Waiting(String),
}

fn helper_state(pod: &Pod) -> HelperState {
    let Some(status) = &pod.status else { return HelperState::Waiting("no status yet".into()) };
    let container = status.container_statuses.iter().flatten().find(|s| s.name == HELPER_CONTAINER);
    if let Some(state) = container.and_then(|c| c.state.as_ref()) {
        if state.running.is_some() {
            return HelperState::Running;
        }
        if let Some(ended) = &state.terminated {
            return HelperState::Ended(format!(
                "its collector exited ({}{})",
                ended.reason.as_deref().unwrap_or("terminated"),
                ended.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            ));
        }
        if let Some(waiting) = &state.waiting {
            let reason = waiting.reason.as_deref().unwrap_or("waiting");
            let why = format!(
                "{reason}{}",
                waiting.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            );
            return if matches!(
                reason,
                "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull"
            ) {
                HelperState::Ended(why)
            } else {
                HelperState::Waiting(why)
            };
        }
    }
    match status.phase.as_deref() {
        Some(phase @ ("Failed" | "Succeeded")) => HelperState::Ended(format!("the pod is {phase}")),
        Some(phase) => HelperState::Waiting(format!(
            "phase {phase}{}",
            status.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
        )),
        None => HelperState::Waiting("no phase yet".into()),
    }
}

/// Delete the helper (this UID only) and record it.
pub async fn stop_helper(cluster: &Cluster, case: &Case, actor: &str, helper: &Helper) -> Result<()> {
    let deleted = cluster.delete_pod(&helper.namespace, &helper.name, &helper.uid, Some(0)).await;
    record(
        case,
        JournalRecord::new(actor, HELPER_DELETE)
            .target(format!("pod/{}/{}", helper.namespace, helper.name))
            .parameters(json!({"uid": helper.uid}))
            .result(match &deleted {
                Ok(gone) => json!({"deleted": gone}),
                Err(error) => json!({"error": error.to_string()}),
            }),
    )
    .await?;
    deleted.map(|_| ()).map_err(Error::from)
}

/// What collecting from the node takes, besides the helper.
#[derive(Debug, Clone)]
pub struct NodeSnapshotOptions {
    pub helper: HelperOptions,
    /// The container, and the size and time bounds of each collection.
    pub snapshot: SnapshotOptions,
    /// Also the memory of the container's processes (its cgroup frozen while it is read).
    pub memory: bool,
    /// Also a checkpoint of the container by its kubelet, brought into the case.
    pub checkpoint: bool,
    /// The size and time bounds of the memory dump and of bringing the checkpoint in: a
    /// process's memory is far larger than what a command prints.
    pub dumps: SnapshotOptions,
}

/// What collecting from the node produced.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSnapshotReport {
    pub container: String,
    /// The runtime's ID of the container, as its node knows it.
    pub container_id: String,
    pub node: String,
    /// The helper pod that collected, deleted since: `namespace/name`.
    pub helper: String,
    /// Where the kubelet wrote the checkpoint archives on the node (left there).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checkpoint_archives: Vec<String>,
    /// Read back after collection: the same pod (UID) with the same restart count.
    pub suspect_untouched: bool,
    pub collected: Collected,
    pub notes: Vec<String>,
}

/// Stored beside each artifact the collector produced.
const FROM_NODE: &str = "collected on the suspect's node by kir's helper pod, never inside the suspect; \
     hostile input: stored as is, never executed or extracted";

/// Collect the suspect's container from its node: its processes, its changed files, on request
/// its memory and a checkpoint by its kubelet. The helper is deleted however collection went.
pub async fn snapshot_from_node(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    observed: &ObservedPod,
    options: &NodeSnapshotOptions,
) -> Result<NodeSnapshotReport> {
    let state = &observed.state;
    let container = choose_container(&observed.pod, options.snapshot.container.as_deref())?;
    let Some((_runtime, id)) = container_id(&observed.pod, &container) else {
        return Err(Error::Invalid(format!(
            "container {container} of pod {}/{} has no running container on its node (no containerID in its \
             status): there is nothing to collect from the node",
            state.namespace, state.name
        )));
    };
    let restarts_before = restart_count(&observed.pod, &container);
    // The kubelet's checkpoint needs no helper: it is asked for while the helper starts. The
    // memory dump freezes the container too, so it waits until the checkpoint is done.
    let node_name = state.node.clone().unwrap_or_default();
    let checkpoint_what = format!(
        "POST /api/v1/nodes/{node_name}/proxy/checkpoint/{}/{}/{container}",
        state.namespace, state.name
    );
    let checkpoint = async {
        if !options.checkpoint {
            return None;
        }
        let asked = cluster.checkpoint_container(
            &node_name,
            &state.namespace,
            &state.name,
            &container,
            options.dumps.timeout,
        );
        Some(asked.await)
    };
    let (helper, checkpointed) =
        tokio::join!(start_helper(cluster, case, actor, state, &options.helper), checkpoint);
    let helper = helper?;
    let collector = Collector::new(
        case,
        format!("{}/node/{container}", pod_base(&state.namespace, &state.name, &state.uid)),
    );
    let run = Runner {
        cluster,
        collector: &collector,
        namespace: &helper.namespace,
        pod: &helper.name,
        container: HELPER_CONTAINER,
        options: &options.snapshot,
    };
    let dumps = Runner { options: &options.dumps, ..run };
    let collect = |what: &str| -> Vec<String> {
        ["/kir", "node", "collect", what, "--container-id", &id, "--host-root", HOST_ROOT]
            .map(String::from)
            .to_vec()
    };
    let mut notes = Vec::new();
    tokio::join!(
        run.output("processes.jsonl", collect("processes"), FROM_NODE),
        run.tar_archive("changes.tar.zst", collect("changes"), FROM_NODE),
        run.output("changes.json", collect("changes-summary"), FROM_NODE),
    );
    if options.memory {
        // Compressed on the node, like the checkpoint: what is not mapped in is mostly zeros.
        let mut argv = collect("memory");
        argv.extend([
            "--zstd".to_string(),
            "--max-memory-bytes".to_string(),
            options.dumps.max_bytes.to_string(),
        ]);
        dumps.output("memory.kirmem.zst", argv, FROM_NODE).await;
    }
    let mut checkpoint_archives = Vec::new();
    match checkpointed {
        None => {}
        Some(Ok(archives)) => {
            for (index, archive) in archives.iter().enumerate() {
                let relative = if index == 0 {
                    "checkpoint.tar.zst".to_string()
                } else {
                    format!("checkpoint-{index}.tar.zst")
                };
                match on_host(archive) {
                    Some(path) => {
                        // Compressed on the node: the exec stream is the slow part, and a
                        // checkpoint's pages mostly compress.
                        let max_bytes = options.dumps.max_bytes.to_string();
                        let argv = ["/kir", "node", "read", "--zstd", "--max-bytes", &max_bytes, &path]
                            .map(String::from)
                            .to_vec();
                        dumps.zstd_tar_archive(&relative, argv, FROM_NODE).await;
                    }
                    None => {
                        let reason = format!("the kubelet named {archive:?}, not an absolute path: not read");
                        collector.gap(&relative, &checkpoint_what, &reason).await;
                    }
                }
            }
            notes.push(format!(
                "the kubelet's checkpoint archive stays on node {node_name} ({}): remove it there when the case no \
                 longer needs it",
                archives.join(", ")
            ));
            checkpoint_archives = archives;
        }
        Some(Err(error)) => collector.gap_error("checkpoint.tar.zst", &checkpoint_what, &error).await,
    }
    stop_helper(cluster, case, actor, &helper).await?;
    let suspect_untouched = match cluster.pod(&state.namespace, &state.name).await {
        Ok((after, _)) => {
            after.metadata.uid.as_deref() == Some(state.uid.as_str())
                && restart_count(&after, &container) == restarts_before
        }
        Err(error) => {
            notes.push(format!("the suspect could not be read back after collection: {error}"));
            false
        }
    };
    let collected = collector.into_collected();
    record(
        case,
        JournalRecord::new(actor, "snapshot.node")
            .target(format!("pod/{}/{}", state.namespace, state.name))
            .parameters(
                json!({"uid": state.uid, "container": container, "containerID": id, "node": helper.node,
                "memory": options.memory, "checkpoint": options.checkpoint}),
            )
            .result(json!({
                "suspectUntouched": suspect_untouched,
                "notCollected": collected.not_collected.len(),
                "missing": missing_record(&collected),
            })),
    )
    .await?;
    Ok(NodeSnapshotReport {
        container,
        container_id: id,
        node: helper.node.clone(),
        helper: format!("{}/{}", helper.namespace, helper.name),
        checkpoint_archives,
        suspect_untouched,
        collected,
        notes,
    })
}

/// Where a snapshot collects from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Exec where the container can run the collecting commands, else the node (when a helper
    /// is configured); the node too when memory or a checkpoint is asked for.
    Auto,
    Exec,
    Node,
}

/// A snapshot by exec, from the node, or both.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSnapshot {
    /// What exec collected, its fields at the top level as `kir snapshot pod` always printed
    /// them.
    #[serde(flatten)]
    pub exec: Option<SnapshotReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeSnapshotReport>,
    pub notes: Vec<String>,
}

impl PodSnapshot {
    /// What decides whether the snapshot is complete: the node's collection when there was
    /// one (exec's gaps are then the container's lack of tools), else exec's.
    pub fn deciding(&self) -> Option<&Collected> {
        self.node.as_ref().map(|n| &n.collected).or(self.exec.as_ref().map(|e| &e.collected))
    }
}

/// Snapshot the suspect from where `source` says; `node` configures the helper (needed for
/// [`Source::Node`], optional for [`Source::Auto`]).
pub async fn snapshot_from(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    observed: &ObservedPod,
    snapshot: &SnapshotOptions,
    source: Source,
    node: Option<&NodeSnapshotOptions>,
) -> Result<PodSnapshot> {
    let mut notes = Vec::new();
    let exec = match source {
        Source::Node => None,
        Source::Auto | Source::Exec => Some(snapshot_pod(cluster, case, actor, observed, snapshot).await?),
    };
    let wanted_from_node = match (source, &exec) {
        (Source::Node, _) => true,
        (Source::Exec, _) => false,
        (Source::Auto, Some(report)) => {
            let could_not_run = !report.exec_ran();
            let more = node.is_some_and(|n| n.memory || n.checkpoint);
            if (could_not_run || more) && node.is_none() {
                notes.push(
                    "the container could not run the collecting commands (no shell or tar?): pass --helper-image to \
                     collect from its node"
                        .to_string(),
                );
            }
            could_not_run || more
        }
        (Source::Auto, None) => true,
    };
    let node = match node.filter(|_| wanted_from_node) {
        Some(options) => Some(snapshot_from_node(cluster, case, actor, observed, options).await?),
        None if source == Source::Node => {
            return Err(Error::Invalid(
                "collecting from the node needs the helper's image (--helper-image)".into(),
            ));
        }
        None => None,
    };
    Ok(PodSnapshot { exec, node, notes })
}

fn restart_count(pod: &Pod, container: &str) -> Option<i32> {
    let status = pod.status.as_ref()?;
    status.container_statuses.iter().flatten().find(|s| s.name == container).map(|s| s.restart_count)
}

/// The helper's path of a file the kubelet names on the node: absolute, no `..`, under
/// [`HOST_ROOT`].
fn on_host(path: &str) -> Option<String> {
    let plain = path.starts_with('/')
        && !path.split('/').any(|part| part == "..")
        && !path.bytes().any(|b| b == 0 || b.is_ascii_control());
    plain.then(|| format!("{HOST_ROOT}{path}"))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus, PodStatus};

    use super::*;

    fn with_status(container_id: Option<&str>, waiting: Option<&str>, running: bool) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some("Pending".into()),
                container_statuses: Some(vec![ContainerStatus {
                    name: HELPER_CONTAINER.into(),
                    container_id: container_id.map(str::to_string),
                    state: Some(ContainerState {
                        running: running.then(Default::default),
                        waiting: waiting.map(|reason| ContainerStateWaiting {
                            reason: Some(reason.into()),
                            message: Some("from the kubelet".into()),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_container_id_is_the_runtimes_hex_name_or_nothing() {
        let id = "0f".repeat(32);
        let pod = with_status(Some(&format!("containerd://{id}")), None, true);
        assert_eq!(container_id(&pod, HELPER_CONTAINER), Some(("containerd".into(), id)));
        for hostile in ["containerd://../../etc", "containerd://", "nonsense", "cri-o://abc def"] {
            assert_eq!(
                container_id(&with_status(Some(hostile), None, true), HELPER_CONTAINER),
                None,
                "{hostile}"
            );
        }
        assert_eq!(container_id(&pod, "other"), None);
    }

    #[test]
    fn a_helper_that_cannot_pull_its_image_is_given_up_at_once() {
        assert_eq!(helper_state(&with_status(None, None, true)), HelperState::Running);
        assert!(
            matches!(helper_state(&with_status(None, Some("ErrImagePull"), false)), HelperState::Ended(why) if why.contains("from the kubelet"))
        );
        assert!(matches!(
            helper_state(&with_status(None, Some("ContainerCreating"), false)),
            HelperState::Waiting(_)
        ));
    }

    #[test]
    fn a_checkpoint_path_is_read_only_under_the_host_root() {
        assert_eq!(
            on_host("/var/lib/kubelet/checkpoints/checkpoint-web_shop-app-2026.tar").as_deref(),
            Some("/host/var/lib/kubelet/checkpoints/checkpoint-web_shop-app-2026.tar")
        );
        for hostile in ["relative/x.tar", "/var/lib/../../etc/shadow", "/a\nb", ""] {
            assert_eq!(on_host(hostile), None, "{hostile}");
        }
    }

    #[test]
    fn the_helper_reads_the_host_and_holds_no_token() {
        let pod = helper_pod("shop", "kir-node-helper-abcde", "node-1", "kir:dev", "INC-1");
        insta::assert_yaml_snapshot!(pod);
    }
}

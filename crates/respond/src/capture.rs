//! `kir capture pod` (C1, C2): everything the API server knows about a pod, into the case,
//! concurrently, each artifact hashed as written. Nothing here changes the cluster.

use std::collections::BTreeMap;

use futures::{FutureExt, future::join_all};
use k8s_openapi::api::core::v1::{Container, Pod};
use kir_cluster::{Cluster, objects::Fetched, pods::LogRequest, retrying};
use kir_evidence::{Case, JournalRecord};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    Result, blocking,
    collect::{Collected, Collector, Stored},
    isolate::Surroundings,
    netpol,
    observe::ObservedPod,
    selector::{map_selects, selects},
};

#[derive(Debug, Clone, Copy)]
pub struct CaptureOptions {
    /// Bytes kept of each container log (the server is asked for no more either).
    pub log_limit: u64,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions { log_limit: 64 << 20 }
    }
}

/// Where a pod's evidence goes in the case: by UID too, because a pod recreated under the
/// same name (a StatefulSet's, or after an eviction) is another pod with evidence of its own.
pub fn pod_base(namespace: &str, name: &str, uid: &str) -> String {
    format!("pods/{namespace}/{name}/{uid}")
}

/// Capture `observed` (whose object was read just before) into `case`: an interrupted or
/// incomplete earlier capture of the pod in the case is resumed; after a complete one, a fresh
/// set is collected beside it, in a folder named by the time (the pod as it is now is new
/// evidence, the earlier set stays as it was).
pub async fn capture_pod(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    observed: &ObservedPod,
    options: CaptureOptions,
) -> Result<Collected> {
    let state = &observed.state;
    let base = pod_base(&state.namespace, &state.name, &state.uid);
    let target = format!("pod/{}/{}", state.namespace, state.name);
    let entries = blocking::entries(case).await?;
    let folder = capture_folder(&entries, &target, &state.uid, &base, jiff::Timestamp::now());
    blocking::record(
        case,
        JournalRecord::new(actor, CAPTURE_START)
            .target(target)
            .parameters(json!({"uid": state.uid, "folder": folder})),
    )
    .await?;
    capture_pod_signalling(cluster, case, actor, observed, None, options, None, folder).await
}

const CAPTURE_START: &str = "capture.pod.start";
const CAPTURE_DONE: &str = "capture.pod";

/// Where a capture of the pod (`target`, `uid`) goes, from what the journal says of earlier ones:
/// the folder of a run that started and did not finish, or finished with evidence missing (run
/// again to collect it); a fresh time-stamped folder after a complete capture; else `base`.
fn capture_folder(
    entries: &[kir_evidence::JournalEntry],
    target: &str,
    uid: &str,
    base: &str,
    now: jiff::Timestamp,
) -> String {
    let folder_of = |entry: &kir_evidence::JournalEntry| {
        entry.parameters.get("folder").and_then(Value::as_str).unwrap_or(base).to_string()
    };
    let ours = |entry: &&kir_evidence::JournalEntry| {
        entry.target.as_deref() == Some(target)
            && entry.parameters.get("uid").and_then(Value::as_str) == Some(uid)
    };
    let starts: Vec<&kir_evidence::JournalEntry> =
        entries.iter().filter(ours).filter(|e| e.action == CAPTURE_START).collect();
    let done: Vec<&kir_evidence::JournalEntry> =
        entries.iter().filter(ours).filter(|e| e.action == CAPTURE_DONE).collect();
    if let Some(last) = starts.last() {
        let folder = folder_of(last);
        if !done.iter().any(|d| d.seq > last.seq && folder_of(d) == folder) {
            return folder;
        }
    }
    match done.last() {
        None => base.to_string(),
        Some(last) if last.result.get("missing").and_then(Value::as_array).is_some_and(|m| !m.is_empty()) => {
            folder_of(last)
        }
        Some(_) => format!("{base}/captures/{}", now.strftime("%Y%m%dT%H%M%S%.3fZ")),
    }
}

/// [`capture_pod`] into `folder` (the pod's own, [`pod_base`], for the playbook, which resumes
/// by its steps), telling `pod_stored` once the pod object is in the case (the state
/// containment is about to change). What `around` holds (read to plan a response) is stored
/// as read instead of being read again: the evidence is then exactly what the plan saw.
#[allow(clippy::too_many_arguments)]
pub async fn capture_pod_signalling(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    observed: &ObservedPod,
    around: Option<&Surroundings>,
    options: CaptureOptions,
    pod_stored: Option<tokio::sync::oneshot::Sender<()>>,
    folder: String,
) -> Result<Collected> {
    let state = &observed.state;
    let (ns, name) = (state.namespace.as_str(), state.name.as_str());
    let collector = Collector::new(case, folder.clone());
    let stored = collector.store("pod.json", &observed.fetched.source, observed.fetched.body.clone()).await;
    if let Some(stored) = pod_stored {
        let _ = stored.send(());
    }
    // Resuming, the pod as an earlier run stored it is what the rest is collected from: that
    // run may have changed the pod since (orphaning removes its owner references and labels),
    // and the owners, their events and the Services that selected it are evidence of before.
    let kept = match stored {
        Stored::Kept => collector
            .stored("pod.json", 64 << 20)
            .await
            .and_then(|bytes| serde_json::from_slice::<Pod>(&bytes).ok()),
        Stored::Committed | Stored::Missing => None,
    };
    let pod = kept.as_ref().unwrap_or(&observed.pod);
    let mut tasks = vec![
        owners_and_events(cluster, &collector, pod, observed.controller.as_ref()).boxed(),
        node(cluster, &collector, pod, around.and_then(|a| a.node.as_ref())).boxed(),
        service_account(cluster, &collector, pod, ns).boxed(),
        services_and_policies(cluster, &collector, pod, ns, around).boxed(),
        references(cluster, &collector, pod, ns).boxed(),
        images(&collector, pod).boxed(),
    ];
    for (container, previous) in log_targets(&observed.pod) {
        tasks.push(log(cluster, &collector, ns, name, container, previous, options.log_limit).boxed());
    }
    join_all(tasks).await;

    let collected = collector.into_collected();
    blocking::record(
        case,
        JournalRecord::new(actor, "capture.pod")
            .target(format!("pod/{ns}/{name}"))
            .parameters(json!({"uid": state.uid, "logLimit": options.log_limit, "folder": folder}))
            .result(json!({
                "artifacts": collected.artifacts.len(),
                "notCollected": collected.not_collected.len(),
                "alreadyCollected": collected.already_collected.len(),
                "missing": missing_record(&collected),
            })),
    )
    .await?;
    Ok(collected)
}

/// The gaps that leave a step's evidence incomplete, for its journal entry: `kir replace pod`
/// reads them to decide whether the evidence is complete.
pub(crate) fn missing_record(collected: &Collected) -> Value {
    collected.missing().map(|g| json!({"path": g.path, "reason": g.reason})).collect()
}

/// Every container whose log to fetch, and whether to fetch its previous instance too.
fn log_targets(pod: &Pod) -> Vec<(String, bool)> {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let restarted: BTreeMap<String, bool> = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .chain(status.ephemeral_container_statuses.iter().flatten())
        .map(|s| {
            let terminated_before = s.last_state.as_ref().is_some_and(|l| l.terminated.is_some());
            (s.name.clone(), s.restart_count > 0 || terminated_before)
        })
        .collect();
    let names = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c: &Container| c.name.clone())
        .chain(spec.containers.iter().map(|c| c.name.clone()))
        .chain(spec.ephemeral_containers.iter().flatten().map(|c| c.name.clone()));
    let mut targets = Vec::new();
    for container in names {
        targets.push((container.clone(), false));
        if restarted.get(&container).copied().unwrap_or(false) {
            targets.push((container, true));
        }
    }
    targets
}

async fn log(
    cluster: &Cluster,
    collector: &Collector,
    namespace: &str,
    pod: &str,
    container: String,
    previous: bool,
    limit: u64,
) {
    let request = LogRequest {
        namespace,
        pod,
        container: &container,
        previous,
        limit_bytes: Some(i64::try_from(limit).unwrap_or(i64::MAX)),
    };
    let relative =
        if previous { format!("logs/{container}.previous.log") } else { format!("logs/{container}.log") };
    let source = request.source();
    collector.store_stream(&relative, &source, || cluster.log_stream(&request), limit).await;
}

/// The owner chain (ReplicaSet, Deployment, ...) and the events about the pod and each owner.
/// `controller` is the pod's controller as already read, if it was.
async fn owners_and_events(
    cluster: &Cluster,
    collector: &Collector,
    pod: &Pod,
    controller: Option<&Fetched>,
) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let ns = ns.as_str();
    let events = |label: String, uid: String| async move {
        let relative = format!("events/{label}.json");
        match retrying(|| cluster.events_about(ns, &uid)).await {
            Ok(list) => {
                collector.store(&relative, &list.source, list.body).await;
            }
            Err(error) => collector.gap_error(&relative, &format!("list events of {label}"), &error).await,
        }
    };
    let owners = async {
        let mut subjects = Vec::new();
        let mut pending: Vec<Value> = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .map(|o| serde_json::to_value(o).unwrap_or_default())
            .collect();
        let mut seen = 0;
        while let Some(owner) = pending.pop() {
            seen += 1;
            if seen > 10 {
                break;
            }
            let field = |name: &str| owner.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
            let (api_version, kind, name) = (field("apiVersion"), field("kind"), field("name"));
            if !followable_owner(&api_version, &kind, &name) {
                tracing::warn!(
                    "not following owner reference {kind} {name} ({api_version}): not a workload controller"
                );
                continue;
            }
            let relative = format!("owners/{kind}-{name}.json");
            let already_read = controller.filter(|c| {
                c.value.get("kind").and_then(Value::as_str) == Some(kind.as_str())
                    && c.value.pointer("/metadata/name").and_then(Value::as_str) == Some(name.as_str())
            });
            let object = match already_read {
                Some(object) => Ok(object.clone()),
                None => retrying(|| cluster.get_object(&api_version, &kind, Some(ns), &name)).await,
            };
            match object {
                Ok(mut object) => {
                    collector.store(&relative, &object.source, std::mem::take(&mut object.body)).await;
                    let uid =
                        object.value.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
                    subjects.push((format!("{kind}-{name}"), uid.to_string()));
                    if let Some(next) =
                        object.value.pointer("/metadata/ownerReferences").and_then(Value::as_array)
                    {
                        pending.extend(next.iter().cloned());
                    }
                }
                Err(error) => {
                    collector.gap_error(&relative, &format!("GET {kind} {ns}/{name}"), &error).await
                }
            }
        }
        join_all(subjects.into_iter().map(|(label, uid)| events(label, uid))).await;
    };
    // The pod's own events need nothing of the chain.
    let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
    tokio::join!(events("pod".to_string(), pod_uid), owners);
}

/// Owner references are followed to workload controllers only. A reference to a core object
/// such as a Secret (an attacker who can edit the pod can write one) must not make kir copy
/// that object into the case; names must be object names, not paths.
fn followable_owner(api_version: &str, kind: &str, name: &str) -> bool {
    let core = !api_version.contains('/');
    let valid_name = !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let valid_kind = !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric());
    valid_name && valid_kind && (!core || kind == "ReplicationController")
}

async fn node(cluster: &Cluster, collector: &Collector, pod: &Pod, already_read: Option<&Fetched>) {
    let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
        return collector.gap("node.json", "GET /api/v1/nodes", "the pod is not scheduled on a node").await;
    };
    if let Some(object) = already_read {
        collector.store("node.json", &object.source, object.body.clone()).await;
        return;
    }
    let path = format!("/api/v1/nodes/{node}");
    match retrying(|| cluster.get_raw(&path)).await {
        Ok(object) => {
            collector.store("node.json", &object.source, object.body).await;
        }
        Err(error) => collector.gap_error("node.json", &format!("GET {path}"), &error).await,
    }
}

/// The service account, and what it may do as the API server decides it (a rules review made
/// while impersonating the account, so every authorizer's answer counts).
async fn service_account(cluster: &Cluster, collector: &Collector, pod: &Pod, ns: &str) {
    let account =
        pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
    let path = format!("/api/v1/namespaces/{ns}/serviceaccounts/{account}");
    match retrying(|| cluster.get_raw(&path)).await {
        Ok(object) => {
            collector.store("serviceaccount.json", &object.source, object.body).await;
        }
        Err(error) => collector.gap_error("serviceaccount.json", &format!("GET {path}"), &error).await,
    }
    let user = format!("system:serviceaccount:{ns}:{account}");
    let groups = vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{ns}"),
        "system:authenticated".to_string(),
    ];
    let source = format!("POST selfsubjectrulesreviews in namespace {ns}, impersonating {user}");
    let review = match cluster.impersonating(&user, &groups) {
        Ok(as_account) => retrying(|| as_account.rules_review(ns)).await,
        Err(error) => Err(error),
    };
    match review {
        Ok(status) => {
            collector
                .store_json(
                    "serviceaccount-permissions.json",
                    &source,
                    &json!({"user": user, "groups": groups, "namespace": ns, "review": status}),
                )
                .await;
        }
        // A denial names the impersonation it needs; that is a permission of the responder.
        Err(error) => collector.gap_error("serviceaccount-permissions.json", &source, &error).await,
    }
}

/// The Services and NetworkPolicies of the namespace that select the pod.
/// Taken from `around` when it holds them.
async fn services_and_policies(
    cluster: &Cluster,
    collector: &Collector,
    pod: &Pod,
    ns: &str,
    around: Option<&Surroundings>,
) {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let (services, policies) = match around {
        Some(around) => (Ok(around.services.clone()), Ok(around.policies.clone())),
        None => tokio::join!(retrying(|| cluster.services(ns)), retrying(|| cluster.network_policies(ns))),
    };
    let services_source = format!("GET /api/v1/namespaces/{ns}/services (those selecting the pod)");
    match services {
        Ok(all) => {
            let selecting: Vec<_> = all
                .into_iter()
                .filter(|s| map_selects(s.spec.as_ref().and_then(|s| s.selector.as_ref()), &labels))
                .collect();
            collector.store_json("services.json", &services_source, &selecting).await;
        }
        Err(error) => collector.gap_error("services.json", &services_source, &error).await,
    }
    let policies_source =
        format!("GET /apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies (those selecting the pod)");
    match policies {
        Ok(all) => {
            let selecting: Vec<_> = all
                .into_iter()
                .filter(|p| {
                    let selector = p.spec.as_ref().and_then(|s| s.pod_selector.clone()).unwrap_or_default();
                    selects(&selector, &labels)
                })
                .collect();
            let allowing = netpol::allowing_policies(&selecting, &labels);
            collector
                .store_json(
                    "networkpolicies.json",
                    &policies_source,
                    &json!({"selecting": selecting, "allowing": allowing}),
                )
                .await;
        }
        Err(error) => collector.gap_error("networkpolicies.json", &policies_source, &error).await,
    }
}

/// A Secret or ConfigMap the pod uses, and how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub kind: &'static str,
    pub name: String,
    pub used_as: String,
}

/// Every Secret and ConfigMap the pod references: volumes (also projected), env, envFrom,
/// image pull secrets.
pub fn references_of(pod: &Pod) -> Vec<Reference> {
    pod.spec.as_ref().map(references_in).unwrap_or_default()
}

/// [`references_of`] for a pod spec (a pod's, or a controller's template).
pub fn references_in(spec: &k8s_openapi::api::core::v1::PodSpec) -> Vec<Reference> {
    let mut found = Vec::new();
    let mut add = |kind: &'static str, name: Option<&String>, used_as: String| {
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            found.push(Reference { kind, name: name.clone(), used_as });
        }
    };
    for volume in spec.volumes.iter().flatten() {
        let at = format!("volume {}", volume.name);
        add("Secret", volume.secret.as_ref().and_then(|s| s.secret_name.as_ref()), at.clone());
        add("ConfigMap", volume.config_map.as_ref().map(|c| &c.name), at.clone());
        for source in volume.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            add("Secret", source.secret.as_ref().map(|s| &s.name), format!("{at} (projected)"));
            add("ConfigMap", source.config_map.as_ref().map(|c| &c.name), format!("{at} (projected)"));
        }
    }
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .map(|c| (c.name.clone(), c.env.clone(), c.env_from.clone()));
    for (container, env, env_from) in containers {
        for var in env.iter().flatten() {
            let source = var.value_from.as_ref();
            let at = format!("env {} of container {container}", var.name);
            add("Secret", source.and_then(|s| s.secret_key_ref.as_ref()).map(|r| &r.name), at.clone());
            add("ConfigMap", source.and_then(|s| s.config_map_key_ref.as_ref()).map(|r| &r.name), at);
        }
        for from in env_from.iter().flatten() {
            let at = format!("envFrom of container {container}");
            add("Secret", from.secret_ref.as_ref().map(|r| &r.name), at.clone());
            add("ConfigMap", from.config_map_ref.as_ref().map(|r| &r.name), at);
        }
    }
    for secret in spec.image_pull_secrets.iter().flatten() {
        add("Secret", Some(&secret.name), "imagePullSecrets".to_string());
    }
    found.sort();
    found.dedup();
    found
}

/// Metadata of every referenced Secret and ConfigMap. Values are never requested. A reference
/// to an object that does not exist is recorded as such; when a lookup could not be answered
/// (no permission, no server), the artifact is left for another run to collect whole.
async fn references(cluster: &Cluster, collector: &Collector, pod: &Pod, ns: &str) {
    let references = references_of(pod);
    let lookups = references.iter().map(|r| async move {
        let metadata = retrying(|| async {
            match r.kind {
                "Secret" => cluster.secret_metadata(ns, &r.name).await,
                _ => cluster.config_map_metadata(ns, &r.name).await,
            }
        })
        .await;
        match metadata {
            Ok(metadata) => Ok(json!({"reference": r, "metadata": metadata})),
            Err(error) if error.is_transient() || error.missing_permission().is_some() => Err(error),
            Err(error) => Ok(json!({"reference": r, "error": error.to_string()})),
        }
    });
    let source =
        format!("GET metadata only (PartialObjectMetadata) of referenced secrets and configmaps in {ns}");
    match join_all(lookups).await.into_iter().collect::<Result<Vec<_>, _>>() {
        Ok(found) => {
            collector.store_json("references.json", &source, &found).await;
        }
        Err(error) => collector.gap_error("references.json", &source, &error).await,
    }
}

/// The image each container runs, with the digest the runtime resolved.
async fn images(collector: &Collector, pod: &Pod) {
    let status = pod.status.clone().unwrap_or_default();
    let images: Vec<Value> = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .chain(status.ephemeral_container_statuses.iter().flatten())
        .map(|s| json!({"container": s.name, "image": s.image, "imageID": s.image_id}))
        .collect();
    collector.store_json("images.json", "pod status: containerStatuses[].imageID", &images).await;
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        ContainerStatus, EnvFromSource, EnvVar, EnvVarSource, LocalObjectReference, PodSpec, PodStatus,
        SecretEnvSource, SecretKeySelector, SecretVolumeSource, Volume,
    };

    use super::*;

    fn entry(
        seq: u64,
        action: &str,
        uid: &str,
        folder: Option<&str>,
        missing: &[&str],
    ) -> kir_evidence::JournalEntry {
        let mut parameters = json!({"uid": uid});
        if let Some(folder) = folder {
            parameters["folder"] = json!(folder);
        }
        serde_json::from_value(json!({
            "seq": seq, "time": "2026-12-07T01:00:00Z", "actor": "responder", "action": action,
            "target": "pod/shop/web", "parameters": parameters,
            "result": {"missing": missing.iter().map(|p| json!({"path": p})).collect::<Vec<_>>()},
            "undo": null, "prevHash": "", "hash": "",
        }))
        .unwrap()
    }

    #[test]
    fn a_capture_resumes_only_an_unfinished_run_and_starts_a_fresh_set_after_a_complete_one() {
        let base = "pods/shop/web/u1";
        let now: jiff::Timestamp = "2026-12-07T01:02:03.456Z".parse().unwrap();
        let folder =
            |entries: &[kir_evidence::JournalEntry]| capture_folder(entries, "pod/shop/web", "u1", base, now);
        assert_eq!(folder(&[]), base, "the first capture");
        let interrupted = [entry(1, CAPTURE_START, "u1", Some(base), &[])];
        assert_eq!(folder(&interrupted), base, "an interrupted run is resumed");
        let complete =
            [entry(1, CAPTURE_START, "u1", Some(base), &[]), entry(2, CAPTURE_DONE, "u1", Some(base), &[])];
        let fresh = "pods/shop/web/u1/captures/20261207T010203.456Z";
        assert_eq!(folder(&complete), fresh, "after a complete capture");
        // A playbook's capture records no start, and older cases no folder: the pod's folder.
        assert_eq!(folder(&[entry(4, CAPTURE_DONE, "u1", None, &[])]), fresh);
        let incomplete = [entry(1, CAPTURE_DONE, "u1", Some(base), &["logs/app.log"])];
        assert_eq!(folder(&incomplete), base, "what was missing is collected by running again");
        let fresh_interrupted = [
            entry(1, CAPTURE_START, "u1", Some(base), &[]),
            entry(2, CAPTURE_DONE, "u1", Some(base), &[]),
            entry(3, CAPTURE_START, "u1", Some("pods/shop/web/u1/captures/X"), &[]),
        ];
        assert_eq!(folder(&fresh_interrupted), "pods/shop/web/u1/captures/X");
        let another_pod = [entry(1, CAPTURE_DONE, "u2", Some("pods/shop/web/u2"), &[])];
        assert_eq!(folder(&another_pod), base, "a pod recreated under the name is another pod");
    }

    fn pod() -> Pod {
        let container = |name: &str| Container { name: name.into(), ..Default::default() };
        let mut app = container("app");
        app.env = Some(vec![EnvVar {
            name: "DB_PASSWORD".into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: "db".into(),
                    key: "password".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        app.env_from = Some(vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource { name: "api-keys".into(), ..Default::default() }),
            ..Default::default()
        }]);
        Pod {
            spec: Some(PodSpec {
                init_containers: Some(vec![container("migrate")]),
                containers: vec![app, container("sidecar")],
                volumes: Some(vec![Volume {
                    name: "tls".into(),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some("tls-cert".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                image_pull_secrets: Some(vec![LocalObjectReference { name: "registry".into() }]),
                ..Default::default()
            }),
            status: Some(PodStatus {
                container_statuses: Some(vec![
                    ContainerStatus { name: "app".into(), restart_count: 3, ..Default::default() },
                    ContainerStatus { name: "sidecar".into(), restart_count: 0, ..Default::default() },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn logs_cover_init_and_app_containers_and_previous_instances() {
        assert_eq!(
            log_targets(&pod()),
            [
                ("migrate".to_string(), false),
                ("app".to_string(), false),
                ("app".to_string(), true),
                ("sidecar".to_string(), false)
            ]
        );
    }

    #[test]
    fn only_controllers_are_followed_as_owners() {
        assert!(followable_owner("apps/v1", "ReplicaSet", "web-7d9f"));
        assert!(followable_owner("batch/v1", "Job", "nightly-29384"));
        assert!(followable_owner("argoproj.io/v1alpha1", "Rollout", "canary"));
        assert!(followable_owner("v1", "ReplicationController", "legacy"));
        assert!(!followable_owner("v1", "Secret", "db-creds"));
        assert!(!followable_owner("v1", "ConfigMap", "settings"));
        assert!(!followable_owner("apps/v1", "ReplicaSet", "../../secrets/x"));
        assert!(!followable_owner("apps/v1", "Replica/Set", "web"));
    }

    #[test]
    fn every_kind_of_reference_is_found() {
        let names: Vec<(String, &str)> =
            references_of(&pod()).into_iter().map(|r| (r.name, r.kind)).collect();
        assert_eq!(
            names,
            [
                ("api-keys".to_string(), "Secret"),
                ("db".to_string(), "Secret"),
                ("registry".to_string(), "Secret"),
                ("tls-cert".to_string(), "Secret"),
            ]
        );
    }
}

//! `kir creds rotate secret/NS/NAME`: new values into a Secret, then every workload that reads
//! it restarted so that it runs with them (environment variables never refresh, and `subPath`
//! mounts never see a change), each restart awaited and read back. No value is ever written
//! into the case or printed: the journal names the keys that changed.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use k8s_openapi::{
    ByteString,
    api::{
        apps::v1::{DaemonSet, Deployment, StatefulSet},
        core::v1::{Pod, PodSpec, Secret},
    },
};
use kir_cluster::Cluster;
use kir_evidence::{Case, JournalRecord};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Error, Result, blocking::record, capture::references_in};

/// How a workload reads the Secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, or `Pod` (a pod without a controller).
    pub kind: String,
    pub name: String,
    /// `env`, `envFrom`, `volume`, `projected volume`, `imagePullSecrets`.
    pub uses: Vec<String>,
}

impl Consumer {
    pub fn restartable(&self) -> bool {
        self.kind != "Pod"
    }
}

/// What rotating would change.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotatePlan {
    pub namespace: String,
    pub secret: String,
    /// The keys given new values; every other key keeps its value.
    pub keys: Vec<String>,
    pub consumers: Vec<Consumer>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    uid: String,
    #[serde(skip)]
    resource_version: String,
}

/// How a restart came out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartOutcome {
    pub workload: String,
    /// `running again` (every pod replaced and running), `failed`, `not done in time`, or
    /// `left to the responder` (a pod without a controller).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotateReport {
    pub plan: RotatePlan,
    /// The Secret read back holds the new values (compared in memory, never shown).
    pub secret_updated: bool,
    pub restarts: Vec<RestartOutcome>,
}

impl RotateReport {
    pub fn complete(&self) -> bool {
        self.secret_updated && self.restarts.iter().all(|r| r.status == "running again")
    }
}

/// How a pod spec takes Secret `name`: `volume data`, `env PASSWORD of container app`, ...
pub fn uses_of(spec: &PodSpec, name: &str) -> Vec<String> {
    references_in(spec)
        .into_iter()
        .filter(|r| r.kind == "Secret" && r.name == name)
        .map(|r| r.used_as)
        .collect()
}

/// Read the Secret and find who reads it: the pod templates of the namespace's Deployments,
/// StatefulSets and DaemonSets (running or not), and pods without a controller.
pub async fn plan(cluster: &Cluster, namespace: &str, name: &str, keys: Vec<String>) -> Result<RotatePlan> {
    let secret: Secret = cluster
        .get_typed(namespace, name)
        .await?
        .ok_or_else(|| Error::Invalid(format!("there is no Secret {namespace}/{name}")))?;
    let kind = secret.type_.clone().unwrap_or_else(|| "Opaque".into());
    if kind == "kubernetes.io/service-account-token" {
        return Err(Error::Invalid(format!(
            "Secret {namespace}/{name} holds a service-account token: new values would not make a token; deleting \
             the Secret kills the token (`kir creds show secret/{namespace}/{name}` says how it dies)"
        )));
    }
    let consumers = consumers(cluster, namespace, |spec| uses_of(spec, name)).await?;
    let mut warnings = Vec::new();
    for consumer in consumers.iter().filter(|c| !c.restartable()) {
        warnings.push(format!(
            "pod {namespace}/{} has no controller: kir cannot restart it; it keeps the old values until it is \
             recreated",
            consumer.name
        ));
    }
    let existing: Vec<&String> = secret.data.iter().flatten().map(|(k, _)| k).collect();
    for key in keys.iter().filter(|k| !existing.contains(k)) {
        warnings.push(format!("key {key} is new in the Secret: no workload read it before"));
    }
    Ok(RotatePlan {
        namespace: namespace.into(),
        secret: name.into(),
        keys,
        consumers,
        warnings,
        uid: secret.metadata.uid.unwrap_or_default(),
        resource_version: secret.metadata.resource_version.unwrap_or_default(),
    })
}

/// The workloads of `namespace` whose pod template `uses` something (a non-empty answer): the
/// Deployments, StatefulSets and DaemonSets (running or not), and pods without a controller.
pub(crate) async fn consumers(
    cluster: &Cluster,
    namespace: &str,
    uses: impl Fn(&PodSpec) -> Vec<String>,
) -> Result<Vec<Consumer>> {
    let (deployments, statefulsets, daemonsets, pods) = tokio::try_join!(
        cluster.list_in::<Deployment>(namespace),
        cluster.list_in::<StatefulSet>(namespace),
        cluster.list_in::<DaemonSet>(namespace),
        cluster.list_in::<Pod>(namespace),
    )?;
    let mut consumers = Vec::new();
    let mut consider = |kind: &str, object_name: Option<&String>, spec: Option<&PodSpec>| {
        let uses = spec.map(&uses).unwrap_or_default();
        if !uses.is_empty() {
            consumers.push(Consumer {
                kind: kind.into(),
                name: object_name.cloned().unwrap_or_default(),
                uses,
            });
        }
    };
    for d in &deployments {
        consider(
            "Deployment",
            d.metadata.name.as_ref(),
            d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        );
    }
    for s in &statefulsets {
        consider(
            "StatefulSet",
            s.metadata.name.as_ref(),
            s.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        );
    }
    for d in &daemonsets {
        consider(
            "DaemonSet",
            d.metadata.name.as_ref(),
            d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        );
    }
    for pod in pods.iter().filter(|p| p.metadata.owner_references.as_ref().is_none_or(|o| o.is_empty())) {
        consider("Pod", pod.metadata.name.as_ref(), pod.spec.as_ref());
    }
    Ok(consumers)
}

/// Write the new values (bound to the Secret's UID and the resourceVersion planned from),
/// read them back, restart every consumer and wait (at most `wait`) until it runs again.
pub async fn apply(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    plan: RotatePlan,
    values: BTreeMap<String, Vec<u8>>,
    wait: Duration,
) -> Result<RotateReport> {
    let target = format!("secret/{}/{}", plan.namespace, plan.secret);
    let keys: Vec<&String> = values.keys().collect();
    let intent = record(
        case,
        JournalRecord::new(actor, "rotate.secret")
            .target(target.clone())
            .parameters(
                json!({"keys": keys, "uid": plan.uid, "note": "values are not recorded; not undoable"}),
            )
            .result(json!({"status": "started"})),
    )
    .await?;
    let data: BTreeMap<&String, ByteString> =
        values.iter().map(|(k, v)| (k, ByteString(v.clone()))).collect();
    let patch =
        json!({"metadata": {"uid": plan.uid, "resourceVersion": plan.resource_version}, "data": data});
    let written = cluster.merge_patch("v1", "Secret", Some(&plan.namespace), &plan.secret, &patch).await;
    record(
        case,
        JournalRecord::new(actor, "rotate.secret")
            .target(target)
            .parameters(json!({"intent": intent.seq}))
            .result(match &written {
                Ok(_) => json!({"status": "applied"}),
                Err(error) => json!({"status": "failed", "error": error.to_string()}),
            }),
    )
    .await?;
    if let Err(error) = written {
        return Err(match error.status_code() {
            Some(409) => Error::Invalid(format!(
                "Secret {}/{} changed since it was read: nothing was written; run again",
                plan.namespace, plan.secret
            )),
            _ => error.into(),
        });
    }
    let back: Option<Secret> = cluster.get_typed(&plan.namespace, &plan.secret).await?;
    let secret_updated = back.and_then(|s| s.data).is_some_and(|data| {
        values.iter().all(|(key, value)| data.get(key).is_some_and(|stored| stored.0 == *value))
    });
    let restarted_at = jiff::Timestamp::now().to_string();
    let mut restarts = Vec::new();
    for consumer in &plan.consumers {
        if !consumer.restartable() {
            restarts.push(RestartOutcome {
                workload: format!("Pod {}", consumer.name),
                status: "left to the responder",
                detail: Some("no controller: delete and recreate it from its manifest".into()),
            });
            continue;
        }
        restarts.push(restart(cluster, case, actor, &plan.namespace, consumer, &restarted_at, wait).await?);
    }
    Ok(RotateReport { plan, secret_updated, restarts })
}

/// Restart one workload as `kubectl rollout restart` does (an annotation on its pod template),
/// then wait until every pod of it was created after the restart and runs.
pub(crate) async fn restart(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    namespace: &str,
    consumer: &Consumer,
    restarted_at: &str,
    wait: Duration,
) -> Result<RestartOutcome> {
    let workload = format!("{} {}", consumer.kind, consumer.name);
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": restarted_at}}}}});
    let patched =
        cluster.merge_patch("apps/v1", &consumer.kind, Some(namespace), &consumer.name, &patch).await;
    record(
        case,
        JournalRecord::new(actor, "rotate.restart")
            .target(format!("{}/{namespace}/{}", consumer.kind.to_lowercase(), consumer.name))
            .parameters(json!({"restartedAt": restarted_at}))
            .result(match &patched {
                Ok(_) => json!({"status": "applied"}),
                Err(error) => json!({"status": "failed", "error": error.to_string()}),
            }),
    )
    .await?;
    let patched = match patched {
        Ok(value) => value,
        Err(error) => {
            return Ok(RestartOutcome { workload, status: "failed", detail: Some(error.to_string()) });
        }
    };
    let selector = patched.pointer("/spec/selector/matchLabels").cloned().unwrap_or(Value::Null);
    let selector: BTreeMap<String, String> = serde_json::from_value(selector).unwrap_or_default();
    let deadline = Instant::now() + wait;
    loop {
        let pods: Vec<Pod> = cluster.list_in::<Pod>(namespace).await?;
        let ours: Vec<&Pod> = pods
            .iter()
            .filter(|p| {
                let labels = p.metadata.labels.clone().unwrap_or_default();
                !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        // A pod of the restarted template carries its annotation: that, not a creation time, says
        // it was started after the new values were written.
        let fresh = |p: &&Pod| {
            let annotated = p
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubectl.kubernetes.io/restartedAt"))
                .is_some_and(|a| a == restarted_at);
            annotated && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        };
        let old = ours.iter().filter(|p| !fresh(p)).count();
        if !ours.is_empty() && old == 0 {
            return Ok(RestartOutcome {
                workload,
                status: "running again",
                detail: Some(format!("{} pod(s) started with the new values", ours.len())),
            });
        }
        if Instant::now() >= deadline {
            return Ok(RestartOutcome {
                workload,
                status: "not done in time",
                detail: Some(format!(
                    "{old} pod(s) of the old values still run after {}s: kubectl rollout status -n {namespace} {}/{}",
                    wait.as_secs(),
                    consumer.kind.to_lowercase(),
                    consumer.name
                )),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// 32 random characters from letters and digits, for `--generate`.
pub fn generated_value() -> std::result::Result<Vec<u8>, String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut value = Vec::with_capacity(32);
    while value.len() < 32 {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for --generate: {e}"))?;
        // 62 does not divide 256: bytes from 248 up are skipped, so no character is likelier.
        value.extend(bytes.iter().filter(|b| **b < 248).map(|b| ALPHABET[(*b % 62) as usize]));
    }
    value.truncate(32);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        Container, EnvFromSource, EnvVar, EnvVarSource, LocalObjectReference, ProjectedVolumeSource,
        SecretEnvSource, SecretKeySelector, SecretProjection, SecretVolumeSource, Volume, VolumeProjection,
    };

    use super::*;

    #[test]
    fn every_way_a_pod_reads_a_secret_is_found() {
        let env = EnvVar {
            name: "PASSWORD".into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: "db".into(),
                    key: "password".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let spec = PodSpec {
            containers: vec![Container {
                name: "app".into(),
                env: Some(vec![env]),
                env_from: Some(vec![EnvFromSource {
                    secret_ref: Some(SecretEnvSource { name: "db".into(), ..Default::default() }),
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            volumes: Some(vec![
                Volume {
                    name: "a".into(),
                    secret: Some(SecretVolumeSource { secret_name: Some("db".into()), ..Default::default() }),
                    ..Default::default()
                },
                Volume {
                    name: "b".into(),
                    projected: Some(ProjectedVolumeSource {
                        sources: Some(vec![VolumeProjection {
                            secret: Some(SecretProjection { name: "db".into(), ..Default::default() }),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ]),
            image_pull_secrets: Some(vec![LocalObjectReference { name: "db".into() }]),
            ..Default::default()
        };
        assert_eq!(
            uses_of(&spec, "db"),
            [
                "env PASSWORD of container app",
                "envFrom of container app",
                "imagePullSecrets",
                "volume a",
                "volume b (projected)"
            ]
        );
        assert!(uses_of(&spec, "other").is_empty());
    }

    #[test]
    fn generated_values_are_32_letters_and_digits_and_differ() {
        let (a, b) = (generated_value().unwrap(), generated_value().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.iter().all(u8::is_ascii_alphanumeric));
        assert_ne!(a, b);
    }
}

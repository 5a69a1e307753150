//! `kir replace pod` (C5): delete the suspect once its evidence is in the case, and say
//! plainly whether something clean replaces it.

use std::collections::{BTreeMap, HashSet};

use kir_cluster::Cluster;
use kir_evidence::{Case, JournalRecord};
use serde::Serialize;
use serde_json::{Value, json};

use k8s_openapi::api::core::v1::Pod;

use crate::{
    Error, Result,
    blocking::{blocking, record},
    capture::pod_base,
    contain::REMOVED_LABELS_ANNOTATION,
    isolate::{Controller, PodState},
};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplaceReport {
    pub pod: String,
    pub deleted: bool,
    /// Who starts (or started) the replacement, if anyone.
    pub replaced_by: Option<String>,
    pub warnings: Vec<String>,
}

/// What deleting the suspect means: who, if anyone, starts a clean pod, and what to beware of.
#[derive(Debug, Clone, Default)]
pub struct Assessment {
    pub replaced_by: Option<String>,
    pub warnings: Vec<String>,
}

/// The images a pod runs.
pub fn images(pod: &Pod) -> Vec<String> {
    pod.spec.iter().flat_map(|s| s.containers.iter().filter_map(|c| c.image.clone())).collect()
}

/// Did `kir isolate` release this pod from its controller (orphaning)?
pub fn orphaned(pod: &Pod) -> bool {
    pod.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(REMOVED_LABELS_ANNOTATION))
}

/// Decide, before deleting a pod running `images`, what replaces it: its `controller`, or
/// (once `orphaned`) the replacement its former controller started, which runs
/// `replacement_images` when known.
pub fn assess(
    images: &[String],
    controller: Option<&Controller>,
    orphaned: bool,
    replacement_images: Option<&[String]>,
) -> Assessment {
    let mut warnings = Vec::new();
    let replaced_by = match controller {
        Some(controller) => {
            warnings.push(format!(
                "{} will start a replacement from the same template, with the same image ({}): unless the template \
                 or the image is fixed, the compromise may come back",
                controller.describe(),
                images.join(", ")
            ));
            Some(controller.describe())
        }
        None if orphaned => {
            if replacement_images.is_some_and(|r| r == images) {
                warnings.push(format!(
                    "the replacement started at orphaning runs the same image ({}): the compromise may come back",
                    images.join(", ")
                ));
            }
            Some("its former controller (the pod was orphaned by kir isolate)".to_string())
        }
        None => {
            warnings.push("the pod has no controller: nothing will replace it".to_string());
            None
        }
    };
    Assessment { replaced_by, warnings }
}

/// Is this pod's object (this UID) in the case (evidence first)?
pub async fn has_evidence(case: &Case, namespace: &str, name: &str, uid: &str) -> Result<bool> {
    let path = format!("{}/pod.json", pod_base(namespace, name, uid));
    let case = case.clone();
    Ok(blocking(move || case.artifacts()).await?.iter().any(|a| a.path == path))
}

/// What the case records as missing from this pod's evidence: what its captures and snapshots
/// could not collect for lack of a server or a permission (their journal entries list it), and
/// no later run collected. Each as `path: reason`.
pub async fn missing_evidence(case: &Case, state: &PodState) -> Result<Vec<String>> {
    let target = format!("pod/{}/{}", state.namespace, state.name);
    let case = case.clone();
    let (artifacts, entries) =
        blocking(move || Ok::<_, kir_evidence::Error>((case.artifacts()?, case.entries()?))).await?;
    let committed: HashSet<String> = artifacts.into_iter().map(|a| a.path).collect();
    let mut missing = BTreeMap::new();
    for entry in entries {
        let ours = matches!(entry.action.as_str(), "capture.pod" | "snapshot.pod")
            && entry.target.as_deref() == Some(target.as_str())
            && entry.parameters.get("uid").and_then(Value::as_str) == Some(state.uid.as_str());
        if !ours {
            continue;
        }
        for gap in entry.result.get("missing").and_then(Value::as_array).into_iter().flatten() {
            let path = gap.get("path").and_then(Value::as_str).unwrap_or_default();
            let reason = gap.get("reason").and_then(Value::as_str).unwrap_or_default();
            let reason = reason.lines().next().unwrap_or_default();
            if !committed.contains(path) {
                missing.insert(path.to_string(), reason.to_string());
            }
        }
    }
    Ok(missing.into_iter().map(|(path, reason)| format!("{path}: {reason}")).collect())
}

/// Delete the suspect (this UID only), once its evidence is in the case unless
/// `require_evidence` is off.
pub async fn replace_pod(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    state: &PodState,
    assessment: Assessment,
    grace_seconds: Option<u32>,
    require_evidence: bool,
) -> Result<ReplaceReport> {
    if require_evidence && !has_evidence(case, &state.namespace, &state.name, &state.uid).await? {
        return Err(Error::Invalid(format!(
            "pod {}/{} has no evidence in case {}: capture it first (kir capture pod {}/{} --case {}), \
             or pass --without-evidence to delete it anyway",
            state.namespace,
            state.name,
            case.path().display(),
            state.namespace,
            state.name,
            case.path().display()
        )));
    }
    let Assessment { replaced_by, warnings } = assessment;
    let target = format!("pod/{}/{}", state.namespace, state.name);
    let intent = record(
        case,
        JournalRecord::new(actor, "replace.delete-pod")
            .target(target.clone())
            .parameters(json!({"uid": state.uid, "gracePeriodSeconds": grace_seconds, "warnings": warnings}))
            .result(json!({"status": "started"})),
    )
    .await?;
    let deleted = match cluster.delete_pod(&state.namespace, &state.name, &state.uid, grace_seconds).await {
        // The UID precondition failed: the name now belongs to another pod.
        Err(error) if error.status_code() == Some(409) => Err(Error::Invalid(format!(
            "pod {}/{} is no longer the suspect (UID {}): it is another pod of the same name, not deleted",
            state.namespace, state.name, state.uid
        ))),
        other => other.map_err(Error::from),
    };
    let (status, error) = match &deleted {
        Ok(true) => ("deleted", None),
        Ok(false) => ("already gone", None),
        Err(error) => ("failed", Some(error.to_string())),
    };
    record(
        case,
        JournalRecord::new(actor, "replace.delete-pod")
            .target(target)
            .parameters(json!({"intent": intent.seq}))
            .result(json!({"status": status, "error": error})),
    )
    .await?;
    Ok(ReplaceReport {
        pod: format!("{}/{}", state.namespace, state.name),
        deleted: deleted?,
        replaced_by,
        warnings,
    })
}

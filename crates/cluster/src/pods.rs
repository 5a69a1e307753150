//! Pods and what surrounds them: logs, events, the Services and policies in their namespace,
//! the metadata of what they reference.

use futures::{AsyncBufRead, StreamExt};
use k8s_openapi::api::{
    authorization::v1::{SelfSubjectRulesReview, SelfSubjectRulesReviewSpec, SubjectRulesReviewStatus},
    core::v1::{ConfigMap, Pod, Secret, Service},
    discovery::v1::EndpointSlice,
    networking::v1::NetworkPolicy,
};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use serde_json::Value;

use crate::{Cluster, Result, objects::Fetched};

/// What a log request asks for.
#[derive(Debug, Clone)]
pub struct LogRequest<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    pub container: &'a str,
    pub previous: bool,
    /// The server stops after this many bytes (`limitBytes`).
    pub limit_bytes: Option<i64>,
}

impl LogRequest<'_> {
    /// The request, spelled as the API path, for the evidence manifest.
    pub fn source(&self) -> String {
        let mut source = format!(
            "GET /api/v1/namespaces/{}/pods/{}/log?container={}&timestamps=true",
            self.namespace, self.pod, self.container
        );
        if self.previous {
            source.push_str("&previous=true");
        }
        if let Some(limit) = self.limit_bytes {
            source.push_str(&format!("&limitBytes={limit}"));
        }
        source
    }
}

impl Cluster {
    /// The pod, typed and as the exact bytes the API server returned.
    pub async fn pod(&self, namespace: &str, name: &str) -> Result<(Pod, Fetched)> {
        let fetched = self.get_raw(&format!("/api/v1/namespaces/{namespace}/pods/{name}")).await?;
        Ok((fetched.parse()?, fetched))
    }

    /// A container's log with timestamps, as a stream (logs can be large).
    pub async fn log_stream(&self, request: &LogRequest<'_>) -> Result<impl AsyncBufRead + use<>> {
        let api: Api<Pod> = Api::namespaced(self.client().clone(), request.namespace);
        let params = LogParams {
            container: Some(request.container.to_string()),
            previous: request.previous,
            timestamps: true,
            limit_bytes: request.limit_bytes,
            ..Default::default()
        };
        self.call(request.source(), api.log_stream(request.pod, &params)).await
    }

    /// Events whose involved object has this UID (core/v1 Events, as returned).
    pub async fn events_about(&self, namespace: &str, uid: &str) -> Result<Fetched> {
        self.get_raw(&format!(
            "/api/v1/namespaces/{namespace}/events?fieldSelector=involvedObject.uid%3D{uid}"
        ))
        .await
    }

    /// Services of the namespace, from the API server's watch cache (`resourceVersion=0`): a
    /// consistent list waits for the cache to catch up with etcd, tens of milliseconds that
    /// containment cannot spare, for objects that rarely change during a response.
    pub async fn services(&self, namespace: &str) -> Result<Vec<Service>> {
        let api: Api<Service> = Api::namespaced(self.client().clone(), namespace);
        let what = format!("list services in namespace {namespace}");
        Ok(self.call(what, api.list(&ListParams::default().match_any())).await?.items)
    }

    /// NetworkPolicies of the namespace, from the watch cache (see [`Cluster::services`]).
    pub async fn network_policies(&self, namespace: &str) -> Result<Vec<NetworkPolicy>> {
        let api: Api<NetworkPolicy> = Api::namespaced(self.client().clone(), namespace);
        let what = format!("list networkpolicies in namespace {namespace}");
        Ok(self.call(what, api.list(&ListParams::default().match_any())).await?.items)
    }

    /// EndpointSlices of one Service (label `kubernetes.io/service-name`).
    pub async fn endpoint_slices(&self, namespace: &str, service: &str) -> Result<Vec<EndpointSlice>> {
        let api: Api<EndpointSlice> = Api::namespaced(self.client().clone(), namespace);
        let params = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
        let what = format!("list endpointslices of service {namespace}/{service}");
        Ok(self.call(what, api.list(&params)).await?.items)
    }

    /// Metadata of a Secret, never its data: the request asks the server for metadata only,
    /// and annotations, which can hold the data too (`kubectl apply` keeps the whole object in
    /// `last-applied-configuration`), keep only their keys (see [`redact_metadata`]).
    pub async fn secret_metadata(&self, namespace: &str, name: &str) -> Result<Value> {
        let api: Api<Secret> = Api::namespaced(self.client().clone(), namespace);
        let what = format!("get metadata of secret {namespace}/{name}");
        let meta = self.call(what, api.get_metadata(name)).await?;
        Ok(redact_metadata(serde_json::to_value(meta).unwrap_or_default()))
    }

    /// Metadata of a ConfigMap, redacted like a Secret's (its values may hold credentials too).
    pub async fn config_map_metadata(&self, namespace: &str, name: &str) -> Result<Value> {
        let api: Api<ConfigMap> = Api::namespaced(self.client().clone(), namespace);
        let what = format!("get metadata of configmap {namespace}/{name}");
        let meta = self.call(what, api.get_metadata(name)).await?;
        Ok(redact_metadata(serde_json::to_value(meta).unwrap_or_default()))
    }

    /// What this connection's identity may do in `namespace`, as the API server lists it
    /// (SelfSubjectRulesReview). Use on an [`Cluster::impersonating`] connection to ask about
    /// another identity.
    pub async fn rules_review(&self, namespace: &str) -> Result<SubjectRulesReviewStatus> {
        let api: Api<SelfSubjectRulesReview> = Api::all(self.client().clone());
        let review = SelfSubjectRulesReview {
            spec: SelfSubjectRulesReviewSpec { namespace: Some(namespace.to_string()) },
            ..Default::default()
        };
        let what = format!("create selfsubjectrulesreviews in namespace {namespace}");
        let answer = self.call(what, api.create(&PostParams::default(), &review)).await?;
        Ok(answer.status.unwrap_or_default())
    }

    /// Delete the pod with this UID. A pod already gone is `Ok(false)`; a pod of that name
    /// with another UID (recreated since it was read) is not deleted: the API server answers
    /// 409 and the error says so.
    pub async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        grace_seconds: Option<u32>,
    ) -> Result<bool> {
        let api: Api<Pod> = Api::namespaced(self.client().clone(), namespace);
        let params = DeleteParams {
            grace_period_seconds: grace_seconds,
            preconditions: Some(kube::api::Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..Default::default()
        };
        let what = format!("delete pod {namespace}/{name}");
        match self.call(what, api.delete(name, &params)).await {
            Ok(_) => Ok(true),
            Err(crate::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Cluster {
    /// Wait for a pod matching `label_selector` that appears after `since` (a resourceVersion
    /// of the caller's own write: its creation, or its starting to match, is seen in the watch)
    /// and satisfies `ready`. A watch from `since` and nothing else: what the selector already
    /// matched is never listed, so the wait costs the same for a controller of two pods and of
    /// two thousand. `None` on timeout, or if the watch ends early.
    pub async fn wait_for_new_pod(
        &self,
        namespace: &str,
        label_selector: &str,
        since: &str,
        timeout: std::time::Duration,
        ready: impl Fn(&Pod) -> bool,
    ) -> Result<Option<Pod>> {
        use futures::TryStreamExt;
        use kube::api::{WatchEvent, WatchParams};
        let api: Api<Pod> = Api::namespaced(self.client().clone(), namespace);
        let what = format!("watch pods {label_selector} in namespace {namespace}");
        let waiting = async {
            let seconds = u32::try_from(timeout.as_secs().max(1)).unwrap_or(u32::MAX).min(290);
            let params = WatchParams::default().labels(label_selector).timeout(seconds);
            let mut events = self.call(what.clone(), api.watch(&params, since)).await?.boxed();
            let mut appeared = std::collections::HashSet::new();
            while let Some(event) = events
                .try_next()
                .await
                .map_err(|e| crate::Error::Other { what: what.clone(), detail: e.to_string() })?
            {
                match event {
                    WatchEvent::Added(pod) => {
                        if ready(&pod) {
                            return Ok(Some(pod));
                        }
                        appeared.extend(pod.metadata.uid);
                    }
                    WatchEvent::Modified(pod)
                        if pod.metadata.uid.as_ref().is_some_and(|uid| appeared.contains(uid))
                            && ready(&pod) =>
                    {
                        return Ok(Some(pod));
                    }
                    WatchEvent::Error(error) => {
                        return Err(crate::Error::Other {
                            what: what.clone(),
                            detail: format!("the watch ended: {} ({})", error.message, error.code),
                        });
                    }
                    _ => {}
                }
            }
            Ok(None)
        };
        match tokio::time::timeout(timeout, waiting).await {
            Ok(found) => found,
            Err(_) => Ok(None),
        }
    }
}

/// Annotations whose values identify rather than hold data (the service account a token
/// Secret belongs to): kept as they are.
const IDENTIFYING_ANNOTATIONS: &[&str] =
    &["kubernetes.io/service-account.name", "kubernetes.io/service-account.uid"];

/// Object metadata fit for evidence about a Secret or ConfigMap: identity, labels, owners and
/// times are kept; annotation values are replaced by their size (any of them may carry the
/// object's data); managedFields are dropped.
pub fn redact_metadata(mut object: Value) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
        if let Some(annotations) = metadata.get_mut("annotations").and_then(Value::as_object_mut) {
            for (key, value) in annotations.iter_mut() {
                if !IDENTIFYING_ANNOTATIONS.contains(&key.as_str()) {
                    let size = value.as_str().map_or(0, str::len);
                    *value = Value::String(format!("<redacted by kir: {size} bytes>"));
                }
            }
        }
    }
    object
}

impl Cluster {
    /// Why no pod of `selector` in `namespace` (other than `exclude_uid`) runs: the scheduler's
    /// word on a Pending pod, a container's waiting reason (image pulls, configuration), or,
    /// when no pod was created at all, the latest warning events of `owner` (quota, admission).
    /// `None` when one runs, or nothing says why.
    pub async fn why_not_running(
        &self,
        namespace: &str,
        selector: &str,
        exclude_uid: &str,
        owner: Option<&str>,
    ) -> Result<Option<String>> {
        use k8s_openapi::api::core::v1::Event;
        let listed = self.live_pods(Some(namespace), selector).await?;
        let candidates: Vec<&Pod> =
            listed.iter().filter(|p| p.metadata.uid.as_deref() != Some(exclude_uid)).collect();
        let mut reasons = Vec::new();
        for pod in &candidates {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let Some(status) = &pod.status else { continue };
            if status.phase.as_deref() == Some("Running") {
                return Ok(None);
            }
            let unscheduled =
                status.conditions.iter().flatten().find(|c| c.type_ == "PodScheduled" && c.status == "False");
            if let Some(condition) = unscheduled {
                reasons.push(format!(
                    "pod {name} is not scheduled: {} {}",
                    condition.reason.as_deref().unwrap_or_default(),
                    condition.message.as_deref().unwrap_or_default()
                ));
                continue;
            }
            let waiting = status
                .init_container_statuses
                .iter()
                .chain(&status.container_statuses)
                .flatten()
                .find_map(|c| Some((c.name.as_str(), c.state.as_ref()?.waiting.as_ref()?)));
            match waiting {
                Some((container, waiting)) => reasons.push(format!(
                    "pod {name}: container {container} waiting: {} {}",
                    waiting.reason.as_deref().unwrap_or_default(),
                    waiting.message.as_deref().unwrap_or_default()
                )),
                None => reasons
                    .push(format!("pod {name} is {}", status.phase.as_deref().unwrap_or("in no phase yet"))),
            }
        }
        if candidates.is_empty()
            && let Some(owner) = owner
        {
            let events: Api<Event> = Api::namespaced(self.client().clone(), namespace);
            let params = ListParams::default().fields(&format!("involvedObject.name={owner},type=Warning"));
            let mut warnings = self
                .call(format!("list events of {owner} in {namespace}"), events.list(&params))
                .await?
                .items;
            warnings.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
            if let Some(latest) = warnings.last() {
                reasons.push(format!(
                    "no pod created: {owner}: {} {}",
                    latest.reason.as_deref().unwrap_or_default(),
                    latest.message.as_deref().unwrap_or_default()
                ));
            } else {
                reasons.push(format!("{owner} has created no pod yet"));
            }
        }
        let text: Vec<String> = reasons.iter().map(|r| r.trim().chars().take(400).collect()).collect();
        Ok((!text.is_empty()).then(|| text.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn annotation_values_and_managed_fields_are_redacted() {
        let applied = r#"{"apiVersion":"v1","kind":"Secret","stringData":{"password":"hunter2"}}"#;
        let redacted = redact_metadata(json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadata",
            "metadata": {
                "name": "db",
                "uid": "u-1",
                "labels": {"app": "db"},
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": applied,
                    "kubernetes.io/service-account.name": "builder",
                },
                "managedFields": [{"manager": "kubectl"}],
            },
        }));
        let text = redacted.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(redacted["metadata"]["name"], "db");
        assert_eq!(redacted["metadata"]["labels"]["app"], "db");
        assert_eq!(redacted["metadata"]["annotations"]["kubernetes.io/service-account.name"], "builder");
        assert_eq!(
            redacted["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            format!("<redacted by kir: {} bytes>", applied.len())
        );
        assert!(redacted["metadata"].get("managedFields").is_none());
    }
}

//! Reading the state a decision rests on: the pod, its controller, what surrounds it.

use k8s_openapi::{api::core::v1::Pod, apimachinery::pkg::apis::meta::v1::LabelSelector};
use kir_cluster::{Cluster, objects::Fetched};
use serde_json::Value;

use crate::{
    Error, Result,
    enforcement::running_agents,
    isolate::{Controller, PodState, Surroundings},
    netpol::quarantine_name,
};

/// A pod as read for a response: typed, as fetched (for evidence), and as decision input.
pub struct ObservedPod {
    pub pod: Pod,
    pub fetched: Fetched,
    pub state: PodState,
    /// The pod's controller as read to learn its selector; the owner chain of the evidence
    /// starts with it.
    pub controller: Option<Fetched>,
}

pub async fn observe_pod(cluster: &Cluster, namespace: &str, name: &str) -> Result<ObservedPod> {
    let (pod, fetched) =
        cluster.pod(namespace, name).await.map_err(|e| Error::pod_lookup(e, namespace, name))?;
    Ok(observed(cluster, namespace, name, pod, fetched).await)
}

/// The pod's state, with its controller read.
async fn observed(cluster: &Cluster, namespace: &str, name: &str, pod: Pod, fetched: Fetched) -> ObservedPod {
    let (controller, object) =
        match pod.metadata.owner_references.iter().flatten().find(|o| o.controller == Some(true)) {
            Some(owner) => {
                let (controller, object) =
                    controller_of(cluster, namespace, &owner.api_version, &owner.kind, &owner.name).await;
                (Some(controller), object)
            }
            None => (None, None),
        };
    let state = PodState {
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        controller,
        cases: crate::isolate::cases_of(pod.metadata.annotations.as_ref()),
        host_network: pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false),
    };
    ObservedPod { pod, fetched, state, controller: object }
}

/// The controller and its selector, and the controller as read. A controller that cannot be
/// read is still named: the pod belongs to it, only which labels it selects on is unknown.
async fn controller_of(
    cluster: &Cluster,
    namespace: &str,
    api_version: &str,
    kind: &str,
    name: &str,
) -> (Controller, Option<Fetched>) {
    let object = match cluster.get_object(api_version, kind, Some(namespace), name).await {
        Ok(object) => Some(object),
        Err(error) => {
            tracing::warn!("cannot read {kind} {namespace}/{name}: {error}");
            None
        }
    };
    let controller = Controller {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        selector: object.as_ref().and_then(|o| selector_of(&o.value)),
    };
    (controller, object)
}

/// `spec.selector` as a LabelSelector; ReplicationControllers use a plain map.
fn selector_of(object: &Value) -> Option<LabelSelector> {
    let selector = object.pointer("/spec/selector")?;
    if selector.get("matchLabels").is_some() || selector.get("matchExpressions").is_some() {
        serde_json::from_value(selector.clone()).ok()
    } else {
        let labels = serde_json::from_value(selector.clone()).ok()?;
        Some(LabelSelector { match_labels: Some(labels), ..Default::default() })
    }
}

/// The pod and its surroundings: Services, policies, precedence primitives the cluster serves
/// (and whether kir's own already exist), and the node. Read concurrently where they do not
/// depend on each other: once the pod is read, its controller beside its node.
pub async fn observe_with_surroundings(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
) -> Result<(ObservedPod, Surroundings)> {
    let pod_and_node = async {
        let (pod, fetched) =
            cluster.pod(namespace, name).await.map_err(|e| Error::pod_lookup(e, namespace, name))?;
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        let node = async {
            match node {
                Some(node) => {
                    Some(cluster.get_raw(&format!("/api/v1/nodes/{node}")).await.map_err(|e| (node, e)))
                }
                None => None,
            }
        };
        let (observed, node) = tokio::join!(observed(cluster, namespace, name, pod, fetched), node);
        Ok::<_, Error>((observed, node))
    };
    let (pod_and_node, services, policies, inventory, daemonsets) = tokio::join!(
        pod_and_node,
        cluster.services(namespace),
        cluster.network_policies(namespace),
        cluster.api_group_inventory(),
        cluster.daemonset_statuses()
    );
    let (observed, node) = pod_and_node?;
    let (services, policies, inventory) = (services?, policies?, inventory?);
    // Which network plugin enforces the policies decides what "contained" may claim; when it
    // cannot be read, the plan says enforcement is unknown.
    let (agents, agents_note) = match daemonsets {
        Ok(daemonsets) => (Some(running_agents(&daemonsets)), None),
        Err(error) if error.connect_failure().is_some() => return Err(error.into()),
        Err(error) => (None, Some(format!("cannot tell which network plugin enforces policies: {error}"))),
    };

    let quarantine = quarantine_name(&observed.state.uid);
    // Whether kir's own precedence policy exists; when that cannot be read, the plan creates
    // it anyway (an existing one answers 409, which counts as in place).
    let exists = async |served: bool, api_version: &'static str, kind: &'static str, namespaced: bool| {
        if !served {
            return (None, None);
        }
        match cluster.get_object(api_version, kind, namespaced.then_some(namespace), &quarantine).await {
            Ok(_) => (Some(true), None),
            Err(kir_cluster::Error::NotFound { .. }) => (Some(false), None),
            Err(error) => {
                (Some(false), Some(format!("cannot check for an existing {kind} {quarantine}: {error}")))
            }
        }
    };
    let ((cilium, cilium_note), (admin_network_policy, admin_note)) = tokio::join!(
        exists(
            inventory.has_resource("cilium.io", Some("v2"), "ciliumnetworkpolicies"),
            "cilium.io/v2",
            "CiliumNetworkPolicy",
            true
        ),
        exists(
            inventory.has_resource("policy.networking.k8s.io", Some("v1alpha1"), "adminnetworkpolicies"),
            "policy.networking.k8s.io/v1alpha1",
            "AdminNetworkPolicy",
            false
        )
    );
    let mut notes: Vec<String> = cilium_note.into_iter().chain(admin_note).chain(agents_note).collect();
    let node = match node {
        Some(Ok(node)) => Some(node),
        Some(Err((name, error))) => {
            notes.push(format!("cannot read node {name}: {error}"));
            None
        }
        None => None,
    };
    let around = Surroundings { services, policies, cilium, admin_network_policy, node, agents, notes };
    Ok((observed, around))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selectors_of_every_controller_shape() {
        let rs = json!({"spec": {"selector": {"matchLabels": {"app": "web"}}}});
        assert_eq!(selector_of(&rs).unwrap().match_labels.unwrap()["app"], "web");
        let rc = json!({"spec": {"selector": {"app": "legacy"}}});
        assert_eq!(selector_of(&rc).unwrap().match_labels.unwrap()["app"], "legacy");
        assert!(selector_of(&json!({"spec": {}})).is_none());
    }
}

//! Reading the state a decision rests on: the pod, its controller, what surrounds it.

use k8s_openapi::{api::core::v1::Pod, apimachinery::pkg::apis::meta::v1::LabelSelector};
use kir_cluster::{Cluster, objects::Fetched};
use serde_json::Value;

use crate::{
    Error, Result,
    isolate::{Controller, PodState, Surroundings},
    netpol::quarantine_name,
};

/// A pod as read for a response: typed, as fetched (for evidence), and as decision input.
pub struct ObservedPod {
    pub pod: Pod,
    pub fetched: Fetched,
    pub state: PodState,
}

pub async fn observe_pod(cluster: &Cluster, namespace: &str, name: &str) -> Result<ObservedPod> {
    let (pod, fetched) =
        cluster.pod(namespace, name).await.map_err(|e| Error::pod_lookup(e, namespace, name))?;
    let controller = match pod.metadata.owner_references.iter().flatten().find(|o| o.controller == Some(true))
    {
        Some(owner) => {
            Some(controller_of(cluster, namespace, &owner.api_version, &owner.kind, &owner.name).await)
        }
        None => None,
    };
    let state = PodState {
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        controller,
    };
    Ok(ObservedPod { pod, fetched, state })
}

/// The controller and its selector. A controller that cannot be read is still named: the
/// pod belongs to it, only which labels it selects on is unknown.
async fn controller_of(
    cluster: &Cluster,
    namespace: &str,
    api_version: &str,
    kind: &str,
    name: &str,
) -> Controller {
    let selector = match cluster.get_object(api_version, kind, Some(namespace), name).await {
        Ok(object) => selector_of(&object.value),
        Err(error) => {
            tracing::warn!("cannot read {kind} {namespace}/{name}: {error}");
            None
        }
    };
    Controller {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        selector,
    }
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

/// The pod and its surroundings, read concurrently where they do not depend on each other.
pub async fn observe_with_surroundings(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
) -> Result<(ObservedPod, Surroundings)> {
    let (observed, services, policies, inventory) = tokio::join!(
        observe_pod(cluster, namespace, name),
        cluster.services(namespace),
        cluster.network_policies(namespace),
        cluster.api_inventory()
    );
    let observed = observed?;
    let around = surroundings_of(cluster, &observed.state, services?, policies?, inventory?).await?;
    Ok((observed, around))
}

/// Services, policies, precedence primitives the cluster serves (and whether kir's own
/// already exist), and the node's schedulability.
pub async fn surroundings(cluster: &Cluster, state: &PodState) -> Result<Surroundings> {
    let ns = state.namespace.as_str();
    let (services, policies, inventory) =
        tokio::join!(cluster.services(ns), cluster.network_policies(ns), cluster.api_inventory());
    surroundings_of(cluster, state, services?, policies?, inventory?).await
}

async fn surroundings_of(
    cluster: &Cluster,
    state: &PodState,
    services: Vec<k8s_openapi::api::core::v1::Service>,
    policies: Vec<k8s_openapi::api::networking::v1::NetworkPolicy>,
    inventory: kir_cluster::probe::ApiInventory,
) -> Result<Surroundings> {
    let ns = state.namespace.as_str();
    let name = quarantine_name(&state.uid);
    let mut notes = Vec::new();
    // Whether kir's own precedence policy exists; when that cannot be read, the plan creates
    // it anyway (an existing one answers 409, which counts as in place).
    let mut exists = async |api_version: &'static str, kind: &'static str, namespaced: bool| -> bool {
        match cluster.get_object(api_version, kind, namespaced.then_some(ns), &name).await {
            Ok(_) => true,
            Err(kir_cluster::Error::NotFound { .. }) => false,
            Err(error) => {
                notes.push(format!("cannot check for an existing {kind} {name}: {error}"));
                false
            }
        }
    };
    let cilium = match inventory.has_resource("cilium.io", Some("v2"), "ciliumnetworkpolicies") {
        true => Some(exists("cilium.io/v2", "CiliumNetworkPolicy", true).await),
        false => None,
    };
    let admin_network_policy =
        match inventory.has_resource("policy.networking.k8s.io", Some("v1alpha1"), "adminnetworkpolicies") {
            true => Some(exists("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy", false).await),
            false => None,
        };
    let node_unschedulable = match &state.node {
        Some(node) => match cluster.get_raw(&format!("/api/v1/nodes/{node}")).await {
            Ok(node) => {
                Some(node.value.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false))
            }
            Err(error) => {
                notes.push(format!("cannot read node {node}: {error}"));
                None
            }
        },
        None => None,
    };
    Ok(Surroundings { services, policies, cilium, admin_network_policy, node_unschedulable, notes })
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

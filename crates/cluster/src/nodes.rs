//! What only a node's kubelet can do, reached through the API server's node proxy: a
//! checkpoint of a running container (KEP-2008).

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use serde::{Deserialize, Serialize};

use crate::{Cluster, Error, Result};

/// What the kubelet answers to a checkpoint request.
#[derive(Debug, Deserialize)]
struct CheckpointAnswer {
    #[serde(default)]
    items: Vec<String>,
}

/// A name that can stand in a URL path as it is: a DNS label or subdomain.
fn path_safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !name.starts_with('.')
        && !name.contains("..")
}

/// Whether a node's kubelet can checkpoint a container, as far as can be told without trying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCheckpoint {
    pub node: String,
    /// The container runtime the node reports (`containerd://2.4.2`).
    pub runtime: String,
    /// The kubelet's `ContainerCheckpoint` feature gate, from its `/configz`; `None`: unknown.
    pub feature_gate: Option<bool>,
    /// `likely`, `no` or `unknown`.
    pub possible: &'static str,
    pub why: String,
}

/// At most this many nodes are asked: a large cluster's answer is the same for most of them.
const NODES_ASKED: usize = 50;

impl Cluster {
    /// For each node (the first [`NODES_ASKED`]): its runtime and its kubelet's checkpoint
    /// feature gate. Whether CRIU works there only a checkpoint tells: its error is the runtime's.
    pub async fn node_checkpoints(&self) -> Result<Vec<NodeCheckpoint>> {
        let nodes: Api<Node> = Api::all(self.client().clone());
        let listed =
            self.call("list nodes", nodes.list(&ListParams::default().limit(NODES_ASKED as u32))).await?;
        let asked = listed.items.into_iter().map(|node| async move {
            let name = node.metadata.name.clone().unwrap_or_default();
            let runtime = node
                .status
                .and_then(|s| s.node_info)
                .map(|i| i.container_runtime_version)
                .unwrap_or_default();
            let gate = self.checkpoint_gate(&name).await;
            checkpoint_verdict(name, runtime, gate)
        });
        Ok(futures::future::join_all(asked).await)
    }

    /// The kubelet's `ContainerCheckpoint` gate: set, on by default (beta since 1.30), or why
    /// it could not be read.
    async fn checkpoint_gate(&self, node: &str) -> std::result::Result<bool, String> {
        if !path_safe(node) {
            return Err("the node's name holds characters no Kubernetes name has".into());
        }
        let fetched =
            self.get_raw(&format!("/api/v1/nodes/{node}/proxy/configz")).await.map_err(|e| e.to_string())?;
        let gates = fetched.value.pointer("/kubeletconfig/featureGates");
        Ok(gates
            .and_then(|g| g.get("ContainerCheckpoint"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true))
    }

    /// Ask the kubelet of `node` to checkpoint `container` of `namespace/pod` (the container
    /// keeps running); the archives it wrote on the node, as it names them. The API server
    /// authorizes the request as `create nodes/proxy`.
    pub async fn checkpoint_container(
        &self,
        node: &str,
        namespace: &str,
        pod: &str,
        container: &str,
        timeout: Duration,
    ) -> Result<Vec<String>> {
        let what = format!("checkpoint of container {container} of pod {namespace}/{pod} on node {node}");
        if ![node, namespace, pod, container].into_iter().all(path_safe) {
            return Err(Error::Other {
                what,
                detail: "a name holds characters no Kubernetes name has".into(),
            });
        }
        let path = format!(
            "/api/v1/nodes/{node}/proxy/checkpoint/{namespace}/{pod}/{container}?timeout={}",
            timeout.as_secs().max(1)
        );
        let request = http::Request::post(path)
            .body(Vec::new())
            .map_err(|e| Error::Other { what: what.clone(), detail: e.to_string() })?;
        let text = match self.call(what.clone(), self.client().request_text(request)).await {
            Err(Error::Forbidden { what, message, .. }) => {
                return Err(Error::Forbidden {
                    what,
                    message,
                    permission: Some("create nodes/proxy".into()),
                });
            }
            other => other?,
        };
        let answer: CheckpointAnswer = serde_json::from_str(&text).map_err(|e| Error::Other {
            what: what.clone(),
            detail: format!("the kubelet's answer is not JSON: {e}"),
        })?;
        if answer.items.is_empty() {
            return Err(Error::Other { what, detail: "the kubelet named no checkpoint archive".into() });
        }
        Ok(answer.items)
    }
}

fn checkpoint_verdict(
    node: String,
    runtime: String,
    gate: std::result::Result<bool, String>,
) -> NodeCheckpoint {
    let (kind, version) = runtime.split_once("://").unwrap_or((runtime.as_str(), ""));
    let major: Option<u32> = version.split('.').next().and_then(|m| m.parse().ok());
    let runtime_can = match kind {
        "containerd" => major.map(|m| m >= 2),
        "cri-o" => Some(true),
        "" => None,
        _ => Some(false),
    };
    let (possible, why) = match (&gate, runtime_can) {
        (Ok(false), _) => ("no", "the kubelet's ContainerCheckpoint feature gate is off".to_string()),
        (_, Some(false)) => ("no", format!("runtime {runtime} cannot checkpoint through the kubelet")),
        (Ok(true), Some(true)) => (
            "likely",
            "gate on and the runtime supports it; it also needs CRIU on the node, which only a checkpoint tells \
             (kir snapshot pod --checkpoint reports the runtime's own error)"
                .to_string(),
        ),
        (Err(why), _) => ("unknown", format!("the kubelet's configuration could not be read: {why}")),
        (Ok(true), None) => ("unknown", "the node reports no container runtime".to_string()),
    };
    NodeCheckpoint { node, runtime, feature_gate: gate.ok(), possible, why }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_needs_the_gate_and_a_runtime_that_does_it() {
        let verdict = |runtime: &str, gate: std::result::Result<bool, String>| {
            checkpoint_verdict("n".into(), runtime.into(), gate).possible
        };
        assert_eq!(verdict("containerd://2.4.2", Ok(true)), "likely");
        assert_eq!(verdict("cri-o://1.33.0", Ok(true)), "likely");
        assert_eq!(verdict("containerd://2.4.2", Ok(false)), "no");
        assert_eq!(verdict("containerd://1.7.20", Ok(true)), "no");
        assert_eq!(verdict("docker://27.0.0", Ok(true)), "no");
        assert_eq!(verdict("containerd://2.4.2", Err("404".into())), "unknown");
        assert_eq!(verdict("", Ok(true)), "unknown");
    }

    #[test]
    fn only_kubernetes_names_go_into_the_path() {
        for good in ["real-node-0", "shop", "web-7d9f-abcde", "app", "a.b.c"] {
            assert!(path_safe(good), "{good}");
        }
        for bad in ["", "../etc", "a/b", "a?b", "A", "a b", ".hidden", "a..b", "%2e%2e"] {
            assert!(!path_safe(bad), "{bad}");
        }
    }
}

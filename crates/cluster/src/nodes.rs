//! What only a node's kubelet can do, reached through the API server's node proxy: a
//! checkpoint of a running container (KEP-2008).

use std::time::Duration;

use serde::Deserialize;

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

impl Cluster {
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

#[cfg(test)]
mod tests {
    use super::*;

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

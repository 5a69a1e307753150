//! Pods by selector, as drills and responses to many pods need them; a namespace's labels (the
//! drill consent); clearing a drill's namespace away.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams};

use crate::{Cluster, Error, Result};

impl Cluster {
    /// The labels of namespace `name`, `None` when it does not exist.
    pub async fn namespace_labels(&self, name: &str) -> Result<Option<BTreeMap<String, String>>> {
        let api: Api<Namespace> = Api::all(self.client().clone());
        let found = self.call(format!("get namespace {name}"), api.get_opt(name)).await?;
        Ok(found.map(|ns| ns.metadata.labels.unwrap_or_default()))
    }

    /// The pods matching `selector` in `namespace` (every namespace when `None`) that are not
    /// being deleted.
    pub(crate) async fn live_pods(&self, namespace: Option<&str>, selector: &str) -> Result<Vec<Pod>> {
        let api: Api<Pod> = match namespace {
            Some(ns) => Api::namespaced(self.client().clone(), ns),
            None => Api::all(self.client().clone()),
        };
        let params = ListParams::default().labels(selector);
        let scope = namespace.map_or("every namespace".to_string(), |ns| ns.to_string());
        let pods = self.call(format!("list pods -l {selector} in {scope}"), api.list(&params)).await?;
        Ok(pods.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect())
    }

    /// Names of the pods of `namespace` matching `selector` whose phase is Running.
    pub async fn running_pod_names(&self, namespace: &str, selector: &str) -> Result<Vec<String>> {
        Ok(self
            .live_pods(Some(namespace), selector)
            .await?
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| p.metadata.name)
            .collect())
    }

    /// `(namespace, name)` of the pods matching `selector` in `namespace` (every namespace when
    /// `None`) that are not being deleted.
    pub async fn pods_matching(
        &self,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<(String, String)>> {
        Ok(self
            .live_pods(namespace, selector)
            .await?
            .into_iter()
            .filter_map(|p| Some((p.metadata.namespace?, p.metadata.name?)))
            .collect())
    }

    /// The names of every namespace.
    pub async fn namespace_names(&self) -> Result<Vec<String>> {
        let api: Api<Namespace> = Api::all(self.client().clone());
        let listed = self.call("list namespaces", api.list(&ListParams::default())).await?;
        Ok(listed.items.into_iter().filter_map(|ns| ns.metadata.name).collect())
    }

    /// Delete namespace `name` (and with it everything in it); `Ok(false)` when it is gone
    /// already.
    pub async fn delete_namespace(&self, name: &str) -> Result<bool> {
        let api: Api<Namespace> = Api::all(self.client().clone());
        match self.call(format!("delete namespace {name}"), api.delete(name, &DeleteParams::default())).await
        {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

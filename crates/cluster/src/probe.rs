//! What the cluster is and what we may do in it: version, identity, access decisions, and the
//! optional components (CNI policy engines, admission engines, runtime sensors) a response can
//! use. Every answer comes from the API server itself.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use k8s_openapi::api::{
    apps::v1::DaemonSet,
    authentication::v1::SelfSubjectReview,
    authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
};
use kube::api::{Api, ListParams, PostParams};
use serde::Serialize;

use crate::{Cluster, Error, Result};

/// The API server's version and address.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    pub git_version: String,
    pub platform: String,
    pub url: String,
}

/// Who the API server says we are (after impersonation).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Identity {
    pub username: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// One "may I" question, in the API server's own terms.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccessCheck {
    pub verb: String,
    /// API group; empty for the core group.
    pub group: String,
    pub resource: String,
    /// Empty when the check is about the resource itself.
    pub subresource: String,
    /// `None` asks about all namespaces (or a cluster-scoped resource).
    pub namespace: Option<String>,
    /// One object, when the question is about one (RBAC `resourceNames`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl AccessCheck {
    pub fn new(verb: &str, group: &str, resource: &str) -> Self {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        AccessCheck {
            verb: verb.to_string(),
            group: group.to_string(),
            resource: resource.to_string(),
            subresource: subresource.to_string(),
            namespace: None,
            name: None,
        }
    }

    /// The question as an access review asks it.
    pub(crate) fn resource_attributes(&self) -> ResourceAttributes {
        ResourceAttributes {
            verb: Some(self.verb.clone()),
            group: Some(self.group.clone()),
            resource: Some(self.resource.clone()),
            subresource: Some(self.subresource.clone()).filter(|s| !s.is_empty()),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            ..Default::default()
        }
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }

    /// `verb resource[/subresource][.group]`, the way `kubectl auth can-i` spells it.
    pub fn describe(&self) -> String {
        let mut text = format!("{} {}", self.verb, self.resource);
        if !self.subresource.is_empty() {
            text = format!("{text}/{}", self.subresource);
        }
        if !self.group.is_empty() {
            text = format!("{text}.{}", self.group);
        }
        if let Some(name) = &self.name {
            text = format!("{text} {name}");
        }
        match &self.namespace {
            Some(ns) => format!("{text} in namespace {ns}"),
            None => format!("{text} in all namespaces"),
        }
    }
}

/// The API server's answer to an [`AccessCheck`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccessDecision {
    #[serde(flatten)]
    pub check: AccessCheck,
    pub allowed: bool,
    /// The authorizer's reason or evaluation error, when it gave one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Every API group, version and resource the server serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiInventory {
    /// `(group, version, resource)`; the core group is `""`.
    resources: BTreeSet<(String, String, String)>,
}

impl ApiInventory {
    pub fn from_resources<I, S>(resources: I) -> Self
    where
        I: IntoIterator<Item = (S, S, S)>,
        S: Into<String>,
    {
        ApiInventory {
            resources: resources.into_iter().map(|(g, v, r)| (g.into(), v.into(), r.into())).collect(),
        }
    }

    pub fn has_group(&self, group: &str) -> bool {
        self.resources.iter().any(|(g, _, _)| g == group)
    }

    pub fn has_resource(&self, group: &str, version: Option<&str>, resource: &str) -> bool {
        self.resources
            .iter()
            .any(|(g, v, r)| g == group && r == resource && version.is_none_or(|want| want == v))
    }

    /// The versions of `group` that serve `resource`, newest listed first by the server.
    pub fn versions_of(&self, group: &str, resource: &str) -> Vec<String> {
        self.resources
            .iter()
            .filter(|(g, _, r)| g == group && r == resource)
            .map(|(_, v, _)| v.clone())
            .collect()
    }
}

/// A DaemonSet and how many of its pods are ready (network plugins run their agents so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSetStatus {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Nodes that should run its pod.
    pub desired: i32,
    /// Nodes where its pod is ready.
    pub ready: i32,
}

/// A workload found in the cluster (for runtime-sensor detection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadRef {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

impl Cluster {
    /// `GET /version`, and the URL it came from.
    pub async fn server_info(&self) -> Result<ServerInfo> {
        let info = self.call("get server version (GET /version)", self.client().apiserver_version()).await?;
        Ok(ServerInfo {
            git_version: info.git_version,
            platform: info.platform,
            url: self.target().server.clone(),
        })
    }

    /// Who the API server says we are: a SelfSubjectReview, which honours impersonation.
    pub async fn whoami(&self) -> Result<Identity> {
        let api: Api<SelfSubjectReview> = Api::all(self.client().clone());
        let review = self
            .call(
                "create selfsubjectreviews.authentication.k8s.io",
                api.create(&PostParams::default(), &SelfSubjectReview::default()),
            )
            .await?;
        let info = review.status.and_then(|s| s.user_info).unwrap_or_default();
        Ok(Identity {
            username: info.username.unwrap_or_default(),
            uid: info.uid,
            groups: info.groups.unwrap_or_default(),
            extra: info.extra.unwrap_or_default().into_iter().collect(),
        })
    }

    /// Ask the API server each question (SelfSubjectAccessReview), concurrently. A review that
    /// fails to be created is an error: guessing "denied" would hide a broken connection.
    pub async fn can_i(&self, checks: &[AccessCheck]) -> Result<Vec<AccessDecision>> {
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client().clone());
        let reviews = checks.iter().map(|check| {
            let api = api.clone();
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(check.resource_attributes()),
                    ..Default::default()
                },
                ..Default::default()
            };
            async move {
                let what = format!("create selfsubjectaccessreviews (can I {})", check.describe());
                let answer =
                    self.call(what, async move { api.create(&PostParams::default(), &review).await }).await?;
                let status = answer.status.unwrap_or_default();
                let reason = status.reason.or(status.evaluation_error).unwrap_or_default();
                Ok::<_, Error>(AccessDecision { check: check.clone(), allowed: status.allowed, reason })
            }
        });
        join_all(reviews).await.into_iter().collect()
    }

    /// Every resource the server serves, from aggregated discovery (two requests, together).
    pub async fn api_inventory(&self) -> Result<ApiInventory> {
        let client = self.client();
        let (core, groups) = tokio::join!(
            self.call("discover core API (GET /api)", client.list_core_api_versions_aggregated()),
            self.call("discover API groups (GET /apis)", client.list_api_groups_aggregated())
        );
        Ok(inventory_of(core?.items.into_iter().chain(groups?.items)))
    }

    /// Every resource of the named API groups (all but the core group), from aggregated
    /// discovery (one request): enough to tell which policy engines the server serves.
    pub async fn api_group_inventory(&self) -> Result<ApiInventory> {
        let groups =
            self.call("discover API groups (GET /apis)", self.client().list_api_groups_aggregated()).await?;
        Ok(inventory_of(groups.items))
    }

    /// The names of the validating admission webhooks registered (admission engines such as
    /// Kyverno and Gatekeeper register one).
    pub async fn validating_webhooks(&self) -> Result<Vec<String>> {
        use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
        let api: Api<ValidatingWebhookConfiguration> = Api::all(self.client().clone());
        let list =
            self.call("list validatingwebhookconfigurations", api.list_metadata(&Default::default())).await?;
        Ok(list.items.into_iter().filter_map(|w| w.metadata.name).collect())
    }

    /// DaemonSets in all namespaces, metadata only (runtime sensors run as DaemonSets).
    pub async fn daemonsets(&self) -> Result<Vec<WorkloadRef>> {
        let api: Api<DaemonSet> = Api::all(self.client().clone());
        let list = self
            .call("list daemonsets.apps in all namespaces", api.list_metadata(&ListParams::default()))
            .await?;
        Ok(list
            .items
            .into_iter()
            .map(|d| WorkloadRef {
                namespace: d.metadata.namespace.unwrap_or_default(),
                name: d.metadata.name.unwrap_or_default(),
                labels: d.metadata.labels.unwrap_or_default(),
            })
            .collect())
    }
}

impl Cluster {
    /// DaemonSets in all namespaces with their readiness (one list request).
    pub async fn daemonset_statuses(&self) -> Result<Vec<DaemonSetStatus>> {
        let api: Api<DaemonSet> = Api::all(self.client().clone());
        let list =
            self.call("list daemonsets.apps in all namespaces", api.list(&ListParams::default())).await?;
        Ok(list
            .items
            .into_iter()
            .map(|d| {
                let status = d.status.unwrap_or_default();
                DaemonSetStatus {
                    namespace: d.metadata.namespace.unwrap_or_default(),
                    name: d.metadata.name.unwrap_or_default(),
                    labels: d.metadata.labels.unwrap_or_default(),
                    desired: status.desired_number_scheduled,
                    ready: status.number_ready,
                }
            })
            .collect())
    }
}

/// The (group, version, resource) triples of aggregated discovery documents.
fn inventory_of(
    documents: impl IntoIterator<Item = kube::core::discovery::v2::APIGroupDiscovery>,
) -> ApiInventory {
    let mut resources = Vec::new();
    for group in documents {
        let name = group.metadata.and_then(|m| m.name).unwrap_or_default();
        for version in group.versions {
            let version_name = version.version.unwrap_or_default();
            for resource in version.resources {
                resources.push((name.clone(), version_name.clone(), resource.resource.unwrap_or_default()));
            }
        }
    }
    ApiInventory::from_resources(resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subresource_is_split_from_the_resource() {
        let check = AccessCheck::new("create", "", "pods/exec").in_namespace("prod");
        assert_eq!(check.resource, "pods");
        assert_eq!(check.subresource, "exec");
        assert_eq!(check.describe(), "create pods/exec in namespace prod");
        let check = AccessCheck::new("list", "rbac.authorization.k8s.io", "clusterrolebindings");
        assert_eq!(check.describe(), "list clusterrolebindings.rbac.authorization.k8s.io in all namespaces");
    }

    #[test]
    fn inventory_answers_group_and_resource_questions() {
        let inventory = ApiInventory::from_resources([
            ("networking.k8s.io", "v1", "networkpolicies"),
            ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies"),
            ("admissionregistration.k8s.io", "v1beta1", "validatingadmissionpolicies"),
        ]);
        assert!(inventory.has_group("networking.k8s.io"));
        assert!(!inventory.has_group("cilium.io"));
        assert!(inventory.has_resource(
            "admissionregistration.k8s.io",
            Some("v1"),
            "validatingadmissionpolicies"
        ));
        assert!(!inventory.has_resource(
            "admissionregistration.k8s.io",
            Some("v1alpha1"),
            "validatingadmissionpolicies"
        ));
        assert_eq!(
            inventory.versions_of("admissionregistration.k8s.io", "validatingadmissionpolicies"),
            ["v1", "v1beta1"]
        );
    }
}

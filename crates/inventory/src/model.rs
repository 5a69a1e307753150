//! What an inventory holds: what kir read from the cluster, and what it derived from that.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `schema` of every saved inventory: tells an inventory from any other JSON file.
pub const SCHEMA: &str = "kir.dev/inventory/v1";

/// The architecture of a cluster at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    pub schema: String,
    /// When it was read (RFC 3339, UTC).
    pub taken_at: String,
    pub cluster: ClusterInfo,
    /// The one namespace read (`-n`), or none for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    #[serde(default)]
    pub workloads: Vec<Workload>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub ingresses: Vec<Ingress>,
    #[serde(default)]
    pub gateways: Vec<Gateway>,
    #[serde(default)]
    pub http_routes: Vec<HttpRoute>,
    #[serde(default)]
    pub network_policies: Vec<NetworkPolicy>,
    #[serde(default)]
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub rbac: RbacSummary,
    #[serde(default)]
    pub facts: Facts,
    /// Kinds that could not be read: the inventory is incomplete there.
    #[serde(default)]
    pub gaps: Vec<Gap>,
    /// Optional APIs this server does not serve (nothing of them can exist).
    #[serde(default)]
    pub not_served: Vec<String>,
}

impl Inventory {
    pub fn complete(&self) -> bool {
        self.gaps.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// What the pod template (or bare pod) may reach on its node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostAccess {
    /// Containers running privileged.
    #[serde(default)]
    pub privileged: Vec<String>,
    /// Node paths mounted.
    #[serde(default)]
    pub host_paths: Vec<String>,
    #[serde(default)]
    pub host_network: bool,
    #[serde(default, rename = "hostPID")]
    pub host_pid: bool,
    #[serde(default, rename = "hostIPC")]
    pub host_ipc: bool,
}

impl HostAccess {
    /// What it reaches, in words; empty when nothing.
    pub fn reasons(&self) -> Vec<String> {
        let mut reasons: Vec<String> =
            self.privileged.iter().map(|c| format!("privileged container {c}")).collect();
        reasons.extend(self.host_paths.iter().map(|p| format!("hostPath {p}")));
        for (on, what) in
            [(self.host_network, "hostNetwork"), (self.host_pid, "hostPID"), (self.host_ipc, "hostIPC")]
        {
            if on {
                reasons.push(what.to_string());
            }
        }
        reasons
    }
}

/// A controller with a pod template, or a pod no controller owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    /// Deployment, StatefulSet, DaemonSet, Job, CronJob or Pod.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub service_account: String,
    /// The labels its pods carry (what Services select).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    #[serde(default)]
    pub host: HostAccess,
}

impl Workload {
    /// `Kind/namespace/name`: unique in an inventory.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    pub port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<i32>,
    #[serde(default)]
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub namespace: String,
    pub name: String,
    /// ClusterIP, NodePort, LoadBalancer, ExternalName.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    /// The load balancer's addresses.
    #[serde(default)]
    pub external: Vec<String>,
}

impl Service {
    /// Reachable from outside the cluster network.
    pub fn exposed(&self) -> bool {
        matches!(self.kind.as_str(), "NodePort" | "LoadBalancer")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingress {
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Services it routes to, in its namespace.
    #[serde(default)]
    pub backends: Vec<String>,
    #[serde(default)]
    pub tls: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gateway {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub class: String,
    /// `PROTOCOL:PORT[ HOSTNAME]` per listener.
    #[serde(default)]
    pub listeners: Vec<String>,
}

/// A Service an HTTPRoute sends traffic to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendRef {
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// The Gateways it attaches to, `namespace/name`.
    #[serde(default)]
    pub parents: Vec<String>,
    #[serde(default)]
    pub backends: Vec<BackendRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy {
    pub namespace: String,
    pub name: String,
    /// Its podSelector is empty: it applies to every pod of the namespace.
    pub selects_all: bool,
    /// Ingress and/or Egress, with the API server's default when the object left it out.
    #[serde(default)]
    pub policy_types: Vec<String>,
    #[serde(default)]
    pub ingress_rules: usize,
    #[serde(default)]
    pub egress_rules: usize,
}

impl NetworkPolicy {
    fn has_type(&self, kind: &str) -> bool {
        self.policy_types.iter().any(|t| t == kind)
    }

    /// Every pod of the namespace isolated for ingress, and nothing allowed by this policy.
    pub fn denies_all_ingress(&self) -> bool {
        self.selects_all && self.has_type("Ingress") && self.ingress_rules == 0
    }

    pub fn denies_all_egress(&self) -> bool {
        self.selects_all && self.has_type("Egress") && self.egress_rules == 0
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub kubelet_version: String,
    #[serde(default)]
    pub os_image: String,
    #[serde(default)]
    pub container_runtime: String,
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub unschedulable: bool,
}

/// A binding as the document shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    /// RoleBinding or ClusterRoleBinding.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// `Role/NAME` or `ClusterRole/NAME`.
    pub role: String,
    /// `User:NAME`, `Group:NAME`, `ServiceAccount:NS/NAME`.
    #[serde(default)]
    pub subjects: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RbacSummary {
    pub cluster_roles: usize,
    pub roles: usize,
    #[serde(default)]
    pub bindings: Vec<Binding>,
}

/// NetworkPolicy coverage of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    pub namespace: String,
    pub policies: usize,
    pub default_deny_ingress: bool,
    pub default_deny_egress: bool,
}

/// A workload that reaches its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostReach {
    /// [`Workload::key`].
    pub workload: String,
    pub reasons: Vec<String>,
}

/// A subject holding a permission, and the binding that gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// `User:NAME`, `Group:NAME`, `ServiceAccount:NS/NAME`.
    pub subject: String,
    /// Where it holds it: a namespace, or none for cluster-wide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `ClusterRoleBinding/NAME` or `RoleBinding/NS/NAME`.
    pub binding: String,
    pub role: String,
}

impl Holder {
    pub fn key(&self) -> String {
        format!(
            "{} in {} via {}",
            self.subject,
            self.namespace.as_deref().unwrap_or("the cluster"),
            self.binding
        )
    }
}

/// A way in from outside the cluster network, and the workloads it reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exposure {
    /// LoadBalancer, NodePort, Ingress or HTTPRoute.
    pub via: String,
    pub namespace: String,
    pub name: String,
    /// Ports, hosts: what is reachable.
    pub detail: String,
    /// [`Workload::key`]s of what it selects.
    #[serde(default)]
    pub workloads: Vec<String>,
}

impl Exposure {
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.via, self.namespace, self.name)
    }
}

/// What the inventory says about the cluster's security.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    #[serde(default)]
    pub coverage: Vec<Coverage>,
    #[serde(default)]
    pub host_access: Vec<HostReach>,
    /// Everything on everything: bound to cluster-admin or a role with `*` verbs on `*`.
    #[serde(default)]
    pub admins: Vec<Holder>,
    /// May get or list Secrets.
    #[serde(default)]
    pub secret_readers: Vec<Holder>,
    #[serde(default)]
    pub exposures: Vec<Exposure>,
}

/// A kind kir could not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gap {
    /// `resource[.group]`, as RBAC names it.
    pub kind: String,
    pub reason: String,
}

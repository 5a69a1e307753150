//! What the architecture document of a cluster is made of (`kir prepare inventory`): every
//! kind read in pages and decoded into only the fields the document shows, so a large cluster
//! is read in bounded memory. A kind the API server refuses to list, or does not serve, is a
//! gap in the inventory, not a failure of the whole read.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kir_inventory::{Gap, Observed};

use crate::{Cluster, Result, credentials::RbacObjects};

const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// An inventory's reads: the objects, and the RBAC objects its facts are derived from.
#[derive(Debug, Default)]
pub struct InventoryRead {
    pub observed: Observed,
    pub rbac: RbacObjects,
}

/// A collection's path: `/api/v1` or `/apis/GROUP/VERSION`, in `namespace` or all.
fn collection(group: &str, version: &str, resource: &str, namespace: Option<&str>) -> String {
    let base = if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") };
    match namespace {
        Some(ns) => format!("{base}/namespaces/{ns}/{resource}"),
        None => format!("{base}/{resource}"),
    }
}

/// The objects read; or, when the server answered with an error (forbidden, not found), a gap
/// for the kind and none. A server that cannot be reached is an error.
fn kept<T>(gaps: &mut Vec<Gap>, group: &str, resource: &str, outcome: Result<Vec<T>>) -> Result<Vec<T>> {
    match outcome {
        Ok(items) => Ok(items),
        Err(error) if error.status_code().is_some() => {
            gaps.push(Gap { kind: kind_name(group, resource), reason: error.to_string() });
            Ok(Vec::new())
        }
        Err(error) => Err(error),
    }
}

/// `resource[.group]`, the way RBAC and kir's messages name a kind.
fn kind_name(group: &str, resource: &str) -> String {
    if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") }
}

impl Cluster {
    /// Read everything the inventory shows, in `namespace` (or all; nodes and RBAC are always
    /// read cluster-wide). `progress` hears the name of each kind before it is read. A kind the
    /// server answered with an error (forbidden, not found) becomes a gap; a server that cannot
    /// be reached fails the read.
    pub async fn inventory(
        &self,
        namespace: Option<&str>,
        mut progress: impl FnMut(&str),
    ) -> Result<InventoryRead> {
        let mut read = InventoryRead::default();
        let mut gaps: Vec<Gap> = Vec::new();
        let observed = &mut read.observed;
        observed.namespace = namespace.map(str::to_string);

        observed.namespaces = match namespace {
            Some(ns) => vec![kir_inventory::Namespace { name: ns.to_string(), ..Default::default() }],
            None => {
                progress("namespaces");
                let path = collection("", "v1", "namespaces", None);
                let outcome = self.read_all(&path, |n: wire::Namespace| Some(n.into_model())).await;
                kept(&mut gaps, "", "namespaces", outcome)?
            }
        };
        for (group, resource, kind) in [
            ("apps", "deployments", "Deployment"),
            ("apps", "statefulsets", "StatefulSet"),
            ("apps", "daemonsets", "DaemonSet"),
            ("batch", "jobs", "Job"),
            ("batch", "cronjobs", "CronJob"),
            ("", "pods", "Pod"),
        ] {
            progress(resource);
            let path = collection(group, "v1", resource, namespace);
            // What a controller owns is shown as its controller: pods of a ReplicaSet, Jobs of
            // a CronJob.
            let outcome =
                self.read_all(&path, |w: wire::Workload| (!w.owned()).then(|| w.into_model(kind))).await;
            observed.workloads.extend(kept(&mut gaps, group, resource, outcome)?);
        }
        progress("services");
        let path = collection("", "v1", "services", namespace);
        let outcome = self.read_all(&path, |s: wire::Service| Some(s.into_model())).await;
        observed.services = kept(&mut gaps, "", "services", outcome)?;
        progress("ingresses");
        let path = collection("networking.k8s.io", "v1", "ingresses", namespace);
        let outcome = self.read_all(&path, |i: wire::Ingress| Some(i.into_model())).await;
        observed.ingresses = kept(&mut gaps, "networking.k8s.io", "ingresses", outcome)?;
        progress("networkpolicies");
        let path = collection("networking.k8s.io", "v1", "networkpolicies", namespace);
        let outcome = self.read_all(&path, |p: wire::NetworkPolicy| Some(p.into_model())).await;
        observed.network_policies = kept(&mut gaps, "networking.k8s.io", "networkpolicies", outcome)?;
        progress("nodes");
        let path = collection("", "v1", "nodes", None);
        let outcome = self.read_all(&path, |n: wire::Node| Some(n.into_model())).await;
        observed.nodes = kept(&mut gaps, "", "nodes", outcome)?;

        progress("Gateway API discovery");
        match self.api_group_inventory().await {
            Ok(apis) => {
                // v1 when served, else the newest the server lists first.
                let version = |resource: &str| {
                    let versions = apis.versions_of(GATEWAY_GROUP, resource);
                    versions.iter().find(|v| *v == "v1").or(versions.first()).cloned()
                };
                match version("gateways") {
                    Some(version) => {
                        progress("gateways");
                        let path = collection(GATEWAY_GROUP, &version, "gateways", namespace);
                        let outcome = self.read_all(&path, |g: wire::Gateway| Some(g.into_model())).await;
                        observed.gateways = kept(&mut gaps, GATEWAY_GROUP, "gateways", outcome)?;
                    }
                    None => observed.not_served.push(kind_name(GATEWAY_GROUP, "gateways")),
                }
                match version("httproutes") {
                    Some(version) => {
                        progress("httproutes");
                        let path = collection(GATEWAY_GROUP, &version, "httproutes", namespace);
                        let outcome = self.read_all(&path, |r: wire::HttpRoute| Some(r.into_model())).await;
                        observed.http_routes = kept(&mut gaps, GATEWAY_GROUP, "httproutes", outcome)?;
                    }
                    None => observed.not_served.push(kind_name(GATEWAY_GROUP, "httproutes")),
                }
            }
            // Whether the Gateway API is served is not known: a gap, like a refused list.
            Err(error) => {
                kept::<()>(&mut gaps, GATEWAY_GROUP, "gateways", Err(error))?;
            }
        }

        const RBAC: &str = "rbac.authorization.k8s.io";
        progress("RBAC");
        read.rbac.roles = kept(&mut gaps, RBAC, "roles", self.list_all::<Role>("roles").await)?;
        read.rbac.cluster_roles =
            kept(&mut gaps, RBAC, "clusterroles", self.list_all::<ClusterRole>("clusterroles").await)?;
        read.rbac.role_bindings =
            kept(&mut gaps, RBAC, "rolebindings", self.list_all::<RoleBinding>("rolebindings").await)?;
        read.rbac.cluster_role_bindings = kept(
            &mut gaps,
            RBAC,
            "clusterrolebindings",
            self.list_all::<ClusterRoleBinding>("clusterrolebindings").await,
        )?;
        read.observed.gaps = gaps;
        Ok(read)
    }

    /// Every object at `path`, read in pages, each decoded into `T` and converted by `keep`
    /// (which drops what it answers `None` for).
    async fn read_all<T: serde::de::DeserializeOwned, M>(
        &self,
        path: &str,
        mut keep: impl FnMut(T) -> Option<M>,
    ) -> Result<Vec<M>> {
        let mut read = Vec::new();
        self.pages::<T>(path, |items| read.extend(items.into_iter().filter_map(&mut keep))).await?;
        Ok(read)
    }
}

/// Only the fields the inventory shows; serde skips the rest of each object unparsed.
mod wire {
    use std::collections::BTreeMap;

    use kir_inventory as model;
    use serde::Deserialize;

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    pub struct Meta {
        #[serde(default)]
        name: String,
        #[serde(default)]
        namespace: String,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        #[serde(default)]
        owner_references: Vec<serde::de::IgnoredAny>,
    }

    #[derive(Deserialize)]
    pub struct Namespace {
        #[serde(default)]
        metadata: Meta,
    }

    impl Namespace {
        pub fn into_model(self) -> model::Namespace {
            model::Namespace { name: self.metadata.name, labels: self.metadata.labels }
        }
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct SecurityContext {
        privileged: Option<bool>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Container {
        #[serde(default)]
        name: String,
        #[serde(default)]
        image: String,
        #[serde(default)]
        security_context: SecurityContext,
    }

    #[derive(Deserialize)]
    struct HostPath {
        #[serde(default)]
        path: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Volume {
        host_path: Option<HostPath>,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct PodSpec {
        #[serde(default)]
        containers: Vec<Container>,
        #[serde(default)]
        init_containers: Vec<Container>,
        #[serde(default)]
        ephemeral_containers: Vec<Container>,
        #[serde(default)]
        volumes: Vec<Volume>,
        service_account_name: Option<String>,
        #[serde(default)]
        host_network: bool,
        #[serde(default, rename = "hostPID")]
        host_pid: bool,
        #[serde(default, rename = "hostIPC")]
        host_ipc: bool,
    }

    #[derive(Deserialize, Default)]
    struct PodTemplate {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        spec: PodSpec,
    }

    #[derive(Deserialize, Default)]
    struct JobSpec {
        #[serde(default)]
        template: PodTemplate,
    }

    #[derive(Deserialize, Default)]
    struct JobTemplate {
        #[serde(default)]
        spec: JobSpec,
    }

    /// A controller's spec or a pod's: the fields of both kinds, each optional.
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        replicas: Option<i64>,
        template: Option<PodTemplate>,
        job_template: Option<JobTemplate>,
        #[serde(flatten)]
        pod: PodSpec,
    }

    #[derive(Deserialize)]
    pub struct Workload {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        spec: Spec,
    }

    impl Workload {
        pub fn owned(&self) -> bool {
            !self.metadata.owner_references.is_empty()
        }

        pub fn into_model(self, kind: &str) -> model::Workload {
            let Workload { metadata, spec } = self;
            let (labels, pod) = match (spec.job_template, spec.template) {
                (Some(job), _) => (job.spec.template.metadata.labels, job.spec.template.spec),
                (None, Some(template)) => (template.metadata.labels, template.spec),
                (None, None) => (metadata.labels, spec.pod),
            };
            let containers =
                || pod.init_containers.iter().chain(&pod.containers).chain(&pod.ephemeral_containers);
            let host = model::HostAccess {
                privileged: containers()
                    .filter(|c| c.security_context.privileged == Some(true))
                    .map(|c| c.name.clone())
                    .collect(),
                host_paths: pod
                    .volumes
                    .iter()
                    .filter_map(|v| v.host_path.as_ref())
                    .map(|h| h.path.clone())
                    .collect(),
                host_network: pod.host_network,
                host_pid: pod.host_pid,
                host_ipc: pod.host_ipc,
            };
            let mut images: Vec<String> = containers().map(|c| c.image.clone()).collect();
            images.sort();
            images.dedup();
            model::Workload {
                kind: kind.to_string(),
                namespace: metadata.namespace,
                name: metadata.name,
                service_account: pod.service_account_name.clone().unwrap_or_else(|| "default".to_string()),
                labels,
                images,
                replicas: spec.replicas,
                host,
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Port {
        #[serde(default)]
        port: i32,
        node_port: Option<i32>,
        #[serde(default)]
        protocol: String,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct ServiceSpec {
        #[serde(default, rename = "type")]
        kind: String,
        #[serde(default)]
        selector: BTreeMap<String, String>,
        #[serde(default)]
        ports: Vec<Port>,
        #[serde(default, rename = "externalIPs")]
        external_ips: Vec<String>,
    }

    #[derive(Deserialize, Default)]
    struct LoadBalancerAddress {
        ip: Option<String>,
        hostname: Option<String>,
    }

    #[derive(Deserialize, Default)]
    struct LoadBalancerStatus {
        #[serde(default)]
        ingress: Vec<LoadBalancerAddress>,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct ServiceStatus {
        #[serde(default)]
        load_balancer: LoadBalancerStatus,
    }

    #[derive(Deserialize)]
    pub struct Service {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        spec: ServiceSpec,
        #[serde(default)]
        status: ServiceStatus,
    }

    impl Service {
        pub fn into_model(self) -> model::Service {
            let Service { metadata, spec, status } = self;
            let balancer = status.load_balancer.ingress.into_iter().filter_map(|a| a.ip.or(a.hostname));
            model::Service {
                namespace: metadata.namespace,
                name: metadata.name,
                kind: if spec.kind.is_empty() { "ClusterIP".to_string() } else { spec.kind },
                selector: spec.selector,
                ports: spec
                    .ports
                    .into_iter()
                    .map(|p| model::ServicePort {
                        port: p.port,
                        node_port: p.node_port,
                        protocol: p.protocol,
                    })
                    .collect(),
                external: spec.external_ips.into_iter().chain(balancer).collect(),
            }
        }
    }

    #[derive(Deserialize, Default)]
    struct ServiceBackend {
        #[serde(default)]
        name: String,
    }

    #[derive(Deserialize, Default)]
    struct Backend {
        service: Option<ServiceBackend>,
    }

    #[derive(Deserialize)]
    struct HttpPath {
        #[serde(default)]
        backend: Backend,
    }

    #[derive(Deserialize, Default)]
    struct HttpRule {
        #[serde(default)]
        paths: Vec<HttpPath>,
    }

    #[derive(Deserialize)]
    struct IngressRule {
        host: Option<String>,
        #[serde(default)]
        http: HttpRule,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct IngressSpec {
        ingress_class_name: Option<String>,
        default_backend: Option<Backend>,
        #[serde(default)]
        rules: Vec<IngressRule>,
        #[serde(default)]
        tls: Vec<serde::de::IgnoredAny>,
    }

    #[derive(Deserialize)]
    pub struct Ingress {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        spec: IngressSpec,
    }

    impl Ingress {
        pub fn into_model(self) -> model::Ingress {
            let Ingress { metadata, spec } = self;
            let mut backends: Vec<String> = spec
                .rules
                .iter()
                .flat_map(|r| &r.http.paths)
                .map(|p| &p.backend)
                .chain(spec.default_backend.as_ref())
                .filter_map(|b| b.service.as_ref().map(|s| s.name.clone()))
                .collect();
            backends.sort();
            backends.dedup();
            model::Ingress {
                namespace: metadata.namespace,
                name: metadata.name,
                class: spec.ingress_class_name,
                hosts: spec.rules.into_iter().filter_map(|r| r.host).collect(),
                backends,
                tls: !spec.tls.is_empty(),
            }
        }
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct PodSelector {
        #[serde(default)]
        match_labels: BTreeMap<String, String>,
        #[serde(default)]
        match_expressions: Vec<serde::de::IgnoredAny>,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct PolicySpec {
        #[serde(default)]
        pod_selector: PodSelector,
        #[serde(default)]
        policy_types: Vec<String>,
        ingress: Option<Vec<serde::de::IgnoredAny>>,
        egress: Option<Vec<serde::de::IgnoredAny>>,
    }

    #[derive(Deserialize)]
    pub struct NetworkPolicy {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        spec: PolicySpec,
    }

    impl NetworkPolicy {
        pub fn into_model(self) -> model::NetworkPolicy {
            let NetworkPolicy { metadata, spec } = self;
            let egress_rules = spec.egress.map_or(0, |rules| rules.len());
            let mut policy_types = spec.policy_types;
            // The API server's default: Ingress always, Egress when there are egress rules.
            if policy_types.is_empty() {
                policy_types.push("Ingress".to_string());
                if egress_rules > 0 {
                    policy_types.push("Egress".to_string());
                }
            }
            model::NetworkPolicy {
                namespace: metadata.namespace,
                name: metadata.name,
                selects_all: spec.pod_selector.match_labels.is_empty()
                    && spec.pod_selector.match_expressions.is_empty(),
                policy_types,
                ingress_rules: spec.ingress.map_or(0, |rules| rules.len()),
                egress_rules,
            }
        }
    }

    #[derive(Deserialize, Default)]
    struct NodeSpec {
        #[serde(default)]
        unschedulable: bool,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct NodeInfo {
        #[serde(default)]
        kubelet_version: String,
        #[serde(default)]
        os_image: String,
        #[serde(default)]
        container_runtime_version: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Address {
        #[serde(rename = "type", default)]
        kind: String,
        #[serde(default)]
        address: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Condition {
        #[serde(rename = "type", default)]
        kind: String,
        #[serde(default)]
        status: String,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct NodeStatus {
        #[serde(default)]
        node_info: NodeInfo,
        #[serde(default)]
        addresses: Vec<Address>,
        #[serde(default)]
        conditions: Vec<Condition>,
    }

    #[derive(Deserialize)]
    pub struct Node {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        spec: NodeSpec,
        #[serde(default)]
        status: NodeStatus,
    }

    impl Node {
        pub fn into_model(self) -> model::Node {
            let Node { metadata, spec, status } = self;
            let roles = metadata
                .labels
                .keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .map(str::to_string)
                .collect();
            model::Node {
                name: metadata.name,
                roles,
                kubelet_version: status.node_info.kubelet_version,
                os_image: status.node_info.os_image,
                container_runtime: status.node_info.container_runtime_version,
                addresses: status
                    .addresses
                    .into_iter()
                    .map(|a| format!("{} {}", a.kind, a.address))
                    .collect(),
                ready: status.conditions.iter().any(|c| c.kind == "Ready" && c.status == "True"),
                unschedulable: spec.unschedulable,
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Listener {
        #[serde(default)]
        protocol: String,
        #[serde(default)]
        port: i32,
        hostname: Option<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct GatewaySpec {
        #[serde(default)]
        gateway_class_name: String,
        #[serde(default)]
        listeners: Vec<Listener>,
    }

    #[derive(Deserialize)]
    pub struct Gateway {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        spec: GatewaySpec,
    }

    impl Gateway {
        pub fn into_model(self) -> model::Gateway {
            let Gateway { metadata, spec } = self;
            model::Gateway {
                namespace: metadata.namespace,
                name: metadata.name,
                class: spec.gateway_class_name,
                listeners: spec
                    .listeners
                    .into_iter()
                    .map(|l| match l.hostname {
                        Some(host) => format!("{}:{} {host}", l.protocol, l.port),
                        None => format!("{}:{}", l.protocol, l.port),
                    })
                    .collect(),
            }
        }
    }

    #[derive(Deserialize)]
    struct ObjectRef {
        #[serde(default)]
        name: String,
        namespace: Option<String>,
        kind: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RouteRule {
        #[serde(default)]
        backend_refs: Vec<ObjectRef>,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct RouteSpec {
        #[serde(default)]
        hostnames: Vec<String>,
        #[serde(default)]
        parent_refs: Vec<ObjectRef>,
        #[serde(default)]
        rules: Vec<RouteRule>,
    }

    #[derive(Deserialize)]
    pub struct HttpRoute {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        spec: RouteSpec,
    }

    impl HttpRoute {
        pub fn into_model(self) -> model::HttpRoute {
            let HttpRoute { metadata, spec } = self;
            let namespace = metadata.namespace;
            let in_namespace = |r: &ObjectRef| r.namespace.clone().unwrap_or_else(|| namespace.clone());
            let mut backends: Vec<model::BackendRef> = spec
                .rules
                .iter()
                .flat_map(|rule| &rule.backend_refs)
                .filter(|r| r.kind.as_deref().is_none_or(|k| k == "Service"))
                .map(|r| model::BackendRef { namespace: in_namespace(r), name: r.name.clone() })
                .collect();
            backends.sort();
            backends.dedup();
            model::HttpRoute {
                parents: spec.parent_refs.iter().map(|p| format!("{}/{}", in_namespace(p), p.name)).collect(),
                namespace: namespace.clone(),
                name: metadata.name,
                hostnames: spec.hostnames,
                backends,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_workload_reports_every_way_its_pods_reach_the_node() {
        let daemonset: wire::Workload = serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "ops"},
            "spec": {"template": {"metadata": {"labels": {"app": "agent"}}, "spec": {
                "serviceAccountName": "agent", "hostNetwork": true, "hostPID": true, "hostIPC": true,
                "initContainers": [{"name": "setup", "image": "busybox", "securityContext": {"privileged": true}}],
                "containers": [{"name": "agent", "image": "agent:1", "securityContext": {"privileged": false}}],
                "volumes": [{"name": "root", "hostPath": {"path": "/"}}, {"name": "tmp", "emptyDir": {}}]}}}
        }))
        .unwrap();
        let workload = daemonset.into_model("DaemonSet");
        assert_eq!(workload.service_account, "agent");
        assert_eq!(workload.labels.get("app").map(String::as_str), Some("agent"));
        assert_eq!(workload.images, ["agent:1", "busybox"]);
        assert_eq!(
            workload.host.reasons(),
            ["privileged container setup", "hostPath /", "hostNetwork", "hostPID", "hostIPC"]
        );
    }

    #[test]
    fn a_cronjob_is_read_from_its_job_template_and_a_pod_from_its_own_spec() {
        let cron: wire::Workload = serde_json::from_value(json!({
            "metadata": {"name": "nightly", "namespace": "ops"},
            "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"job": "nightly"}},
                "spec": {"containers": [{"name": "backup", "image": "backup:2"}]}}}}}
        }))
        .unwrap();
        let cron = cron.into_model("CronJob");
        assert_eq!(
            (cron.service_account.as_str(), cron.images.as_slice()),
            ("default", &["backup:2".to_string()][..])
        );
        let pod: wire::Workload = serde_json::from_value(json!({
            "metadata": {"name": "miner", "namespace": "x", "labels": {"app": "miner"}, "ownerReferences": []},
            "spec": {"containers": [{"name": "main", "image": "xmrig", "securityContext": {"privileged": true}}]}
        }))
        .unwrap();
        assert!(!pod.owned());
        let pod = pod.into_model("Pod");
        assert_eq!(pod.labels.get("app").map(String::as_str), Some("miner"));
        assert_eq!(pod.host.privileged, ["main"]);
    }

    #[test]
    fn a_policy_without_types_gets_the_servers_default() {
        let policy: wire::NetworkPolicy = serde_json::from_value(json!({
            "metadata": {"name": "deny", "namespace": "shop"},
            "spec": {"podSelector": {}, "egress": [{"to": []}]}
        }))
        .unwrap();
        let policy = policy.into_model();
        assert_eq!(policy.policy_types, ["Ingress", "Egress"]);
        assert!(policy.denies_all_ingress() && !policy.denies_all_egress());
        let some: wire::NetworkPolicy = serde_json::from_value(json!({
            "metadata": {"name": "some", "namespace": "shop"},
            "spec": {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}, "policyTypes": ["Ingress"]}
        }))
        .unwrap();
        assert!(!some.into_model().selects_all);
    }

    #[test]
    fn routes_and_ingresses_name_their_service_backends() {
        let ingress: wire::Ingress = serde_json::from_value(json!({
            "metadata": {"name": "site", "namespace": "shop"},
            "spec": {"tls": [{"hosts": ["shop.example"]}], "defaultBackend": {"service": {"name": "fallback"}},
                "rules": [{"host": "shop.example", "http": {"paths": [
                    {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                    {"path": "/static", "backend": {"resource": {"kind": "StorageBucket", "name": "b"}}}]}}]}
        }))
        .unwrap();
        let ingress = ingress.into_model();
        assert_eq!(ingress.backends, ["fallback", "web"]);
        assert!(ingress.tls);
        let route: wire::HttpRoute = serde_json::from_value(json!({
            "metadata": {"name": "r", "namespace": "shop"},
            "spec": {"parentRefs": [{"name": "edge", "namespace": "infra"}], "hostnames": ["a.example"],
                "rules": [{"backendRefs": [{"name": "web", "port": 80}, {"name": "api", "namespace": "api", "port": 80},
                    {"kind": "Bucket", "group": "x", "name": "b"}]}]}
        }))
        .unwrap();
        let route = route.into_model();
        assert_eq!(route.parents, ["infra/edge"]);
        let backends: Vec<String> =
            route.backends.iter().map(|b| format!("{}/{}", b.namespace, b.name)).collect();
        assert_eq!(backends, ["api/api", "shop/web"]);
    }

    #[test]
    fn collection_paths_follow_group_version_and_namespace() {
        assert_eq!(collection("", "v1", "pods", None), "/api/v1/pods");
        assert_eq!(
            collection("gateway.networking.k8s.io", "v1", "httproutes", Some("shop")),
            "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes"
        );
        assert_eq!(kind_name("apps", "deployments"), "deployments.apps");
    }
}

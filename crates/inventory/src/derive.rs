//! The facts an inventory states, derived from what was read.

use std::collections::{BTreeMap, BTreeSet};

use kir_rbac::{BindingKind, Holder as RbacHolder, RbacSnapshot, Request, SubjectRef};

use crate::model::{
    Binding, ClusterInfo, Coverage, Exposure, Facts, Gap, Gateway, Holder, HostReach, HttpRoute, Ingress,
    Inventory, Namespace, NetworkPolicy, Node, RbacSummary, SCHEMA, Service, Workload,
};

/// What kir read from the cluster, before anything is derived.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub taken_at: String,
    pub cluster: ClusterInfo,
    pub namespace: Option<String>,
    pub namespaces: Vec<Namespace>,
    pub workloads: Vec<Workload>,
    pub services: Vec<Service>,
    pub ingresses: Vec<Ingress>,
    pub gateways: Vec<Gateway>,
    pub http_routes: Vec<HttpRoute>,
    pub network_policies: Vec<NetworkPolicy>,
    pub nodes: Vec<Node>,
    pub gaps: Vec<Gap>,
    pub not_served: Vec<String>,
}

/// The inventory of what was read, in a stable order, with its facts.
pub fn assemble(mut observed: Observed, rbac: &RbacSnapshot) -> Inventory {
    observed.namespaces.sort_by(|a, b| a.name.cmp(&b.name));
    observed.workloads.sort_by_key(Workload::key);
    observed.services.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    observed.ingresses.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    observed.gateways.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    observed.http_routes.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    observed.network_policies.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    observed.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    observed.gaps.sort_by(|a, b| a.kind.cmp(&b.kind));
    observed.not_served.sort();
    let namespaces = namespace_names(&observed);
    let scope = observed.namespace.clone();
    let in_scope =
        |holder: &Holder| scope.is_none() || holder.namespace.is_none() || holder.namespace == scope;
    let facts = Facts {
        coverage: coverage(&namespaces, &observed.network_policies),
        host_access: observed
            .workloads
            .iter()
            .map(|w| HostReach { workload: w.key(), reasons: w.host.reasons() })
            .filter(|reach| !reach.reasons.is_empty())
            .collect(),
        admins: holders(rbac, &namespaces, &[Request::resource("*", "*", "*")])
            .into_iter()
            .filter(in_scope)
            .collect(),
        secret_readers: holders(
            rbac,
            &namespaces,
            &[Request::resource("get", "", "secrets"), Request::resource("list", "", "secrets")],
        )
        .into_iter()
        .filter(in_scope)
        .collect(),
        exposures: exposures(&observed),
    };
    Inventory {
        schema: SCHEMA.to_string(),
        taken_at: observed.taken_at,
        cluster: observed.cluster,
        namespace: observed.namespace,
        namespaces: observed.namespaces,
        workloads: observed.workloads,
        services: observed.services,
        ingresses: observed.ingresses,
        gateways: observed.gateways,
        http_routes: observed.http_routes,
        network_policies: observed.network_policies,
        nodes: observed.nodes,
        rbac: summary(rbac, scope.as_deref()),
        facts,
        gaps: observed.gaps,
        not_served: observed.not_served,
    }
}

/// The namespaces listed, and those objects were found in (when listing namespaces was denied).
fn namespace_names(observed: &Observed) -> Vec<String> {
    let mut names: BTreeSet<String> = observed.namespaces.iter().map(|n| n.name.clone()).collect();
    names.extend(observed.workloads.iter().map(|w| w.namespace.clone()));
    names.extend(observed.network_policies.iter().map(|p| p.namespace.clone()));
    names.extend(observed.namespace.clone());
    names.into_iter().collect()
}

fn coverage(namespaces: &[String], policies: &[NetworkPolicy]) -> Vec<Coverage> {
    namespaces
        .iter()
        .map(|namespace| {
            let own: Vec<&NetworkPolicy> = policies.iter().filter(|p| &p.namespace == namespace).collect();
            Coverage {
                namespace: namespace.clone(),
                policies: own.len(),
                default_deny_ingress: own.iter().any(|p| p.denies_all_ingress()),
                default_deny_egress: own.iter().any(|p| p.denies_all_egress()),
            }
        })
        .collect()
}

pub(crate) fn subject_text(subject: &SubjectRef) -> String {
    match subject {
        SubjectRef::User { name } => format!("User:{name}"),
        SubjectRef::Group { name } => format!("Group:{name}"),
        SubjectRef::ServiceAccount { namespace, name } => format!("ServiceAccount:{namespace}/{name}"),
    }
}

fn holder_of(found: &RbacHolder<'_>) -> Holder {
    let binding = match (found.binding.kind, found.binding.namespace) {
        (BindingKind::RoleBinding, Some(namespace)) => {
            format!("RoleBinding/{namespace}/{}", found.binding.name)
        }
        (BindingKind::RoleBinding, None) => format!("RoleBinding/{}", found.binding.name),
        (BindingKind::ClusterRoleBinding, _) => format!("ClusterRoleBinding/{}", found.binding.name),
    };
    Holder {
        subject: subject_text(&found.subject),
        namespace: found.namespace.map(str::to_string),
        binding,
        role: format!("{}/{}", found.role.kind, found.role.name),
    }
}

/// Who may make any of `requests`: cluster-wide through ClusterRoleBindings, and in each
/// namespace through its RoleBindings. Each subject and binding once.
fn holders(rbac: &RbacSnapshot, namespaces: &[String], requests: &[Request]) -> Vec<Holder> {
    let index = rbac.index();
    let mut found: BTreeSet<Holder> = BTreeSet::new();
    for request in requests {
        found.extend(index.who_can(request).iter().map(holder_of));
        for namespace in namespaces {
            let request = request.clone().in_namespace(namespace.as_str());
            found.extend(index.who_can(&request).iter().filter(|h| h.namespace.is_some()).map(holder_of));
        }
    }
    found.into_iter().collect()
}

fn summary(rbac: &RbacSnapshot, scope: Option<&str>) -> RbacSummary {
    let subjects = |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| -> Vec<String> {
        subjects
            .iter()
            .flatten()
            .map(|s| match (s.kind.as_str(), s.namespace.as_deref()) {
                ("ServiceAccount", Some(namespace)) => format!("ServiceAccount:{namespace}/{}", s.name),
                (kind, _) => format!("{kind}:{}", s.name),
            })
            .collect()
    };
    let mut bindings: Vec<Binding> = rbac
        .cluster_role_bindings
        .iter()
        .map(|b| Binding {
            kind: "ClusterRoleBinding".into(),
            namespace: None,
            name: b.metadata.name.clone().unwrap_or_default(),
            role: format!("{}/{}", b.role_ref.kind, b.role_ref.name),
            subjects: subjects(&b.subjects),
        })
        .chain(
            rbac.role_bindings
                .iter()
                .filter(|b| scope.is_none() || b.metadata.namespace.as_deref() == scope)
                .map(|b| Binding {
                    kind: "RoleBinding".into(),
                    namespace: b.metadata.namespace.clone(),
                    name: b.metadata.name.clone().unwrap_or_default(),
                    role: format!("{}/{}", b.role_ref.kind, b.role_ref.name),
                    subjects: subjects(&b.subjects),
                }),
        )
        .collect();
    bindings.sort_by(|a, b| (&a.kind, &a.namespace, &a.name).cmp(&(&b.kind, &b.namespace, &b.name)));
    RbacSummary {
        cluster_roles: rbac.cluster_roles.len(),
        roles: rbac
            .roles
            .iter()
            .filter(|r| scope.is_none() || r.metadata.namespace.as_deref() == scope)
            .count(),
        bindings,
    }
}

/// The workloads of `namespace` whose pods a selector picks; an empty selector picks none (a
/// Service without one has its endpoints managed by hand).
fn selected(workloads: &[Workload], namespace: &str, selector: &BTreeMap<String, String>) -> Vec<String> {
    if selector.is_empty() {
        return Vec::new();
    }
    workloads
        .iter()
        .filter(|w| w.namespace == namespace && selector.iter().all(|(k, v)| w.labels.get(k) == Some(v)))
        .map(Workload::key)
        .collect()
}

/// The workloads the named Services of `namespace` select.
fn behind(observed: &Observed, namespace: &str, services: &[String]) -> Vec<String> {
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for service in observed.services.iter().filter(|s| s.namespace == namespace && services.contains(&s.name))
    {
        keys.extend(selected(&observed.workloads, namespace, &service.selector));
    }
    keys.into_iter().collect()
}

fn exposures(observed: &Observed) -> Vec<Exposure> {
    let mut found = Vec::new();
    for service in observed.services.iter().filter(|s| s.exposed()) {
        let ports: Vec<String> = service
            .ports
            .iter()
            .map(|p| match p.node_port {
                Some(node_port) => format!("{}/{} (node {node_port})", p.port, p.protocol),
                None => format!("{}/{}", p.port, p.protocol),
            })
            .chain(service.external.iter().cloned())
            .collect();
        found.push(Exposure {
            via: service.kind.clone(),
            namespace: service.namespace.clone(),
            name: service.name.clone(),
            detail: ports.join(", "),
            workloads: selected(&observed.workloads, &service.namespace, &service.selector),
        });
    }
    for ingress in &observed.ingresses {
        let mut detail = if ingress.hosts.is_empty() { "*".to_string() } else { ingress.hosts.join(", ") };
        if ingress.tls {
            detail.push_str(" (TLS)");
        }
        found.push(Exposure {
            via: "Ingress".into(),
            namespace: ingress.namespace.clone(),
            name: ingress.name.clone(),
            detail,
            workloads: behind(observed, &ingress.namespace, &ingress.backends),
        });
    }
    for route in &observed.http_routes {
        let mut keys: BTreeSet<String> = BTreeSet::new();
        for backend in &route.backends {
            keys.extend(behind(observed, &backend.namespace, std::slice::from_ref(&backend.name)));
        }
        let hosts = if route.hostnames.is_empty() { "*".to_string() } else { route.hostnames.join(", ") };
        found.push(Exposure {
            via: "HTTPRoute".into(),
            namespace: route.namespace.clone(),
            name: route.name.clone(),
            detail: format!("{hosts} via {}", route.parents.join(", ")),
            workloads: keys.into_iter().collect(),
        });
    }
    found.sort_by_key(Exposure::key);
    found
}

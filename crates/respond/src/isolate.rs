//! Deciding how to contain one pod (C3): what to label, which policies to create, which labels
//! to take away so its controller and Services let go of it (orphan-and-replace), whether to
//! cordon its node. Pure: built from observed state, so every decision is unit-tested.

use k8s_openapi::{
    api::{core::v1::Service, networking::v1::NetworkPolicy},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};
use kir_cluster::objects::Fetched;
use serde::Serialize;
use serde_json::Value;

use crate::{
    enforcement::{self, Agent, Plugin},
    netpol::{self, AllowingPolicy, QUARANTINE_LABEL},
    selector::{Labels, keys_of, map_selects},
};

/// The pod as observed just before acting.
#[derive(Debug, Clone, PartialEq)]
pub struct PodState {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: Labels,
    pub node: Option<String>,
    pub controller: Option<Controller>,
    /// The cases that isolated the pod, from its case annotation (see [`cases_of`]).
    pub cases: Vec<String>,
    /// The pod uses its node's network namespace: no NetworkPolicy applies to it.
    pub host_network: bool,
}

/// Annotation naming the cases that isolated a pod (comma-separated ids, oldest first), or the
/// case that created a containment object or cordoned a node.
pub const CASE_ANNOTATION: &str = "ir.kir.dev/case";

/// The case ids an object's case annotation names.
pub fn cases_of(annotations: Option<&Labels>) -> Vec<String> {
    annotations
        .and_then(|a| a.get(CASE_ANNOTATION))
        .map(|value| {
            value.split(',').map(str::trim).filter(|id| !id.is_empty()).map(str::to_string).collect()
        })
        .unwrap_or_default()
}

/// The object that manages the pod (its owner reference with `controller: true`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Controller {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// The controller's pod selector, when it has one.
    pub selector: Option<LabelSelector>,
}

impl Controller {
    pub fn describe(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// Controllers that start a replacement when a pod stops matching their selector.
    /// A StatefulSet does not: its replacement would need the suspect's name.
    fn replaces_released_pods(&self) -> bool {
        matches!(self.kind.as_str(), "ReplicaSet" | "ReplicationController" | "DaemonSet" | "Job")
    }
}

/// What else in the cluster matters to the decision.
#[derive(Debug, Clone, Default)]
pub struct Surroundings {
    pub services: Vec<Service>,
    pub policies: Vec<NetworkPolicy>,
    /// The cluster serves CiliumNetworkPolicy, and whether kir's one for this pod exists.
    pub cilium: Option<bool>,
    /// The cluster serves AdminNetworkPolicy, and whether kir's one for this pod exists.
    pub admin_network_policy: Option<bool>,
    /// The pod's node as read (evidence too).
    pub node: Option<Fetched>,
    /// Network plugins whose agents run; `None` when that could not be read (see `notes`).
    pub agents: Option<Vec<Agent>>,
    /// What could not be read (the plan goes ahead without it and says so).
    pub notes: Vec<String>,
}

impl Surroundings {
    /// `spec.unschedulable` of the pod's node, when it was read.
    pub fn node_unschedulable(&self) -> Option<bool> {
        self.node
            .as_ref()
            .map(|n| n.value.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrphanChoice {
    /// Orphan when the pod has a controller that replaces released pods.
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct IsolateOptions {
    pub orphan: OrphanChoice,
    pub cordon: bool,
}

/// One change to the cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Change {
    /// Add the quarantine label, so policies can select this one pod.
    LabelPod {
        key: String,
        value: String,
    },
    CreateNetworkPolicy {
        object: Value,
    },
    CreateCiliumPolicy {
        object: Value,
    },
    CreateAdminNetworkPolicy {
        object: Value,
    },
    /// Remove labels so the controller and Services stop selecting the pod.
    RemoveLabels {
        labels: Labels,
        releases: Vec<String>,
    },
    CordonNode {
        node: String,
    },
    /// Name one more case on a pod another case already quarantined: this case relies on that
    /// quarantine, and undoing the other case must not silently lift it.
    JoinCase {
        case: String,
    },
}

impl Change {
    /// One line for the plan and the journal.
    pub fn describe(&self, pod: &PodState) -> String {
        let pod_ref = format!("{}/{}", pod.namespace, pod.name);
        let object_name = |o: &Value| {
            let ns = o.pointer("/metadata/namespace").and_then(Value::as_str);
            let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
            ns.map(|ns| format!("{ns}/{name}")).unwrap_or_else(|| name.to_string())
        };
        match self {
            Change::LabelPod { key, value } => format!("label pod {pod_ref} {key}={value}"),
            Change::CreateNetworkPolicy { object } => {
                format!(
                    "create NetworkPolicy {} (deny all ingress and egress of this pod)",
                    object_name(object)
                )
            }
            Change::CreateCiliumPolicy { object } => {
                format!(
                    "create CiliumNetworkPolicy {} (deny rules: win over every allow)",
                    object_name(object)
                )
            }
            Change::CreateAdminNetworkPolicy { object } => {
                format!(
                    "create AdminNetworkPolicy {} (priority 0: evaluated before NetworkPolicies)",
                    object_name(object)
                )
            }
            Change::RemoveLabels { labels, releases } => format!(
                "remove labels {} from pod {pod_ref} so {} stop selecting it",
                labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                releases.join(" and ")
            ),
            Change::CordonNode { node } => format!("cordon node {node}"),
            Change::JoinCase { case } => {
                format!("record case {case} on pod {pod_ref} (it relies on the quarantine already in place)")
            }
        }
    }

    /// A stable name of the step, for the journal and for resuming.
    pub fn action(&self) -> &'static str {
        match self {
            Change::LabelPod { .. } => "isolate.label-pod",
            Change::CreateNetworkPolicy { .. } => "isolate.create-networkpolicy",
            Change::CreateCiliumPolicy { .. } => "isolate.create-ciliumnetworkpolicy",
            Change::CreateAdminNetworkPolicy { .. } => "isolate.create-adminnetworkpolicy",
            Change::RemoveLabels { .. } => "isolate.orphan",
            Change::CordonNode { .. } => "isolate.cordon-node",
            Change::JoinCase { .. } => "isolate.join-case",
        }
    }

    /// Does this change take the pod off the network (the point from which it is contained)?
    pub fn contains(&self) -> bool {
        matches!(
            self,
            Change::CreateNetworkPolicy { .. }
                | Change::CreateCiliumPolicy { .. }
                | Change::CreateAdminNetworkPolicy { .. }
        )
    }
}

/// A change, and whether the cluster already has it (re-running isolate changes nothing).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    #[serde(flatten)]
    pub change: Change,
    pub already_in_place: bool,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IsolationPlan {
    pub changes: Vec<PlannedChange>,
    /// Policies that will still allow traffic to or from the pod once the plan is applied.
    pub still_allowing: Vec<AllowingPolicy>,
    /// Whether a precedence primitive (Cilium deny, AdminNetworkPolicy) overrides them.
    pub overridden: bool,
    pub warnings: Vec<String>,
    /// The controller that will start a replacement, when the plan orphans the pod.
    pub replaced_by: Option<Controller>,
    pub enforcement: Enforcement,
}

/// Whether the policies kir creates will be enforced, as far as kir can see.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Enforcement {
    /// `Some(true)`: a network plugin that enforces NetworkPolicy runs; `None`: unknown;
    /// `Some(false)`: no policy can apply to this pod (it uses the host network).
    pub enforced: Option<bool>,
    pub detail: String,
}

impl Enforcement {
    fn of(pod: &PodState, agents: Option<&[Agent]>) -> Enforcement {
        if pod.host_network {
            return Enforcement {
                enforced: Some(false),
                detail: "the pod uses its node's network (hostNetwork): NetworkPolicies do not apply to it"
                    .into(),
            };
        }
        match agents {
            None => Enforcement {
                enforced: None,
                detail: "unknown: the network plugins' DaemonSets could not be read".into(),
            },
            Some([]) => Enforcement {
                enforced: None,
                detail: format!(
                    "unknown: no NetworkPolicy-enforcing network plugin was seen running (looked for DaemonSets {})",
                    enforcement::looked_for()
                ),
            },
            Some(agents) => Enforcement {
                enforced: Some(true),
                detail: format!(
                    "enforced by {}",
                    agents
                        .iter()
                        .map(|a| format!("{:?} ({})", a.plugin, a.seen_as))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        }
    }
}

impl IsolationPlan {
    pub fn pending(&self) -> impl Iterator<Item = &PlannedChange> {
        self.changes.iter().filter(|c| !c.already_in_place)
    }
}

pub fn plan(pod: &PodState, around: &Surroundings, options: IsolateOptions) -> IsolationPlan {
    let mut changes = Vec::new();
    let mut warnings = around.notes.clone();
    let mut push = |change: Change, already_in_place: bool| {
        let description = change.describe(pod);
        changes.push(PlannedChange { change, already_in_place, description });
    };

    // The policies come first: they select the quarantine label, which no pod has until the
    // label is set (together with the orphaning, in one patch).
    let policy = serde_json::to_value(netpol::deny_all_policy(&pod.namespace, &pod.name, &pod.uid))
        .unwrap_or_default();
    // In place means kir's deny-all under kir's name: an object of that name with another spec
    // (tampered, or someone else's) contains nothing and is not counted.
    let namesake = around.policies.iter().find(|p| {
        p.metadata.name.as_deref() == policy.pointer("/metadata/name").and_then(Value::as_str)
            && p.metadata.namespace.as_deref() == Some(pod.namespace.as_str())
    });
    let policy_in_place = match namesake {
        Some(existing) if netpol::same_spec(&policy, &serde_json::to_value(existing).unwrap_or_default()) => {
            true
        }
        Some(existing) => {
            let name = existing.metadata.name.clone().unwrap_or_default();
            warnings.push(format!(
                "NetworkPolicy {}/{name} holds kir's quarantine name but is not kir's deny-all policy (tampered, or \
                 someone else's): kir does not count it and cannot create its own under that name; inspect it \
                 (kubectl -n {} get networkpolicy {name} -o yaml), delete it, and run isolate again",
                pod.namespace, pod.namespace
            ));
            false
        }
        None => false,
    };
    push(Change::CreateNetworkPolicy { object: policy }, policy_in_place);
    if let Some(exists) = around.cilium {
        push(
            Change::CreateCiliumPolicy {
                object: netpol::cilium_deny_policy(&pod.namespace, &pod.name, &pod.uid),
            },
            exists,
        );
    }
    if let Some(exists) = around.admin_network_policy {
        push(
            Change::CreateAdminNetworkPolicy {
                object: netpol::admin_deny_policy(&pod.namespace, &pod.name, &pod.uid),
            },
            exists,
        );
    }

    let labelled = pod.labels.get(QUARANTINE_LABEL) == Some(&pod.uid);
    push(Change::LabelPod { key: QUARANTINE_LABEL.to_string(), value: pod.uid.clone() }, labelled);

    let mut final_labels = pod.labels.clone();
    final_labels.insert(QUARANTINE_LABEL.to_string(), pod.uid.clone());
    let orphan = match (&pod.controller, options.orphan) {
        (_, OrphanChoice::Never) => false,
        (None, _) => false,
        (Some(c), OrphanChoice::Auto) => {
            if !c.replaces_released_pods() {
                warnings.push(format!(
                    "not orphaning: {} does not start a replacement for a released pod (pass --orphan to relabel anyway)",
                    c.describe()
                ));
            }
            c.replaces_released_pods()
        }
        (Some(_), OrphanChoice::Always) => true,
    };
    let mut replaced_by = None;
    if orphan {
        let (labels, releases) = selecting_labels(pod, &around.services);
        if !labels.is_empty() {
            for key in labels.keys() {
                final_labels.remove(key);
            }
            replaced_by = pod.controller.clone().filter(|c| c.replaces_released_pods());
            push(Change::RemoveLabels { labels, releases }, false);
        }
    }
    if pod.controller.is_none() && options.orphan == OrphanChoice::Always {
        warnings.push("the pod has no controller: there is nothing to orphan it from".to_string());
    }

    if options.cordon {
        match &pod.node {
            Some(node) => {
                push(Change::CordonNode { node: node.clone() }, around.node_unschedulable() == Some(true))
            }
            None => warnings.push("the pod is not scheduled on a node: nothing to cordon".to_string()),
        }
    }

    let enforcement = Enforcement::of(pod, around.agents.as_deref());
    if pod.host_network {
        warnings.push(format!(
            "pod {}/{} uses its node's network (hostNetwork): no NetworkPolicy, Cilium or AdminNetworkPolicy \
             selector applies to it, so kir cannot cut its traffic. What works: cordon its node (--cordon) so nothing \
             new lands there, delete it once its evidence is in (`kir replace pod NS/POD`, or `kir respond compromised-pod NS/POD --replace`), and isolate \
             the node itself at the infrastructure level (security group, firewall)",
            pod.namespace, pod.name
        ));
    }
    let still_allowing = netpol::allowing_policies(&around.policies, &final_labels);
    let agents = around.agents.as_deref().unwrap_or_default();
    let running = |enforces: fn(Plugin) -> bool| agents.iter().any(|a| enforces(a.plugin));
    let cilium = around.cilium.is_some() && running(Plugin::enforces_cilium_policy);
    let admin = around.admin_network_policy.is_some() && running(Plugin::enforces_admin_network_policy);
    for (served, enforced, kind) in [
        (around.cilium.is_some(), cilium, "CiliumNetworkPolicy"),
        (around.admin_network_policy.is_some(), admin, "AdminNetworkPolicy"),
    ] {
        if served && !enforced {
            warnings.push(format!(
                "the API serves {kind}, but no network plugin that enforces it was seen running: kir creates one, \
                 and does not count on it"
            ));
        }
    }
    let overridden = cilium || admin;
    if !overridden {
        if let Some(warning) = netpol::additive_warning(&still_allowing, &pod.namespace) {
            warnings.push(warning);
        }
    } else if !cilium {
        // AdminNetworkPolicy ingress peers are namespaces and pods: traffic from outside the
        // cluster is only what the NetworkPolicies allow.
        let from_outside: Vec<AllowingPolicy> =
            still_allowing.iter().filter(|p| p.allows_ingress).cloned().collect();
        if let Some(warning) = netpol::additive_warning(&from_outside, &pod.namespace) {
            warnings.push(format!(
                "the AdminNetworkPolicy overrides all egress and ingress from pods of the cluster, not ingress from \
                 outside it (its peers cannot name such sources). For that traffic: {warning}"
            ));
        }
    }
    IsolationPlan { changes, still_allowing, overridden, warnings, replaced_by, enforcement }
}

/// The labels to remove so the controller and every Service selecting the pod let go of it,
/// and who they release it from.
fn selecting_labels(pod: &PodState, services: &[Service]) -> (Labels, Vec<String>) {
    let mut keys: Vec<String> = Vec::new();
    let mut releases = Vec::new();
    if let Some(controller) = &pod.controller {
        let controller_keys = controller.selector.as_ref().map(keys_of).unwrap_or_default();
        if controller_keys.iter().any(|k| pod.labels.contains_key(k)) {
            releases.push(controller.describe());
            keys.extend(controller_keys);
        }
    }
    for service in services {
        let selector = service.spec.as_ref().and_then(|s| s.selector.as_ref());
        if map_selects(selector, &pod.labels) {
            releases.push(format!("Service/{}", service.metadata.name.clone().unwrap_or_default()));
            keys.extend(selector.into_iter().flat_map(|s| s.keys().cloned()));
        }
    }
    let labels = keys.into_iter().filter_map(|k| pod.labels.get(&k).map(|v| (k, v.clone()))).collect();
    (labels, releases)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::{
            core::v1::ServiceSpec,
            networking::v1::{NetworkPolicyIngressRule, NetworkPolicySpec},
        },
        apimachinery::pkg::apis::meta::v1::ObjectMeta,
    };

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn web_pod() -> PodState {
        PodState {
            namespace: "shop".into(),
            name: "web-7d9f-abcde".into(),
            uid: "4f0c2a1e-8b7d-4c3e-9a55-1d2e3f4a5b6c".into(),
            labels: labels(&[("app", "web"), ("pod-template-hash", "7d9f"), ("team", "payments")]),
            node: Some("node-1".into()),
            cases: Vec::new(),
            host_network: false,
            controller: Some(Controller {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: "web-7d9f".into(),
                selector: Some(LabelSelector {
                    match_labels: Some(labels(&[("app", "web"), ("pod-template-hash", "7d9f")])),
                    ..Default::default()
                }),
            }),
        }
    }

    fn service(name: &str, selector: &[(&str, &str)]) -> Service {
        Service {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: Some(ServiceSpec { selector: Some(labels(selector)), ..Default::default() }),
            ..Default::default()
        }
    }

    fn allow_all(name: &str, selector: LabelSelector) -> NetworkPolicy {
        NetworkPolicy {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(selector),
                ingress: Some(vec![NetworkPolicyIngressRule::default()]),
                ..Default::default()
            }),
        }
    }

    fn cordoned_node() -> Fetched {
        let value = serde_json::json!({"kind": "Node", "metadata": {"name": "node-1"}, "spec": {"unschedulable": true}});
        Fetched { source: "GET /api/v1/nodes/node-1".into(), body: value.to_string().into_bytes(), value }
    }

    fn kinds(plan: &IsolationPlan) -> Vec<(&'static str, bool)> {
        plan.changes.iter().map(|c| (c.change.action(), c.already_in_place)).collect()
    }

    #[test]
    fn a_replicaset_pod_behind_a_service_is_labelled_contained_and_orphaned() {
        let around = Surroundings {
            services: vec![service("web", &[("app", "web")]), service("other", &[("app", "db")])],
            policies: vec![
                allow_all(
                    "allow-web",
                    LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() },
                ),
                allow_all(
                    "allow-team",
                    LabelSelector {
                        match_labels: Some(labels(&[("team", "payments")])),
                        ..Default::default()
                    },
                ),
            ],
            ..Default::default()
        };
        let plan = plan(&web_pod(), &around, IsolateOptions::default());
        assert_eq!(
            kinds(&plan),
            [
                ("isolate.create-networkpolicy", false),
                ("isolate.label-pod", false),
                ("isolate.orphan", false)
            ]
        );
        let Change::RemoveLabels { labels: removed, releases } = &plan.changes[2].change else { panic!() };
        assert_eq!(removed, &labels(&[("app", "web"), ("pod-template-hash", "7d9f")]));
        assert_eq!(releases, &["ReplicaSet/web-7d9f", "Service/web"]);
        assert_eq!(plan.replaced_by.as_ref().unwrap().name, "web-7d9f");
        // allow-web no longer selects the relabelled pod; allow-team still does.
        let still: Vec<&str> = plan.still_allowing.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(still, ["allow-team"]);
        assert!(!plan.overridden);
        assert!(
            plan.warnings.iter().any(|w| w.contains("shop/allow-team") && w.contains("additive")),
            "{:?}",
            plan.warnings
        );
        insta::assert_yaml_snapshot!("plan_replicaset_pod", plan);
    }

    #[test]
    fn precedence_primitives_are_used_where_the_cluster_has_them() {
        let around = Surroundings {
            policies: vec![allow_all("allow-all", LabelSelector::default())],
            cilium: Some(false),
            admin_network_policy: Some(false),
            agents: Some(vec![agent(Plugin::Cilium), agent(Plugin::KubeNetworkPolicies)]),
            ..Default::default()
        };
        let plan = plan(&web_pod(), &around, IsolateOptions { orphan: OrphanChoice::Never, cordon: true });
        assert_eq!(
            kinds(&plan),
            [
                ("isolate.create-networkpolicy", false),
                ("isolate.create-ciliumnetworkpolicy", false),
                ("isolate.create-adminnetworkpolicy", false),
                ("isolate.label-pod", false),
                ("isolate.cordon-node", false),
            ]
        );
        assert!(plan.overridden);
        assert_eq!(plan.still_allowing.len(), 1, "still reported, but overridden");
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        assert_eq!(plan.enforcement.enforced, Some(true));
    }

    fn agent(plugin: Plugin) -> Agent {
        Agent { plugin, seen_as: format!("DaemonSet kube-system/{plugin:?} (2/2 ready)") }
    }

    #[test]
    fn a_served_precedence_api_without_an_enforcer_is_not_counted() {
        let around = Surroundings {
            policies: vec![allow_all("allow-all", LabelSelector::default())],
            cilium: Some(false),
            admin_network_policy: Some(false),
            agents: Some(Vec::new()),
            ..Default::default()
        };
        let plan = plan(&web_pod(), &around, IsolateOptions { orphan: OrphanChoice::Never, cordon: false });
        assert!(!plan.overridden);
        assert_eq!(plan.enforcement.enforced, None);
        assert!(plan.enforcement.detail.contains("no NetworkPolicy-enforcing network plugin"));
        let warnings = plan.warnings.join("\n");
        assert!(
            warnings.contains("serves CiliumNetworkPolicy, but no network plugin that enforces it"),
            "{warnings}"
        );
        assert!(warnings.contains("serves AdminNetworkPolicy, but no network plugin"), "{warnings}");
        assert!(warnings.contains("additive") && warnings.contains("shop/allow-all"), "{warnings}");
    }

    #[test]
    fn an_admin_network_policy_leaves_ingress_from_outside_the_cluster_to_the_network_policies() {
        let around = Surroundings {
            policies: vec![allow_all("allow-all", LabelSelector::default())],
            admin_network_policy: Some(false),
            agents: Some(vec![agent(Plugin::OvnKubernetes)]),
            ..Default::default()
        };
        let plan = plan(&web_pod(), &around, IsolateOptions { orphan: OrphanChoice::Never, cordon: false });
        assert!(plan.overridden);
        let warnings = plan.warnings.join("\n");
        assert!(
            warnings.contains("not ingress from outside it") && warnings.contains("shop/allow-all"),
            "{warnings}"
        );
    }

    #[test]
    fn a_host_network_pod_is_never_network_contained_and_the_plan_says_what_works() {
        let mut pod = web_pod();
        pod.host_network = true;
        let around = Surroundings { agents: Some(vec![agent(Plugin::Calico)]), ..Default::default() };
        let plan = plan(&pod, &around, IsolateOptions::default());
        assert_eq!(plan.enforcement.enforced, Some(false));
        let warnings = plan.warnings.join("\n");
        assert!(
            warnings.contains("hostNetwork") && warnings.contains("--cordon") && warnings.contains("replace"),
            "{warnings}"
        );
    }

    #[test]
    fn re_planning_an_isolated_pod_finds_everything_in_place() {
        let mut pod = web_pod();
        pod.labels = labels(&[("team", "payments"), (QUARANTINE_LABEL, &pod.uid.clone())]);
        pod.controller = None;
        let existing = netpol::deny_all_policy(&pod.namespace, &pod.name, &pod.uid);
        let around =
            Surroundings { policies: vec![existing], node: Some(cordoned_node()), ..Default::default() };
        let plan = plan(&pod, &around, IsolateOptions { orphan: OrphanChoice::Auto, cordon: true });
        assert_eq!(plan.pending().count(), 0, "{:?}", plan.changes);
        assert!(plan.replaced_by.is_none());
    }

    #[test]
    fn statefulset_pods_are_not_orphaned_unless_asked() {
        let mut pod = web_pod();
        pod.controller.as_mut().unwrap().kind = "StatefulSet".into();
        let auto = plan(&pod, &Surroundings::default(), IsolateOptions::default());
        assert!(!auto.changes.iter().any(|c| c.change.action() == "isolate.orphan"));
        assert!(auto.warnings.iter().any(|w| w.contains("StatefulSet/web-7d9f")), "{:?}", auto.warnings);
        let forced = plan(
            &pod,
            &Surroundings::default(),
            IsolateOptions { orphan: OrphanChoice::Always, cordon: false },
        );
        assert!(forced.changes.iter().any(|c| c.change.action() == "isolate.orphan"));
        assert!(forced.replaced_by.is_none(), "a StatefulSet does not replace it");
    }
}

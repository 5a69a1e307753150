//! Who enforces network policy in the cluster. A served API (a CRD) says only that objects of
//! a kind can be stored; something must run that acts on them. kir counts a network plugin
//! as present when its agent's DaemonSet is ready, and says what each one enforces.

use kir_cluster::probe::DaemonSetStatus;
use serde::Serialize;

/// A network plugin kir recognises by its agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Plugin {
    Cilium,
    Calico,
    Antrea,
    KubeRouter,
    WeaveNet,
    KubeNetworkPolicies,
    OvnKubernetes,
    AzureNpm,
}

/// DaemonSet names (or `k8s-app`/`app.kubernetes.io/name` label values) of each plugin's
/// agent. GKE Dataplane V2 runs Cilium as `anetd`; Canal is Calico's policy engine.
const AGENTS: &[(Plugin, &[&str])] = &[
    (Plugin::Cilium, &["cilium", "cilium-agent", "anetd"]),
    (Plugin::Calico, &["calico-node", "canal"]),
    (Plugin::Antrea, &["antrea-agent"]),
    (Plugin::KubeRouter, &["kube-router"]),
    (Plugin::WeaveNet, &["weave-net"]),
    (Plugin::KubeNetworkPolicies, &["kube-network-policies"]),
    (Plugin::OvnKubernetes, &["ovnkube-node"]),
    (Plugin::AzureNpm, &["azure-npm"]),
];

const NAME_LABELS: &[&str] = &["k8s-app", "app.kubernetes.io/name", "app"];

impl Plugin {
    /// Does it act on CiliumNetworkPolicy deny rules?
    pub fn enforces_cilium_policy(self) -> bool {
        self == Plugin::Cilium
    }

    /// Does it implement AdminNetworkPolicy?
    pub fn enforces_admin_network_policy(self) -> bool {
        matches!(self, Plugin::KubeNetworkPolicies | Plugin::OvnKubernetes | Plugin::Antrea | Plugin::Calico)
    }
}

/// A plugin's agent seen running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub plugin: Plugin,
    /// `DaemonSet NS/NAME (R/D ready)`
    pub seen_as: String,
}

/// The agents among `daemonsets` that are ready on every node they are scheduled to (and on
/// one at least).
pub fn running_agents(daemonsets: &[DaemonSetStatus]) -> Vec<Agent> {
    daemonsets
        .iter()
        .filter(|d| d.desired > 0 && d.ready >= d.desired)
        .filter_map(|d| {
            let names: Vec<&str> = std::iter::once(d.name.as_str())
                .chain(NAME_LABELS.iter().filter_map(|l| d.labels.get(*l).map(String::as_str)))
                .collect();
            let (plugin, _) = AGENTS.iter().find(|(_, agents)| names.iter().any(|n| agents.contains(n)))?;
            Some(Agent {
                plugin: *plugin,
                seen_as: format!("DaemonSet {}/{} ({}/{} ready)", d.namespace, d.name, d.ready, d.desired),
            })
        })
        .collect()
}

/// What kir looks for, for messages that say what was not found.
pub fn looked_for() -> String {
    AGENTS.iter().flat_map(|(_, names)| names.iter().copied()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemonset(
        namespace: &str,
        name: &str,
        labels: &[(&str, &str)],
        desired: i32,
        ready: i32,
    ) -> DaemonSetStatus {
        DaemonSetStatus {
            namespace: namespace.into(),
            name: name.into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            desired,
            ready,
        }
    }

    #[test]
    fn an_agent_counts_only_when_ready_everywhere_it_is_scheduled() {
        let seen = running_agents(&[
            daemonset("kube-system", "cilium", &[], 3, 3),
            daemonset("calico-system", "node", &[("k8s-app", "calico-node")], 3, 2),
            daemonset("kube-system", "kube-proxy", &[], 3, 3),
            daemonset("kube-system", "antrea-agent", &[], 0, 0),
            daemonset("kube-system", "netpol", &[("app.kubernetes.io/name", "kube-network-policies")], 2, 2),
        ]);
        let plugins: Vec<Plugin> = seen.iter().map(|a| a.plugin).collect();
        assert_eq!(plugins, [Plugin::Cilium, Plugin::KubeNetworkPolicies]);
        assert_eq!(seen[0].seen_as, "DaemonSet kube-system/cilium (3/3 ready)");
        assert!(seen[0].plugin.enforces_cilium_policy() && !seen[0].plugin.enforces_admin_network_policy());
        assert!(seen[1].plugin.enforces_admin_network_policy());
    }
}

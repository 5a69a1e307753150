//! `kir doctor`: can kir respond in this cluster, as this identity, and with which tools?
//!
//! The catalogue of permissions below is the contract between the response commands and the
//! RBAC a responder needs: each entry names the commands that cannot work without it.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{
    Cluster, Result,
    permissions::{self, ADMISSION, Effect},
    probe::{AccessCheck, AccessDecision, ApiInventory, Identity, ServerInfo, WorkloadRef},
};

/// The access checks `kir doctor` asks: every distinct permission a command declares (see
/// [`permissions::COMMANDS`]) once, with `namespace` for namespaced ones.
pub fn required_checks(namespace: &str) -> Vec<AccessCheck> {
    permissions::distinct_needs().iter().map(|(need, _)| need.check(namespace)).collect()
}

/// One required permission and the server's decision on it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[serde(flatten)]
    pub decision: AccessDecision,
    /// The kir commands that make requests it allows.
    pub needed_by: Vec<String>,
}

/// Pair each decision with the commands that need it. `decisions` are in the order of
/// [`required_checks`].
pub fn permissions(decisions: Vec<AccessDecision>) -> Vec<Permission> {
    decisions
        .into_iter()
        .zip(permissions::distinct_needs())
        .map(|(decision, (_, commands))| Permission {
            decision,
            needed_by: commands.iter().map(|c| c.to_string()).collect(),
        })
        .collect()
}

/// Whether a command can run with the permissions at hand.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Availability {
    Available,
    /// It runs, without what `degraded` lists.
    Degraded,
    /// A permission it requires is missing.
    Unavailable,
}

/// What a denied permission costs a command that still runs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Degradation {
    pub permission: String,
    pub loses: String,
}

/// One command, judged by its declared permissions.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CommandReadiness {
    pub command: String,
    /// Whether kir has the command yet, or declares the permissions it will need.
    pub implemented: bool,
    pub availability: Availability,
    /// The required permissions that are denied.
    pub missing: Vec<String>,
    pub degraded: Vec<Degradation>,
}

/// Every declared command, judged by the decisions on its permissions in `namespace`. A need
/// on an API the server does not serve (`inventory`) is not asked of the command.
pub fn commands(
    permissions: &[Permission],
    namespace: &str,
    inventory: &ApiInventory,
) -> Vec<CommandReadiness> {
    permissions::COMMANDS
        .iter()
        .map(|command| {
            let denied: Vec<_> = command
                .all_needs()
                .into_iter()
                .filter(|need| !need.if_served || inventory.has_resource(need.group, None, need.resource))
                .filter(|need| {
                    let check = need.check(namespace);
                    !permissions.iter().any(|p| p.decision.check == check && p.decision.allowed)
                })
                .collect();
            let missing: Vec<String> =
                denied.iter().filter(|n| n.required()).map(|n| n.describe_in(namespace)).collect();
            let degraded: Vec<Degradation> = denied
                .iter()
                .filter_map(|n| match n.effect {
                    Effect::Degrades(lost) => {
                        Some(Degradation { permission: n.describe_in(namespace), loses: lost.to_string() })
                    }
                    Effect::Required => None,
                })
                .collect();
            let availability = match (missing.is_empty(), degraded.is_empty()) {
                (false, _) => Availability::Unavailable,
                (true, false) => Availability::Degraded,
                (true, true) => Availability::Available,
            };
            CommandReadiness {
                command: command.name.to_string(),
                implemented: command.implemented,
                availability,
                missing,
                degraded,
            }
        })
        .collect()
}

/// Something optional the cluster (or this machine) has or lacks.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Capability {
    pub name: String,
    pub present: bool,
    /// How this was decided, so a responder can judge the answer.
    pub detected_by: String,
}

fn capability(name: &str, present: bool, detected_by: String) -> Capability {
    Capability { name: name.to_string(), present, detected_by }
}

/// A served API resource that proves a component is installed.
struct ApiMarker {
    group: &'static str,
    resource: &'static str,
}

fn by_api(name: &str, inventory: &ApiInventory, markers: &[ApiMarker]) -> Capability {
    for marker in markers {
        let versions = inventory.versions_of(marker.group, marker.resource);
        if let Some(version) = versions.first() {
            return capability(
                name,
                true,
                format!("API serves {}/{} {}", marker.group, version, marker.resource),
            );
        }
    }
    let looked: Vec<String> = markers.iter().map(|m| format!("{}.{}", m.resource, m.group)).collect();
    capability(name, false, format!("API does not serve {}", looked.join(" or ")))
}

/// A runtime sensor is found by its DaemonSet (name or well-known labels) or by its CRDs.
struct SensorMarker {
    name: &'static str,
    names: &'static [&'static str],
    api: &'static [ApiMarker],
}

const SENSORS: &[SensorMarker] = &[
    SensorMarker { name: "falco", names: &["falco"], api: &[] },
    SensorMarker {
        name: "tracee",
        names: &["tracee"],
        api: &[ApiMarker { group: "tracee.aquasec.com", resource: "policies" }],
    },
    SensorMarker {
        name: "tetragon",
        names: &["tetragon"],
        api: &[ApiMarker { group: "cilium.io", resource: "tracingpolicies" }],
    },
    SensorMarker {
        name: "inspektorGadget",
        names: &["gadget", "inspektor-gadget"],
        api: &[ApiMarker { group: "gadget.kinvolk.io", resource: "traces" }],
    },
];

const NAME_LABELS: &[&str] = &["app.kubernetes.io/name", "app", "k8s-app"];

fn sensor_capability(
    sensor: &SensorMarker,
    inventory: &ApiInventory,
    daemonsets: &std::result::Result<Vec<WorkloadRef>, String>,
) -> Capability {
    if let Ok(daemonsets) = daemonsets {
        let matches = |value: &str| sensor.names.contains(&value);
        if let Some(found) = daemonsets.iter().find(|d| {
            matches(&d.name) || NAME_LABELS.iter().any(|l| d.labels.get(*l).is_some_and(|v| matches(v)))
        }) {
            return capability(sensor.name, true, format!("DaemonSet {}/{}", found.namespace, found.name));
        }
    }
    for marker in sensor.api {
        if let Some(version) = inventory.versions_of(marker.group, marker.resource).first() {
            return capability(
                sensor.name,
                true,
                format!("API serves {}/{} {}", marker.group, version, marker.resource),
            );
        }
    }
    match daemonsets {
        Ok(_) => capability(
            sensor.name,
            false,
            format!("no DaemonSet named or labelled {}", sensor.names.join(" or ")),
        ),
        Err(why) => capability(
            sensor.name,
            false,
            format!("not found by API discovery; DaemonSets not checked: {why}"),
        ),
    }
}

/// Decide every capability from what the cluster serves and runs, and what is on `path`.
pub fn capabilities(
    inventory: &ApiInventory,
    daemonsets: &std::result::Result<Vec<WorkloadRef>, String>,
    path: Option<&std::ffi::OsStr>,
) -> Vec<Capability> {
    let mut found = vec![
        by_api(
            "networkPolicy",
            inventory,
            &[ApiMarker { group: "networking.k8s.io", resource: "networkpolicies" }],
        ),
        by_api("cilium", inventory, &[ApiMarker { group: "cilium.io", resource: "ciliumnetworkpolicies" }]),
        by_api(
            "calico",
            inventory,
            &[
                ApiMarker { group: "crd.projectcalico.org", resource: "networkpolicies" },
                ApiMarker { group: "projectcalico.org", resource: "networkpolicies" },
            ],
        ),
        by_api(
            "adminNetworkPolicy",
            inventory,
            &[
                ApiMarker { group: "policy.networking.k8s.io", resource: "adminnetworkpolicies" },
                ApiMarker { group: "policy.networking.k8s.io", resource: "clusternetworkpolicies" },
            ],
        ),
        validating_admission_policy(inventory),
        by_api("kyverno", inventory, &[ApiMarker { group: "kyverno.io", resource: "clusterpolicies" }]),
        by_api(
            "gatekeeper",
            inventory,
            &[ApiMarker { group: "templates.gatekeeper.sh", resource: "constrainttemplates" }],
        ),
    ];
    found.extend(SENSORS.iter().map(|s| sensor_capability(s, inventory, daemonsets)));
    found.push(match find_on_path("trivy", path) {
        Some(trivy) => capability("trivy", true, format!("found {} on PATH", trivy.display())),
        None => capability("trivy", false, "not on PATH".to_string()),
    });
    found
}

/// ValidatingAdmissionPolicy counts only at `v1`: earlier versions need feature gates.
fn validating_admission_policy(inventory: &ApiInventory) -> Capability {
    let resource = "validatingadmissionpolicies";
    if inventory.has_resource(ADMISSION, Some("v1"), resource) {
        return capability(
            "validatingAdmissionPolicy",
            true,
            format!("API serves {ADMISSION}/v1 {resource}"),
        );
    }
    let versions = inventory.versions_of(ADMISSION, resource);
    let why = if versions.is_empty() {
        format!("API does not serve {resource}.{ADMISSION}")
    } else {
        format!("only {} served; kir needs {ADMISSION}/v1", versions.join(", "))
    };
    capability("validatingAdmissionPolicy", false, why)
}

fn find_on_path(program: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?).map(|dir| dir.join(program)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Everything `kir doctor` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    pub server: ServerInfo,
    pub identity: Identity,
    /// The namespace the namespaced permissions were checked in.
    pub namespace: String,
    pub permissions: Vec<Permission>,
    /// Each command: available, degraded (and what it loses) or unavailable (and why).
    pub commands: Vec<CommandReadiness>,
    /// The commands that are unavailable, in declaration order.
    pub disabled_commands: Vec<String>,
    pub capabilities: Vec<Capability>,
    /// Whether each node's kubelet can checkpoint a container (node-side forensics).
    pub checkpoints: Vec<crate::nodes::NodeCheckpoint>,
    /// Why the nodes could not be asked, when they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoints_unknown: Option<String>,
}

impl Cluster {
    /// Probe everything `kir doctor` reports. Version first: when the server cannot be reached,
    /// that is the one error to show.
    pub async fn readiness(&self) -> Result<Readiness> {
        let server = self.server_info().await?;
        let namespace = self.namespace().to_string();
        let checks = required_checks(&namespace);
        let (identity, decisions, inventory, daemonsets, checkpoints) = tokio::join!(
            self.whoami(),
            self.can_i(&checks),
            self.api_inventory(),
            self.daemonsets(),
            self.node_checkpoints()
        );
        let (checkpoints, checkpoints_unknown) = match checkpoints {
            Ok(nodes) => (nodes, None),
            Err(error) => (Vec::new(), Some(error.to_string())),
        };
        let permissions = permissions(decisions?);
        let daemonsets = daemonsets.map_err(|e| e.to_string());
        let path = std::env::var_os("PATH");
        let inventory = inventory?;
        let commands = commands(&permissions, &namespace, &inventory);
        let disabled_commands = commands
            .iter()
            .filter(|c| c.availability == Availability::Unavailable)
            .map(|c| c.command.clone())
            .collect();
        Ok(Readiness {
            server,
            identity: identity?,
            namespace,
            permissions,
            commands,
            disabled_commands,
            capabilities: capabilities(&inventory, &daemonsets, path.as_deref()),
            checkpoints,
            checkpoints_unknown,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn decision(check: AccessCheck, allowed: bool) -> AccessDecision {
        AccessDecision { check, allowed, reason: String::new() }
    }

    #[test]
    fn every_declared_permission_is_checked_once() {
        let checks = required_checks("ir");
        assert_eq!(checks.len(), permissions::distinct_needs().len());
        let exec: Vec<_> = checks.iter().filter(|c| c.subresource == "exec").collect();
        assert_eq!(exec.len(), 2, "get and create");
        assert_eq!(exec[0].namespace.as_deref(), Some("ir"));
        let list_pods = checks.iter().find(|c| c.verb == "list" && c.resource == "pods").unwrap();
        assert_eq!(list_pods.namespace, None);
        let get_pods = checks.iter().filter(|c| {
            c.verb == "get"
                && c.resource == "pods"
                && c.subresource.is_empty()
                && c.namespace.as_deref() == Some("ir")
        });
        assert_eq!(get_pods.count(), 1, "every pod command reads the pod: one check");
    }

    #[test]
    fn commands_are_available_degraded_or_unavailable() {
        let decisions: Vec<_> = required_checks("ir")
            .into_iter()
            .map(|c| {
                let denied = (c.resource == "pods" && c.verb == "delete")
                    || (c.resource == "daemonsets" && c.verb == "list");
                decision(c, !denied)
            })
            .collect();
        let cilium = ApiInventory::from_resources([("cilium.io", "v2", "ciliumnetworkpolicies")]);
        let judged = commands(&permissions(decisions.clone()), "ir", &ApiInventory::default());
        let get = |name: &str| judged.iter().find(|c| c.command == name).unwrap();
        assert_eq!(get("capture pod").availability, Availability::Available);
        let isolate = get("isolate pod");
        assert_eq!(isolate.availability, Availability::Degraded);
        assert_eq!(isolate.degraded[0].permission, "list daemonsets.apps (cluster-wide)");
        assert!(isolate.degraded[0].loses.contains("enforcement unknown"));
        let replace = get("replace pod");
        assert_eq!(replace.availability, Availability::Unavailable);
        assert_eq!(replace.missing, ["delete pods in ir"]);
        let respond = get("respond compromised-pod");
        assert_eq!(respond.availability, Availability::Unavailable);
        assert_eq!(respond.degraded.len(), 1);
        assert_eq!(get("image purge").availability, Availability::Unavailable);
        // Without DaemonSets, a search misses the templates of one kind: degraded, not refused.
        let find = get("image find");
        assert_eq!(find.availability, Availability::Degraded);
        assert_eq!(find.degraded[0].permission, "list daemonsets.apps (cluster-wide)");

        // Where Cilium is served, isolating needs its policies too.
        let denied_cilium: Vec<_> = decisions
            .into_iter()
            .map(|mut d| {
                d.allowed = d.check.group != "cilium.io";
                d
            })
            .collect();
        let without = commands(&permissions(denied_cilium.clone()), "ir", &ApiInventory::default());
        assert!(without.iter().all(|c| c.missing.is_empty()), "not served, not needed");
        let with = commands(&permissions(denied_cilium), "ir", &cilium);
        let isolate = with.iter().find(|c| c.command == "isolate pod").unwrap();
        assert_eq!(
            isolate.missing,
            ["create ciliumnetworkpolicies.cilium.io in ir", "get ciliumnetworkpolicies.cilium.io in ir"]
        );
    }

    #[test]
    fn capabilities_come_from_discovery_daemonsets_and_path() {
        let inventory = ApiInventory::from_resources([
            ("networking.k8s.io", "v1", "networkpolicies"),
            ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies"),
            ("cilium.io", "v2", "ciliumnetworkpolicies"),
            ("cilium.io", "v1alpha1", "tracingpolicies"),
        ]);
        let daemonsets = Ok(vec![WorkloadRef {
            namespace: "security".into(),
            name: "runtime-sensor".into(),
            labels: BTreeMap::from([("app.kubernetes.io/name".to_string(), "falco".to_string())]),
        }]);
        let bin = tempfile::tempdir().unwrap();
        let trivy = bin.path().join("trivy");
        std::fs::write(&trivy, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&trivy, std::fs::Permissions::from_mode(0o755)).unwrap();

        let found = capabilities(&inventory, &daemonsets, Some(bin.path().as_os_str()));
        let get = |name: &str| found.iter().find(|c| c.name == name).unwrap();
        assert!(get("networkPolicy").present);
        assert!(get("cilium").present);
        assert!(!get("calico").present);
        assert!(!get("adminNetworkPolicy").present);
        assert!(get("validatingAdmissionPolicy").present);
        assert!(!get("kyverno").present);
        assert_eq!(get("falco").detected_by, "DaemonSet security/runtime-sensor");
        assert!(get("tetragon").present, "found through its TracingPolicy CRD");
        assert!(!get("tracee").present);
        assert!(get("trivy").present);
        assert!(get("trivy").detected_by.contains(&trivy.display().to_string()));
    }

    #[test]
    fn beta_only_admission_policy_is_not_enough() {
        let inventory = ApiInventory::from_resources([(
            "admissionregistration.k8s.io",
            "v1beta1",
            "validatingadmissionpolicies",
        )]);
        let found = capabilities(&inventory, &Err("forbidden".into()), None);
        let vap = found.iter().find(|c| c.name == "validatingAdmissionPolicy").unwrap();
        assert!(!vap.present);
        assert!(vap.detected_by.contains("v1beta1"), "{}", vap.detected_by);
        let falco = found.iter().find(|c| c.name == "falco").unwrap();
        assert!(falco.detected_by.contains("forbidden"), "{}", falco.detected_by);
        assert!(!found.iter().find(|c| c.name == "trivy").unwrap().present);
    }
}

//! `kir doctor`: can kir respond in this cluster, as this identity, and with which tools?
//!
//! The catalogue of permissions below is the contract between the response commands and the
//! RBAC a responder needs: each entry names the commands that cannot work without it.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{
    Cluster, Result,
    probe::{AccessCheck, AccessDecision, ApiInventory, Identity, ServerInfo, WorkloadRef},
};

/// Where a permission is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Across all namespaces (or a cluster-scoped resource).
    Cluster,
    /// In the namespace the responder works in.
    Namespace,
}

struct Requirement {
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    scope: Scope,
    needed_by: &'static [&'static str],
}

const RBAC: &str = "rbac.authorization.k8s.io";
const ADMISSION: &str = "admissionregistration.k8s.io";

const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        verb: "list",
        group: "",
        resource: "pods",
        scope: Scope::Cluster,
        needed_by: &["image find", "image purge", "respond malicious-image", "prepare inventory"],
    },
    Requirement {
        verb: "get",
        group: "",
        resource: "pods/log",
        scope: Scope::Namespace,
        needed_by: &["capture pod", "respond compromised-pod"],
    },
    Requirement {
        verb: "create",
        group: "",
        resource: "pods/exec",
        scope: Scope::Namespace,
        needed_by: &["snapshot pod", "respond compromised-pod"],
    },
    Requirement {
        verb: "patch",
        group: "",
        resource: "pods",
        scope: Scope::Namespace,
        needed_by: &["isolate pod", "release pod", "respond compromised-pod", "undo"],
    },
    Requirement {
        verb: "delete",
        group: "",
        resource: "pods",
        scope: Scope::Namespace,
        needed_by: &["replace pod", "image purge", "creds revoke", "respond compromised-pod"],
    },
    Requirement {
        verb: "create",
        group: "networking.k8s.io",
        resource: "networkpolicies",
        scope: Scope::Namespace,
        needed_by: &["isolate pod", "respond compromised-pod"],
    },
    Requirement {
        verb: "delete",
        group: "networking.k8s.io",
        resource: "networkpolicies",
        scope: Scope::Namespace,
        needed_by: &["release pod", "undo"],
    },
    Requirement {
        verb: "list",
        group: "",
        resource: "secrets",
        scope: Scope::Cluster,
        needed_by: &["creds show", "respond stolen-credentials"],
    },
    Requirement {
        verb: "get",
        group: "",
        resource: "secrets",
        scope: Scope::Namespace,
        needed_by: &["creds rotate", "respond stolen-credentials"],
    },
    Requirement {
        verb: "create",
        group: "",
        resource: "secrets",
        scope: Scope::Namespace,
        needed_by: &["creds rotate", "undo"],
    },
    Requirement {
        verb: "delete",
        group: "",
        resource: "secrets",
        scope: Scope::Namespace,
        needed_by: &["creds rotate", "creds revoke", "respond stolen-credentials"],
    },
    Requirement {
        verb: "list",
        group: RBAC,
        resource: "rolebindings",
        scope: Scope::Cluster,
        needed_by: &["creds show", "respond stolen-credentials"],
    },
    Requirement {
        verb: "delete",
        group: RBAC,
        resource: "rolebindings",
        scope: Scope::Namespace,
        needed_by: &["creds revoke", "respond stolen-credentials"],
    },
    Requirement {
        verb: "list",
        group: RBAC,
        resource: "clusterrolebindings",
        scope: Scope::Cluster,
        needed_by: &["creds show", "respond stolen-credentials"],
    },
    Requirement {
        verb: "delete",
        group: RBAC,
        resource: "clusterrolebindings",
        scope: Scope::Cluster,
        needed_by: &["creds revoke", "respond stolen-credentials"],
    },
    Requirement {
        verb: "create",
        group: ADMISSION,
        resource: "validatingadmissionpolicies",
        scope: Scope::Cluster,
        needed_by: &["image block", "respond malicious-image"],
    },
    Requirement {
        verb: "create",
        group: ADMISSION,
        resource: "validatingadmissionpolicybindings",
        scope: Scope::Cluster,
        needed_by: &["image block", "respond malicious-image"],
    },
    Requirement {
        verb: "patch",
        group: "",
        resource: "nodes",
        scope: Scope::Cluster,
        needed_by: &["isolate pod --cordon", "release pod (uncordon)"],
    },
    Requirement {
        verb: "create",
        group: "",
        resource: "serviceaccounts/token",
        scope: Scope::Namespace,
        needed_by: &["creds rotate", "drill"],
    },
    Requirement {
        verb: "list",
        group: "",
        resource: "events",
        scope: Scope::Namespace,
        needed_by: &["capture pod", "respond compromised-pod"],
    },
];

/// The access checks `kir doctor` asks, with `namespace` for namespaced requirements.
pub fn required_checks(namespace: &str) -> Vec<AccessCheck> {
    REQUIREMENTS
        .iter()
        .map(|r| {
            let check = AccessCheck::new(r.verb, r.group, r.resource);
            match r.scope {
                Scope::Cluster => check,
                Scope::Namespace => check.in_namespace(namespace),
            }
        })
        .collect()
}

/// One required permission and the server's decision on it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    #[serde(flatten)]
    pub decision: AccessDecision,
    /// The kir commands that need it (and do not work while it is denied).
    pub needed_by: Vec<String>,
}

/// Pair each decision with the commands that need it. `decisions` are in the order of
/// [`required_checks`].
pub fn permissions(decisions: Vec<AccessDecision>) -> Vec<Permission> {
    decisions
        .into_iter()
        .zip(REQUIREMENTS)
        .map(|(decision, requirement)| Permission {
            decision,
            needed_by: requirement.needed_by.iter().map(|c| c.to_string()).collect(),
        })
        .collect()
}

/// Commands that cannot work because a permission they need is denied, in catalogue order.
pub fn disabled_commands(permissions: &[Permission]) -> Vec<String> {
    let mut disabled: Vec<String> = Vec::new();
    for permission in permissions.iter().filter(|p| !p.decision.allowed) {
        for command in &permission.needed_by {
            if !disabled.contains(command) {
                disabled.push(command.clone());
            }
        }
    }
    disabled
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
    pub disabled_commands: Vec<String>,
    pub capabilities: Vec<Capability>,
}

impl Cluster {
    /// Probe everything `kir doctor` reports. Version first: when the server cannot be reached,
    /// that is the one error to show.
    pub async fn readiness(&self) -> Result<Readiness> {
        let server = self.server_info().await?;
        let namespace = self.namespace().to_string();
        let checks = required_checks(&namespace);
        let (identity, decisions, inventory, daemonsets) =
            tokio::join!(self.whoami(), self.can_i(&checks), self.api_inventory(), self.daemonsets());
        let permissions = permissions(decisions?);
        let daemonsets = daemonsets.map_err(|e| e.to_string());
        let path = std::env::var_os("PATH");
        Ok(Readiness {
            server,
            identity: identity?,
            namespace,
            disabled_commands: disabled_commands(&permissions),
            permissions,
            capabilities: capabilities(&inventory?, &daemonsets, path.as_deref()),
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
    fn every_requirement_names_the_commands_it_enables() {
        for requirement in REQUIREMENTS {
            assert!(!requirement.needed_by.is_empty(), "{} {}", requirement.verb, requirement.resource);
        }
        let checks = required_checks("ir");
        assert_eq!(checks.len(), REQUIREMENTS.len());
        let exec = checks.iter().find(|c| c.subresource == "exec").unwrap();
        assert_eq!(exec.namespace.as_deref(), Some("ir"));
        let list_pods = checks.iter().find(|c| c.verb == "list" && c.resource == "pods").unwrap();
        assert_eq!(list_pods.namespace, None);
    }

    #[test]
    fn denied_permissions_disable_their_commands_once() {
        let checks = required_checks("ir");
        let decisions: Vec<_> = checks
            .into_iter()
            .map(|c| {
                let allowed = !(c.resource == "pods" && (c.verb == "patch" || c.verb == "delete"));
                decision(c, allowed)
            })
            .collect();
        let disabled = disabled_commands(&permissions(decisions));
        assert_eq!(
            disabled,
            [
                "isolate pod",
                "release pod",
                "respond compromised-pod",
                "undo",
                "replace pod",
                "image purge",
                "creds revoke"
            ]
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

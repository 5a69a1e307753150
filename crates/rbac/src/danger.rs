//! Dangerous reach: permissions that let their holder take more than they were given (other
//! identities, node access, the cluster's own controls) or read what protects everything else.
//!
//! A rule is tested with the requests it would have to allow, through the same matching the
//! authorizer uses, so wildcards, `*/subresource` and resource names count as they do there.

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde::Serialize;

use crate::request::{Access, allows_access, listed};

/// How bad a reach is. Ordered: `Critical` is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// One step down: for reach confined to one namespace, or to a few named objects.
    fn lower(self) -> Severity {
        match self {
            Severity::Critical => Severity::High,
            Severity::High => Severity::Medium,
            Severity::Medium | Severity::Low => Severity::Low,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DangerKind {
    /// Every verb on every resource of every group (cluster-admin, or admin of a namespace).
    Everything,
    ReadSecrets,
    /// Pods run as any service account of their namespace, and can mount its secrets.
    RunPods,
    ExecInPods,
    AttachToPods,
    EphemeralContainers,
    PortForward,
    /// Grant roles one does not hold.
    BindOrEscalate,
    Impersonate,
    ServiceAccountTokens,
    /// The kubelet API, which runs commands in any pod of the node.
    NodeProxy,
    ApproveCertificates,
    /// Admission sees, changes or rejects every write.
    AdmissionControl,
    /// A hostPath volume gives a pod the node's file system.
    PersistentVolumes,
}

/// One dangerous reach of a rule where it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Danger {
    pub kind: DangerKind,
    pub severity: Severity,
    pub label: &'static str,
    /// The rule reaches only the objects it names (resourceNames).
    pub named_only: bool,
}

/// Requests that together make up one reach.
struct Probe {
    verbs: &'static [&'static str],
    group: &'static str,
    resources: &'static [&'static str],
    subresource: &'static str,
    /// Cluster-scoped: a RoleBinding can never allow it.
    cluster_scoped: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reach {
    NamedOnly,
    All,
}

impl Probe {
    const fn namespaced(
        verbs: &'static [&'static str],
        group: &'static str,
        resources: &'static [&'static str],
        subresource: &'static str,
    ) -> Probe {
        Probe { verbs, group, resources, subresource, cluster_scoped: false }
    }

    const fn cluster(
        verbs: &'static [&'static str],
        group: &'static str,
        resources: &'static [&'static str],
        subresource: &'static str,
    ) -> Probe {
        Probe { verbs, group, resources, subresource, cluster_scoped: true }
    }

    /// The requests of the probe, named `name` (empty: unnamed).
    fn accesses<'p>(&'p self, name: &'p str) -> impl Iterator<Item = Access<'p>> + 'p {
        self.verbs.iter().flat_map(move |verb| {
            self.resources.iter().map(move |resource| Access {
                verb,
                group: self.group,
                resource,
                subresource: self.subresource,
                name,
            })
        })
    }

    fn reach(&self, rule: &PolicyRule) -> Option<Reach> {
        if self.accesses("").any(|access| allows_access(rule, &access)) {
            return Some(Reach::All);
        }
        // Limited to named objects, the rule still reaches those, except by creating a resource,
        // which is a request without a name.
        let name = listed(&rule.resource_names).first()?;
        self.accesses(name)
            .filter(|access| !(access.verb == "create" && access.subresource.is_empty()))
            .any(|access| allows_access(rule, &access))
            .then_some(Reach::NamedOnly)
    }
}

struct Threat {
    kind: DangerKind,
    label: &'static str,
    /// Cluster-wide (or in kube-system); one step less in another namespace.
    severity: Severity,
    probes: &'static [Probe],
}

const POD_CONTROLLERS_APPS: &[&str] = &["deployments", "daemonsets", "statefulsets", "replicasets"];
const POD_CONTROLLERS_BATCH: &[&str] = &["jobs", "cronjobs"];
const ADMISSION_RESOURCES: &[&str] = &[
    "mutatingwebhookconfigurations",
    "validatingwebhookconfigurations",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
    "mutatingadmissionpolicies",
    "mutatingadmissionpolicybindings",
];

const THREATS: &[Threat] = &[
    Threat {
        kind: DangerKind::ReadSecrets,
        label: "read secrets",
        severity: Severity::Critical,
        probes: &[Probe::namespaced(&["get", "list", "watch"], "", &["secrets"], "")],
    },
    Threat {
        kind: DangerKind::RunPods,
        label: "run pods as any service account",
        severity: Severity::Critical,
        probes: &[
            Probe::namespaced(&["create"], "", &["pods", "replicationcontrollers"], ""),
            // Changing a controller's pod template runs new pods just the same.
            Probe::namespaced(&["update", "patch"], "", &["replicationcontrollers"], ""),
            Probe::namespaced(&["create", "update", "patch"], "apps", POD_CONTROLLERS_APPS, ""),
            Probe::namespaced(&["create", "update", "patch"], "batch", POD_CONTROLLERS_BATCH, ""),
        ],
    },
    Threat {
        kind: DangerKind::ExecInPods,
        label: "exec into pods",
        severity: Severity::Critical,
        // Exec over WebSockets is authorized as get, over SPDY as create.
        probes: &[Probe::namespaced(&["create", "get"], "", &["pods"], "exec")],
    },
    Threat {
        kind: DangerKind::AttachToPods,
        label: "attach to pods",
        severity: Severity::Critical,
        probes: &[Probe::namespaced(&["create", "get"], "", &["pods"], "attach")],
    },
    Threat {
        kind: DangerKind::EphemeralContainers,
        label: "add ephemeral containers to pods",
        severity: Severity::Critical,
        probes: &[Probe::namespaced(&["update", "patch"], "", &["pods"], "ephemeralcontainers")],
    },
    Threat {
        kind: DangerKind::PortForward,
        label: "port-forward to pods",
        severity: Severity::High,
        probes: &[Probe::namespaced(&["create", "get"], "", &["pods"], "portforward")],
    },
    Threat {
        kind: DangerKind::BindOrEscalate,
        label: "bind or escalate roles",
        severity: Severity::Critical,
        probes: &[
            Probe::namespaced(&["bind", "escalate"], "rbac.authorization.k8s.io", &["roles"], ""),
            // Binding a ClusterRole is checked in the RoleBinding's namespace; changing one is not.
            Probe::namespaced(&["bind"], "rbac.authorization.k8s.io", &["clusterroles"], ""),
            Probe::cluster(&["escalate"], "rbac.authorization.k8s.io", &["clusterroles"], ""),
        ],
    },
    Threat {
        kind: DangerKind::Impersonate,
        label: "impersonate users, groups or service accounts",
        severity: Severity::Critical,
        // User extras only decorate an impersonated user, so they are not a reach of their own.
        probes: &[
            Probe::cluster(&["impersonate"], "", &["users", "groups"], ""),
            Probe::cluster(&["impersonate"], "authentication.k8s.io", &["uids"], ""),
            Probe::namespaced(&["impersonate"], "", &["serviceaccounts"], ""),
        ],
    },
    Threat {
        kind: DangerKind::ServiceAccountTokens,
        label: "create service account tokens",
        severity: Severity::Critical,
        probes: &[Probe::namespaced(&["create"], "", &["serviceaccounts"], "token")],
    },
    Threat {
        kind: DangerKind::NodeProxy,
        label: "use the kubelet API (nodes/proxy)",
        severity: Severity::Critical,
        probes: &[Probe::cluster(&["get", "create"], "", &["nodes"], "proxy")],
    },
    Threat {
        kind: DangerKind::ApproveCertificates,
        label: "approve certificate signing requests",
        severity: Severity::High,
        // Approval takes both; either half in a rule is reported, since the other may come from elsewhere.
        probes: &[
            Probe::cluster(
                &["update", "patch"],
                "certificates.k8s.io",
                &["certificatesigningrequests"],
                "approval",
            ),
            Probe::cluster(&["approve"], "certificates.k8s.io", &["signers"], ""),
        ],
    },
    Threat {
        kind: DangerKind::AdmissionControl,
        label: "change admission webhooks or policies",
        severity: Severity::Critical,
        probes: &[Probe::cluster(
            &["create", "update", "patch", "delete"],
            "admissionregistration.k8s.io",
            ADMISSION_RESOURCES,
            "",
        )],
    },
    Threat {
        kind: DangerKind::PersistentVolumes,
        label: "create persistent volumes",
        severity: Severity::High,
        probes: &[Probe::cluster(&["create"], "", &["persistentvolumes"], "")],
    },
];

const CONTROL_PLANE_NAMESPACE: &str = "kube-system";

/// Where a rule applies, as far as its danger depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DangerScope {
    ClusterWide,
    /// kube-system, whose service accounts and secrets run the control plane.
    ControlPlaneNamespace,
    OtherNamespace,
}

impl DangerScope {
    pub(crate) fn of(scope: Option<&str>) -> DangerScope {
        match scope {
            None => DangerScope::ClusterWide,
            Some(CONTROL_PLANE_NAMESPACE) => DangerScope::ControlPlaneNamespace,
            Some(_) => DangerScope::OtherNamespace,
        }
    }
}

/// The dangerous reach of `rule` where it applies: `scope` is the namespace of a RoleBinding,
/// None for a ClusterRoleBinding. Cluster-scoped reach counts only cluster-wide; reach in
/// kube-system, whose service accounts and secrets run the control plane, is as severe as
/// cluster-wide. Full wildcard rules are reported as [`DangerKind::Everything`] alone, as it
/// holds all others. Most severe first.
pub fn danger(rule: &PolicyRule, scope: Option<&str>) -> Vec<Danger> {
    dangers_in(rule, DangerScope::of(scope))
}

pub(crate) fn dangers_in(rule: &PolicyRule, scope: DangerScope) -> Vec<Danger> {
    let cluster_wide = scope == DangerScope::ClusterWide;
    let severity_here =
        |severity: Severity| if scope == DangerScope::OtherNamespace { severity.lower() } else { severity };
    if is_everything(rule) {
        return vec![Danger {
            kind: DangerKind::Everything,
            severity: severity_here(Severity::Critical),
            label: "every verb on every resource",
            named_only: false,
        }];
    }
    let mut dangers: Vec<Danger> = THREATS
        .iter()
        .filter_map(|threat| {
            let reach = threat
                .probes
                .iter()
                .filter(|probe| cluster_wide || !probe.cluster_scoped)
                .filter_map(|probe| probe.reach(rule))
                .max()?;
            let severity = severity_here(threat.severity);
            let named_only = reach == Reach::NamedOnly;
            Some(Danger {
                kind: threat.kind,
                severity: if named_only { severity.lower() } else { severity },
                label: threat.label,
                named_only,
            })
        })
        .collect();
    dangers.sort_by_key(|danger| std::cmp::Reverse(danger.severity));
    dangers
}

fn is_everything(rule: &PolicyRule) -> bool {
    let has_star = |list: &[String]| list.iter().any(|item| item == "*");
    has_star(&rule.verbs)
        && has_star(listed(&rule.api_groups))
        && has_star(listed(&rule.resources))
        && listed(&rule.resource_names).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::tests::{rule, with_names};

    fn kinds(rule: &PolicyRule, scope: Option<&str>) -> Vec<(DangerKind, Severity)> {
        danger(rule, scope).into_iter().map(|danger| (danger.kind, danger.severity)).collect()
    }

    #[test]
    fn wildcards_are_everything_and_nothing_else() {
        let cluster_admin = rule(&["*"], &["*"], &["*"]);
        assert_eq!(kinds(&cluster_admin, None), [(DangerKind::Everything, Severity::Critical)]);
        assert_eq!(kinds(&cluster_admin, Some("team")), [(DangerKind::Everything, Severity::High)]);
        assert_eq!(
            kinds(&cluster_admin, Some("kube-system")),
            [(DangerKind::Everything, Severity::Critical)]
        );
        // Every verb on every core resource is not everything, but holds most dangers.
        let core_admin = kinds(&rule(&["*"], &[""], &["*"]), None);
        assert!(!core_admin.iter().any(|(kind, _)| *kind == DangerKind::Everything));
        for kind in
            [DangerKind::ReadSecrets, DangerKind::RunPods, DangerKind::ExecInPods, DangerKind::NodeProxy]
        {
            assert!(core_admin.iter().any(|(found, _)| *found == kind), "{kind:?}");
        }
    }

    #[test]
    fn each_reach_is_recognised() {
        let cases = [
            (rule(&["list"], &[""], &["secrets"]), DangerKind::ReadSecrets),
            (rule(&["create"], &[""], &["pods"]), DangerKind::RunPods),
            (rule(&["patch"], &["apps"], &["daemonsets"]), DangerKind::RunPods),
            (rule(&["create"], &["batch"], &["cronjobs"]), DangerKind::RunPods),
            (rule(&["create"], &[""], &["pods/exec"]), DangerKind::ExecInPods),
            (rule(&["get"], &[""], &["*/exec"]), DangerKind::ExecInPods),
            (rule(&["create"], &[""], &["pods/attach"]), DangerKind::AttachToPods),
            (rule(&["patch"], &[""], &["pods/ephemeralcontainers"]), DangerKind::EphemeralContainers),
            (rule(&["create"], &[""], &["pods/portforward"]), DangerKind::PortForward),
            (rule(&["bind"], &["rbac.authorization.k8s.io"], &["clusterroles"]), DangerKind::BindOrEscalate),
            (rule(&["escalate"], &["*"], &["roles"]), DangerKind::BindOrEscalate),
            (rule(&["impersonate"], &[""], &["users"]), DangerKind::Impersonate),
            (rule(&["impersonate"], &[""], &["serviceaccounts"]), DangerKind::Impersonate),
            (rule(&["create"], &[""], &["serviceaccounts/token"]), DangerKind::ServiceAccountTokens),
            (rule(&["get"], &[""], &["nodes/proxy"]), DangerKind::NodeProxy),
            (
                rule(&["update"], &["certificates.k8s.io"], &["certificatesigningrequests/approval"]),
                DangerKind::ApproveCertificates,
            ),
            (rule(&["approve"], &["certificates.k8s.io"], &["signers"]), DangerKind::ApproveCertificates),
            (
                rule(&["delete"], &["admissionregistration.k8s.io"], &["validatingwebhookconfigurations"]),
                DangerKind::AdmissionControl,
            ),
            (rule(&["*"], &["admissionregistration.k8s.io"], &["*"]), DangerKind::AdmissionControl),
            (rule(&["create"], &[""], &["persistentvolumes"]), DangerKind::PersistentVolumes),
        ];
        for (rule, expected) in cases {
            let found = kinds(&rule, None);
            assert_eq!(found.len(), 1, "{rule:?}: {found:?}");
            assert_eq!(found[0].0, expected, "{rule:?}");
        }
    }

    #[test]
    fn harmless_rules_have_no_danger() {
        for harmless in [
            rule(&["get", "list", "watch"], &[""], &["pods", "configmaps", "services"]),
            rule(&["create"], &[""], &["pods/log"]),
            rule(&["get"], &[""], &["pods/log"]),
            rule(&["create"], &["rbac.authorization.k8s.io"], &["rolebindings"]),
            rule(&["get"], &[""], &["nodes"]),
            rule(&["impersonate"], &["apps"], &["users"]),
            rule(&["list"], &[""], &["secrets/status"]),
        ] {
            assert_eq!(kinds(&harmless, None), [], "{harmless:?}");
        }
    }

    #[test]
    fn a_namespace_lowers_severity_and_drops_cluster_scoped_reach() {
        let secrets = rule(&["get"], &[""], &["secrets"]);
        assert_eq!(kinds(&secrets, None), [(DangerKind::ReadSecrets, Severity::Critical)]);
        assert_eq!(kinds(&secrets, Some("team")), [(DangerKind::ReadSecrets, Severity::High)]);
        assert_eq!(kinds(&secrets, Some("kube-system")), [(DangerKind::ReadSecrets, Severity::Critical)]);

        // A RoleBinding cannot reach cluster-scoped resources.
        assert_eq!(kinds(&rule(&["get"], &[""], &["nodes/proxy"]), Some("team")), []);
        assert_eq!(kinds(&rule(&["impersonate"], &[""], &["users"]), Some("team")), []);
        assert_eq!(kinds(&rule(&["create"], &[""], &["persistentvolumes"]), Some("kube-system")), []);
        assert_eq!(
            kinds(&rule(&["escalate"], &["rbac.authorization.k8s.io"], &["clusterroles"]), Some("team")),
            []
        );
        // But binding a ClusterRole and impersonating a service account are namespaced.
        assert_eq!(
            kinds(&rule(&["bind"], &["rbac.authorization.k8s.io"], &["clusterroles"]), Some("team")),
            [(DangerKind::BindOrEscalate, Severity::High)]
        );
        assert_eq!(
            kinds(&rule(&["impersonate"], &[""], &["serviceaccounts"]), Some("team")),
            [(DangerKind::Impersonate, Severity::High)]
        );
    }

    #[test]
    fn named_objects_lower_severity_and_creation_ignores_names() {
        let one_secret = with_names(rule(&["get"], &[""], &["secrets"]), &["tls"]);
        let found = danger(&one_secret, None);
        assert_eq!(found.len(), 1);
        assert!(found[0].named_only);
        assert_eq!((found[0].kind, found[0].severity), (DangerKind::ReadSecrets, Severity::High));

        // Exec into named pods is a request with a name, so it still reaches them.
        let one_pod = with_names(rule(&["create"], &[""], &["pods/exec"]), &["debug"]);
        assert_eq!(kinds(&one_pod, Some("team")), [(DangerKind::ExecInPods, Severity::Medium)]);

        // Creating pods has no name: a rule with names never allows it.
        assert_eq!(kinds(&with_names(rule(&["create"], &[""], &["pods"]), &["x"]), None), []);

        // Names make a wildcard rule less than everything.
        let named_wildcard = danger(&with_names(rule(&["*"], &["*"], &["*"]), &["x"]), None);
        assert!(!named_wildcard.is_empty());
        assert!(
            named_wildcard.iter().all(|danger| danger.named_only && danger.kind != DangerKind::Everything)
        );
    }

    #[test]
    fn most_severe_first() {
        let mixed = rule(&["get", "create"], &[""], &["pods/portforward", "secrets"]);
        assert_eq!(
            kinds(&mixed, None),
            [(DangerKind::ReadSecrets, Severity::Critical), (DangerKind::PortForward, Severity::High)]
        );
    }
}

//! What each kir command asks of the API server, declared once: `kir doctor` checks these
//! lists and generates least-privilege RBAC from them, and the integration tests run each pod
//! command bound to exactly its list (and to the list less each required entry).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};

use crate::probe::AccessCheck;

/// Where a permission is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// In the namespace the responder works in (a Role).
    Namespace,
    /// Across all namespaces, or a cluster-scoped resource (a ClusterRole).
    Cluster,
}

/// What happens without a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The command fails, or its evidence is incomplete.
    Required,
    /// The command works, without what this says.
    Degrades(&'static str),
}

/// One request a command makes, as RBAC grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub verb: &'static str,
    /// API group; empty for the core group.
    pub group: &'static str,
    /// `resource` or `resource/subresource`.
    pub resource: &'static str,
    pub scope: Scope,
    /// The one object name the request is about (RBAC `resourceNames`); `{namespace}` stands
    /// for the namespace. `None`: any name.
    pub name: Option<&'static str>,
    /// Which request needs it.
    pub why: &'static str,
    /// When the request is made only in some situations, which.
    pub when: Option<&'static str>,
    /// Needed only where the API server serves the resource (a CRD, an alpha API).
    pub if_served: bool,
    pub effect: Effect,
}

const fn need(
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    scope: Scope,
    why: &'static str,
) -> Need {
    Need {
        verb,
        group,
        resource,
        scope,
        name: None,
        why,
        when: None,
        if_served: false,
        effect: Effect::Required,
    }
}

/// Required, in the namespace.
const fn ns(verb: &'static str, group: &'static str, resource: &'static str, why: &'static str) -> Need {
    need(verb, group, resource, Scope::Namespace, why)
}

/// Required, cluster-wide.
const fn cluster(verb: &'static str, group: &'static str, resource: &'static str, why: &'static str) -> Need {
    need(verb, group, resource, Scope::Cluster, why)
}

impl Need {
    const fn degrades(mut self, lost: &'static str) -> Need {
        self.effect = Effect::Degrades(lost);
        self
    }

    const fn only_when(mut self, when: &'static str) -> Need {
        self.when = Some(when);
        self
    }

    const fn if_served(mut self) -> Need {
        self.if_served = true;
        self
    }

    const fn named(mut self, name: &'static str) -> Need {
        self.name = Some(name);
        self
    }

    pub fn required(&self) -> bool {
        self.effect == Effect::Required
    }

    /// What RBAC grants: the same need for two commands is one permission.
    pub fn key(&self) -> (&'static str, &'static str, &'static str, Scope, Option<&'static str>) {
        (self.verb, self.group, self.resource, self.scope, self.name)
    }

    /// The object name, `{namespace}` replaced.
    pub fn name_in(&self, namespace: &str) -> Option<String> {
        self.name.map(|n| n.replace("{namespace}", namespace))
    }

    /// `verb resource[/subresource][.group] [name]`, the way `kubectl auth can-i` spells it,
    /// and `(cluster-wide)` for cluster needs.
    pub fn describe(&self) -> String {
        self.spelled(self.name.map(str::to_string), None)
    }

    /// [`Need::describe`] for `namespace`, the way kir's denials name a missing permission:
    /// `create pods/exec in shop`, `get nodes (cluster-wide)`.
    pub fn describe_in(&self, namespace: &str) -> String {
        self.spelled(self.name_in(namespace), Some(namespace))
    }

    fn spelled(&self, name: Option<String>, namespace: Option<&str>) -> String {
        let mut text = format!("{} {}", self.verb, self.resource);
        if !self.group.is_empty() {
            text = format!("{text}.{}", self.group);
        }
        if let Some(name) = name {
            text = format!("{text} {name}");
        }
        match (self.scope, namespace) {
            (Scope::Cluster, _) => format!("{text} (cluster-wide)"),
            (Scope::Namespace, Some(namespace)) => format!("{text} in {namespace}"),
            (Scope::Namespace, None) => text,
        }
    }

    /// The SelfSubjectAccessReview question for this need in `namespace`.
    pub fn check(&self, namespace: &str) -> AccessCheck {
        let mut check = AccessCheck::new(self.verb, self.group, self.resource);
        check.name = self.name_in(namespace);
        match self.scope {
            Scope::Namespace => check.in_namespace(namespace),
            Scope::Cluster => check,
        }
    }
}

/// A command and what it asks of the API server.
#[derive(Debug)]
pub struct Command {
    pub name: &'static str,
    /// Whether kir has the command yet (the others are declared for the RBAC they will need).
    pub implemented: bool,
    pub needs: &'static [Need],
    /// Commands this one runs as steps: it needs all they need.
    pub steps: &'static [&'static str],
}

const APPS: &str = "apps";
const BATCH: &str = "batch";
const NETWORKING: &str = "networking.k8s.io";
const DISCOVERY: &str = "discovery.k8s.io";
const CILIUM: &str = "cilium.io";
const ANP: &str = "policy.networking.k8s.io";
const RBAC: &str = "rbac.authorization.k8s.io";
pub(crate) const ADMISSION: &str = "admissionregistration.k8s.io";

const READ_POD: Need = ns("get", "", "pods", "read the pod (GET pods/NAME)");

const WHEN_OWNED: &str = "the pod's owner chain has one";
const CONTROLLER_LOST: &str =
    "the controller's selector: the plan cannot tell whether changing the pod's labels orphans it";

const CAPTURE: &[Need] = &[
    READ_POD,
    ns("get", "", "pods/log", "container logs (GET pods/NAME/log)"),
    ns("list", "", "events", "events about the pod and its owners"),
    ns("get", APPS, "replicasets", "the owner chain").only_when(WHEN_OWNED),
    ns("get", APPS, "deployments", "the owner chain").only_when(WHEN_OWNED),
    ns("get", APPS, "statefulsets", "the owner chain").only_when(WHEN_OWNED),
    ns("get", APPS, "daemonsets", "the owner chain").only_when(WHEN_OWNED),
    ns("get", BATCH, "jobs", "the owner chain").only_when(WHEN_OWNED),
    ns("get", BATCH, "cronjobs", "the owner chain").only_when(WHEN_OWNED),
    ns("get", "", "replicationcontrollers", "the owner chain").only_when(WHEN_OWNED),
    cluster("get", "", "nodes", "the node the pod runs on"),
    ns("get", "", "serviceaccounts", "the pod's service account"),
    ns("impersonate", "", "serviceaccounts", "review the pod's service account's rules as that account"),
    cluster("impersonate", "", "groups", "the rules review, as the account's group")
        .named("system:serviceaccounts"),
    cluster("impersonate", "", "groups", "the rules review, as the account's group")
        .named("system:serviceaccounts:{namespace}"),
    cluster("impersonate", "", "groups", "the rules review, as the account's group")
        .named("system:authenticated"),
    ns("list", "", "services", "the Services selecting the pod"),
    ns("list", NETWORKING, "networkpolicies", "the NetworkPolicies selecting the pod"),
    ns("get", "", "secrets", "metadata (never data) of the Secrets the pod references")
        .only_when("the pod references a Secret"),
    ns("get", "", "configmaps", "metadata of the ConfigMaps the pod references")
        .only_when("the pod references a ConfigMap; every pod mounts kube-root-ca.crt"),
];

const SNAPSHOT: &[Need] = &[
    READ_POD,
    ns("get", "", "pods/exec", "the exec session: its WebSocket upgrade is authorized as get"),
    ns("create", "", "pods/exec", "the exec session: and as create"),
    ns("create", "", "pods", "the helper pod on the suspect's node").only_when(WHEN_FROM_NODE),
    ns("delete", "", "pods", "the helper pod, once it collected").only_when(WHEN_FROM_NODE),
    cluster("create", "", "nodes/proxy", "the kubelet's checkpoint of the container")
        .only_when(WHEN_CHECKPOINT)
        .degrades("no checkpoint; the rest is collected"),
];

const WHEN_FROM_NODE: &str = "collected from the node (--from node, or auto without exec)";
const WHEN_CHECKPOINT: &str = "--checkpoint";

const ISOLATE: &[Need] = &[
    READ_POD,
    ns("list", "", "services", "the Services routing to the pod"),
    ns("list", NETWORKING, "networkpolicies", "the policies that already allow the pod's traffic"),
    cluster("get", "", "nodes", "the pod's node (shared by a hostNetwork pod)")
        .degrades("the node's state in the plan"),
    cluster("list", APPS, "daemonsets", "which network plugin enforces NetworkPolicies")
        .degrades("enforcement unknown: containment is never claimed"),
    ns("get", APPS, "replicasets", "the pod's controller").only_when(WHEN_OWNED).degrades(CONTROLLER_LOST),
    ns("get", APPS, "statefulsets", "the pod's controller").only_when(WHEN_OWNED).degrades(CONTROLLER_LOST),
    ns("get", APPS, "daemonsets", "the pod's controller").only_when(WHEN_OWNED).degrades(CONTROLLER_LOST),
    ns("get", BATCH, "jobs", "the pod's controller").only_when(WHEN_OWNED).degrades(CONTROLLER_LOST),
    ns("get", "", "replicationcontrollers", "the pod's controller")
        .only_when(WHEN_OWNED)
        .degrades(CONTROLLER_LOST),
    ns("create", NETWORKING, "networkpolicies", "the deny-all quarantine policy"),
    ns("get", NETWORKING, "networkpolicies", "read the quarantine policy back"),
    ns("create", CILIUM, "ciliumnetworkpolicies", "the quarantine policy Cilium enforces first").if_served(),
    ns("get", CILIUM, "ciliumnetworkpolicies", "whether it exists; read it back").if_served(),
    cluster("create", ANP, "adminnetworkpolicies", "the quarantine policy no namespace policy overrides")
        .if_served(),
    cluster("get", ANP, "adminnetworkpolicies", "whether it exists; read it back").if_served(),
    ns("patch", "", "pods", "the quarantine label (and orphaning)"),
    ns("list", DISCOVERY, "endpointslices", "read back which Services still route to the pod")
        .only_when("the pod leaves a Service"),
    ns("watch", "", "pods", "wait for the controller's replacement")
        .only_when("the pod is orphaned")
        .degrades("the replacement is not awaited: kir cannot say that it runs"),
];

const CORDON: &[Need] =
    &[cluster("get", "", "nodes", "read the node back"), cluster("patch", "", "nodes", "cordon the node")];

const RELEASE: &[Need] = &[
    ns("get", "", "pods", "check the pod is the one the case changed"),
    ns("get", NETWORKING, "networkpolicies", "check the quarantine policy is still kir's"),
    ns("delete", NETWORKING, "networkpolicies", "remove the quarantine policy"),
    ns("get", CILIUM, "ciliumnetworkpolicies", "check the Cilium quarantine policy is still kir's")
        .if_served(),
    ns("delete", CILIUM, "ciliumnetworkpolicies", "remove it").if_served(),
    cluster("get", ANP, "adminnetworkpolicies", "check the AdminNetworkPolicy is still kir's").if_served(),
    cluster("delete", ANP, "adminnetworkpolicies", "remove it").if_served(),
    ns("patch", "", "pods", "remove the quarantine label, restore the labels"),
    ns("delete", "", "pods", "delete the helper pod a killed collection from the node left")
        .only_when("a run was killed while its helper ran"),
];

const UNCORDON: &[Need] = &[
    cluster("get", "", "nodes", "check the node is the one the case cordoned"),
    cluster("patch", "", "nodes", "uncordon the node"),
];

const REPLACE: &[Need] = &[
    READ_POD,
    ns("get", APPS, "replicasets", "the pod's controller").only_when(WHEN_OWNED).degrades(CONTROLLER_LOST),
    ns("get", APPS, "statefulsets", "the pod's controller").only_when(WHEN_OWNED).degrades(CONTROLLER_LOST),
    ns("delete", "", "pods", "delete the pod (bound to its UID)"),
];

const AUTHENTICATION: &str = "authentication.k8s.io";
const AUTHORIZATION: &str = "authorization.k8s.io";

const CREDS_SHOW: &[Need] = &[
    cluster("create", AUTHENTICATION, "tokenreviews", "whether the API server accepts the token now")
        .only_when("a token is given"),
    cluster("get", "", "serviceaccounts", "the credential's service account: its UID and cloud identities")
        .only_when("a service-account credential"),
    cluster("get", "", "pods", "the pod a token is bound to").only_when("a token bound to a pod"),
    cluster("get", "", "secrets", "the token Secret given, or the Secret a token is bound to")
        .only_when("a token Secret"),
    cluster("list", "", "secrets", "the legacy token Secrets of a service account (names only)")
        .only_when("a service account is named"),
];

const READ_RBAC: &[Need] = &[
    cluster("list", RBAC, "roles", "every Role, read once"),
    cluster("list", RBAC, "clusterroles", "every ClusterRole (aggregation included)"),
    cluster("list", RBAC, "rolebindings", "every RoleBinding"),
    cluster("list", RBAC, "clusterrolebindings", "every ClusterRoleBinding"),
];

const WHEN_SHARED: &str = "a binding names other subjects too";
const WHEN_ONLY: &str = "a binding names only the subject";
/// Writing a binding is authorized as `bind` on its role unless the writer holds every
/// permission of the role.
const BIND_CHECK: &str = "writing a binding: the API server requires bind on its role";

const REVOKE: &[Need] = &[
    cluster("patch", RBAC, "rolebindings", "take the subject out of a RoleBinding").only_when(WHEN_SHARED),
    cluster("delete", RBAC, "rolebindings", "delete a RoleBinding").only_when(WHEN_ONLY),
    cluster("patch", RBAC, "clusterrolebindings", "take the subject out of a ClusterRoleBinding")
        .only_when(WHEN_SHARED),
    cluster("delete", RBAC, "clusterrolebindings", "delete a ClusterRoleBinding").only_when(WHEN_ONLY),
    cluster("bind", RBAC, "roles", BIND_CHECK).only_when(WHEN_SHARED),
    cluster("bind", RBAC, "clusterroles", BIND_CHECK).only_when(WHEN_SHARED),
    cluster(
        "create",
        AUTHORIZATION,
        "subjectaccessreviews",
        "prove that what the subject could do is denied",
    ),
];

const WHEN_READ: &str = "a workload of that kind reads the Secret";

const ROTATE: &[Need] = &[
    cluster("get", "", "secrets", "the Secret (its keys and type)"),
    cluster("patch", "", "secrets", "write the new values"),
    cluster("list", APPS, "deployments", "the workloads that read the Secret"),
    cluster("list", APPS, "statefulsets", "the workloads that read the Secret"),
    cluster("list", APPS, "daemonsets", "the workloads that read the Secret"),
    cluster("list", "", "pods", "pods without a controller that read it; waiting for the restarts"),
    cluster("patch", APPS, "deployments", "restart it (kubectl rollout restart)").only_when(WHEN_READ),
    cluster("patch", APPS, "statefulsets", "restart it (kubectl rollout restart)").only_when(WHEN_READ),
    cluster("patch", APPS, "daemonsets", "restart it (kubectl rollout restart)").only_when(WHEN_READ),
];

const WHEN_RECREATED: &str = "a token bound to no object, or a service account named";

const STOLEN: &[Need] = &[
    cluster("delete", "", "secrets", "kill a legacy token, or a token bound to a Secret")
        .only_when("a legacy or Secret-bound token"),
    cluster("get", "", "serviceaccounts", "the account to recreate, as it is").only_when(WHEN_RECREATED),
    cluster("delete", "", "serviceaccounts", "kill every token of the account (bound to its UID)")
        .only_when(WHEN_RECREATED),
    cluster("create", "", "serviceaccounts", "the account again, with a new UID").only_when(WHEN_RECREATED),
    cluster("list", APPS, "deployments", "the workloads that run as the account").only_when(WHEN_RECREATED),
    cluster("list", APPS, "statefulsets", "the workloads that run as the account").only_when(WHEN_RECREATED),
    cluster("list", APPS, "daemonsets", "the workloads that run as the account").only_when(WHEN_RECREATED),
    cluster("list", "", "pods", "pods that run as the account; waiting for the restarts")
        .only_when(WHEN_RECREATED),
    cluster("patch", APPS, "deployments", "restart it for a fresh token").only_when(WHEN_RECREATED),
    cluster("patch", APPS, "statefulsets", "restart it for a fresh token").only_when(WHEN_RECREATED),
    cluster("patch", APPS, "daemonsets", "restart it for a fresh token").only_when(WHEN_RECREATED),
    cluster("create", "", "serviceaccounts/token", "show that a token issued now for the account works")
        .only_when(WHEN_RECREATED),
];

const WHEN_REVOKED: &str = "the case revoked bindings";

const UNDO_REVOKE: &[Need] = &[
    cluster("get", RBAC, "rolebindings", "check the binding is the one kir changed").only_when(WHEN_REVOKED),
    cluster("get", RBAC, "clusterrolebindings", "check the binding is the one kir changed")
        .only_when(WHEN_REVOKED),
    cluster("patch", RBAC, "rolebindings", "give the subjects back").only_when(WHEN_REVOKED),
    cluster("patch", RBAC, "clusterrolebindings", "give the subjects back").only_when(WHEN_REVOKED),
    cluster("create", RBAC, "rolebindings", "re-create a deleted binding").only_when(WHEN_REVOKED),
    cluster("create", RBAC, "clusterrolebindings", "re-create a deleted binding").only_when(WHEN_REVOKED),
    cluster("bind", RBAC, "roles", BIND_CHECK).only_when(WHEN_REVOKED),
    cluster("bind", RBAC, "clusterroles", BIND_CHECK).only_when(WHEN_REVOKED),
];

const TEMPLATES_UNSEARCHED: &str =
    "controllers of that kind that would start the image again are not searched";

const WHEN_TAG: &str = "-n is given and the image is a tag";
const NO_PULL_SECRETS: &str =
    "a private registry's tag is resolved only with --registry-config or docker's own file";

/// What resolving a tag with the namespace's pull Secrets reads (find, block).
const PULL_SECRET_NAMES: Need = ns(
    "list",
    "",
    "serviceaccounts",
    "the image pull Secrets they name, to ask the registry what the tag points to",
)
.only_when(WHEN_TAG)
.degrades(NO_PULL_SECRETS);
const PULL_SECRETS: Need =
    ns("get", "", "secrets", "the image pull Secrets' credentials (never stored or printed)")
        .only_when(WHEN_TAG)
        .degrades(NO_PULL_SECRETS);

const IMAGE_FIND: &[Need] = &[
    PULL_SECRET_NAMES,
    PULL_SECRETS,
    cluster("list", "", "pods", "pods using the image: every container kind, the digest running, node"),
    cluster("list", APPS, "deployments", "Deployments whose template uses the image")
        .degrades(TEMPLATES_UNSEARCHED),
    cluster("list", APPS, "replicasets", "ReplicaSets whose template uses the image, and pods' owner chains")
        .degrades(TEMPLATES_UNSEARCHED),
    cluster("list", APPS, "statefulsets", "StatefulSets whose template uses the image")
        .degrades(TEMPLATES_UNSEARCHED),
    cluster("list", APPS, "daemonsets", "DaemonSets whose template uses the image")
        .degrades(TEMPLATES_UNSEARCHED),
    cluster("list", BATCH, "jobs", "Jobs whose template uses the image").degrades(TEMPLATES_UNSEARCHED),
    cluster("list", BATCH, "cronjobs", "CronJobs whose job template uses the image")
        .degrades(TEMPLATES_UNSEARCHED),
    cluster("list", "", "replicationcontrollers", "ReplicationControllers whose template uses the image")
        .degrades(TEMPLATES_UNSEARCHED),
];

const DRY_RUN: &str = "a server-side dry-run proving the block (nothing is created)";

/// `image block`'s engine (`--engine`, or what `auto` found).
pub const WHEN_VAP: &str = "the engine is ValidatingAdmissionPolicy (the default)";
pub const WHEN_KYVERNO: &str = "the engine is Kyverno";
pub const WHEN_GATEKEEPER: &str = "the engine is Gatekeeper";
const KYVERNO: &str = "kyverno.io";
const GATEKEEPER_TEMPLATES: &str = "templates.gatekeeper.sh";
const GATEKEEPER_CONSTRAINTS: &str = "constraints.gatekeeper.sh";
const READ_BACK: &str = "whether the block is in place; its read-back";

const IMAGE_BLOCK: &[Need] = &[
    PULL_SECRET_NAMES,
    PULL_SECRETS,
    cluster("get", ADMISSION, "validatingadmissionpolicies", READ_BACK).only_when(WHEN_VAP),
    cluster("create", ADMISSION, "validatingadmissionpolicies", "the policy denying the image")
        .only_when(WHEN_VAP),
    cluster("get", ADMISSION, "validatingadmissionpolicybindings", READ_BACK).only_when(WHEN_VAP),
    cluster("create", ADMISSION, "validatingadmissionpolicybindings", "its binding (Deny)")
        .only_when(WHEN_VAP),
    cluster("get", KYVERNO, "clusterpolicies", READ_BACK).only_when(WHEN_KYVERNO).if_served(),
    cluster("create", KYVERNO, "clusterpolicies", "the policy denying the image")
        .only_when(WHEN_KYVERNO)
        .if_served(),
    cluster("get", GATEKEEPER_TEMPLATES, "constrainttemplates", "whether kir's template is there")
        .only_when(WHEN_GATEKEEPER)
        .if_served(),
    cluster("create", GATEKEEPER_TEMPLATES, "constrainttemplates", "kir's template, when missing")
        .only_when(WHEN_GATEKEEPER)
        .if_served(),
    cluster("get", GATEKEEPER_CONSTRAINTS, "kirblockedimage", READ_BACK)
        .only_when(WHEN_GATEKEEPER)
        .if_served(),
    cluster("create", GATEKEEPER_CONSTRAINTS, "kirblockedimage", "the constraint denying the image")
        .only_when(WHEN_GATEKEEPER)
        .if_served(),
    cluster(
        "list",
        ADMISSION,
        "validatingwebhookconfigurations",
        "whether Kyverno or Gatekeeper is registered",
    )
    .degrades("--engine auto uses ValidatingAdmissionPolicy"),
    ns("create", "", "pods", DRY_RUN),
    ns("create", APPS, "deployments", DRY_RUN),
    ns("create", APPS, "replicasets", DRY_RUN),
    ns("create", APPS, "statefulsets", DRY_RUN),
    ns("create", APPS, "daemonsets", DRY_RUN),
    ns("create", BATCH, "jobs", DRY_RUN),
    ns("create", BATCH, "cronjobs", DRY_RUN),
    ns("create", "", "replicationcontrollers", DRY_RUN),
];

const WHEN_SET_IMAGE: &str = "--set-image, or --scale-to-zero";

const IMAGE_PURGE: &[Need] = &[
    cluster("delete", "", "pods", "delete the pods using the image"),
    cluster(
        "get",
        ADMISSION,
        "validatingadmissionpolicies",
        "whether kir's block keeps controllers from recreating them",
    )
    .degrades("whether deleted pods come back is not known"),
    cluster("get", ADMISSION, "validatingadmissionpolicybindings", "whether kir's block is bound")
        .degrades("whether deleted pods come back is not known"),
    cluster("patch", APPS, "deployments", "new image or zero replicas").only_when(WHEN_SET_IMAGE),
    cluster("patch", APPS, "statefulsets", "new image or zero replicas").only_when(WHEN_SET_IMAGE),
    cluster("patch", APPS, "daemonsets", "new image, or its pods kept off every node")
        .only_when(WHEN_SET_IMAGE),
    cluster("patch", APPS, "replicasets", "new image or zero replicas").only_when(WHEN_SET_IMAGE),
    cluster("patch", "", "replicationcontrollers", "new image or zero replicas").only_when(WHEN_SET_IMAGE),
    cluster("patch", BATCH, "jobs", "suspended (a Job's template cannot change)").only_when(WHEN_SET_IMAGE),
    cluster("patch", BATCH, "cronjobs", "new image, or suspended").only_when(WHEN_SET_IMAGE),
];

const WHEN_BLOCKED: &str = "the case blocked an image";

const UNDO_BLOCK: &[Need] = &[
    cluster("get", KYVERNO, "clusterpolicies", "check the policy is the one kir created")
        .only_when(WHEN_BLOCKED)
        .if_served(),
    cluster("delete", KYVERNO, "clusterpolicies", "lift the block").only_when(WHEN_BLOCKED).if_served(),
    cluster("get", GATEKEEPER_CONSTRAINTS, "kirblockedimage", "check the constraint is the one kir created")
        .only_when(WHEN_BLOCKED)
        .if_served(),
    cluster("delete", GATEKEEPER_CONSTRAINTS, "kirblockedimage", "lift the block")
        .only_when(WHEN_BLOCKED)
        .if_served(),
    cluster("get", ADMISSION, "validatingadmissionpolicies", "check the policy is the one kir created")
        .only_when(WHEN_BLOCKED),
    cluster("delete", ADMISSION, "validatingadmissionpolicies", "lift the block").only_when(WHEN_BLOCKED),
    cluster(
        "get",
        ADMISSION,
        "validatingadmissionpolicybindings",
        "check the binding is the one kir created",
    )
    .only_when(WHEN_BLOCKED),
    cluster("delete", ADMISSION, "validatingadmissionpolicybindings", "lift the block")
        .only_when(WHEN_BLOCKED),
];

/// What `kir drill` stages, checks and clears away, beside the playbooks it runs. Its
/// namespaces are new for each drill, so everything is granted cluster-wide: a drill is an
/// administrator's exercise on a cluster that consented.
const DRILL: &[Need] = &[
    cluster("get", "", "namespaces", "the drill consent label on namespace kir-drills"),
    cluster("create", "", "namespaces", "a namespace of its own per scenario"),
    cluster("delete", "", "namespaces", "clean up"),
    cluster("create", "", "serviceaccounts", "the intruder and the CI account"),
    cluster("create", "", "serviceaccounts/token", "the intruder's token and the leaked one"),
    cluster("create", "", "secrets", "the fake secrets the thief reads"),
    cluster("create", "rbac.authorization.k8s.io", "roles", "what the intruder and the CI account may do"),
    cluster(
        "create",
        "rbac.authorization.k8s.io",
        "rolebindings",
        "what the intruder and the CI account may do",
    ),
    cluster("create", "rbac.authorization.k8s.io", "clusterroles", "the CI account may bind cluster-admin"),
    cluster(
        "create",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "the CI account may bind cluster-admin",
    ),
    cluster(
        "bind",
        "rbac.authorization.k8s.io",
        "clusterroles",
        "grant the CI account the binding of cluster-admin",
    ),
    cluster("get", "rbac.authorization.k8s.io", "clusterroles", "clean up"),
    cluster("delete", "rbac.authorization.k8s.io", "clusterroles", "clean up"),
    cluster("get", "rbac.authorization.k8s.io", "clusterrolebindings", "clean up, with the thief's backdoor"),
    cluster(
        "delete",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "clean up, with the thief's backdoor",
    ),
    cluster("create", "apps", "deployments", "the miner, the bad image's and the clean workloads"),
    cluster("create", "apps", "daemonsets", "the bad image in a DaemonSet"),
    cluster("create", "batch", "cronjobs", "the bad image in a CronJob"),
    cluster("list", "", "pods", "wait until the staged workloads run, and the clean replacement"),
    cluster("get", "", "pods", "the suspect is gone"),
    cluster("create", "", "pods", "server-side dry-runs: the block denies the image, admits a clean one"),
    cluster(
        "create",
        "authentication.k8s.io",
        "tokenreviews",
        "the leaked token is refused, a new one accepted",
    ),
];

const GATEWAY: &str = "gateway.networking.k8s.io";
const INVENTORY_GAP: &str = "a gap in the inventory, named (exit 5)";
const RBAC_GAP: &str = "a gap: who holds cluster-admin or reads Secrets is not fully known (exit 5)";

const INVENTORY: &[Need] = &[
    cluster("list", "", "namespaces", "every namespace and its labels").degrades(INVENTORY_GAP),
    cluster("list", APPS, "deployments", "workloads, their service accounts and host access")
        .degrades(INVENTORY_GAP),
    cluster("list", APPS, "statefulsets", "workloads, their service accounts and host access")
        .degrades(INVENTORY_GAP),
    cluster("list", APPS, "daemonsets", "workloads, their service accounts and host access")
        .degrades(INVENTORY_GAP),
    cluster("list", BATCH, "jobs", "workloads, their service accounts and host access")
        .degrades(INVENTORY_GAP),
    cluster("list", BATCH, "cronjobs", "workloads, their service accounts and host access")
        .degrades(INVENTORY_GAP),
    cluster("list", "", "pods", "pods no controller owns").degrades(INVENTORY_GAP),
    cluster("list", "", "services", "LoadBalancer and NodePort Services, and what Ingresses route to")
        .degrades(INVENTORY_GAP),
    cluster("list", NETWORKING, "ingresses", "Ingresses and the workloads they reach")
        .degrades(INVENTORY_GAP),
    cluster("list", NETWORKING, "networkpolicies", "network policy coverage of each namespace")
        .degrades(INVENTORY_GAP),
    cluster("list", "", "nodes", "nodes, their versions and addresses").degrades(INVENTORY_GAP),
    cluster("list", GATEWAY, "gateways", "Gateway API gateways").if_served().degrades(INVENTORY_GAP),
    cluster("list", GATEWAY, "httproutes", "HTTPRoutes and the workloads they reach")
        .if_served()
        .degrades(INVENTORY_GAP),
    cluster("list", RBAC, "roles", "cluster admins and Secret readers").degrades(RBAC_GAP),
    cluster("list", RBAC, "clusterroles", "cluster admins and Secret readers").degrades(RBAC_GAP),
    cluster("list", RBAC, "rolebindings", "cluster admins and Secret readers").degrades(RBAC_GAP),
    cluster("list", RBAC, "clusterrolebindings", "cluster admins and Secret readers").degrades(RBAC_GAP),
];

/// Every command and its declared needs, in the order doctor shows them.
pub const COMMANDS: &[Command] = &[
    Command { name: "capture pod", implemented: true, needs: CAPTURE, steps: &[] },
    Command { name: "snapshot pod", implemented: true, needs: SNAPSHOT, steps: &[] },
    Command { name: "isolate pod", implemented: true, needs: ISOLATE, steps: &[] },
    Command { name: "isolate pod --cordon", implemented: true, needs: CORDON, steps: &["isolate pod"] },
    Command { name: "release pod", implemented: true, needs: RELEASE, steps: &[] },
    Command {
        name: "release pod (cordoned node)",
        implemented: true,
        needs: UNCORDON,
        steps: &["release pod"],
    },
    Command { name: "replace pod", implemented: true, needs: REPLACE, steps: &[] },
    Command {
        name: "respond compromised-pod",
        implemented: true,
        needs: &[],
        steps: &["capture pod", "snapshot pod", "isolate pod", "replace pod"],
    },
    Command {
        name: "undo",
        implemented: true,
        needs: UNDO_REVOKE,
        steps: &["release pod (cordoned node)", "undo (image block)"],
    },
    Command { name: "undo (image block)", implemented: true, needs: UNDO_BLOCK, steps: &[] },
    Command { name: "image find", implemented: true, needs: IMAGE_FIND, steps: &[] },
    Command {
        name: "image purge",
        implemented: true,
        needs: IMAGE_PURGE,
        steps: &["image find", "capture pod"],
    },
    Command { name: "image block", implemented: true, needs: IMAGE_BLOCK, steps: &[] },
    Command {
        name: "image scan",
        implemented: true,
        needs: &[cluster("list", "", "pods", "the images running, and the pods running each")],
        steps: &[],
    },
    Command {
        name: "respond malicious-image",
        implemented: true,
        needs: &[],
        steps: &["image find", "capture pod", "image block", "image purge"],
    },
    Command { name: "prepare inventory", implemented: true, needs: INVENTORY, steps: &[] },
    Command { name: "creds show", implemented: true, needs: CREDS_SHOW, steps: &[] },
    Command { name: "creds scope", implemented: true, needs: READ_RBAC, steps: &[] },
    Command { name: "creds who-can", implemented: true, needs: READ_RBAC, steps: &[] },
    Command { name: "creds rotate", implemented: true, needs: ROTATE, steps: &[] },
    Command { name: "creds revoke", implemented: true, needs: REVOKE, steps: &["creds scope"] },
    Command {
        name: "respond stolen-credentials",
        implemented: true,
        needs: STOLEN,
        steps: &["creds show", "creds revoke", "capture pod", "replace pod"],
    },
    Command {
        name: "drill",
        implemented: true,
        needs: DRILL,
        steps: &[
            "respond compromised-pod",
            "respond stolen-credentials",
            "respond malicious-image",
            "image find",
            "undo (image block)",
        ],
    },
];

pub fn command(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

impl Command {
    /// Its own needs and its steps', each permission once: required when any step requires
    /// it, otherwise the first degradation declared.
    pub fn all_needs(&self) -> Vec<Need> {
        let mut all: Vec<Need> = Vec::new();
        let steps = self.steps.iter().filter_map(|s| command(s)).flat_map(|c| c.all_needs());
        for need in steps.chain(self.needs.iter().copied()) {
            match all.iter_mut().find(|n| n.key() == need.key()) {
                Some(seen) => {
                    if need.required() && !seen.required() {
                        *seen = need;
                    }
                }
                None => all.push(need),
            }
        }
        all
    }
}

/// Every distinct permission any command needs, in declaration order, with the commands that
/// need it.
pub fn distinct_needs() -> Vec<(Need, Vec<&'static str>)> {
    let mut all: Vec<(Need, Vec<&'static str>)> = Vec::new();
    for command in COMMANDS {
        for need in command.all_needs() {
            match all.iter_mut().find(|(n, _)| n.key() == need.key()) {
                Some((_, commands)) => commands.push(command.name),
                None => all.push((need, vec![command.name])),
            }
        }
    }
    all
}

/// One RBAC rule: these verbs on these resources of one group (and names, when restricted).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub group: String,
    pub resources: Vec<String>,
    pub names: Vec<String>,
    pub verbs: Vec<String>,
}

/// The rules granting exactly `needs` of `scope` for acting in `namespace`.
pub fn rules(needs: &[Need], scope: Scope, namespace: &str) -> Vec<Rule> {
    rules_for(needs, scope, &[namespace])
}

/// The rules granting exactly `needs` of `scope` for acting in any of `namespaces` (names that
/// depend on the namespace are granted for each): the verbs of a resource together, then
/// resources with the same verbs in one rule.
pub fn rules_for(needs: &[Need], scope: Scope, namespaces: &[&str]) -> Vec<Rule> {
    let mut verbs: BTreeMap<(&str, &str, Option<String>), BTreeSet<&str>> = BTreeMap::new();
    for need in needs.iter().filter(|n| n.scope == scope) {
        for namespace in namespaces {
            verbs.entry((need.group, need.resource, need.name_in(namespace))).or_default().insert(need.verb);
        }
    }
    // (group, verbs, names restricted) -> (resources, names)
    type Granted = (Vec<String>, BTreeSet<String>);
    let mut grouped: BTreeMap<(&str, Vec<&str>, bool), Granted> = BTreeMap::new();
    for ((group, resource, name), verbs) in verbs {
        let (resources, names) =
            grouped.entry((group, verbs.into_iter().collect(), name.is_some())).or_default();
        if !resources.iter().any(|r| r == resource) {
            resources.push(resource.to_string());
        }
        names.extend(name);
    }
    grouped
        .into_iter()
        .map(|((group, verbs, _), (resources, names))| Rule {
            group: group.to_string(),
            resources,
            names: names.into_iter().collect(),
            verbs: verbs.into_iter().map(str::to_string).collect(),
        })
        .collect()
}

/// The least-privilege RBAC for `commands` (declared names): a ServiceAccount `account` in
/// `namespace`, a Role with the namespaced needs and a ClusterRole with the cluster-wide ones,
/// each bound to the account. Objects without rules are left out.
pub fn least_privilege(commands: &[&str], namespace: &str, account: &str) -> Result<Vec<Value>, String> {
    let mut needs: Vec<Need> = Vec::new();
    for name in commands {
        let command = command(name).ok_or_else(|| {
            let known: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
            format!("no command {name:?}: kir declares permissions for {}", known.join(", "))
        })?;
        for need in command.all_needs() {
            if !needs.iter().any(|n| n.key() == need.key()) {
                needs.push(need);
            }
        }
    }
    let labels = json!({"app.kubernetes.io/managed-by": "kir"});
    let annotations = json!({"ir.kir.dev/commands": commands.join(", ")});
    let subject = json!([{"kind": "ServiceAccount", "name": account, "namespace": namespace}]);
    let mut objects = vec![json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": account, "namespace": namespace, "labels": labels},
    })];
    let kinds = [
        (Scope::Namespace, "Role", "RoleBinding", format!("kir:{account}")),
        (Scope::Cluster, "ClusterRole", "ClusterRoleBinding", format!("kir:{namespace}:{account}")),
    ];
    for (scope, role_kind, binding_kind, name) in kinds {
        let rules = rules(&needs, scope, namespace);
        if rules.is_empty() {
            continue;
        }
        let mut metadata = json!({"name": name, "labels": labels, "annotations": annotations});
        if scope == Scope::Namespace {
            metadata["namespace"] = json!(namespace);
        }
        let rules: Vec<Value> = rules.iter().map(rule_json).collect();
        objects.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": role_kind,
            "metadata": metadata,
            "rules": rules,
        }));
        objects.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": binding_kind,
            "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
            "subjects": subject,
        }));
    }
    Ok(objects)
}

fn rule_json(rule: &Rule) -> Value {
    let mut json = json!({"apiGroups": [rule.group], "resources": rule.resources, "verbs": rule.verbs});
    if !rule.names.is_empty() {
        json["resourceNames"] = json!(rule.names);
    }
    json
}

/// The responder's RBAC (`kir prepare responder`): a ServiceAccount `account_namespace/account`
/// and, for each of `commands`, a ClusterRole `kir:responder:COMMAND` with what it needs in a
/// namespace, bound in each of `namespaces` by a RoleBinding, and a ClusterRole
/// `kir:responder:COMMAND:cluster` with what it needs cluster-wide, bound by a
/// ClusterRoleBinding. Removing a command's bindings takes exactly that command away.
pub fn responder_rbac(
    commands: &[&str],
    namespaces: &[&str],
    account_namespace: &str,
    account: &str,
) -> Result<Vec<Value>, String> {
    if namespaces.is_empty() {
        return Err("no namespace to respond in".to_string());
    }
    let labels = json!({"app.kubernetes.io/managed-by": "kir", "app.kubernetes.io/component": "responder"});
    let subject = json!([{"kind": "ServiceAccount", "name": account, "namespace": account_namespace}]);
    let mut objects = vec![json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": account, "namespace": account_namespace, "labels": labels},
    })];
    for name in commands {
        let declared = command(name).ok_or_else(|| {
            let known: Vec<&str> = COMMANDS.iter().filter(|c| c.implemented).map(|c| c.name).collect();
            format!("no command {name:?}: kir declares permissions for {}", known.join(", "))
        })?;
        let needs = declared.all_needs();
        let slug: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
        let slug = slug.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-");
        let annotations = json!({"ir.kir.dev/command": name});
        let role = |role_name: &str, rules: Vec<Rule>| {
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": role_name, "labels": labels, "annotations": annotations},
                "rules": rules.iter().map(rule_json).collect::<Vec<_>>(),
            })
        };
        let role_ref = |role_name: &str| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name});
        let in_namespace = rules_for(&needs, Scope::Namespace, namespaces);
        if !in_namespace.is_empty() {
            let role_name = format!("kir:responder:{slug}");
            objects.push(role(&role_name, in_namespace));
            for namespace in namespaces {
                objects.push(json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": role_name, "namespace": namespace, "labels": labels, "annotations": annotations},
                    "roleRef": role_ref(&role_name),
                    "subjects": subject,
                }));
            }
        }
        let cluster_wide = rules_for(&needs, Scope::Cluster, namespaces);
        if !cluster_wide.is_empty() {
            let role_name = format!("kir:responder:{slug}:cluster");
            objects.push(role(&role_name, cluster_wide));
            objects.push(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": format!("{role_name}:{account_namespace}:{account}"), "labels": labels, "annotations": annotations},
                "roleRef": role_ref(&role_name),
                "subjects": subject,
            }));
        }
    }
    Ok(objects)
}

/// The commands `kir prepare responder` grants by default: every implemented one but `drill`,
/// which stages attacks and is an administrator's exercise, not a responder's tool.
pub fn responder_commands() -> Vec<&'static str> {
    COMMANDS.iter().filter(|c| c.implemented && c.name != "drill").map(|c| c.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_a_declared_command() {
        for declared in COMMANDS {
            for step in declared.steps {
                assert!(command(step).is_some(), "{} runs unknown step {step}", declared.name);
            }
            assert!(!declared.all_needs().is_empty(), "{} declares nothing", declared.name);
        }
    }

    #[test]
    fn respond_is_the_union_of_its_steps() {
        let respond = command("respond compromised-pod").unwrap().all_needs();
        for step in ["capture pod", "snapshot pod", "isolate pod", "replace pod"] {
            for need in command(step).unwrap().all_needs() {
                assert!(respond.iter().any(|n| n.key() == need.key()), "{step}: {}", need.describe());
            }
        }
        // Capture requires the controller's ReplicaSet, isolate only degrades without it.
        let rs = respond.iter().find(|n| n.resource == "replicasets").unwrap();
        assert!(rs.required());
        let daemonsets = respond.iter().find(|n| n.verb == "list" && n.resource == "daemonsets").unwrap();
        assert!(!daemonsets.required());
    }

    #[test]
    fn each_permission_is_checked_once() {
        let all = distinct_needs();
        let keys: BTreeSet<_> = all.iter().map(|(n, _)| n.key()).collect();
        assert_eq!(keys.len(), all.len());
        let (_, users) = all.iter().find(|(n, _)| n.verb == "patch" && n.resource == "pods").unwrap();
        assert_eq!(
            users,
            &[
                "isolate pod",
                "isolate pod --cordon",
                "release pod",
                "release pod (cordoned node)",
                "respond compromised-pod",
                "undo",
                "drill"
            ]
        );
    }

    #[test]
    fn checks_and_descriptions_follow_the_scope() {
        let group = command("capture pod")
            .unwrap()
            .needs
            .iter()
            .find(|n| n.name == Some("system:serviceaccounts:{namespace}"))
            .unwrap();
        let check = group.check("shop");
        assert_eq!(check.namespace, None);
        assert_eq!(check.name.as_deref(), Some("system:serviceaccounts:shop"));
        assert_eq!(group.describe(), "impersonate groups system:serviceaccounts:{namespace} (cluster-wide)");
        let exec = SNAPSHOT[2].check("shop");
        assert_eq!((exec.resource.as_str(), exec.subresource.as_str()), ("pods", "exec"));
        assert_eq!(exec.namespace.as_deref(), Some("shop"));
        assert_eq!(ISOLATE[2].describe(), "list networkpolicies.networking.k8s.io");
        assert_eq!(ISOLATE[2].describe_in("shop"), "list networkpolicies.networking.k8s.io in shop");
        assert_eq!(
            group.describe_in("shop"),
            "impersonate groups system:serviceaccounts:shop (cluster-wide)"
        );
    }

    #[test]
    fn rules_merge_verbs_then_resources() {
        let needs = command("isolate pod --cordon").unwrap().all_needs();
        let namespaced = rules(&needs, Scope::Namespace, "shop");
        let core: Vec<_> = namespaced.iter().filter(|r| r.group.is_empty()).collect();
        assert!(
            core.iter().any(|r| r.resources == ["pods"] && r.verbs == ["get", "patch", "watch"]),
            "{core:?}"
        );
        let clusterwide = rules(&needs, Scope::Cluster, "shop");
        assert!(clusterwide.iter().any(|r| r.resources == ["nodes"] && r.verbs == ["get", "patch"]));
        let capture = rules(&command("capture pod").unwrap().all_needs(), Scope::Cluster, "shop");
        let groups = capture.iter().find(|r| r.resources == ["groups"]).unwrap();
        assert_eq!(
            groups.names,
            ["system:authenticated", "system:serviceaccounts", "system:serviceaccounts:shop"]
        );
    }

    /// The declared lists as docs/doctor.md shows them.
    fn markdown() -> String {
        let mut text = String::new();
        for command in COMMANDS {
            let planned = if command.implemented { "" } else { " (planned)" };
            text.push_str(&format!("#### `{}`{planned}\n\n", command.name));
            if !command.steps.is_empty() {
                let steps: Vec<String> = command.steps.iter().map(|s| format!("`{s}`")).collect();
                let and = if command.needs.is_empty() { "." } else { ", and:" };
                text.push_str(&format!("Everything {} need{and}\n\n", steps.join(", ")));
            }
            if command.needs.is_empty() {
                continue;
            }
            text.push_str("| permission | scope | for | without it |\n| --- | --- | --- | --- |\n");
            for need in command.needs {
                let scope = match need.scope {
                    Scope::Namespace => "namespace",
                    Scope::Cluster => "cluster",
                };
                let mut permission = format!("{} {}", need.verb, need.resource);
                if !need.group.is_empty() {
                    permission = format!("{permission}.{}", need.group);
                }
                if let Some(name) = need.name {
                    permission = format!("{permission} `{name}`");
                }
                let mut why = need.why.to_string();
                if let Some(when) = need.when {
                    why = format!("{why} (when {when})");
                }
                if need.if_served {
                    why = format!("{why} (where the API is served)");
                }
                let without = match need.effect {
                    Effect::Required => "fails (required)".to_string(),
                    Effect::Degrades(lost) => format!("degraded: {lost}"),
                };
                text.push_str(&format!("| {permission} | {scope} | {why} | {without} |\n"));
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn the_documented_lists_are_the_declared_ones() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/doctor.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let begin = "<!-- declared permissions: begin -->\n";
        let end = "<!-- declared permissions: end -->";
        let documented = &doc[doc.find(begin).unwrap() + begin.len()..doc.find(end).unwrap()];
        let declared = markdown();
        if documented != declared {
            // What the doc should say, to copy in.
            let expected = std::env::temp_dir().join("kir-doctor-permissions.md");
            std::fs::write(&expected, &declared).unwrap();
            panic!(
                "docs/doctor.md lists other permissions than kir declares; they are in {}",
                expected.display()
            );
        }
    }

    #[test]
    fn least_privilege_binds_a_role_and_a_cluster_role() {
        let objects = least_privilege(&["snapshot pod"], "shop", "responder").unwrap();
        let kinds: Vec<_> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"],
            "a checkpoint goes through the node proxy, cluster-wide"
        );
        let resources = |object: &Value| {
            object["rules"].as_array().unwrap().iter().map(|r| r["resources"].clone()).collect::<Vec<_>>()
        };
        assert!(resources(&objects[1]).contains(&json!(["pods/exec"])), "{}", objects[1]);
        assert_eq!(resources(&objects[3]), [json!(["nodes/proxy"])]);
        assert_eq!(objects[2]["subjects"][0]["namespace"], "shop");
        let error = least_privilege(&["capture pods"], "shop", "responder").unwrap_err();
        assert!(error.contains("\"capture pods\"") && error.contains("capture pod,"), "{error}");
    }

    #[test]
    fn the_responder_gets_one_role_per_command_bound_in_each_namespace() {
        let objects =
            responder_rbac(&["snapshot pod", "creds scope"], &["shop", "web"], "kir-system", "ir").unwrap();
        let summary: Vec<String> = objects
            .iter()
            .map(|o| {
                let ns = o["metadata"]["namespace"].as_str().map(|n| format!("{n}/")).unwrap_or_default();
                format!("{} {ns}{}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            summary,
            [
                "ServiceAccount kir-system/ir",
                "ClusterRole kir:responder:snapshot-pod",
                "RoleBinding shop/kir:responder:snapshot-pod",
                "RoleBinding web/kir:responder:snapshot-pod",
                "ClusterRole kir:responder:snapshot-pod:cluster",
                "ClusterRoleBinding kir:responder:snapshot-pod:cluster:kir-system:ir",
                "ClusterRole kir:responder:creds-scope:cluster",
                "ClusterRoleBinding kir:responder:creds-scope:cluster:kir-system:ir",
            ]
        );
        assert_eq!(
            objects[1]["rules"],
            json!([
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "delete", "get"]},
                {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]}
            ])
        );
        for binding in &objects[2..4] {
            assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
            assert_eq!(
                binding["subjects"][0],
                json!({"kind": "ServiceAccount", "name": "ir", "namespace": "kir-system"})
            );
        }
    }

    #[test]
    fn names_that_depend_on_the_namespace_are_granted_for_each_namespace_only() {
        let objects = responder_rbac(&["capture pod"], &["shop", "web"], "kir-system", "ir").unwrap();
        let cluster =
            objects.iter().find(|o| o["metadata"]["name"] == "kir:responder:capture-pod:cluster").unwrap();
        let groups = cluster["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resources"] == json!(["groups"]))
            .unwrap();
        assert_eq!(
            groups["resourceNames"],
            json!([
                "system:authenticated",
                "system:serviceaccounts",
                "system:serviceaccounts:shop",
                "system:serviceaccounts:web"
            ])
        );
        assert!(responder_rbac(&["capture pod"], &[], "kir-system", "ir").is_err());
        let unknown = responder_rbac(&["drill it"], &["shop"], "kir-system", "ir").unwrap_err();
        assert!(unknown.contains("\"drill it\"") && unknown.contains("respond compromised-pod"), "{unknown}");
        assert!(!responder_commands().contains(&"drill"));
        assert!(responder_commands().contains(&"respond stolen-credentials"));
    }
}

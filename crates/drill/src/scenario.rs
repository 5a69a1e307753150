//! The practice incidents: what each stages (as the objects to create) and what finding a
//! responder should see. Built as data so a reviewer can read exactly what a drill puts on a
//! cluster before consenting to it.

use serde_json::{Value, json};

/// Every object a drill creates carries this label with the drill's id: what it left behind
/// can always be found.
pub const DRILL_LABEL: &str = "ir.kir.dev/drill";

/// One practice incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// A cryptominer pod into which an intruder execs to read the service-account token.
    CompromisedPod,
    /// A CI token leaks; its holder reads secrets and binds a service account to cluster-admin.
    StolenCredentials,
    /// A backdoored image rolled out in a Deployment, a DaemonSet and a CronJob.
    MaliciousImage,
}

impl Scenario {
    pub const ALL: [Scenario; 3] =
        [Scenario::CompromisedPod, Scenario::StolenCredentials, Scenario::MaliciousImage];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::CompromisedPod => "compromised-pod",
            Scenario::StolenCredentials => "stolen-credentials",
            Scenario::MaliciousImage => "malicious-image",
        }
    }

    /// The scenarios a name stands for (`all` for every one); `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Vec<Scenario>> {
        match name {
            "all" => Some(Scenario::ALL.to_vec()),
            _ => Scenario::ALL.iter().find(|s| s.name() == name).map(|s| vec![*s]),
        }
    }

    fn short(self) -> &'static str {
        match self {
            Scenario::CompromisedPod => "pod",
            Scenario::StolenCredentials => "creds",
            Scenario::MaliciousImage => "image",
        }
    }

    /// The namespace the drill `id` stages this scenario in.
    pub fn namespace(self, id: &str) -> String {
        format!("kir-drill-{id}-{}", self.short())
    }

    /// What the scenario creates before the attack, in creation order.
    pub fn stage(self, id: &str) -> Staged {
        let ns = self.namespace(id);
        let mut staged = Staged { namespace: ns.clone(), objects: vec![namespace(&ns, id)] };
        match self {
            Scenario::CompromisedPod => {
                staged.objects.extend([
                    service_account(&ns, id, INTRUDER),
                    role(
                        &ns,
                        id,
                        INTRUDER,
                        json!([
                            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                            {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]}
                        ]),
                    ),
                    role_binding(&ns, id, INTRUDER, INTRUDER),
                    deployment(&ns, id, MINER, &miner_image(id), 1),
                ]);
            }
            Scenario::StolenCredentials => {
                staged.objects.extend([
                    service_account(&ns, id, LEAKY),
                    role(
                        &ns,
                        id,
                        LEAKY,
                        json!([
                            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}
                        ]),
                    ),
                    role_binding(&ns, id, LEAKY, LEAKY),
                    cluster_role(id, &leaky_cluster_role(id)),
                    cluster_role_binding(
                        id,
                        &leaky_cluster_role(id),
                        "ClusterRole",
                        &leaky_cluster_role(id),
                        &ns,
                        LEAKY,
                    ),
                ]);
                staged.objects.extend(SECRETS.iter().map(|name| secret(&ns, id, name)));
            }
            Scenario::MaliciousImage => {
                let bad = bad_image(id);
                staged.objects.extend([
                    deployment(&ns, id, "web", &bad, 2),
                    daemon_set(&ns, id, "log-agent", &bad),
                    cron_job(&ns, id, "nightly-report", &bad),
                    deployment(&ns, id, "api", &clean_image(id), 1),
                ]);
            }
        }
        staged
    }

    /// Who should be seen attacking, and which rule should name them.
    pub fn expected_finding(self, id: &str) -> Option<ExpectedFinding> {
        let ns = self.namespace(id);
        match self {
            Scenario::CompromisedPod => Some(ExpectedFinding {
                rule: "kir-audit-exec-suspicious-command",
                user: format!("system:serviceaccount:{ns}:{INTRUDER}"),
            }),
            Scenario::StolenCredentials => Some(ExpectedFinding {
                rule: "kir-audit-cluster-admin-binding",
                user: format!("system:serviceaccount:{ns}:{LEAKY}"),
            }),
            // An image is known bad from outside (a vendor advisory, a scan): what shows it is
            // `kir image find`, not the audit log.
            Scenario::MaliciousImage => None,
        }
    }
}

/// What a scenario creates: its namespace first, then the objects of the incident.
#[derive(Debug, Clone)]
pub struct Staged {
    pub namespace: String,
    pub objects: Vec<Value>,
}

/// The finding detection must report for the drill to count as detected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedFinding {
    pub rule: &'static str,
    pub user: String,
}

/// The compromised pod's service account that the intruder's exec comes from.
pub const INTRUDER: &str = "intruder";
/// The deployment whose pod is the compromised one.
pub const MINER: &str = "miner";
/// The CI service account whose token leaks.
pub const LEAKY: &str = "ci-deployer";
/// The service account the thief binds to cluster-admin.
pub const BACKDOOR: &str = "backdoor";
/// The secrets the thief reads: fake values, never real credentials.
pub const SECRETS: [&str; 3] = ["db-password", "payment-api-key", "registry-login"];

/// The command the intruder runs in the miner pod: it reads the pod's token, the step the
/// audit rules look for (the path in the exec's request URI).
pub fn intruder_command() -> Vec<String> {
    ["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"].map(String::from).to_vec()
}

/// The drill's backdoor binding: cluster-admin for the thief's service account.
pub fn backdoor_binding(id: &str, namespace: &str) -> Value {
    let name = format!("kir-drill-{id}-{BACKDOOR}");
    cluster_role_binding(id, &name, "ClusterRole", "cluster-admin", namespace, BACKDOOR)
}

/// The leaked service account's cluster-wide role: just enough to bind cluster-admin.
pub fn leaky_cluster_role(id: &str) -> String {
    format!("kir-drill-{id}-{LEAKY}")
}

/// The "backdoored" image: a repository of its own per drill, so the admission block that
/// the response sets up never touches anything else. The registry name is reserved
/// (`.invalid`): nothing is ever pulled.
pub fn bad_image(id: &str) -> String {
    format!("registry.invalid/kir-drill-{id}/toolbox:1.4")
}

fn clean_image(id: &str) -> String {
    format!("registry.invalid/kir-drill-{id}/api:2.0")
}

fn miner_image(id: &str) -> String {
    format!("registry.invalid/kir-drill-{id}/xmrig:6.21")
}

fn labels(id: &str) -> Value {
    json!({ DRILL_LABEL: id })
}

fn meta(ns: &str, id: &str, name: &str) -> Value {
    json!({"name": name, "namespace": ns, "labels": labels(id)})
}

fn namespace(ns: &str, id: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels(id)}})
}

fn service_account(ns: &str, id: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(ns, id, name)})
}

fn role(ns: &str, id: &str, name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(ns, id, name), "rules": rules})
}

fn role_binding(ns: &str, id: &str, name: &str, account: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(ns, id, name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}]
    })
}

fn cluster_role(id: &str, name: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels(id)},
        "rules": [
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterrolebindings"], "verbs": ["create"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["cluster-admin"]}
        ]
    })
}

fn cluster_role_binding(id: &str, name: &str, kind: &str, role: &str, ns: &str, account: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": labels(id)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns}]
    })
}

fn secret(ns: &str, id: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": meta(ns, id, name),
        "stringData": {"value": "drill-placeholder-not-a-credential"}
    })
}

fn pod_template(app: &str, image: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": app, "image": image}]}
    })
}

fn deployment(ns: &str, id: &str, name: &str, image: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(ns, id, name),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": pod_template(name, image)}
    })
}

fn daemon_set(ns: &str, id: &str, name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta(ns, id, name),
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": pod_template(name, image)}
    })
}

fn cron_job(ns: &str, id: &str, name: &str, image: &str) -> Value {
    let mut template = pod_template(name, image);
    template["spec"]["restartPolicy"] = json!("Never");
    json!({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(ns, id, name),
        // Once a year: the template is what matters, not a run.
        "spec": {"schedule": "0 3 1 1 *", "jobTemplate": {"spec": {"template": template}}}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_all_is_every_scenario() {
        for scenario in Scenario::ALL {
            assert_eq!(Scenario::parse(scenario.name()), Some(vec![scenario]));
        }
        assert_eq!(Scenario::parse("all").unwrap().len(), 3);
        assert_eq!(Scenario::parse("miner"), None);
    }

    #[test]
    fn everything_staged_is_labelled_with_the_drill_and_lives_in_its_namespace() {
        for scenario in Scenario::ALL {
            let staged = scenario.stage("ab12");
            assert_eq!(staged.objects[0]["kind"], "Namespace");
            for object in &staged.objects {
                assert_eq!(object["metadata"]["labels"][DRILL_LABEL], "ab12", "{object}");
                let namespaced = object["metadata"].get("namespace");
                let kind = object["kind"].as_str().unwrap();
                if kind.starts_with("Cluster") || kind == "Namespace" {
                    assert!(namespaced.is_none(), "{object}");
                    assert!(object["metadata"]["name"].as_str().unwrap().contains("ab12"), "{object}");
                } else {
                    assert_eq!(namespaced.unwrap(), &json!(staged.namespace), "{object}");
                }
            }
        }
    }

    #[test]
    fn the_leaked_token_can_bind_cluster_admin_and_nothing_wider() {
        let staged = Scenario::StolenCredentials.stage("ab12");
        let role = staged.objects.iter().find(|o| o["kind"] == "ClusterRole").unwrap();
        insta::assert_json_snapshot!(role["rules"], @r#"
        [
          {
            "apiGroups": [
              "rbac.authorization.k8s.io"
            ],
            "resources": [
              "clusterrolebindings"
            ],
            "verbs": [
              "create"
            ]
          },
          {
            "apiGroups": [
              "rbac.authorization.k8s.io"
            ],
            "resourceNames": [
              "cluster-admin"
            ],
            "resources": [
              "clusterroles"
            ],
            "verbs": [
              "bind"
            ]
          }
        ]
        "#);
    }

    #[test]
    fn the_bad_image_is_unique_to_the_drill_and_never_pullable() {
        assert_ne!(bad_image("a1"), bad_image("b2"));
        assert!(bad_image("a1").starts_with("registry.invalid/"));
        let staged = Scenario::MaliciousImage.stage("a1");
        let bad: Vec<&str> = staged
            .objects
            .iter()
            .filter(|o| o.to_string().contains(&bad_image("a1")))
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(bad, ["Deployment", "DaemonSet", "CronJob"]);
    }
}

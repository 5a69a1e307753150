//! Each pod command's declared permissions are exactly what it needs: bound to the RBAC
//! `kir doctor --rbac` generates for it, the command succeeds; with any one required permission
//! taken away, it fails and says which, and what it changed before is in the case journal.
//! `kir doctor --as` the same identity foretells it.

use std::path::Path;

use k8s_openapi::api::{
    core::v1::{EnvVar, EnvVarSource, Pod, Secret, SecretKeySelector, ServiceAccount},
    networking::v1::NetworkPolicy,
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
};
use kir_cluster::permissions::{self, Need};
use kube::{
    Client,
    api::{Api, ListParams, ObjectMeta, PostParams},
};
use serde_json::{Value, json};

use crate::{
    scene::{
        bare_pod, container, create_deployment, deployment, plain_cluster, running_pods, wait_until_allowed,
    },
    testbed::{Testbed, testbed},
    util::{kir, kir_with, run},
};

/// The RBAC `kir doctor --rbac` generates for `command`, for `account` in `ns`.
pub fn generated(command: &str, ns: &str, account: &str) -> Vec<Value> {
    let out =
        run(kir().args(["doctor", "--rbac", command, "-n", ns, "--service-account", account, "-o", "json"]))
            .success()
            .json();
    out["items"].as_array().unwrap().clone()
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().into_iter().flatten().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// `rules` less `need`: a rule granting it is split into what else it grants.
fn without(rules: &Value, need: &Need, ns: &str) -> Value {
    let name = need.name_in(ns);
    let mut kept = Vec::new();
    for rule in rules.as_array().unwrap() {
        let (resources, verbs, names) =
            (strings(&rule["resources"]), strings(&rule["verbs"]), strings(&rule["resourceNames"]));
        let grants = strings(&rule["apiGroups"]) == [need.group]
            && resources.iter().any(|r| r == need.resource)
            && verbs.iter().any(|v| v == need.verb)
            && name.as_ref().is_none_or(|n| names.contains(n));
        if !grants {
            kept.push(rule.clone());
            continue;
        }
        let with = |resources: Vec<String>, verbs: Vec<String>, names: Vec<String>| {
            let mut rule = json!({"apiGroups": [need.group], "resources": resources, "verbs": verbs});
            if !names.is_empty() {
                rule["resourceNames"] = json!(names);
            }
            rule
        };
        let others: Vec<String> = resources.iter().filter(|r| *r != need.resource).cloned().collect();
        if !others.is_empty() {
            kept.push(with(others, verbs.clone(), names.clone()));
        }
        let other_verbs: Vec<String> = verbs.iter().filter(|v| *v != need.verb).cloned().collect();
        if !other_verbs.is_empty() {
            kept.push(with(vec![need.resource.to_string()], other_verbs, names.clone()));
        }
        if let Some(name) = &name {
            let other_names: Vec<String> = names.iter().filter(|n| *n != name).cloned().collect();
            if !other_names.is_empty() {
                kept.push(with(vec![need.resource.to_string()], vec![need.verb.to_string()], other_names));
            }
        }
    }
    Value::Array(kept)
}

/// Create `objects` (a ServiceAccount, Roles and bindings) as the admin, and wait until the
/// last grant of each role reached the authorizer. Returns the account's user name.
pub async fn apply(client: &Client, ns: &str, objects: &[Value]) -> String {
    let params = PostParams::default();
    let mut user = String::new();
    let mut waits = Vec::new();
    for object in objects {
        let rules = || -> Option<(String, String, String)> {
            let rule = object["rules"].as_array()?.iter().rev().find(|r| r.get("resourceNames").is_none())?;
            let resource = strings(&rule["resources"]).remove(0);
            Some((strings(&rule["apiGroups"]).remove(0), resource, strings(&rule["verbs"]).remove(0)))
        };
        match object["kind"].as_str().unwrap() {
            "ServiceAccount" => {
                let account: ServiceAccount = serde_json::from_value(object.clone()).unwrap();
                user = format!("system:serviceaccount:{ns}:{}", account.metadata.name.clone().unwrap());
                Api::<ServiceAccount>::namespaced(client.clone(), ns)
                    .create(&params, &account)
                    .await
                    .unwrap();
            }
            "Role" => {
                waits.extend(rules());
                let role: Role = serde_json::from_value(object.clone()).unwrap();
                Api::<Role>::namespaced(client.clone(), ns).create(&params, &role).await.unwrap();
            }
            "RoleBinding" => {
                let binding: RoleBinding = serde_json::from_value(object.clone()).unwrap();
                Api::<RoleBinding>::namespaced(client.clone(), ns).create(&params, &binding).await.unwrap();
            }
            "ClusterRole" => {
                waits.extend(rules());
                let role: ClusterRole = serde_json::from_value(object.clone()).unwrap();
                Api::<ClusterRole>::all(client.clone()).create(&params, &role).await.unwrap();
            }
            "ClusterRoleBinding" => {
                let binding: ClusterRoleBinding = serde_json::from_value(object.clone()).unwrap();
                Api::<ClusterRoleBinding>::all(client.clone()).create(&params, &binding).await.unwrap();
            }
            other => panic!("kir doctor --rbac generated a {other}"),
        }
    }
    for (group, resource, verb) in waits {
        let (resource, subresource) = resource.split_once('/').unwrap_or((&resource, ""));
        // wait_until_allowed asks about the resource; a subresource grant is waited for through
        // the binding that carries it, which the resource check of another rule shares.
        if subresource.is_empty() {
            wait_until_allowed(client, &user, ns, &group, resource, &verb).await;
        }
    }
    user
}

/// The required needs of `command` this scene's requests reach: those made in every case, and
/// the conditional ones (a kind of owner, an API the cluster serves) on `reached` resources.
fn required(command: &str, reached: &[&str]) -> Vec<Need> {
    permissions::command(command)
        .unwrap()
        .all_needs()
        .into_iter()
        .filter(|n| n.required() && (n.when.is_none() && !n.if_served || reached.contains(&n.resource)))
        .collect()
}

/// One identity per case: `None` bound to all `command` needs, then one for each of `needs`
/// with that one removed. Created together, then waited for.
async fn identities(client: &Client, ns: &str, command: &str, needs: &[Need]) -> Vec<(Option<Need>, String)> {
    let mut made = Vec::new();
    let cases = std::iter::once(None).chain(needs.iter().copied().map(Some));
    for (i, need) in cases.enumerate() {
        let slug: String = command.chars().filter(|c| c.is_ascii_alphabetic()).collect();
        let mut objects = generated(command, ns, &format!("{slug}-{i}"));
        if let Some(need) = &need {
            for object in objects.iter_mut().filter(|o| o.get("rules").is_some()) {
                object["rules"] = without(&object["rules"], need, ns);
            }
        }
        made.push((need, objects));
    }
    let mut users = Vec::new();
    for (need, objects) in made {
        users.push((need, apply(client, ns, &objects).await));
    }
    users
}

/// Output naming the permission: its verb and resource, as the denial spells them.
fn assert_names(said: &str, need: &Need) {
    let resource = need.resource;
    assert!(
        said.contains(need.verb) && said.contains(resource) && said.contains("forbidden"),
        "the output names {}:\n{said}",
        need.describe()
    );
}

fn journal(case: &Path) -> Vec<Value> {
    std::fs::read_to_string(case.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Run kir as `user` with `--as`. Under `--as`, kir's own impersonation (capture's review of
/// the pod's service account) replaces the admin's and is authorized as the admin: a need to
/// impersonate is proven with the account's own token instead.
async fn as_user(
    tb: &Testbed,
    client: &Client,
    case: &Path,
    user: &str,
    need: Option<&Need>,
    args: &[&str],
) -> crate::util::Run {
    if need.is_none_or(|n| n.verb != "impersonate") {
        return run(kir_with(&tb.kubeconfig)
            .arg("--new-case")
            .arg("--case")
            .arg(case)
            .args(args)
            .args(["--as", user]));
    }
    let parts: Vec<&str> = user.split(':').collect();
    let (ns, account) = (parts[2], parts[3]);
    let token = crate::scene::request_token(client, ns, account, None).await;
    let kubeconfig =
        crate::scene::token_kubeconfig(&tb.kubeconfig, &token, &case.with_extension("kubeconfig"));
    run(kir_with(&kubeconfig).arg("--new-case").arg("--case").arg(case).args(args))
}

#[test]
fn generated_rbac_for_every_pod_command() {
    let out = run(kir().args([
        "doctor",
        "--rbac",
        "capture pod,snapshot pod,isolate pod --cordon,release pod,replace pod",
        "-n",
        "shop",
        "--service-account",
        "responder",
    ]))
    .success();
    insta::assert_snapshot!("rbac_for_the_pod_commands", out.stdout);
    let unknown = run(kir().args(["doctor", "--rbac", "capture pods", "-n", "shop"]));
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("capture pod,"), "{}", unknown.stderr);
}

/// A pod of a Deployment that references a Secret, so every read capture makes is reached.
async fn capture_scene(client: &Client, ns: &str) -> String {
    let secret = Secret {
        metadata: ObjectMeta { name: Some("app-token".into()), ..Default::default() },
        string_data: Some([("token".to_string(), "s3cret".to_string())].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns).create(&PostParams::default(), &secret).await.unwrap();
    let mut app = container("app", "busybox:1.36");
    app.env = Some(vec![EnvVar {
        name: "TOKEN".into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: "app-token".into(),
                key: "token".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    create_deployment(client, ns, &deployment("app", 1, vec![app])).await;
    let pod = running_pods(client, ns, "app=app", 1).await.remove(0);
    format!("{ns}/{}", pod.metadata.name.unwrap())
}

#[tokio::test]
async fn capture_and_snapshot_need_exactly_their_declared_permissions() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("perm-capture").await;
    let pod = capture_scene(&client, &ns).await;
    let capture = required("capture pod", &["replicasets", "deployments", "secrets", "configmaps"]);
    let snapshot = required("snapshot pod", &[]);
    let capture_users = identities(&client, &ns, "capture pod", &capture).await;
    let snapshot_users = identities(&client, &ns, "snapshot pod", &snapshot).await;
    let dir = tempfile::tempdir().unwrap();

    for (command, users) in [("capture", &capture_users), ("snapshot", &snapshot_users)] {
        for (i, (need, user)) in users.iter().enumerate() {
            let case = dir.path().join(format!("{command}-{i}"));
            let out = as_user(tb, &client, &case, user, need.as_ref(), &[command, "pod", &pod]).await;
            let said = format!("{}{}", out.stdout, out.stderr);
            match need {
                None => assert_eq!(out.code, 0, "{command} with its declared permissions:\n{said}"),
                Some(need) => {
                    assert_ne!(out.code, 0, "{command} without {} succeeded:\n{said}", need.describe());
                    assert_names(&said, need);
                }
            }
            // Doctor, as the same identity, tells exactly this in advance.
            let expected: Vec<String> = need.iter().map(|n| n.describe_in(&ns)).collect();
            assert_eq!(doctor_missing(tb, &ns, user, &format!("{command} pod")), expected, "{user}");
        }
    }
}

/// What `kir doctor --as user` says `command` is missing.
fn doctor_missing(tb: &Testbed, ns: &str, user: &str, command: &str) -> Vec<String> {
    let report =
        run(kir_with(&tb.kubeconfig).args(["doctor", "-o", "json", "-n", ns, "--as", user])).success().json();
    let judged =
        report["commands"].as_array().unwrap().iter().find(|c| c["command"] == command).unwrap().clone();
    let missing = strings(&judged["missing"]);
    let expected = if missing.is_empty() { "available" } else { "unavailable" };
    assert_eq!(judged["availability"], expected, "{judged}");
    missing
}

/// Bare pods (no controller, no Service: isolate neither orphans nor reads endpoints), one
/// per identity, running.
async fn bare_pods(client: &Client, ns: &str, count: usize) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    for i in 0..count {
        let pod = bare_pod(&format!("suspect-{i}"), vec![container("app", "busybox:1.36")]);
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    running_pods(client, ns, "", count).await;
    (0..count).map(|i| format!("{ns}/suspect-{i}")).collect()
}

/// kir's quarantine policies for the pod with this UID.
async fn quarantine_policies(client: &Client, ns: &str, uid: &str) -> usize {
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    let selector = format!("ir.kir.dev/quarantine={uid}");
    policies.list(&ListParams::default().labels(&selector)).await.unwrap().items.len()
}

fn changes_journaled(case: &Path) -> Vec<String> {
    journal(case)
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .filter(|a| a != "case.open")
        .collect()
}

#[tokio::test]
async fn isolate_and_release_need_exactly_their_declared_permissions() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("perm-isolate").await;
    let isolate = required("isolate pod", &[]);
    let release = required("release pod", &[]);
    let pods = bare_pods(&client, &ns, isolate.len() + release.len() + 2).await;
    let (isolate_pods, release_pods) = pods.split_at(isolate.len() + 1);
    let isolate_users = identities(&client, &ns, "isolate pod", &isolate).await;
    let release_users = identities(&client, &ns, "release pod", &release).await;
    let dir = tempfile::tempdir().unwrap();

    for ((need, user), pod) in isolate_users.iter().zip(isolate_pods) {
        let case = dir.path().join(format!("isolate-{}", pod.replace('/', "-")));
        let expected: Vec<String> = need.iter().map(|n| n.describe_in(&ns)).collect();
        assert_eq!(doctor_missing(tb, &ns, user, "isolate pod"), expected, "{user}");
        let out = as_user(tb, &client, &case, user, need.as_ref(), &["isolate", "pod", pod, "--yes"]).await;
        let said = format!("{}{}", out.stdout, out.stderr);
        match need {
            None => assert_eq!(out.code, 0, "isolate with its declared permissions:\n{said}"),
            Some(need) => {
                assert_ne!(out.code, 0, "isolate without {} succeeded:\n{said}", need.describe());
                assert_names(&said, need);
                assert_journaled(
                    &client,
                    &ns,
                    pod,
                    &case,
                    "isolate.create-networkpolicy",
                    "isolate.label-pod",
                )
                .await;
            }
        }
    }

    for ((need, user), pod) in release_users.iter().zip(release_pods) {
        let case = dir.path().join(format!("release-{}", pod.replace('/', "-")));
        run(kir_with(&tb.kubeconfig)
            .arg("--new-case")
            .arg("--case")
            .arg(&case)
            .args(["isolate", "pod", pod, "--yes"]))
        .success();
        let expected: Vec<String> = need.iter().map(|n| n.describe_in(&ns)).collect();
        assert_eq!(doctor_missing(tb, &ns, user, "release pod"), expected, "{user}");
        let out = as_user(tb, &client, &case, user, need.as_ref(), &["release", "pod", pod, "--yes"]).await;
        let said = format!("{}{}", out.stdout, out.stderr);
        match need {
            None => assert_eq!(out.code, 0, "release with its declared permissions:\n{said}"),
            Some(need) => {
                assert_ne!(out.code, 0, "release without {} succeeded:\n{said}", need.describe());
                assert_names(&said, need);
                let (has_policy, labelled) = live_state(&client, &ns, pod).await;
                let undone = changes_journaled(&case).iter().filter(|a| *a == "undo").count();
                assert!(has_policy && labelled || undone > 0, "what release changed is journaled");
            }
        }
    }
}

/// Whether the pod's quarantine policy exists, and whether the pod carries the quarantine label.
async fn live_state(client: &Client, ns: &str, pod: &str) -> (bool, bool) {
    let name = pod.split_once('/').unwrap().1;
    let live = Api::<Pod>::namespaced(client.clone(), ns).get(name).await.unwrap().metadata;
    let labelled = live.labels.unwrap_or_default().contains_key("ir.kir.dev/quarantine");
    (quarantine_policies(client, ns, &live.uid.unwrap_or_default()).await > 0, labelled)
}

/// Every change isolate left in the cluster has its journal entry.
async fn assert_journaled(client: &Client, ns: &str, pod: &str, case: &Path, policy: &str, label: &str) {
    let (has_policy, labelled) = live_state(client, ns, pod).await;
    let actions = changes_journaled(case);
    assert!(!has_policy || actions.iter().any(|a| a == policy), "the policy is journaled: {actions:?}");
    assert!(!labelled || actions.iter().any(|a| a == label), "the label is journaled: {actions:?}");
}

/// The needs `command` declares itself, required and made in every case (its steps' are
/// proven by their own tests).
fn own_required(command: &str) -> Vec<Need> {
    permissions::command(command)
        .unwrap()
        .needs
        .iter()
        .copied()
        .filter(|n| n.required() && n.when.is_none() && !n.if_served)
        .collect()
}

/// A kwok node for this test alone: cordoning it touches no other test's pods. Bare pods
/// placed on it, running.
async fn own_node_with_pods(client: &Client, ns: &str, count: usize) -> (String, Vec<String>) {
    let node = format!("{ns}-node");
    let object: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node,
            "labels": {"kubernetes.io/hostname": node, "type": "kwok"},
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        // Nothing is scheduled here but the pods placed by name.
        "spec": {"taints": [{"key": "ir.kir.dev/test", "value": ns, "effect": "NoSchedule"}]},
    }))
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    for i in 0..count {
        let mut pod = bare_pod(&format!("suspect-{i}"), vec![container("app", "busybox:1.36")]);
        pod.spec.as_mut().unwrap().node_name = Some(node.clone());
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    running_pods(client, ns, "", count).await;
    (node, (0..count).map(|i| format!("{ns}/suspect-{i}")).collect())
}

async fn cordoned(client: &Client, node: &str) -> bool {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    nodes.get(node).await.unwrap().spec.unwrap_or_default().unschedulable == Some(true)
}

/// Undo `case` as the admin, so that the next identity starts from an uncordoned node.
async fn undo_as_admin(tb: &Testbed, client: &Client, case: &Path, node: &str) {
    run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(case)).success();
    assert!(!cordoned(client, node).await, "the admin's undo uncordoned {node}");
}

/// Where a test's identities run: each in a case of its own, judged the same way.
struct Trial<'a> {
    tb: &'a Testbed,
    ns: &'a str,
    dir: &'a Path,
}

impl Trial<'_> {
    fn case_of(&self, label: &str, pod: &str) -> std::path::PathBuf {
        self.dir.join(format!("{label}-{}", pod.replace('/', "-")))
    }

    /// `kir doctor --as user` names exactly what `need` takes away from `command`.
    fn doctor_agrees(&self, user: &str, need: Option<&Need>, command: &str) {
        let expected: Vec<String> = need.iter().map(|n| n.describe_in(self.ns)).collect();
        assert_eq!(doctor_missing(self.tb, self.ns, user, command), expected, "{user}");
    }

    /// The run succeeded with every declared permission, or failed naming the one taken away.
    fn judge(&self, out: &crate::util::Run, need: Option<&Need>, what: &str) {
        let said = format!("{}{}", out.stdout, out.stderr);
        match need {
            None => assert_eq!(out.code, 0, "{what} with its declared permissions:\n{said}"),
            Some(need) => {
                assert_ne!(out.code, 0, "{what} without {} succeeded:\n{said}", need.describe());
                assert_names(&said, need);
            }
        }
    }
}

#[tokio::test]
async fn cordon_release_of_the_node_and_undo_need_exactly_their_declared_permissions() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("perm-cordon").await;
    let cordon = own_required("isolate pod --cordon");
    let uncordon = required("release pod (cordoned node)", &[]);
    let undo = required("undo", &[]);
    let count = cordon.len() + uncordon.len() + undo.len() + 3;
    let (node, pods) = own_node_with_pods(&client, &ns, count).await;
    let mut pods = pods.into_iter();
    let cordon_users = identities(&client, &ns, "isolate pod --cordon", &cordon).await;
    let release_users = identities(&client, &ns, "release pod (cordoned node)", &uncordon).await;
    let undo_users = identities(&client, &ns, "undo", &undo).await;
    let dir = tempfile::tempdir().unwrap();
    let trial = Trial { tb, ns: &ns, dir: dir.path() };

    for (need, user) in &cordon_users {
        let pod = pods.next().unwrap();
        let case = trial.case_of("cordon", &pod);
        trial.doctor_agrees(user, need.as_ref(), "isolate pod --cordon");
        let out =
            as_user(tb, &client, &case, user, need.as_ref(), &["isolate", "pod", &pod, "--cordon", "--yes"])
                .await;
        trial.judge(&out, need.as_ref(), "isolate --cordon");
        let is_cordoned = cordoned(&client, &node).await;
        match need {
            None => assert!(is_cordoned, "cordoned with every permission"),
            Some(need) if need.verb == "patch" => assert!(!is_cordoned, "not cordoned without patch"),
            // Cordoned, but not read back: said, and journaled.
            Some(_) => {}
        }
        if is_cordoned {
            let actions = changes_journaled(&case);
            assert!(actions.iter().any(|a| a == "isolate.cordon-node"), "{actions:?}");
        }
        undo_as_admin(tb, &client, &case, &node).await;
    }

    for (command, users) in [("release pod (cordoned node)", &release_users), ("undo", &undo_users)] {
        for (need, user) in users {
            let pod = pods.next().unwrap();
            let case = trial.case_of("uncordon", &pod);
            run(kir_with(&tb.kubeconfig)
                .arg("--new-case")
                .arg("--case")
                .arg(&case)
                .args(["isolate", "pod", &pod, "--cordon", "--yes"]))
            .success();
            assert!(cordoned(&client, &node).await);
            trial.doctor_agrees(user, need.as_ref(), command);
            let args: Vec<&str> = if command == "undo" {
                vec!["undo", "--yes", case.to_str().unwrap()]
            } else {
                vec!["release", "pod", &pod, "--yes"]
            };
            let out = as_user(tb, &client, &case, user, need.as_ref(), &args).await;
            trial.judge(&out, need.as_ref(), command);
            let (has_policy, labelled) = live_state(&client, &ns, &pod).await;
            let still_cordoned = cordoned(&client, &node).await;
            if need.is_none() {
                assert!(!has_policy && !labelled && !still_cordoned, "{command} reversed everything");
            } else {
                // Whatever it reversed before it stopped is journaled.
                let undone = changes_journaled(&case).iter().filter(|a| *a == "undo").count();
                assert!(has_policy && labelled && still_cordoned || undone > 0, "{command}: journaled");
            }
            run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&case)).success();
            assert!(!cordoned(&client, &node).await);
        }
    }
    let _ =
        Api::<k8s_openapi::api::core::v1::Node>::all(client.clone()).delete(&node, &Default::default()).await;
}

#[tokio::test]
async fn replace_and_the_playbook_need_exactly_their_declared_permissions() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("perm-playbook").await;
    // Every pod mounts the kube-root-ca.crt ConfigMap.
    let replace = required("replace pod", &[]);
    let playbook = required("respond compromised-pod", &["configmaps"]);
    let pods = bare_pods(&client, &ns, replace.len() + playbook.len() + 2).await;
    let (replace_pods, playbook_pods) = pods.split_at(replace.len() + 1);
    let replace_users = identities(&client, &ns, "replace pod", &replace).await;
    let playbook_users = identities(&client, &ns, "respond compromised-pod", &playbook).await;
    let dir = tempfile::tempdir().unwrap();
    let trial = Trial { tb, ns: &ns, dir: dir.path() };
    let exists = |pod: &str| {
        let (api, name) =
            (Api::<Pod>::namespaced(client.clone(), &ns), pod.split_once('/').unwrap().1.to_string());
        async move { api.get_opt(&name).await.unwrap().is_some_and(|p| p.metadata.deletion_timestamp.is_none()) }
    };

    for ((need, user), pod) in replace_users.iter().zip(replace_pods) {
        let case = trial.case_of("replace", pod);
        run(kir_with(&tb.kubeconfig)
            .arg("--new-case")
            .arg("--case")
            .arg(&case)
            .args(["capture", "pod", pod]))
        .success();
        trial.doctor_agrees(user, need.as_ref(), "replace pod");
        let out = as_user(tb, &client, &case, user, need.as_ref(), &["replace", "pod", pod, "--yes"]).await;
        trial.judge(&out, need.as_ref(), "replace");
        let deleted = !exists(pod).await;
        assert_eq!(deleted, need.is_none(), "the pod is deleted only with every permission");
        let actions = changes_journaled(&case);
        assert!(
            !deleted || actions.iter().any(|a| a == "replace.delete-pod"),
            "the deletion is journaled: {actions:?}"
        );
    }

    for ((need, user), pod) in playbook_users.iter().zip(playbook_pods) {
        let case = trial.case_of("respond", pod);
        trial.doctor_agrees(user, need.as_ref(), "respond compromised-pod");
        let args = ["respond", "compromised-pod", pod, "--replace", "--yes"];
        let out = as_user(tb, &client, &case, user, need.as_ref(), &args).await;
        trial.judge(&out, need.as_ref(), "respond compromised-pod");
        let deleted = !exists(pod).await;
        let actions = changes_journaled(&case);
        assert!(!deleted || actions.iter().any(|a| a == "replace.delete-pod"), "{actions:?}");
        if !deleted {
            assert_journaled(&client, &ns, pod, &case, "isolate.create-networkpolicy", "isolate.label-pod")
                .await;
        }
        if need.is_none() {
            assert!(deleted, "the playbook deleted the suspect with every permission");
        }
    }
}

/// A pod of each owner kind capture follows besides Deployments, with the kinds on its chain:
/// a StatefulSet's, a DaemonSet's, a ReplicationController's, and a Job's whose Job belongs to
/// a (suspended) CronJob.
async fn owned_pods(client: &Client, ns: &str) -> Vec<(Vec<&'static str>, String)> {
    use k8s_openapi::api::{
        apps::v1::{DaemonSet, StatefulSet},
        batch::v1::{CronJob, Job},
        core::v1::ReplicationController,
    };
    let template = |app: &str| json!({"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}});
    let params = PostParams::default();
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": template("db")},
    }))
    .unwrap();
    Api::<StatefulSet>::namespaced(client.clone(), ns).create(&params, &sts).await.unwrap();
    let mut agent = template("agent");
    agent["spec"]["nodeSelector"] = json!({"kubernetes.io/hostname": "kwok-node-0"});
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": agent},
    }))
    .unwrap();
    Api::<DaemonSet>::namespaced(client.clone(), ns).create(&params, &ds).await.unwrap();
    let rc: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "legacy"},
        "spec": {"replicas": 1, "selector": {"app": "legacy"}, "template": template("legacy")},
    }))
    .unwrap();
    Api::<ReplicationController>::namespaced(client.clone(), ns).create(&params, &rc).await.unwrap();
    let mut job_template = template("batch");
    job_template["spec"]["restartPolicy"] = json!("Never");
    let cron: CronJob = serde_json::from_value(json!({
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 3 * * *", "suspend": true, "jobTemplate": {"spec": {"template": job_template}}},
    }))
    .unwrap();
    let cron = Api::<CronJob>::namespaced(client.clone(), ns).create(&params, &cron).await.unwrap();
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "nightly-1", "ownerReferences": [{
            "apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly",
            "uid": cron.metadata.uid.unwrap(), "controller": true,
        }]},
        "spec": {"template": job_template},
    }))
    .unwrap();
    Api::<Job>::namespaced(client.clone(), ns).create(&params, &job).await.unwrap();

    let mut found = Vec::new();
    for (selector, kinds) in [
        ("app=db", vec!["statefulsets"]),
        ("app=agent", vec!["daemonsets"]),
        ("app=legacy", vec!["replicationcontrollers"]),
        ("job-name=nightly-1", vec!["jobs", "cronjobs"]),
    ] {
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let name = loop {
            let pods = api.list(&ListParams::default().labels(selector)).await.unwrap().items;
            let started =
                pods.into_iter().find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()).is_some());
            if let Some(name) = started.and_then(|p| p.metadata.name) {
                break name;
            }
            assert!(tokio::time::Instant::now() < deadline, "a pod for {selector} in {ns}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        found.push((kinds, format!("{ns}/{name}")));
    }
    found
}

/// What `kir doctor --as user` says `command` runs without.
fn doctor_degraded(tb: &Testbed, ns: &str, user: &str, command: &str) -> Vec<String> {
    let report =
        run(kir_with(&tb.kubeconfig).args(["doctor", "-o", "json", "-n", ns, "--as", user])).success().json();
    let judged =
        report["commands"].as_array().unwrap().iter().find(|c| c["command"] == command).unwrap().clone();
    assert_eq!(judged["availability"], "degraded", "{judged}");
    judged["degraded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["permission"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn conditional_and_degrading_permissions_are_what_the_commands_need() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("perm-conditional").await;
    let dir = tempfile::tempdir().unwrap();
    let trial = Trial { tb, ns: &ns, dir: dir.path() };

    // Capture follows every owner kind: without reading one, the evidence is incomplete.
    let owned = owned_pods(&client, &ns).await;
    let owner_kinds: Vec<&str> = owned.iter().flat_map(|(kinds, _)| kinds.iter().copied()).collect();
    let owner_needs: Vec<Need> = permissions::command("capture pod")
        .unwrap()
        .needs
        .iter()
        .copied()
        .filter(|n| n.when.is_some() && owner_kinds.contains(&n.resource))
        .collect();
    assert_eq!(owner_needs.len(), owner_kinds.len(), "one declared need per owner kind");
    let users = identities(&client, &ns, "capture pod", &owner_needs).await;
    for (need, user) in &users {
        for (kinds, pod) in &owned {
            let on_chain = need.is_none_or(|n| kinds.contains(&n.resource));
            if !on_chain {
                continue;
            }
            let case = trial.case_of(&format!("capture-{}", user.rsplit(':').next().unwrap()), pod);
            let out = as_user(tb, &client, &case, user, need.as_ref(), &["capture", "pod", pod]).await;
            trial.judge(&out, need.as_ref(), &format!("capture of {pod}"));
        }
    }

    // Isolation of a Deployment's pod behind a Service: it orphans the pod (so it watches for
    // the replacement) and reads back which Services still route to it. Reads of the
    // controller, the node and the network plugin only make the plan less sure.
    create_deployment(&client, &ns, &deployment("web", 8, vec![container("web", "nginx:1.27")])).await;
    crate::scene::create_service(&client, &ns, "web", &[("app", "web")]).await;
    let web: Vec<String> = running_pods(&client, &ns, "app=web", 8)
        .await
        .into_iter()
        .map(|p| format!("{ns}/{}", p.metadata.name.unwrap()))
        .collect();
    let all = permissions::command("isolate pod").unwrap().all_needs();
    let conditional: Vec<Need> =
        all.iter().copied().filter(|n| n.required() && n.when.is_some() && !n.if_served).collect();
    let degrading: Vec<Need> = all
        .iter()
        .copied()
        .filter(|n| !n.required() && (n.when.is_none() || ["replicasets", "pods"].contains(&n.resource)))
        .collect();
    let removed: Vec<Need> = conditional.iter().chain(&degrading).copied().collect();
    assert!(removed.len() < web.len(), "a pod for each identity");
    let users = identities(&client, &ns, "isolate pod", &removed).await;
    for ((need, user), pod) in users.iter().zip(&web) {
        let case = trial.case_of("isolate", pod);
        let out = as_user(tb, &client, &case, user, need.as_ref(), &["isolate", "pod", pod, "--yes"]).await;
        match need {
            Some(need) if !need.required() => {
                let said = format!("{}{}", out.stdout, out.stderr);
                assert_eq!(out.code, 0, "isolate without {} still works:\n{said}", need.describe());
                assert_names(&said, need);
                assert!(doctor_degraded(tb, &ns, user, "isolate pod").contains(&need.describe_in(&ns)));
            }
            _ => trial.judge(&out, need.as_ref(), "isolate"),
        }
        assert_journaled(&client, &ns, pod, &case, "isolate.create-networkpolicy", "isolate.label-pod").await;
    }
}

#[tokio::test]
async fn permissions_of_served_policy_apis_are_needed_where_they_are_served() {
    let _exclusive = crate::scene::exclusive_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let outcome = async {
        crate::scene::install_crd(
            &client,
            "cilium.io",
            "v2",
            "CiliumNetworkPolicy",
            "ciliumnetworkpolicies",
            true,
        )
        .await;
        crate::scene::install_crd(
            &client,
            "policy.networking.k8s.io",
            "v1alpha1",
            "AdminNetworkPolicy",
            "adminnetworkpolicies",
            false,
        )
        .await;
        crate::scene::eventually(
            "discovery serves the new kinds",
            std::time::Duration::from_secs(30),
            || async {
                let report = run(kir_with(&tb.kubeconfig).args(["doctor", "-o", "json"])).json();
                let caps = report["capabilities"].as_array().unwrap().clone();
                ["cilium", "adminNetworkPolicy"]
                    .iter()
                    .all(|n| caps.iter().any(|c| c["name"] == *n && c["present"] == true))
            },
        )
        .await;
        let ns = tb.namespace("perm-served").await;
        let served = |command: &str| -> Vec<Need> {
            permissions::command(command).unwrap().needs.iter().copied().filter(|n| n.if_served).collect()
        };
        let (isolate, release) = (served("isolate pod"), served("release pod"));
        let pods = bare_pods(&client, &ns, isolate.len() + release.len() + 2).await;
        let (isolate_pods, release_pods) = pods.split_at(isolate.len() + 1);
        let isolate_users = identities(&client, &ns, "isolate pod", &isolate).await;
        let release_users = identities(&client, &ns, "release pod", &release).await;
        let dir = tempfile::tempdir().unwrap();
        let trial = Trial { tb, ns: &ns, dir: dir.path() };
        for ((need, user), pod) in isolate_users.iter().zip(isolate_pods) {
            let case = trial.case_of("isolate", pod);
            trial.doctor_agrees(user, need.as_ref(), "isolate pod");
            let out =
                as_user(tb, &client, &case, user, need.as_ref(), &["isolate", "pod", pod, "--yes"]).await;
            trial.judge(&out, need.as_ref(), "isolate where Cilium and AdminNetworkPolicy are served");
            run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&case)).success();
        }
        for ((need, user), pod) in release_users.iter().zip(release_pods) {
            let case = trial.case_of("release", pod);
            run(kir_with(&tb.kubeconfig)
                .arg("--new-case")
                .arg("--case")
                .arg(&case)
                .args(["isolate", "pod", pod, "--yes"]))
            .success();
            trial.doctor_agrees(user, need.as_ref(), "release pod");
            let out =
                as_user(tb, &client, &case, user, need.as_ref(), &["release", "pod", pod, "--yes"]).await;
            trial.judge(&out, need.as_ref(), "release where Cilium and AdminNetworkPolicy are served");
            run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&case)).success();
        }
    };
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    crate::scene::remove_crd(&client, "ciliumnetworkpolicies.cilium.io").await;
    crate::scene::remove_crd(&client, "adminnetworkpolicies.policy.networking.k8s.io").await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn creds_scope_and_revoke_need_exactly_their_declared_permissions() {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("perm-creds").await;
    let scope = required("creds scope", &[]);
    // Each revoke deletes a RoleBinding that names only its subject.
    let revoke = required("creds revoke", &["rolebindings"])
        .into_iter()
        .filter(|n| n.resource != "rolebindings" || n.verb == "delete" || n.verb == "list")
        .collect::<Vec<_>>();
    let scope_users = identities(&client, &ns, "creds scope", &scope).await;
    let revoke_users = identities(&client, &ns, "creds revoke", &revoke).await;
    let params = PostParams::default();
    let role: Role = serde_json::from_value(
        json!({"metadata": {"name": "reader"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
    )
    .unwrap();
    Api::<Role>::namespaced(client.clone(), &ns).create(&params, &role).await.unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
    for i in 0..revoke_users.len() {
        let account = ServiceAccount {
            metadata: ObjectMeta { name: Some(format!("target-{i}")), ..Default::default() },
            ..Default::default()
        };
        Api::<ServiceAccount>::namespaced(client.clone(), &ns).create(&params, &account).await.unwrap();
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": format!("target-{i}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": format!("target-{i}"), "namespace": ns}],
        }))
        .unwrap();
        bindings.create(&params, &binding).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let target = format!("system:serviceaccount:{ns}:target-0");
    for (i, (need, user)) in scope_users.iter().enumerate() {
        let case = dir.path().join(format!("scope-{i}"));
        let out = as_user(tb, &client, &case, user, need.as_ref(), &["creds", "scope", &target]).await;
        let said = format!("{}{}", out.stdout, out.stderr);
        match need {
            None => assert_eq!(out.code, 0, "creds scope with its declared permissions:\n{said}"),
            Some(need) => {
                assert_ne!(out.code, 0, "creds scope without {} succeeded:\n{said}", need.describe());
                assert_names(&said, need);
            }
        }
    }
    for (i, (need, user)) in revoke_users.iter().enumerate() {
        let case = dir.path().join(format!("revoke-{i}"));
        let subject = format!("system:serviceaccount:{ns}:target-{i}");
        let out =
            as_user(tb, &client, &case, user, need.as_ref(), &["creds", "revoke", &subject, "--yes"]).await;
        let said = format!("{}{}", out.stdout, out.stderr);
        let kept = bindings.get_opt(&format!("target-{i}")).await.unwrap().is_some();
        match need {
            None => {
                assert_eq!(out.code, 0, "creds revoke with its declared permissions:\n{said}");
                assert!(!kept, "the binding is gone");
            }
            Some(need) => {
                assert_ne!(out.code, 0, "creds revoke without {} succeeded:\n{said}", need.describe());
                assert_names(&said, need);
                // Every permission is asked before the first change: nothing is half done.
                assert!(kept, "the binding is left as it was without {}", need.describe());
            }
        }
    }
}

#[tokio::test]
async fn image_find_and_block_need_exactly_their_declared_permissions() {
    use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("perm-image").await;
    let find = required("image find", &[]);
    let block =
        required("image block", &["validatingadmissionpolicies", "validatingadmissionpolicybindings"]);
    let find_users = identities(&client, &ns, "image find", &find).await;
    let block_users = identities(&client, &ns, "image block", &block).await;
    let dir = tempfile::tempdir().unwrap();
    let image = format!("{ns}/miner:1");
    for (i, (need, user)) in find_users.iter().enumerate() {
        let case = dir.path().join(format!("find-{i}"));
        let out = as_user(
            tb,
            &client,
            &case,
            user,
            need.as_ref(),
            &["image", "find", &image, "-A", "--no-resolve"],
        )
        .await;
        let said = format!("{}{}", out.stdout, out.stderr);
        match need {
            None => assert_eq!(out.code, 0, "image find with its declared permissions:\n{said}"),
            Some(need) => {
                assert_ne!(out.code, 0, "image find without {} succeeded:\n{said}", need.describe());
                assert_names(&said, need);
            }
        }
    }
    // A search that could not read one kind of controller says so, and exits 5.
    let degrading = permissions::command("image find").unwrap().all_needs();
    let daemonsets = degrading.iter().find(|n| n.resource == "daemonsets").unwrap();
    let mut objects = generated("image find", &ns, "imagefind-nods");
    for object in objects.iter_mut().filter(|o| o.get("rules").is_some()) {
        object["rules"] = without(&object["rules"], daemonsets, &ns);
    }
    let user = apply(&client, &ns, &objects).await;
    let out = as_user(
        tb,
        &client,
        &dir.path().join("find-nods"),
        &user,
        None,
        &["image", "find", &image, "-A", "--no-resolve"],
    )
    .await;
    assert_eq!(out.code, 5, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("not searched: list daemonsets.apps"), "{}", out.stderr);
    assert_eq!(doctor_degraded(tb, &ns, &user, "image find"), ["list daemonsets.apps (cluster-wide)"]);

    let policies: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
    for (i, (need, user)) in block_users.iter().enumerate() {
        let case = dir.path().join(format!("block-{i}"));
        // One image per identity: each block is a cluster-wide policy of its own.
        let image = format!("{ns}/miner-{i}:1");
        let out = as_user(
            tb,
            &client,
            &case,
            user,
            need.as_ref(),
            &["image", "block", &image, "-n", &ns, "--yes", "--no-resolve", "-o", "json"],
        )
        .await;
        let said = format!("{}{}", out.stdout, out.stderr);
        match need {
            None => {
                assert_eq!(out.code, 0, "image block with its declared permissions:\n{said}");
                assert_eq!(out.json()["blocked"], true);
                let undo = run(kir_with(&tb.kubeconfig).arg("undo").arg(&case).arg("--yes"));
                assert_eq!(undo.code, 0, "{}{}", undo.stdout, undo.stderr);
            }
            Some(need) => {
                assert_ne!(out.code, 0, "image block without {} succeeded:\n{said}", need.describe());
                assert_names(&said, need);
                // Every permission is asked before the first change: no policy was made.
                let made = policies
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .filter(|p| {
                        p.metadata.annotations.as_ref().and_then(|a| a.get("kir.dev/image-pattern"))
                            == Some(&format!("docker.io/{image}"))
                    })
                    .count();
                assert_eq!(made, 0, "a policy was made without {}", need.describe());
            }
        }
    }
}

#[tokio::test]
async fn prepare_inventory_needs_exactly_its_declared_permissions() {
    // Expects the Gateway API not to be served: its needs are never reached.
    let _plain = crate::scene::plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("perm-inventory").await;
    // Every need only degrades the inventory: with all of them it is complete (exit 0); with
    // one taken away, that kind is a gap, named, and the exit code says incomplete (5).
    let needs: Vec<Need> = permissions::command("prepare inventory")
        .unwrap()
        .all_needs()
        .into_iter()
        .filter(|n| !n.if_served)
        .collect();
    assert!(needs.iter().all(|n| !n.required()));
    let users = identities(&client, &ns, "prepare inventory", &needs).await;
    let dir = tempfile::tempdir().unwrap();
    for (i, (need, user)) in users.iter().enumerate() {
        let case = dir.path().join(format!("inventory-{i}"));
        let out =
            as_user(tb, &client, &case, user, need.as_ref(), &["prepare", "inventory", "-A", "-o", "json"])
                .await;
        let said = format!("{}{}", out.stdout, out.stderr);
        match need {
            None => {
                assert_eq!(out.code, 0, "prepare inventory with its declared permissions:\n{said}");
                assert_eq!(out.json()["gaps"], json!([]));
            }
            Some(need) => {
                assert_eq!(out.code, 5, "prepare inventory without {}:\n{said}", need.describe());
                let kind = if need.group.is_empty() {
                    need.resource.to_string()
                } else {
                    format!("{}.{}", need.resource, need.group)
                };
                assert!(out.stderr.contains(&format!("not read: list {kind}")), "{}", out.stderr);
                assert_names(&said, need);
                let gaps: Vec<String> = out.json()["gaps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| g["kind"].as_str().unwrap().into())
                    .collect();
                assert_eq!(gaps, [kind]);
            }
        }
    }
}

//! Each pod command's declared permissions are exactly what it needs: bound to the RBAC
//! `kir doctor --rbac` generates for it, the command succeeds; with any one required permission
//! taken away, it fails and says which, and what it changed before is in the case journal.
//! `kir doctor --as` the same identity foretells it.

use std::path::Path;

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
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
fn generated(command: &str, ns: &str, account: &str) -> Vec<Value> {
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
async fn apply(client: &Client, ns: &str, objects: &[Value]) -> String {
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
        return run(kir_with(&tb.kubeconfig).arg("--case").arg(case).args(args).args(["--as", user]));
    }
    let parts: Vec<&str> = user.split(':').collect();
    let (ns, account) = (parts[2], parts[3]);
    let request = TokenRequest {
        spec: TokenRequestSpec { audiences: vec![], expiration_seconds: Some(600), ..Default::default() },
        ..Default::default()
    };
    let token: TokenRequest = Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create_subresource("token", account, &PostParams::default(), &request)
        .await
        .unwrap();
    let token = token.status.unwrap().token;
    let admin = std::fs::read_to_string(&tb.kubeconfig).unwrap();
    let field = |key: &str| admin.lines().find_map(|l| l.trim().strip_prefix(key)).unwrap().to_string();
    let (server, ca) = (field("server: "), field("certificate-authority-data: "));
    let kubeconfig = case.with_extension("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: sa\nclusters:\n- name: c\n  cluster: {{server: \"{server}\", \
             certificate-authority-data: {ca}}}\ncontexts:\n- name: sa\n  context: {{cluster: c, user: sa}}\n\
             users:\n- name: sa\n  user: {{token: {token}}}\n"
        ),
    )
    .unwrap();
    run(kir_with(&kubeconfig).arg("--case").arg(case).args(args))
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
        run(kir_with(&tb.kubeconfig).arg("--case").arg(&case).args(["isolate", "pod", pod, "--yes"]))
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

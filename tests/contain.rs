//! Containment that never overclaims, against the testbed: no moment in which the pod is less
//! confined than before, and "in place" only for the objects kir wrote.

use std::{collections::BTreeMap, path::Path};

use k8s_openapi::api::{
    core::v1::{Pod, ServiceAccount},
    networking::v1::{NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicySpec},
    rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{
    Client,
    api::{Api, DeleteParams, ObjectMeta, PostParams},
};
use serde_json::Value;

use crate::{
    scene::{
        bare_pod, container, create_deployment, deployment, exclusive_cluster, plain_cluster, running_pods,
        start_network_agent, stop_network_agent, wait_until_allowed,
    },
    testbed::{Testbed, testbed},
    util::{kir_with, run},
};

async fn suspect(tb: &Testbed, purpose: &str) -> (Client, String, Pod) {
    let client = tb.client().await;
    let ns = tb.namespace(purpose).await;
    create_deployment(&client, &ns, &deployment("web", 1, vec![container("web", "nginx:1.27")])).await;
    let pod = running_pods(&client, &ns, "app=web", 1).await.remove(0);
    (client, ns, pod)
}

async fn labels_of(client: &Client, ns: &str, pod: &str) -> BTreeMap<String, String> {
    Api::<Pod>::namespaced(client.clone(), ns).get(pod).await.unwrap().metadata.labels.unwrap_or_default()
}

fn journal_actions(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["action"].as_str().unwrap().to_string())
        .collect()
}

/// A service account in `ns` bound to a Role with these (core or named group) rules.
async fn narrow_identity(client: &Client, ns: &str, rules: Vec<PolicyRule>) -> String {
    let meta = |name: &str| ObjectMeta { name: Some(name.into()), ..Default::default() };
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &ServiceAccount { metadata: meta("responder"), ..Default::default() })
        .await
        .unwrap();
    Api::<Role>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &Role { metadata: meta("responder"), rules: Some(rules) })
        .await
        .unwrap();
    let binding = RoleBinding {
        metadata: meta("responder"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "responder".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "responder".into(),
            namespace: Some(ns.to_string()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    format!("system:serviceaccount:{ns}:responder")
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn without_a_deny_policy_the_pod_keeps_every_label() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let (client, ns, pod) = suspect(tb, "contain-no-policy").await;
    let name = pod.metadata.name.clone().unwrap();
    let before = labels_of(&client, &ns, &name).await;
    // Everything isolate needs but creating NetworkPolicies.
    let user = narrow_identity(
        &client,
        &ns,
        vec![
            rule("", &["pods"], &["get", "list", "watch", "patch"]),
            rule("", &["services", "events"], &["list"]),
            rule("apps", &["replicasets"], &["get"]),
            rule("discovery.k8s.io", &["endpointslices"], &["list"]),
            rule("networking.k8s.io", &["networkpolicies"], &["get", "list"]),
        ],
    )
    .await;
    wait_until_allowed(&client, &user, &ns, "", "pods", "patch").await;

    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let refused = run(kir_with(&tb.kubeconfig).arg("--new-case").arg("--case").arg(&case).args([
        "isolate",
        "pod",
        &format!("{ns}/{name}"),
        "--yes",
        "--as",
        &user,
    ]));
    assert_eq!(refused.code, 1, "stdout:\n{}\nstderr:\n{}", refused.stdout, refused.stderr);
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(said.contains("forbidden") && said.contains("networkpolicies"), "names the permission: {said}");
    assert!(said.contains("not made: no deny policy is in place"), "{said}");
    assert!(!said.contains("contained after"), "{said}");
    assert_eq!(labels_of(&client, &ns, &name).await, before, "the pod is exactly as it was");
    assert!(journal_actions(&case).contains(&"isolate.stopped".to_string()));
}

#[tokio::test]
async fn a_namesake_that_allows_everything_is_not_counted_as_the_quarantine() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let (client, ns, pod) = suspect(tb, "contain-namesake").await;
    let name = pod.metadata.name.clone().unwrap();
    let uid = pod.metadata.uid.clone().unwrap();
    let quarantine = format!("kir-quarantine-{}", &uid.replace('-', "")[..12]);
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    let allow_all = NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(quarantine.clone()),
            labels: Some(
                [
                    ("app.kubernetes.io/managed-by".to_string(), "kir".to_string()),
                    ("ir.kir.dev/quarantine".to_string(), uid.clone()),
                ]
                .into(),
            ),
            ..Default::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            ingress: Some(vec![NetworkPolicyIngressRule::default()]),
            ..Default::default()
        }),
    };
    policies.create(&PostParams::default(), &allow_all).await.unwrap();
    let before = labels_of(&client, &ns, &name).await;
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let isolate = |extra: &[&str]| {
        let mut command = kir_with(&tb.kubeconfig);
        command
            .arg("--new-case")
            .arg("--case")
            .arg(&case)
            .args(["isolate", "pod", &format!("{ns}/{name}"), "--yes"])
            .args(extra);
        run(&mut command)
    };

    let plan = isolate(&["--dry-run"]).success();
    assert!(plan.stdout.contains("holds kir's quarantine name"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("= (already in place) create NetworkPolicy"), "{}", plan.stdout);

    let refused = isolate(&["-o", "json"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let report = refused.json();
    assert!(report["isolatedAfterMs"].is_null(), "{report}");
    assert_eq!(report["inPlace"]["policies"], serde_json::json!([]), "the namesake is not kir's: {report}");
    assert!(report["changes"][0]["error"].as_str().unwrap().contains("not kir's deny-all"), "{report}");
    assert_eq!(labels_of(&client, &ns, &name).await, before);

    // Once the namesake is gone, the real quarantine goes in and is confirmed.
    policies.delete(&quarantine, &DeleteParams::default()).await.unwrap();
    let contained = isolate(&["-o", "json"]).success().json();
    assert!(contained["isolatedAfterMs"].is_u64(), "{contained}");
    assert_eq!(
        contained["inPlace"]["policies"],
        serde_json::json!([format!("NetworkPolicy/{ns}/{quarantine}")])
    );
}

#[tokio::test]
async fn contained_is_claimed_only_with_a_running_enforcer() {
    // A network plugin's agent in the cluster changes what every isolation may claim.
    let _exclusive = exclusive_cluster().await;
    let tb = testbed();
    let (client, ns, pod) = suspect(tb, "contain-enforced").await;
    let name = pod.metadata.name.clone().unwrap();
    let agents = start_network_agent(&client, &ns, "calico-node").await;

    let dir = tempfile::tempdir().unwrap();
    let isolated = run(kir_with(&tb.kubeconfig)
        .arg("--new-case")
        .arg("--case")
        .arg(dir.path().join("case"))
        .args(["isolate", "pod", &format!("{ns}/{name}"), "--yes", "--no-orphan"]))
    .success();
    assert!(
        isolated.stdout.contains("contained after") && isolated.stdout.contains("Calico"),
        "{}",
        isolated.stdout
    );

    stop_network_agent(&agents, "calico-node").await;
}

#[tokio::test]
async fn a_host_network_pod_is_never_called_contained() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("contain-hostnet").await;
    let mut pod = bare_pod("node-agent", vec![container("agent", "busybox:1.36")]);
    pod.spec.as_mut().unwrap().host_network = Some(true);
    Api::<Pod>::namespaced(client.clone(), &ns).create(&PostParams::default(), &pod).await.unwrap();
    running_pods(&client, &ns, "", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let target = format!("{ns}/node-agent");
    let plan = run(kir_with(&tb.kubeconfig).arg("--new-case").arg("--case").arg(&case).args([
        "isolate",
        "pod",
        &target,
        "--dry-run",
    ]))
    .success();
    assert!(plan.stdout.contains("hostNetwork") && plan.stdout.contains("--cordon"), "{}", plan.stdout);
    let isolated = run(kir_with(&tb.kubeconfig)
        .arg("--new-case")
        .arg("--case")
        .arg(&case)
        .args(["isolate", "pod", &target, "--yes", "-o", "json"]))
    .success()
    .json();
    assert!(isolated["containedAfterMs"].is_null(), "{isolated}");
    assert_eq!(isolated["plan"]["enforcement"]["enforced"], false, "{isolated}");
    let text = run(kir_with(&tb.kubeconfig)
        .arg("--new-case")
        .arg("--case")
        .arg(&case)
        .args(["isolate", "pod", &target, "--yes"]));
    assert!(text.stdout.contains("NOT network-contained"), "{}", text.stdout);
}

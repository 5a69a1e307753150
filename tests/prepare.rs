//! `kir prepare responder` and `kir prepare check` on the testbed: the generated RBAC is enough
//! to run every playbook as the responder's service account, and taking a playbook's grant
//! away makes it fail cleanly; the readiness check sees the testbed's real log and policy.

use k8s_openapi::api::{
    core::v1::ServiceAccount,
    rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding},
};
use kube::{
    Client,
    api::{Api, DeleteParams, PostParams},
};
use serde_json::Value;

use crate::{
    scene::{
        container, create_deployment, deployment, request_token, running_pods, token_kubeconfig,
        wait_until_allowed, wait_until_denied,
    },
    testbed::testbed,
    util::{kir, kir_with, run},
};

/// Create what `kir prepare responder` printed (a ClusterRole left by an earlier run is
/// replaced: its rules name this run's namespace).
async fn apply(client: &Client, objects: &[Value]) {
    for object in objects {
        let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
        let post = PostParams::default();
        match object["kind"].as_str().unwrap() {
            "ServiceAccount" => {
                let sa: ServiceAccount = serde_json::from_value(object.clone()).unwrap();
                Api::<ServiceAccount>::namespaced(client.clone(), ns).create(&post, &sa).await.unwrap();
            }
            "RoleBinding" => {
                let binding: RoleBinding = serde_json::from_value(object.clone()).unwrap();
                Api::<RoleBinding>::namespaced(client.clone(), ns).create(&post, &binding).await.unwrap();
            }
            "ClusterRoleBinding" => {
                let binding: ClusterRoleBinding = serde_json::from_value(object.clone()).unwrap();
                Api::<ClusterRoleBinding>::all(client.clone()).create(&post, &binding).await.unwrap();
            }
            "ClusterRole" => {
                let mut role: ClusterRole = serde_json::from_value(object.clone()).unwrap();
                let api = Api::<ClusterRole>::all(client.clone());
                let name = role.metadata.name.clone().unwrap();
                if let Some(old) = api.get_opt(&name).await.unwrap() {
                    role.metadata.resource_version = old.metadata.resource_version;
                    api.replace(&name, &post, &role).await.unwrap();
                } else {
                    api.create(&post, &role).await.unwrap();
                }
            }
            other => panic!("unexpected kind {other}"),
        }
    }
}

#[tokio::test]
async fn every_playbook_runs_as_the_generated_responder_and_fails_cleanly_without_its_grant() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("responder").await;
    let dir = tempfile::tempdir().unwrap();
    let account = format!("{ns}/responder");
    let default =
        run(kir().args(["prepare", "responder", "--namespaces", &ns, "-o", "json"])).success().json();
    assert!(!default.to_string().contains("kir:responder:drill"), "no drill grant by default");
    let playbooks = "respond compromised-pod,respond malicious-image,respond stolen-credentials,undo";
    let generated = run(kir().args([
        "prepare",
        "responder",
        "--namespaces",
        &ns,
        "--for",
        playbooks,
        "--service-account",
        &account,
        "-o",
        "json",
    ]))
    .success()
    .json();
    let objects = generated["items"].as_array().unwrap().clone();
    apply(&client, &objects).await;
    let user = format!("system:serviceaccount:{ns}:responder");
    wait_until_allowed(&client, &user, &ns, "networking.k8s.io", "networkpolicies", "create").await;
    wait_until_allowed(
        &client,
        &user,
        "",
        "admissionregistration.k8s.io",
        "validatingadmissionpolicies",
        "create",
    )
    .await;
    let token = request_token(&client, &ns, "responder", None).await;
    let responder = token_kubeconfig(&tb.kubeconfig, &token, &dir.path().join("responder.kubeconfig"));

    // The compromised pod.
    create_deployment(&client, &ns, &deployment("web", 2, vec![container("web", "nginx:1.27")])).await;
    let pods = running_pods(&client, &ns, "app=web", 2).await;
    let names: Vec<String> = pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
    let case = dir.path().join("pod-case");
    let pod = run(kir_with(&responder)
        .args([
            "respond",
            "compromised-pod",
            &format!("{ns}/{}", names[0]),
            "--replace",
            "--yes",
            "--new-case",
            "--case",
        ])
        .arg(&case));
    assert_eq!(pod.code, 0, "{}\n{}", pod.stdout, pod.stderr);

    // The malicious image, and its block lifted by undo.
    let image = format!("registry.invalid/{ns}/toolbox:1");
    create_deployment(&client, &ns, &deployment("tool", 1, vec![container("tool", &image)])).await;
    running_pods(&client, &ns, "app=tool", 1).await;
    let case = dir.path().join("image-case");
    let bad = run(kir_with(&responder)
        .args([
            "respond",
            "malicious-image",
            &image,
            "-n",
            &ns,
            "--no-resolve",
            "--scale-to-zero",
            "--yes",
            "--new-case",
            "--case",
        ])
        .arg(&case));
    assert_eq!(bad.code, 0, "{}\n{}", bad.stdout, bad.stderr);
    let undo = run(kir_with(&responder).arg("undo").arg(&case).arg("--yes"));
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);

    // The stolen credential.
    Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "ci"}})).unwrap(),
        )
        .await
        .unwrap();
    let leaked = dir.path().join("leaked");
    std::fs::write(&leaked, request_token(&client, &ns, "ci", None).await).unwrap();
    let case = dir.path().join("creds-case");
    let creds = run(kir_with(&responder)
        .args(["respond", "stolen-credentials", "--wait", "60s", "--yes", "-o", "json", "--token-file"])
        .arg(&leaked)
        .arg("--new-case")
        .arg("--case")
        .arg(&case));
    assert_eq!(creds.code, 0, "{}\n{}", creds.stdout, creds.stderr);
    assert_eq!(creds.json()["dead"], true);

    // Without its grant, the playbook stops at once and says what is missing.
    Api::<RoleBinding>::namespaced(client.clone(), &ns)
        .delete("kir:responder:respond-compromised-pod", &DeleteParams::default())
        .await
        .unwrap();
    wait_until_denied(&client, &user, &ns, "networking.k8s.io", "networkpolicies", "create").await;
    let denied = run(kir_with(&responder)
        .args(["respond", "compromised-pod", &format!("{ns}/{}", names[1]), "--yes", "--new-case", "--case"])
        .arg(dir.path().join("denied-case")));
    assert_ne!(denied.code, 0, "{}", denied.stdout);
    assert!(
        denied.stderr.contains("forbidden") && denied.stderr.contains("networkpolicies"),
        "names what is missing: {}",
        denied.stderr
    );
    for binding in objects.iter().filter(|o| o["kind"] == "ClusterRoleBinding") {
        let name = binding["metadata"]["name"].as_str().unwrap();
        Api::<ClusterRoleBinding>::all(client.clone()).delete(name, &DeleteParams::default()).await.unwrap();
    }
}

#[tokio::test]
async fn bad_responder_input_is_refused() {
    let bad_account =
        run(kir().args(["prepare", "responder", "--namespaces", "shop", "--service-account", "responder"]));
    assert_eq!(bad_account.code, 2);
    assert!(bad_account.stderr.contains("NS/NAME"), "{}", bad_account.stderr);
    let unknown =
        run(kir().args(["prepare", "responder", "--namespaces", "shop", "--for", "respond everything"]));
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("\"respond everything\"") && unknown.stderr.contains("capture pod"),
        "{}",
        unknown.stderr
    );
    let no_namespace = run(kir().args(["prepare", "responder"]));
    assert_eq!(no_namespace.code, 2);
    assert!(no_namespace.stderr.contains("--namespaces"), "{}", no_namespace.stderr);
    let bad_namespace = run(kir().args(["prepare", "responder", "--namespaces", "Shop_1"]));
    assert_eq!(bad_namespace.code, 2, "{}", bad_namespace.stderr);
}

#[tokio::test]
async fn the_readiness_check_reads_the_testbeds_log_and_policy_and_names_each_fix() {
    let tb = testbed();
    let dir = tempfile::tempdir().unwrap();
    let policy = tb.audit_log.parent().unwrap().parent().unwrap().join("audit-policy.yaml");
    let keys = dir.path().join("signing");
    run(kir().arg("case").arg("keygen").arg(&keys).env("KIR_SIGN_PASSWORD", "drill")).success();
    let ran = run(kir_with(&tb.kubeconfig)
        .args(["prepare", "check", "-o", "json", "--audit-log"])
        .arg(&tb.audit_log)
        .arg("--audit-policy")
        .arg(&policy)
        .arg("--cases")
        .arg(dir.path().join("cases"))
        .arg("--sign-key")
        .arg(keys.with_extension("key"))
        .env("KIR_SIGN_PASSWORD", "drill"));
    let report = ran.json();
    assert_eq!(ran.code, 1, "the testbed has gaps (no runtime sensor): {report:#}");
    let status = |item: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["item"] == item)
            .unwrap_or_else(|| panic!("{item}: {report:#}"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("audit log"), "ready");
    assert_eq!(status("case folder"), "ready");
    assert_eq!(status("signing key"), "ready");
    assert_eq!(status("runtime sensor"), "gap");
    assert_eq!(status("policy: kir-audit-configmap-with-credentials"), "gap");
    let gaps: Vec<&Value> =
        report["checks"].as_array().unwrap().iter().filter(|c| c["status"] == "gap").collect();
    assert!(
        gaps.iter().all(|g| g["fix"].as_str().is_some_and(|f| !f.is_empty())),
        "every gap has its fix: {report:#}"
    );
    assert_eq!(std::fs::read_dir(dir.path().join("cases")).unwrap().count(), 0, "the trial case is removed");

    let not_a_policy = dir.path().join("deploy.yaml");
    std::fs::write(&not_a_policy, "apiVersion: apps/v1\nkind: Deployment\n").unwrap();
    let refused =
        run(kir_with(&tb.kubeconfig).args(["prepare", "check", "--audit-policy"]).arg(&not_a_policy));
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("deploy.yaml") && refused.stderr.contains("not an audit policy"),
        "{}",
        refused.stderr
    );
    let missing = run(kir_with(&tb.kubeconfig).args(["prepare", "check", "--audit-log", "/nonexistent/log"]));
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("--audit-log /nonexistent/log"), "{}", missing.stderr);
}

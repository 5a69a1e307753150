//! `kir undo` and `kir release pod` against the testbed, with the case folder as hostile input:
//! forged journal lines, objects re-created under kir's names, and cases that share a pod.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use k8s_openapi::api::{
    core::v1::{Namespace, Pod},
    networking::v1::NetworkPolicy,
};
use kube::{
    Client,
    api::{Api, DeleteParams, PostParams},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    scene::{container, create_deployment, deployment, plain_cluster, running_pods},
    testbed::{Testbed, testbed},
    util::{kir, kir_with, run},
};

fn kir_in(tb: &Testbed, case: &Path) -> std::process::Command {
    let mut command = kir_with(&tb.kubeconfig);
    command.arg("--new-case").arg("--case").arg(case);
    command
}

/// One running pod of a Deployment, in a namespace of its own.
async fn suspect(tb: &Testbed, purpose: &str) -> (Client, String, String, String) {
    let client = tb.client().await;
    let ns = tb.namespace(purpose).await;
    create_deployment(&client, &ns, &deployment("web", 1, vec![container("web", "nginx:1.27")])).await;
    let pod = running_pods(&client, &ns, "app=web", 1).await.remove(0);
    (client, ns, pod.metadata.name.unwrap(), pod.metadata.uid.unwrap())
}

fn isolate(tb: &Testbed, case: &Path, ns: &str, pod: &str) {
    run(kir_in(tb, case).args(["isolate", "pod", &format!("{ns}/{pod}"), "--yes", "--no-orphan"])).success();
}

fn policy_name(uid: &str) -> String {
    format!("kir-quarantine-{}", &uid.replace('-', "")[..12])
}

async fn quarantine_label(client: &Client, ns: &str, pod: &str) -> Option<String> {
    let pod = Api::<Pod>::namespaced(client.clone(), ns).get(pod).await.unwrap();
    pod.metadata.labels.unwrap_or_default().get("ir.kir.dev/quarantine").cloned()
}

async fn policy_exists(client: &Client, ns: &str, name: &str) -> bool {
    Api::<NetworkPolicy>::namespaced(client.clone(), ns).get_opt(name).await.unwrap().is_some()
}

fn case_id(case: &Path) -> String {
    let metadata: Value = serde_json::from_slice(&std::fs::read(case.join("case.json")).unwrap()).unwrap();
    metadata["id"].as_str().unwrap().to_string()
}

/// Append a line that chains correctly to the journal, as anyone who can write the folder can:
/// the chain needs no key.
fn append_chained_line(case: &Path, action: &str, target: &str, undo: Value) {
    let path = case.join("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let body = json!({
        "seq": last["seq"].as_u64().unwrap() + 1,
        "time": "2026-12-06T03:00:00Z",
        "actor": "kir",
        "action": action,
        "target": target,
        "parameters": {},
        "result": {"status": "started"},
        "undo": undo,
        "prevHash": last["hash"],
    });
    let mut line = serde_json::to_string(&body).unwrap();
    line.pop();
    let hash = hex(&Sha256::digest(line.as_bytes()));
    line.push_str(&format!(",\"hash\":\"{hash}\"}}\n"));
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(line.as_bytes()).unwrap();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn case_dir(purpose: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join(purpose);
    (dir, case)
}

#[tokio::test]
async fn forged_journal_lines_are_refused_and_nothing_is_undone() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let (client, ns, pod, uid) = suspect(tb, "undo-forged").await;
    let victim = tb.namespace("undo-victim").await;
    let (_keep, case) = case_dir("forged");
    isolate(tb, &case, &ns, &pod);

    // An operation kir never makes, and a reversal of a pod kir never touched: both chain
    // correctly, neither is authenticated.
    let forgeries = [
        json!({"op": "delete", "apiVersion": "v1", "kind": "Namespace", "name": victim}),
        json!({"reverse": "restoreLabels", "namespace": victim, "pod": "db-0", "podUid": "0", "labels": {"app": "evil"}}),
    ];
    for forged in forgeries {
        let (_keep, copy) = case_dir("forged-copy");
        copy_dir(&case, &copy);
        append_chained_line(&copy, "isolate.orphan", &format!("pod/{victim}/db-0"), forged);
        let verify = run(kir().args(["case", "verify", "-o", "json"]).arg(&copy));
        let report = verify.stdout.clone() + &verify.stderr;
        assert!(report.contains("authenticat"), "verify says what the unauthenticated line means: {report}");

        for dry_run in [true, false] {
            let mut command = kir_with(&tb.kubeconfig);
            command.arg("undo").arg(&copy).arg(if dry_run { "--dry-run" } else { "--yes" });
            let refused = run(&mut command);
            assert_eq!(refused.code, 1, "stdout:\n{}\nstderr:\n{}", refused.stdout, refused.stderr);
            assert!(refused.stderr.contains("not authenticated"), "{}", refused.stderr);
        }
        assert!(Api::<Namespace>::all(client.clone()).get_opt(&victim).await.unwrap().is_some());
        assert_eq!(
            quarantine_label(&client, &ns, &pod).await.as_deref(),
            Some(uid.as_str()),
            "undo stopped whole"
        );
        assert!(policy_exists(&client, &ns, &policy_name(&uid)).await);
    }

    // The untouched case is kir's own: it undoes.
    run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&case)).success();
    assert_eq!(quarantine_label(&client, &ns, &pod).await, None);
    assert!(!policy_exists(&client, &ns, &policy_name(&uid)).await);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_policy_recreated_under_kirs_name_survives_undo() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let (client, ns, pod, uid) = suspect(tb, "undo-recreated").await;
    let (_keep, case) = case_dir("recreated");
    isolate(tb, &case, &ns, &pod);

    // Someone removes kir's policy and creates one of the same name, labels and spec: only
    // its UID tells it apart.
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    let name = policy_name(&uid);
    let mut imitation = policies.get(&name).await.unwrap();
    policies.delete(&name, &DeleteParams::default()).await.unwrap();
    imitation.metadata.uid = None;
    imitation.metadata.resource_version = None;
    imitation.metadata.creation_timestamp = None;
    imitation.metadata.managed_fields = None;
    let imitation = policies.create(&PostParams::default(), &imitation).await.unwrap();

    let dry = run(kir_with(&tb.kubeconfig).args(["undo", "--dry-run"]).arg(&case)).success();
    assert!(dry.stderr.contains("left alone") && dry.stderr.contains("re-created"), "{}", dry.stderr);
    assert!(dry.stderr.contains("remove label ir.kir.dev/quarantine"), "{}", dry.stderr);

    let undone = run(kir_with(&tb.kubeconfig).args(["undo", "--yes", "-o", "json"]).arg(&case));
    assert_eq!(undone.code, 1, "not everything was reversed\n{}", undone.stderr);
    let outcomes = undone.json();
    let statuses: Vec<&str> =
        outcomes.as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["reversed", "left alone"], "{outcomes}");
    let survivor = policies.get(&name).await.unwrap();
    assert_eq!(survivor.metadata.uid, imitation.metadata.uid);
    assert_eq!(quarantine_label(&client, &ns, &pod).await, None, "the label kir set on the same pod is gone");

    // Run again: what was reversed stays reversed, the imitation is still left alone.
    let again = run(kir_with(&tb.kubeconfig).args(["undo", "--yes", "-o", "json"]).arg(&case));
    assert_eq!(again.code, 1);
    assert_eq!(again.json().as_array().unwrap().len(), 1, "{}", again.stdout);
    assert!(policies.get_opt(&name).await.unwrap().is_some());
}

#[tokio::test]
async fn undoing_one_case_keeps_what_a_later_case_relies_on() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let (client, ns, pod, uid) = suspect(tb, "undo-shared").await;
    let (_keep_a, first) = case_dir("first");
    let (_keep_b, second) = case_dir("second");
    isolate(tb, &first, &ns, &pod);
    isolate(tb, &second, &ns, &pod);
    let (first_id, second_id) = (case_id(&first), case_id(&second));

    let kept = run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&first));
    assert_eq!(kept.code, 1, "{}", kept.stderr);
    assert!(kept.stderr.contains(&second_id), "the other case is named: {}", kept.stderr);
    assert_eq!(quarantine_label(&client, &ns, &pod).await.as_deref(), Some(uid.as_str()));
    assert!(policy_exists(&client, &ns, &policy_name(&uid)).await);

    // Asked for explicitly, release lifts it; the later case's mark stays on the pod.
    run(kir_in(tb, &first).args(["release", "pod", &format!("{ns}/{pod}"), "--yes", "--release-shared"]))
        .success();
    assert_eq!(quarantine_label(&client, &ns, &pod).await, None);
    assert!(!policy_exists(&client, &ns, &policy_name(&uid)).await);
    let annotations =
        Api::<Pod>::namespaced(client.clone(), &ns).get(&pod).await.unwrap().metadata.annotations;
    assert_eq!(annotations.unwrap_or_default().get("ir.kir.dev/case"), Some(&second_id));

    // The later case now undoes only its own mark.
    run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&second)).success();
    let annotations =
        Api::<Pod>::namespaced(client.clone(), &ns).get(&pod).await.unwrap().metadata.annotations;
    assert_eq!(
        annotations.unwrap_or_default().get("ir.kir.dev/case"),
        None,
        "{first_id} and {second_id} are off"
    );
}

#[test]
fn undo_checks_the_cluster_even_for_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    run(kir().args(["case", "open", "offline", "--dir"]).arg(&case)).success();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: c\n  cluster: {server: \"https://127.0.0.1:1\"}\ncontexts:\n- name: gone\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    let dry = run(kir_with(&kubeconfig).args(["undo", "--dry-run"]).arg(&case));
    assert_ne!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stderr.contains("cannot use the Kubernetes API server"), "{}", dry.stderr);
}

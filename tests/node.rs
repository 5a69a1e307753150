//! Collection from the suspect's node, on the testbed's real node (kubelet, containerd, runc,
//! CRIU): a helper pod that runs the kir under test, never anything inside the suspect.

use std::{io::Read, path::Path, time::Duration};

use k8s_openapi::api::core::v1::Pod;
use kube::{
    Client,
    api::{Api, ListParams, PostParams},
};
use serde_json::{Value, json};

use crate::{
    permissions::{apply, generated},
    scene::{eventually, is_running},
    testbed::{Testbed, testbed},
    util::{kir_with, run},
};

/// The canary: no shell, `DROP` written to /tmp/kir-dropped at start, the reverse of `CANARY`
/// held in memory, every copy of the forward value wiped.
async fn canary(client: &Client, tb: &Testbed, ns: &str, name: &str, drop: &str, secret: &str) -> Pod {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": tb.real_node()},
            "tolerations": [{"key": "kir.dev/real-node", "operator": "Exists"}],
            "containers": [{
                "name": "canary",
                "image": "kir-testbed/canary:1",
                "env": [{"name": "DROP", "value": drop}, {"name": "CANARY", "value": secret}],
            }],
        },
    }))
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    eventually(&format!("pod {ns}/{name} runs on the real node"), Duration::from_secs(60), || {
        let pods = pods.clone();
        async move { pods.get(name).await.is_ok_and(|p| is_running(&p)) }
    })
    .await;
    pods.get(name).await.unwrap()
}

/// kir against the testbed, recording into a new case at `case`.
fn kir_in(tb: &Testbed, case: &Path) -> std::process::Command {
    let mut command = kir_with(&tb.kubeconfig);
    command.arg("--new-case").arg("--case").arg(case);
    command
}

fn restarts(pod: &Pod) -> i32 {
    pod.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0].restart_count
}

fn node_artifact(case: &Path, report: &Value, name: &str) -> Vec<u8> {
    let path = report["node"]["collected"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .find(|p| p.ends_with(&format!("/{name}")))
        .unwrap_or_else(|| panic!("no {name} in {report:#}"));
    std::fs::read(case.join("evidence").join(path)).unwrap()
}

fn unzstd(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(bytes).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// The entries of a tar: name and bytes.
fn entries(tar_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn helper_pods(client: &Client, ns: &str) -> usize {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.list(&ListParams::default().labels("ir.kir.dev/node-helper")).await.unwrap().items.len()
}

#[tokio::test]
async fn a_shell_less_container_is_collected_from_its_node_and_keeps_running() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("node-snapshot").await;
    let secret = format!("forward-{}-value", std::process::id());
    let reversed: String = secret.chars().rev().collect();
    let drop = format!("dropped-{}", std::process::id());
    let before = canary(&client, tb, &ns, "canary", &drop, &secret).await;
    let image = tb.helper_image();
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");

    // Exec cannot run in the canary (no shell): auto collects from the node.
    let out = run(kir_in(tb, &case).args([
        "snapshot",
        "pod",
        &format!("{ns}/canary"),
        "--helper-image",
        image,
        "--memory",
        "--checkpoint",
        "-o",
        "json",
    ]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["node"]["suspectUntouched"], true, "{report:#}");
    assert_eq!(report["node"]["node"], tb.real_node());

    let processes = String::from_utf8(node_artifact(&case, &report, "processes.jsonl")).unwrap();
    let canary_process: Value = serde_json::from_str(processes.lines().next().unwrap()).unwrap();
    assert_eq!(canary_process["executable"]["path"], "/canary", "{processes}");
    assert_eq!(canary_process["executable"]["sha256"].as_str().unwrap().len(), 64);

    let changes = entries(&unzstd(&node_artifact(&case, &report, "changes.tar.zst")));
    let dropped = changes.iter().find(|(name, _)| name == "tmp/kir-dropped").expect("the dropped file");
    assert_eq!(dropped.1, drop.as_bytes());

    let memory = unzstd(&node_artifact(&case, &report, "memory.kirmem.zst"));
    assert!(contains(&memory, &reversed), "the reversed canary is in the memory artifact");
    let checkpoint = entries(&unzstd(&node_artifact(&case, &report, "checkpoint.tar.zst")));
    assert!(
        checkpoint
            .iter()
            .any(|(name, data)| name.starts_with("checkpoint/pages-") && contains(data, &reversed)),
        "the reversed canary is in the checkpoint's pages"
    );
    // The forward value: nowhere in what kir collected, but in the container's own spec inside
    // the kubelet's checkpoint (its environment, as the runtime recorded it).
    for (name, data) in &checkpoint {
        if contains(data, &secret) {
            assert!(
                name == "spec.dump" || name == "config.dump",
                "the forward value is in the checkpoint's {name}"
            );
        }
    }
    for entry in walkdir(&case) {
        if entry.ends_with("checkpoint.tar.zst") {
            continue;
        }
        let mut data = std::fs::read(&entry).unwrap();
        if entry.extension().is_some_and(|e| e == "zst") {
            data = unzstd(&data);
        }
        assert!(!contains(&data, &secret), "the forward value is in {}", entry.display());
    }

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let after = pods.get("canary").await.unwrap();
    assert_eq!(after.metadata.uid, before.metadata.uid);
    assert_eq!(restarts(&after), restarts(&before));
    assert_eq!(helper_pods(&client, &ns).await, 0, "the helper is deleted");
    let journal = std::fs::read_to_string(case.join("journal.jsonl")).unwrap();
    for action in ["node.helper.create", "node.helper.delete", "snapshot.node"] {
        assert!(journal.contains(&format!("\"action\":\"{action}\"")), "{action} journaled");
    }
    let verified = run(kir_with(&tb.kubeconfig).args(["case", "verify", "-o", "json"]).arg(&case));
    assert_eq!(verified.json()["intact"], true, "{}", verified.stdout);

    // The checkpoint read back by kir: the process, the dropped file, the value in memory.
    let inspected = run(kir_with(&tb.kubeconfig)
        .args(["checkpoint", "inspect", "--grep", &reversed, "-o", "json"])
        .arg(&case));
    assert_eq!(inspected.code, 0, "{}", inspected.stderr);
    let inspected = inspected.json();
    let first = &inspected[0];
    assert_eq!(first["inventory"]["processes"][0]["exe"], "/canary", "{first:#}");
    let changed: Vec<&str> = first["inventory"]["changedFiles"]["rootfsDiff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(changed.contains(&"tmp/kir-dropped"), "{changed:?}");
    assert!(first["grep"]["total"].as_u64().unwrap() >= 1, "{first:#}");

    // The same archive as checkpointctl reads it: the container, the process tree, every open
    // regular file and pipe by descriptor.
    let tar = dir.path().join("checkpoint.tar");
    std::fs::write(&tar, unzstd(&node_artifact(&case, &report, "checkpoint.tar.zst"))).unwrap();
    let checkpointctl =
        std::fs::read_to_string(tb.state().join("checkpointctl")).expect("the testbed names it");
    let reference = std::process::Command::new(checkpointctl.trim())
        .arg("inspect")
        .arg(&tar)
        .args(["--ps-tree", "--files", "--format", "json"])
        .output()
        .unwrap();
    assert!(reference.status.success(), "{}", String::from_utf8_lossy(&reference.stderr));
    let reference: Value = serde_json::from_slice(&reference.stdout).unwrap();
    let reference = &reference[0];
    let ours = run(kir_with(&tb.kubeconfig)
        .args(["checkpoint", "inspect", "--grep", &reversed, "-o", "json"])
        .arg(&tar))
    .json();
    // The plain file is read at offsets, the case's artifact as a stream: the same answers.
    assert_eq!(ours[0]["inventory"], first["inventory"]);
    assert_eq!(ours[0]["grep"], first["grep"]);
    let ours = &ours[0]["inventory"];
    for (theirs, mine) in [
        ("container_name", "name"),
        ("image", "image"),
        ("id", "id"),
        ("runtime", "runtime"),
        ("engine", "engine"),
    ] {
        assert_eq!(reference[theirs], ours["container"][mine], "{theirs}");
    }
    assert!(
        reference["checkpointed"].as_str().is_some_and(|at| ours["container"]["checkpointedAt"]
            .as_str()
            .is_some_and(|mine| mine.starts_with(at.trim_end_matches('Z')))),
        "{} / {}",
        reference["checkpointed"],
        ours["container"]["checkpointedAt"]
    );
    assert_eq!(reference["process_tree"]["pid"], ours["processes"][0]["pid"]);
    assert_eq!(reference["process_tree"]["command"], ours["processes"][0]["comm"]);
    let files = &ours["processes"][0]["files"];
    let by_fd = |fd: u64| files.as_array().unwrap().iter().find(|f| f["fd"] == fd).map(|f| f["file"].clone());
    let mut compared = 0;
    for open in reference["file_descriptors"][0]["open_files"].as_array().unwrap() {
        let (kind, fd) = open["fd"].as_str().unwrap().split_once(' ').unwrap_or(("", ""));
        let Ok(fd) = fd.parse::<u64>() else { continue };
        let mine = by_fd(fd).unwrap_or_else(|| panic!("fd {fd} is not in kir's view: {files}"));
        match kind {
            "REG" => assert_eq!(open["path"], mine["path"], "fd {fd}"),
            "PIPE" => assert_eq!(open["path"], format!("pipe[{}]", mine["pipeId"]), "fd {fd}"),
            _ => continue,
        }
        compared += 1;
    }
    assert!(compared >= 3, "descriptors compared: {compared}");

    // Hostile archives: cut short, or no checkpoint at all, are named, never a crash.
    let whole = std::fs::read(&tar).unwrap();
    let cut = dir.path().join("cut.tar");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let out = run(kir_with(&tb.kubeconfig).args(["checkpoint", "inspect"]).arg(&cut));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("cut.tar: not a readable checkpoint"), "{}", out.stderr);
    let out = run(kir_with(&tb.kubeconfig).args(["checkpoint", "inspect"]).arg(dir.path()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("neither an archive nor a case folder"), "{}", out.stderr);
    // A changed byte in the case's copy is caught by its hash before anything is believed.
    let stored = walkdir(&case).into_iter().find(|p| p.ends_with("checkpoint.tar.zst")).unwrap();
    let mut bytes = std::fs::read(&stored).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&stored, &bytes).unwrap();
    let out = run(kir_with(&tb.kubeconfig).args(["checkpoint", "inspect"]).arg(&case));
    assert_eq!(out.code, 1, "{}", out.stderr);
}

#[tokio::test]
async fn a_helper_that_cannot_start_or_a_missing_grant_is_named_and_nothing_is_left() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("node-faults").await;
    canary(&client, tb, &ns, "canary", "x", "faults-forward").await;
    let dir = tempfile::tempdir().unwrap();

    // An image the node does not have: given up at once, deleted, the pull error named.
    let case = dir.path().join("missing-image");
    let out = run(kir_in(tb, &case).args([
        "snapshot",
        "pod",
        &format!("{ns}/canary"),
        "--from",
        "node",
        "--helper-image",
        "kir-testbed/no-such-image:1",
        "--helper-timeout",
        "10s",
    ]));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    // The node cannot reach a registry: the pull fails, or hangs until the timeout.
    assert!(
        out.stderr.contains("did not run on node")
            && out.stderr.contains("kir-testbed/no-such-image:1")
            && out.stderr.contains("it was deleted"),
        "{}",
        out.stderr
    );
    assert_eq!(helper_pods(&client, &ns).await, 0, "the helper that could not start is deleted");

    // Without `create nodes/proxy`: the checkpoint is named as missing, the rest is collected.
    let image = tb.helper_image();
    let account = "snapshotter";
    let namespaced: Vec<Value> = generated("snapshot pod", &ns, account)
        .into_iter()
        .filter(|object| !object["kind"].as_str().unwrap().starts_with("Cluster"))
        .collect();
    let user = apply(&client, &ns, &namespaced).await;
    let case = dir.path().join("no-proxy");
    let out = run(kir_in(tb, &case).args([
        "--as",
        &user,
        "snapshot",
        "pod",
        &format!("{ns}/canary"),
        "--from",
        "node",
        "--helper-image",
        image,
        "--checkpoint",
        "-o",
        "json",
    ]));
    assert_eq!(out.code, 5, "incomplete, for a grant that may come: {}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("create nodes/proxy"), "{}", out.stderr);
    let report = out.json();
    let collected: Vec<&str> = report["node"]["collected"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert!(
        collected.contains(&"processes.jsonl") && collected.contains(&"changes.tar.zst"),
        "{collected:?}"
    );
    assert_eq!(helper_pods(&client, &ns).await, 0);
}

/// Every file under `dir`.
fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walkdir(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn the_playbook_collects_a_shell_less_suspect_from_its_node_before_deleting_it() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("node-respond").await;
    let secret = format!("respond-{}-value", std::process::id());
    let reversed: String = secret.chars().rev().collect();
    canary(&client, tb, &ns, "canary", "respond-drop", &secret).await;
    let image = tb.helper_image();
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");

    let plan = run(kir_with(&tb.kubeconfig).args([
        "respond",
        "compromised-pod",
        &format!("{ns}/canary"),
        "--helper-image",
        image,
        "--dry-run",
    ]));
    assert!(plan.stdout.contains("node") && plan.stdout.contains(&tb.real_node()), "{}", plan.stdout);

    let out = run(kir_in(tb, &case).args([
        "respond",
        "compromised-pod",
        &format!("{ns}/canary"),
        "--helper-image",
        image,
        "--memory",
        "--replace",
        "--yes",
        "-o",
        "json",
    ]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    let steps: Vec<(String, String)> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string()))
        .collect();
    assert!(steps.contains(&("node".to_string(), "done".to_string())), "{steps:?}");
    assert!(steps.contains(&("replace".to_string(), "done".to_string())), "{steps:?}");
    assert_eq!(report["node"]["suspectUntouched"], true);
    let memory = unzstd(&node_artifact(&case, &report, "memory.kirmem.zst"));
    assert!(contains(&memory, &reversed));
    assert!(!contains(&memory, &secret));
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    eventually("the suspect is deleted", Duration::from_secs(60), || {
        let pods = pods.clone();
        async move { pods.get_opt("canary").await.unwrap().is_none() }
    })
    .await;
    assert_eq!(helper_pods(&client, &ns).await, 0);
}

/// The UID of the helper the case's journal says the API server created, once it says so.
fn helper_created(case: &Path) -> Option<String> {
    let journal = std::fs::read_to_string(case.join("journal.jsonl")).ok()?;
    // The last line may be torn by the writer: only whole lines are read.
    journal
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["action"] == "node.helper.create" && entry["result"]["status"] == "created")
        .find_map(|entry| entry["result"]["uid"].as_str().map(str::to_string))
}

#[tokio::test]
async fn undo_deletes_the_helper_a_killed_run_left_on_the_node() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("node-undo").await;
    let suspect = canary(&client, tb, &ns, "canary", "undo-drop", "undo-forward").await;
    let image = tb.helper_image();
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");

    let mut child = kir_in(tb, &case)
        .args(["snapshot", "pod", &format!("{ns}/canary"), "--from", "node", "--helper-image", image])
        .args(["--memory", "--helper-timeout", "5m"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Held still as soon as the helper's creation is journaled with its UID (kir then waits for
    // it to run, collects, deletes it), then killed: the helper stays on the node.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let uid = loop {
        if let Some(uid) = helper_created(&case) {
            break uid;
        }
        assert!(std::time::Instant::now() < deadline, "the helper's creation is not journaled");
        assert!(child.try_wait().unwrap().is_none(), "kir ended before it created its helper");
        std::thread::sleep(Duration::from_millis(5));
    };
    // SAFETY: signalling a child process this test started and still owns.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGSTOP) };
    child.kill().unwrap();
    child.wait().unwrap();
    let journal = std::fs::read_to_string(case.join("journal.jsonl")).unwrap();
    assert!(!journal.contains("\"node.helper.delete\""), "the killed run deleted its helper first");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let left = pods.list(&ListParams::default().labels("ir.kir.dev/node-helper")).await.unwrap().items;
    assert_eq!(left.len(), 1, "the killed run left its helper");
    assert_eq!(left[0].metadata.uid.as_deref(), Some(uid.as_str()));

    let plan = run(kir_with(&tb.kubeconfig).args(["undo", "--dry-run"]).arg(&case)).success();
    assert!(plan.stderr.contains("delete helper pod"), "{}", plan.stderr);
    assert_eq!(helper_pods(&client, &ns).await, 1, "a dry run deletes nothing");

    let undone = run(kir_with(&tb.kubeconfig).args(["undo", "--yes", "-o", "json"]).arg(&case)).success();
    let outcomes = undone.json();
    let helper = outcomes
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["description"].as_str().is_some_and(|d| d.contains("helper pod")))
        .unwrap_or_else(|| panic!("no helper reversal in {outcomes:#}"));
    assert_eq!(helper["status"], "reversed", "{outcomes:#}");
    assert_eq!(helper_pods(&client, &ns).await, 0, "the helper is deleted");
    let after = pods.get("canary").await.unwrap();
    assert_eq!(after.metadata.uid, suspect.metadata.uid, "the suspect is left as it was");

    // Undone once: nothing is left to reverse.
    let again = run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&case)).success();
    assert!(again.stderr.contains("no change that is still to be reversed"), "{}", again.stderr);
}

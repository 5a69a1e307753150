//! `kir report`: the post-incident report of a real response against the testbed, in every
//! format, rendered by a real headless Chromium; tampered cases and folders that are not cases;
//! the preventive controls, checked by the API server with a dry run.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use kube::{
    Client,
    api::{Api, DynamicObject, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::Value;

use crate::{
    scene::{container, create_deployment, create_service, deployment, plain_cluster, running_pods},
    testbed::testbed,
    util::{kir, kir_with, run},
};

/// A case made by `kir respond compromised-pod` on a testbed pod: (its temporary parent, the
/// case folder, the namespace).
async fn responded_case(purpose: &str) -> (tempfile::TempDir, PathBuf, String) {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace(purpose).await;
    create_deployment(&client, &ns, &deployment("web", 2, vec![container("web", "nginx:1.27")])).await;
    create_service(&client, &ns, "web", &[("app", "web")]).await;
    let name = running_pods(&client, &ns, "app=web", 2).await[0].metadata.name.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    run(kir_with(&tb.kubeconfig).arg("--new-case").arg("--case").arg(&case).args([
        "respond",
        "compromised-pod",
        &format!("{ns}/{name}"),
        "--yes",
    ]))
    .success();
    (dir, case, ns)
}

/// The journal's entries, as written.
fn journal(case: &Path) -> Vec<Value> {
    std::fs::read_to_string(case.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn report_of_a_real_response_in_every_format_leaves_the_case_untouched() {
    let _plain = plain_cluster().await;
    let (dir, case, ns) = responded_case("report").await;
    let entries = journal(&case);

    let markdown = run(kir().arg("report").arg(&case)).success();
    assert!(markdown.stdout.starts_with("# Post-incident report: "), "{}", markdown.stdout);
    for entry in &entries {
        let action = entry["action"].as_str().unwrap();
        assert!(markdown.stdout.contains(&format!("| {} |", action.replace('_', "\\_"))), "{action} missing");
    }
    assert!(markdown.stdout.contains("containment state as recorded in the case (not re-checked live)"));
    assert!(markdown.stdout.contains("- time to contain: "), "{}", markdown.stdout);
    assert!(!markdown.stdout.contains("time to contain: not measured"), "{}", markdown.stdout);

    let json = run(kir().args(["report", "-o", "json"]).arg(&case)).success().json();
    let actions = json["timeline"].as_array().unwrap().iter().filter(|item| item["kind"] == "action").count();
    assert_eq!(actions, entries.len(), "one timeline action per journal entry");
    assert!(
        json["timeline"].as_array().unwrap().iter().any(|item| item["kind"] == "event"),
        "captured events: {json}"
    );
    assert_eq!(json["verification"]["verifies"], true);
    assert_eq!(
        json["evidence"].as_array().unwrap().len(),
        entries.iter().filter(|e| e["action"] == "collect").count()
    );

    let out = dir.path().join("out/");
    run(kir().arg("report").arg(&case).arg("--out").arg(&out)).success();
    for name in ["report.md", "report.json", "report.html"] {
        assert!(out.join(name).is_file(), "{name}");
    }
    let again = run(kir().arg("report").arg(&case).arg("--out").arg(&out));
    assert_eq!(again.code, 2, "never over an existing report: {}", again.stderr);
    let inside = run(kir().arg("report").arg(&case).arg("--out").arg(case.join("report.md")));
    assert_eq!(inside.code, 2, "{}", inside.stderr);
    assert!(inside.stderr.contains("inside the case folder"), "{}", inside.stderr);
    let inside = run(kir().arg("report").arg(&case).arg("--out").arg(case.join("evidence/new/")));
    assert_eq!(inside.code, 2, "{}", inside.stderr);
    assert!(!case.join("evidence/new").exists(), "no folder made in the case");

    let verified = run(kir().args(["case", "verify", "-o", "json"]).arg(&case)).success().json();
    assert_eq!(verified["intact"], true, "the report wrote nothing into the case: {verified}");
    assert_eq!(verified["journalEntries"], entries.len(), "no entry added");

    let prevent = run(kir().args(["report", "--prevent"]).arg(&case)).success();
    assert!(prevent.stdout.contains(&format!("namespace: {ns}")), "{}", prevent.stdout);
    assert!(prevent.stdout.contains("pod-security.kubernetes.io/enforce:"), "{}", prevent.stdout);
    assert!(prevent.stdout.contains("kind: ValidatingAdmissionPolicy"), "{}", prevent.stdout);
    dry_run_apply(&testbed().client().await, &prevent.stdout).await;
}

/// With the cluster reachable, containment is what the cluster shows now: each change kir made,
/// read back; a quarantine policy deleted since is reported gone, and becomes a residual risk.
#[tokio::test]
async fn containment_is_re_checked_against_the_live_cluster() {
    let tb = testbed();
    let client = tb.client().await;
    let (_dir, case, ns) = responded_case("report-live").await;
    let live = run(kir_with(&tb.kubeconfig).args(["report", "-o", "json"]).arg(&case)).success().json();
    let note = live["containment"]["note"].as_str().unwrap();
    assert!(note.starts_with("re-checked against"), "{live:#}");
    let changes = live["containment"]["changes"].as_array().unwrap();
    let policy = changes
        .iter()
        .find(|c| c["change"].as_str().unwrap().contains("NetworkPolicy"))
        .unwrap_or_else(|| panic!("{live:#}"));
    assert_eq!(policy["state"], "in-place", "{policy}");
    assert!(changes.iter().all(|c| c["state"] == "in-place"), "everything kir made holds: {live:#}");

    let policies = Api::<k8s_openapi::api::networking::v1::NetworkPolicy>::namespaced(client.clone(), &ns);
    for p in policies.list(&Default::default()).await.unwrap() {
        let name = p.metadata.name.unwrap();
        if name.starts_with("kir-quarantine-") {
            policies.delete(&name, &Default::default()).await.unwrap();
        }
    }
    let after = run(kir_with(&tb.kubeconfig).arg("report").arg(&case)).success();
    assert!(after.stdout.contains("| gone |"), "{}", after.stdout);
    assert!(after.stdout.contains("is gone now"), "a residual risk: {}", after.stdout);
    let offline = run(kir_with(&tb.kubeconfig).args(["report", "--offline"]).arg(&case)).success();
    assert!(offline.stdout.contains("(not re-checked live): --offline"), "{}", offline.stdout);
    let verified = run(kir().args(["case", "verify", "-o", "json"]).arg(&case)).success().json();
    assert_eq!(verified["intact"], true, "reading back wrote nothing into the case");
}

/// Every object of the preventive YAML, created with a server-side dry run: the API server
/// (with its CEL compiler and validation) accepts them. Namespaces exist already: their labels
/// are applied as a dry-run patch.
async fn dry_run_apply(client: &Client, yaml: &str) {
    let documents: Vec<&str> = yaml.split("\n---\n").skip(1).collect();
    assert!(documents.len() >= 4, "{yaml}");
    for document in documents {
        let object: DynamicObject =
            serde_saphyr::from_str(document).unwrap_or_else(|e| panic!("{e}: {document}"));
        let types = object.types.clone().unwrap();
        let (group, version) = types.api_version.split_once('/').unwrap_or(("", types.api_version.as_str()));
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &types.kind));
        if types.kind == "Namespace" {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            let patch =
                kube::api::Patch::Merge(serde_json::json!({"metadata": {"labels": object.metadata.labels}}));
            let params = kube::api::PatchParams { dry_run: true, ..Default::default() };
            api.patch(object.metadata.name.as_deref().unwrap(), &params, &patch)
                .await
                .unwrap_or_else(|e| panic!("{e}: {document}"));
            continue;
        }
        let api: Api<DynamicObject> = match object.metadata.namespace.as_deref() {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        api.create(&PostParams { dry_run: true, ..Default::default() }, &object)
            .await
            .unwrap_or_else(|e| panic!("the API server refuses it ({e}): {document}"));
    }
}

#[test]
fn a_tampered_case_says_so_on_the_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    run(kir().args(["case", "open", "tamper test", "--dir"]).arg(&case)).success();
    let journal = case.join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    std::fs::write(&journal, text.replacen("open-case\"", "open-case\" ", 1)).unwrap();

    let report = run(kir().arg("report").arg(&case));
    assert_eq!(report.code, 1, "{}", report.stderr);
    let first = report.stdout.lines().next().unwrap();
    assert!(first.starts_with("**WARNING: this case does not verify: journal.jsonl"), "{first}");
    assert!(report.stderr.contains("does not verify"), "{}", report.stderr);

    let html = run(kir().args(["report", "--format", "html"]).arg(&case));
    assert!(
        html.stdout.contains("id=\"integrity-warning\">WARNING: this case does not verify"),
        "{}",
        html.stdout
    );
    let prevent = run(kir().args(["report", "--prevent"]).arg(&case));
    assert!(prevent.stdout.starts_with("# WARNING: this case does not verify"), "{}", prevent.stdout);
}

#[test]
fn a_folder_that_is_not_a_case_is_a_usage_error_and_no_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let report = run(kir().arg("report").arg(dir.path()));
    assert_eq!(report.code, 2, "{}", report.stderr);
    assert!(report.stdout.is_empty(), "no partial report: {}", report.stdout);
    assert!(report.stderr.contains(&dir.path().display().to_string()), "{}", report.stderr);
    assert!(
        report.stderr.contains("is not a kir case folder: journal.jsonl is missing"),
        "{}",
        report.stderr
    );

    let missing = run(kir().arg("report").arg(dir.path().join("nope")));
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("does not exist"), "{}", missing.stderr);
    let none = run(kir().arg("report"));
    assert_eq!(none.code, 2, "{}", none.stderr);
}

/// Where test artefacts (the screenshot) are kept: target/test-artefacts.
fn artefacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run the real headless Chromium on `page` with `args`; its stdout and stderr.
fn chromium(page: &Path, args: &[String]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium is installed at /usr/bin/chromium (scripts/lib.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn chromium_renders_every_journal_action_without_console_errors() {
    let _plain = plain_cluster().await;
    let (dir, case, _) = responded_case("report-html").await;
    let entries = journal(&case);
    let page = dir.path().join("report.html");
    run(kir().args(["report", "--format", "html", "--out"]).arg(&page).arg(&case)).success();

    let (dom, log) = chromium(&page, &["--dump-dom".to_string()]);
    assert!(dom.contains("<table id=\"timeline\">"), "{dom}");
    assert_eq!(dom.matches("class=\"mark action\"").count(), entries.len(), "one mark per journal action");
    for entry in &entries {
        let (seq, action) = (entry["seq"].as_u64().unwrap(), entry["action"].as_str().unwrap());
        assert!(
            dom.contains(&format!("data-seq=\"{seq}\"><td>"))
                && dom.contains(&format!("<td class=\"action-name\">{action}</td>")),
            "entry {seq} ({action}) is not in the rendered timeline"
        );
    }
    let screenshot = artefacts().join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let (_, screenshot_log) = chromium(
        &page,
        &[format!("--screenshot={}", screenshot.display()), "--window-size=1280,2400".to_string()],
    );
    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "{} bytes", png.len());
    for line in log.lines().chain(screenshot_log.lines()) {
        assert!(!line.contains("Uncaught") && !line.contains("CONSOLE"), "console error on the page: {line}");
    }
}

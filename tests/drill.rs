//! `kir drill`: the practice incidents run end to end on the testbed, the consent they need,
//! and what they leave behind (nothing but the drill's folder).

use k8s_openapi::api::{
    admissionregistration::v1::ValidatingAdmissionPolicy,
    core::v1::Namespace,
    rbac::v1::{ClusterRole, ClusterRoleBinding},
};
use kube::{
    Client,
    api::{Api, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::Value;

use crate::{
    scene::exclusive_cluster,
    testbed::testbed,
    util::{kir_with, run},
};

/// Everything any drill `id` created that is still there (namespaces being deleted count as
/// gone).
async fn left_behind(client: &Client, id: &str) -> Vec<String> {
    let selector = ListParams::default().labels(&format!("ir.kir.dev/drill={id}"));
    let mut left = Vec::new();
    for ns in Api::<Namespace>::all(client.clone()).list(&selector).await.unwrap() {
        if ns.metadata.deletion_timestamp.is_none() {
            left.push(format!("namespace {}", ns.metadata.name.unwrap()));
        }
    }
    for role in Api::<ClusterRole>::all(client.clone()).list(&selector).await.unwrap() {
        left.push(format!("clusterrole {}", role.metadata.name.unwrap()));
    }
    for binding in Api::<ClusterRoleBinding>::all(client.clone()).list(&selector).await.unwrap() {
        left.push(format!("clusterrolebinding {}", binding.metadata.name.unwrap()));
    }
    for policy in
        Api::<ValidatingAdmissionPolicy>::all(client.clone()).list(&ListParams::default()).await.unwrap()
    {
        if serde_json::to_string(&policy.spec).unwrap().contains(&format!("kir-drill-{id}")) {
            left.push(format!("validatingadmissionpolicy {}", policy.metadata.name.unwrap()));
        }
    }
    left
}

#[tokio::test]
async fn every_drill_passes_on_the_testbed_and_leaves_only_its_folder() {
    let tb = testbed();
    let client = tb.client().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("drill");
    // The testbed's audit log is found beside its kubeconfig.
    let ran = run(kir_with(&tb.kubeconfig)
        .args(["drill", "all", "--i-own-this-cluster", "-o", "json", "--out"])
        .arg(&out));
    let card: Value = ran.json();
    assert_eq!(ran.code, 0, "{card:#}\n{}", ran.stderr);
    let scenarios = card["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios.iter().map(|s| s["scenario"].as_str().unwrap()).collect();
    assert_eq!(names, ["compromised-pod", "stolen-credentials", "malicious-image"]);
    for score in scenarios {
        let checks: Vec<&str> =
            score["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        for expected in ["staged", "detected", "evidence verifies", "report", "cleaned up"] {
            assert!(checks.contains(&expected), "{expected} checked: {score:#}");
        }
        for measure in ["timeToDetectMs", "timeToContainMs", "timeToRecoverMs", "evidenceItems"] {
            assert!(score[measure].as_u64().is_some(), "{measure} measured: {score:#}");
        }
        let case = std::path::Path::new(score["case"].as_str().unwrap());
        assert!(case.starts_with(&out), "the case is in the drill's folder: {}", case.display());
        let verified = run(kir_with(&tb.kubeconfig).args(["case", "verify", "-o", "json"]).arg(case));
        assert_eq!(verified.json()["intact"], true, "{}", verified.stdout);
    }
    let by_name = |name: &str| scenarios.iter().find(|s| s["scenario"] == name).unwrap().to_string();
    assert!(by_name("compromised-pod").contains("kir-audit-exec-suspicious-command"));
    assert!(by_name("stolen-credentials").contains("TokenReview refuses the leaked token"));
    assert!(by_name("malicious-image").contains("admission denies a pod with the image"));

    let saved: Value = serde_json::from_slice(&std::fs::read(out.join("scorecard.json")).unwrap()).unwrap();
    assert_eq!(saved, card, "the saved scorecard is the printed one");
    let markdown = std::fs::read_to_string(out.join("scorecard.md")).unwrap();
    assert!(
        markdown
            .starts_with(&format!("# kir drill {}: PASSED (3/3 scenarios)", card["drill"].as_str().unwrap()))
    );
    assert!(!out.join("stolen-credentials-leaked-token").exists(), "the leaked token is not kept");
    for scenario in names {
        let report = std::fs::read_to_string(out.join("reports").join(scenario).join("report.md")).unwrap();
        assert!(report.contains("Containment: re-checked against"), "{scenario}: {report}");
    }
    assert_eq!(left_behind(&client, card["drill"].as_str().unwrap()).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_drill_needs_the_clusters_consent_and_says_what_it_could_not_check() {
    let tb = testbed();
    let client = tb.client().await;
    let dir = tempfile::tempdir().unwrap();
    let namespaces = Api::<Namespace>::all(client.clone());

    // The testbed consents (testbed/up labels kir-drills); take the label away for a moment.
    let mark = |value: Option<&str>| {
        let namespaces = namespaces.clone();
        let patch = serde_json::json!({"metadata": {"labels": {"ir.kir.dev/drills": value}}});
        async move {
            let consent: Namespace =
                serde_json::from_value(serde_json::json!({"metadata": {"name": "kir-drills"}})).unwrap();
            if namespaces.get_opt("kir-drills").await.unwrap().is_none() {
                namespaces.create(&PostParams::default(), &consent).await.unwrap();
            }
            namespaces.patch("kir-drills", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
        }
    };
    // No other test may find the testbed without consent meanwhile (the README's drill).
    let exclusive = exclusive_cluster().await;
    mark(None).await;
    let refused = run(kir_with(&tb.kubeconfig)
        .args(["drill", "compromised-pod", "--out"])
        .arg(dir.path().join("refused")));
    mark(Some("allowed")).await;
    drop(exclusive);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("not marked for drills")
            && refused.stderr.contains("kubectl label namespace kir-drills ir.kir.dev/drills=allowed")
            && refused.stderr.contains("--i-own-this-cluster"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty());
    assert!(!dir.path().join("refused").exists(), "nothing written without consent");

    // With the label, and a kubeconfig with no audit log beside it: detection is a failed
    // check, not a silent pass, and everything else still runs and is cleaned up.
    let elsewhere = dir.path().join("kubeconfig");
    std::fs::copy(&tb.kubeconfig, &elsewhere).unwrap();
    let out = dir.path().join("consented");
    let ran = run(kir_with(&elsewhere).args(["drill", "compromised-pod", "--out"]).arg(&out));
    assert_eq!(ran.code, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("consent: namespace kir-drills labelled ir.kir.dev/drills=allowed"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stdout.contains("compromised-pod: detected: no audit log given (--audit-log)"),
        "{}",
        ran.stdout
    );
    let card: Value = serde_json::from_slice(&std::fs::read(out.join("scorecard.json")).unwrap()).unwrap();
    let checks = card["scenarios"][0]["checks"].as_array().unwrap();
    let failed: Vec<&str> =
        checks.iter().filter(|c| c["passed"] == false).map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(failed, ["detected"], "{card:#}");
    assert!(std::fs::read_to_string(out.join("scorecard.md")).unwrap().contains("FAILED (0/1 scenarios)"));
    assert_eq!(left_behind(&client, card["drill"].as_str().unwrap()).await, Vec::<String>::new());
}

#[tokio::test]
async fn bad_drill_input_is_refused_before_anything_is_staged() {
    let tb = testbed();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("earlier"), "x").unwrap();
    let busy =
        run(kir_with(&tb.kubeconfig).args(["drill", "all", "--i-own-this-cluster", "--out"]).arg(dir.path()));
    assert_eq!(busy.code, 2, "{}", busy.stderr);
    assert!(busy.stderr.contains("--out") && busy.stderr.contains("not empty"), "{}", busy.stderr);

    let missing = run(kir_with(&tb.kubeconfig).args([
        "drill",
        "all",
        "--i-own-this-cluster",
        "--audit-log",
        "/nonexistent/audit.log",
    ]));
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("--audit-log /nonexistent/audit.log: no such file"),
        "{}",
        missing.stderr
    );

    let unknown = run(kir_with(&tb.kubeconfig).args(["drill", "miner"]));
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("compromised-pod") && unknown.stderr.contains("all"),
        "{}",
        unknown.stderr
    );
}

/// Stops a testbed started by the test, however the test ends.
struct StopOnDrop(std::path::PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        crate::testbed::down(&self.0);
    }
}

#[test]
fn with_no_cluster_named_a_drill_starts_the_testbed_and_practises_there() {
    let root = crate::testbed::repo_root();
    let cache = std::process::Command::new("bash")
        .arg("-c")
        .arg("source testbed/lib.sh && echo \"$CACHE\"")
        .current_dir(root)
        .output()
        .unwrap();
    let cache = String::from_utf8(cache.stdout).unwrap().trim().to_string();
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("testbed-state");
    let _stop = StopOnDrop(state.clone());
    // A home without ~/.kube/config, and no KUBECONFIG (kir() removes it): no cluster named.
    let ran = run(crate::util::kir()
        .args(["drill", "compromised-pod", "-o", "json"])
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("KIR_TESTBED_STATE", &state)
        .env("KIR_TESTBED_CACHE", &cache)
        .env_remove("KUBERNETES_SERVICE_HOST"));
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("no kubeconfig: starting the testbed"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("consent: namespace kir-drills labelled ir.kir.dev/drills=allowed"),
        "the testbed consents: {}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(&format!("audit log {}", state.join("audit/audit.log").display())),
        "{}",
        ran.stderr
    );
    let card = ran.json();
    assert_eq!(
        card["scenarios"][0]["checks"].as_array().unwrap().iter().filter(|c| c["passed"] == false).count(),
        0
    );
    assert!(home.path().join("drills").is_dir(), "the drill's folder is under the working directory");
}

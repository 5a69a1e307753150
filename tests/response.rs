//! The compromised-pod response against the testbed: capture, snapshot, isolate, release,
//! replace, respond (also killed and resumed), undo — and the case that records it all.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use k8s_openapi::api::{
    core::v1::{
        ConfigMap, ConfigMapEnvSource, EnvFromSource, EnvVar, EnvVarSource, Pod, Secret, SecretKeySelector,
        SecretVolumeSource, ServiceAccount, Volume,
    },
    discovery::v1::EndpointSlice,
    networking::v1::NetworkPolicy,
};
use kube::{
    Client,
    api::{Api, DynamicObject, ListParams, ObjectMeta, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::Value;

use crate::{
    scene::{
        bare_pod, container, create_allow_all_policy, create_deployment, create_service, deployment,
        eventually, exclusive_cluster, install_crd, is_running, mark_restarted, plain_cluster, remove_crd,
        running_pods, start_network_agent, stop_network_agent,
    },
    testbed::{OwnTestbed, Testbed, testbed},
    util::{Run, kir, kir_with, run},
};

fn case_dir(purpose: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join(purpose);
    (dir, case)
}

fn kir_in(tb: &Testbed, case: &Path) -> std::process::Command {
    let mut command = kir_with(&tb.kubeconfig);
    command.arg("--new-case").arg("--case").arg(case);
    command
}

fn artifact_paths(report: &Value) -> Vec<String> {
    report["artifacts"].as_array().unwrap().iter().map(|a| a["path"].as_str().unwrap().to_string()).collect()
}

fn journal(case: &Path) -> Vec<Value> {
    std::fs::read_to_string(case.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The journal as text, a torn last line included (what a kill leaves).
fn journal_text(case: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(case.join("journal.jsonl")).unwrap()).into_owned()
}

fn verify(tb: &Testbed, case: &Path) -> Run {
    run(kir_with(&tb.kubeconfig).args(["case", "verify", "-o", "json"]).arg(case))
}

/// Every byte of every file under `dir`, for "this value appears nowhere" checks.
fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                found.push((path, bytes));
            }
        }
    }
    found
}

async fn pod_names(client: &Client, ns: &str, selector: &str) -> Vec<String> {
    running_pods_now(client, ns, selector).await.into_iter().filter_map(|p| p.metadata.name).collect()
}

async fn running_pods_now(client: &Client, ns: &str, selector: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(is_running)
        .collect()
}

#[tokio::test]
async fn capture_collects_every_artifact_with_previous_logs_and_no_secret_value() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("capture").await;
    let meta = |name: &str| ObjectMeta { name: Some(name.into()), ..Default::default() };
    let planted_secret = format!("planted-secret-{}", std::process::id());
    let planted_config = format!("planted-config-{}", std::process::id());
    // As `kubectl apply` leaves it: the whole object, value included, in an annotation.
    let applied =
        format!(r#"{{"apiVersion":"v1","kind":"Secret","stringData":{{"password":"{planted_secret}"}}}}"#);
    let secret = Secret {
        metadata: ObjectMeta {
            annotations: Some(
                [("kubectl.kubernetes.io/last-applied-configuration".to_string(), applied)].into(),
            ),
            ..meta("db")
        },
        string_data: Some([("password".to_string(), planted_secret.clone())].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), &ns).create(&PostParams::default(), &secret).await.unwrap();
    let config = ConfigMap {
        metadata: ObjectMeta {
            annotations: Some([("note".to_string(), format!("token is {planted_config}"))].into()),
            ..meta("settings")
        },
        data: Some([("token".to_string(), planted_config.clone())].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), &ns).create(&PostParams::default(), &config).await.unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &ServiceAccount { metadata: meta("web-sa"), ..Default::default() })
        .await
        .unwrap();

    let mut web = container("web", "nginx:1.27");
    web.env = Some(vec![EnvVar {
        name: "DB_PASSWORD".into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: "db".into(),
                key: "password".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    web.env_from = Some(vec![EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource { name: "settings".into(), ..Default::default() }),
        ..Default::default()
    }]);
    let mut workload = deployment("web", 1, vec![web]);
    let spec = workload.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    spec.service_account_name = Some("web-sa".into());
    spec.volumes = Some(vec![Volume {
        name: "db".into(),
        secret: Some(SecretVolumeSource { secret_name: Some("db".into()), ..Default::default() }),
        ..Default::default()
    }]);
    create_deployment(&client, &ns, &workload).await;
    create_service(&client, &ns, "web", &[("app", "web")]).await;
    let pod = running_pods(&client, &ns, "app=web", 1).await.remove(0);
    let name = pod.metadata.name.clone().unwrap();
    mark_restarted(&client, &ns, &name).await;

    let (_keep, case) = case_dir("capture-case");
    let out =
        run(kir_in(tb, &case).args(["capture", "pod", &format!("{ns}/{name}"), "-o", "json"])).success();
    let report = out.json();
    let paths = artifact_paths(&report);
    let base = format!("pods/{ns}/{name}/{}", pod.metadata.uid.clone().unwrap());
    for expected in [
        "pod.json",
        "events/pod.json",
        "logs/web.log",
        "logs/web.previous.log",
        "node.json",
        "serviceaccount.json",
        "serviceaccount-permissions.json",
        "services.json",
        "networkpolicies.json",
        "references.json",
        "images.json",
        "owners/Deployment-web.json",
    ] {
        assert!(
            paths.contains(&format!("{base}/{expected}")),
            "{expected} missing from {paths:?}\n{}",
            out.stderr
        );
    }
    assert!(paths.iter().any(|p| p.starts_with(&format!("{base}/owners/ReplicaSet-web-"))), "{paths:?}");
    assert!(report["notCollected"].as_array().unwrap().is_empty(), "{}", report["notCollected"]);

    let evidence = case.join("evidence").join(&base);
    let previous = std::fs::read_to_string(evidence.join("logs/web.previous.log")).unwrap();
    assert!(previous.contains("panic: runtime error"), "{previous}");
    let current = std::fs::read_to_string(evidence.join("logs/web.log")).unwrap();
    assert!(current.starts_with("2026-11-27T08:00:00"), "timestamps kept: {current}");
    let pod_json: Value = serde_json::from_slice(&std::fs::read(evidence.join("pod.json")).unwrap()).unwrap();
    assert_eq!(pod_json["metadata"]["uid"], pod.metadata.uid.clone().unwrap().as_str());
    assert!(pod_json["metadata"]["resourceVersion"].is_string());
    let references = std::fs::read_to_string(evidence.join("references.json")).unwrap();
    assert!(references.contains("\"db\"") && references.contains("\"settings\""), "{references}");
    let services = std::fs::read_to_string(evidence.join("services.json")).unwrap();
    assert!(services.contains("\"web\""), "{services}");
    let permissions = std::fs::read_to_string(evidence.join("serviceaccount-permissions.json")).unwrap();
    assert!(permissions.contains(&format!("system:serviceaccount:{ns}:web-sa")), "{permissions}");
    assert!(
        permissions.contains("selfsubjectreviews") || permissions.contains("resourceRules"),
        "{permissions}"
    );

    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&planted_secret);
    for (path, bytes) in all_bytes(&case) {
        let text = String::from_utf8_lossy(&bytes);
        for planted in [&planted_secret, &encoded, &planted_config] {
            assert!(!text.contains(planted.as_str()), "a planted value is in {}", path.display());
        }
    }
    assert_eq!(verify(tb, &case).success().json()["intact"], true);

    // After a complete capture, another one collects a fresh, time-stamped set beside it.
    let again = run(kir_in(tb, &case).args(["capture", "pod", &format!("{ns}/{name}"), "-o", "json"]))
        .success()
        .json();
    assert!(again["alreadyCollected"].as_array().unwrap().is_empty(), "{again:#}");
    let fresh = artifact_paths(&again);
    let set = fresh
        .iter()
        .filter_map(|p| {
            p.strip_prefix(&format!("{base}/captures/")).and_then(|p| p.strip_suffix("/pod.json"))
        })
        .find(|set| !set.contains('/'))
        .unwrap_or_else(|| panic!("no fresh pod.json in {fresh:?}"));
    assert!(set.len() == "20261207T010203.456Z".len() && set.ends_with('Z'), "{set}");
    assert!(fresh.contains(&format!("{base}/captures/{set}/logs/web.log")), "{fresh:?}");
    assert_eq!(
        std::fs::read_to_string(evidence.join("logs/web.log")).unwrap(),
        current,
        "the first set is kept"
    );
    assert_eq!(verify(tb, &case).success().json()["intact"], true);

    // A changed byte in an artifact, then in a journal line, fails verification.
    let log = evidence.join("logs/web.log");
    let original = std::fs::read(&log).unwrap();
    let mut changed = original.clone();
    changed[5] ^= 0x01;
    std::fs::write(&log, &changed).unwrap();
    let broken = verify(tb, &case);
    assert_eq!(broken.code, 1);
    assert!(broken.stdout.contains("logs/web.log"), "{}", broken.stdout);
    std::fs::write(&log, &original).unwrap();
    let journal_path = case.join("journal.jsonl");
    let text = std::fs::read_to_string(&journal_path).unwrap();
    std::fs::write(&journal_path, text.replacen("capture.pod", "capture.poD", 1)).unwrap();
    assert_eq!(verify(tb, &case).code, 1);
}

/// The isolation scene: a Deployment of two behind a Service, and a NetworkPolicy that allows
/// all ingress to every pod of the namespace.
async fn isolation_scene(tb: &Testbed, purpose: &str) -> (Client, String, Pod) {
    let client = tb.client().await;
    let ns = tb.namespace(purpose).await;
    create_deployment(&client, &ns, &deployment("web", 2, vec![container("web", "nginx:1.27")])).await;
    create_service(&client, &ns, "web", &[("app", "web")]).await;
    create_allow_all_policy(&client, &ns, "allow-all").await;
    let pods = running_pods(&client, &ns, "app=web", 2).await;
    let suspect = pods[0].clone();
    let uid = suspect.metadata.uid.clone().unwrap();
    eventually("the Service's EndpointSlices list the suspect", Duration::from_secs(30), || {
        let client = client.clone();
        let ns = ns.clone();
        let uid = uid.clone();
        async move { slices_list(&client, &ns, "web", &uid).await }
    })
    .await;
    (client, ns, suspect)
}

async fn slices_list(client: &Client, ns: &str, service: &str, uid: &str) -> bool {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let slices = api
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
        .await
        .unwrap();
    slices
        .items
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .any(|e| e.target_ref.as_ref().and_then(|t| t.uid.as_deref()) == Some(uid))
}

async fn kir_policies(client: &Client, ns: &str) -> Vec<String> {
    let api: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
    let list = api.list(&ListParams::default().labels("app.kubernetes.io/managed-by=kir")).await.unwrap();
    list.items.into_iter().filter_map(|p| p.metadata.name).collect()
}

#[tokio::test]
async fn isolate_orphans_warns_about_the_allow_policy_reruns_idempotently_and_undo_restores() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let (client, ns, suspect) = isolation_scene(tb, "isolate").await;
    let name = suspect.metadata.name.clone().unwrap();
    let uid = suspect.metadata.uid.clone().unwrap();
    let original_labels = suspect.metadata.labels.clone().unwrap();
    let (_keep, case) = case_dir("isolate-case");
    let target = format!("{ns}/{name}");

    let plan = run(kir_in(tb, &case).args(["isolate", "pod", &target, "--dry-run"])).success();
    // The names the testbed gave (letters, digits and dashes: literal as regexes) are replaced.
    let filters = vec![
        (ns.as_str(), "NS"),
        (name.as_str(), "POD"),
        (uid.as_str(), "UID"),
        (r"kir-quarantine-[0-9a-f]{12}", "kir-quarantine-UIDPREFIX"),
        (r"pod-template-hash=[0-9a-z]+", "pod-template-hash=HASH"),
        (r"ReplicaSet/web-[0-9a-z]+", "ReplicaSet/web-HASH"),
    ];
    insta::with_settings!({filters => filters}, {
        insta::assert_snapshot!("isolate_plan_behind_a_service_with_an_allow_all_policy", plan.stdout);
    });
    assert!(!case.exists(), "a dry run opens no case");

    let out = run(kir_in(tb, &case).args(["isolate", "pod", &target, "--yes", "-o", "json"])).success();
    let report = out.json();
    let warnings = report["plan"]["warnings"].to_string();
    assert!(warnings.contains(&format!("{ns}/allow-all")) && warnings.contains("additive"), "{warnings}");
    for change in report["changes"].as_array().unwrap() {
        assert_eq!(change["outcome"], "applied", "{change}");
    }
    assert_eq!(report["inPlace"]["quarantineLabel"], true);
    assert!(report["isolatedAfterMs"].is_u64(), "{report}");
    assert!(report["containedAfterMs"].is_null(), "the testbed runs no policy-enforcing plugin: {report}");
    assert_eq!(report["plan"]["enforcement"]["enforced"], Value::Null, "{report}");
    let replacement = report["replacement"]["name"].as_str().expect("a replacement runs").to_string();
    assert_ne!(replacement, name);

    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let isolated = pods.get(&name).await.unwrap();
    let labels = isolated.metadata.labels.clone().unwrap();
    assert_eq!(labels.get("ir.kir.dev/quarantine"), Some(&uid));
    assert!(!labels.contains_key("app"), "orphaned: {labels:?}");
    assert!(isolated.metadata.owner_references.unwrap_or_default().is_empty(), "the ReplicaSet released it");
    assert!(is_running(&pods.get(&replacement).await.unwrap()));
    assert_eq!(kir_policies(&client, &ns).await, [format!("kir-quarantine-{}", &uid.replace('-', "")[..12])]);
    eventually("the EndpointSlices no longer list the suspect", Duration::from_secs(30), || {
        let (client, ns, uid) = (client.clone(), ns.clone(), uid.clone());
        async move { !slices_list(&client, &ns, "web", &uid).await }
    })
    .await;

    // Again: nothing changes.
    let again = run(kir_in(tb, &case).args(["isolate", "pod", &target, "--yes", "-o", "json"])).success();
    assert!(again.stderr.contains("already isolated"), "{}", again.stderr);
    for change in again.json()["changes"].as_array().unwrap() {
        assert_eq!(change["outcome"], "unchanged", "{change}");
    }
    // A person reads the plan and the report together: each warning once.
    let table = run(kir_in(tb, &case).args(["isolate", "pod", &target, "--yes"])).success();
    let seen = format!("{}{}", table.stderr, table.stdout);
    assert_eq!(seen.matches("additive").count(), 1, "{seen}");

    // Undo keeps the suspect orphaned by default: re-adoption would make the ReplicaSet delete
    // its newest pod, the clean replacement.
    let kept = run(kir_with(&tb.kubeconfig).args(["undo", "--yes", "-o", "json"]).arg(&case)).success();
    assert!(
        kept.json().as_array().unwrap().iter().any(|r| r["status"] == "kept orphaned"),
        "{}",
        kept.stdout
    );
    assert!(!pods.get(&name).await.unwrap().metadata.labels.unwrap_or_default().contains_key("app"));
    assert!(pods.get(&replacement).await.is_ok(), "the replacement is untouched");

    // With --readopt, undo restores the original labels and removes every kir object.
    let undone =
        run(kir_with(&tb.kubeconfig).args(["undo", "--yes", "--readopt", "-o", "json"]).arg(&case)).success();
    let reversals = undone.json();
    assert!(reversals.as_array().unwrap().iter().all(|r| r["status"] != "failed"), "{reversals}");
    let restored = pods.get(&name).await;
    if let Ok(restored) = restored {
        let labels = restored.metadata.labels.unwrap();
        assert_eq!(labels, original_labels, "labels restored exactly");
    }
    assert!(kir_policies(&client, &ns).await.is_empty());
    eventually("the ReplicaSet is back to two pods", Duration::from_secs(30), || {
        let (client, ns) = (client.clone(), ns.clone());
        async move { pod_names(&client, &ns, "app=web").await.len() == 2 }
    })
    .await;
    assert!(
        run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&case))
            .success()
            .stderr
            .contains("no change")
    );
    assert_eq!(verify(tb, &case).success().json()["intact"], true);
}

#[tokio::test]
async fn release_reverses_one_pod_and_leaves_the_other_isolated() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("release").await;
    create_deployment(&client, &ns, &deployment("api", 2, vec![container("api", "nginx:1.27")])).await;
    let pods = running_pods(&client, &ns, "app=api", 2).await;
    let (first, second) = (pods[0].metadata.name.clone().unwrap(), pods[1].metadata.name.clone().unwrap());
    let (_keep, case) = case_dir("release-case");
    for pod in [&first, &second] {
        run(kir_in(tb, &case).args([
            "isolate",
            "pod",
            &format!("{ns}/{pod}"),
            "--yes",
            "--no-orphan",
            "--cordon",
        ]))
        .success();
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let node = api.get(&first).await.unwrap().spec.unwrap().node_name.unwrap();
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    assert_eq!(nodes.get(&node).await.unwrap().spec.unwrap().unschedulable, Some(true));

    let dry =
        run(kir_in(tb, &case).args(["release", "pod", &format!("{ns}/{first}"), "--dry-run"])).success();
    assert!(dry.stderr.contains("delete NetworkPolicy"), "{}", dry.stderr);
    assert_eq!(kir_policies(&client, &ns).await.len(), 2, "dry run changed nothing");

    run(kir_in(tb, &case).args(["release", "pod", &format!("{ns}/{first}"), "--yes"])).success();
    let released = api.get(&first).await.unwrap().metadata.labels.unwrap();
    assert!(!released.contains_key("ir.kir.dev/quarantine"), "{released:?}");
    let still = api.get(&second).await.unwrap().metadata.labels.unwrap();
    assert!(still.contains_key("ir.kir.dev/quarantine"), "{still:?}");
    assert_eq!(kir_policies(&client, &ns).await.len(), 1);
    // Release without a case is a usage error that says what is missing.
    let no_case = run(kir_with(&tb.kubeconfig).args(["release", "pod", &format!("{ns}/{second}"), "--yes"]));
    assert_eq!(no_case.code, 2);
    assert!(no_case.stderr.contains("--case"), "{}", no_case.stderr);
    run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&case)).success();
    assert!(kir_policies(&client, &ns).await.is_empty());

    // A case opened for another cluster is not acted on here.
    let elsewhere = case.parent().unwrap().join("kubeconfig-elsewhere");
    std::fs::write(
        &elsewhere,
        "apiVersion: v1\nkind: Config\ncurrent-context: other\nclusters:\n- name: c\n  cluster: {server: \"https://192.0.2.1:6443\"}\ncontexts:\n- name: other\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    let other_case = case.parent().unwrap().join("other-cluster-case");
    run(crate::util::kir()
        .arg("--kubeconfig")
        .arg(&elsewhere)
        .args(["case", "open", "elsewhere", "--dir"])
        .arg(&other_case))
    .success();
    let refused = run(kir_in(tb, &other_case).args(["isolate", "pod", &format!("{ns}/{second}"), "--yes"]));
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("belongs to cluster https://192.0.2.1:6443"), "{}", refused.stderr);
    let refused = run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&other_case));
    assert!(refused.code == 2 || refused.stderr.contains("no change"), "{}", refused.stderr);
}

#[tokio::test]
async fn cilium_and_admin_network_policies_are_used_where_the_cluster_serves_them() {
    let _exclusive = exclusive_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let outcome = async {
        install_crd(&client, "cilium.io", "v2", "CiliumNetworkPolicy", "ciliumnetworkpolicies", true).await;
        install_crd(
            &client,
            "policy.networking.k8s.io",
            "v1alpha1",
            "AdminNetworkPolicy",
            "adminnetworkpolicies",
            false,
        )
        .await;
        eventually("discovery serves the new kinds", Duration::from_secs(30), || async {
            let doctor = run(kir_with(&tb.kubeconfig).args(["doctor", "-o", "json"]));
            let report = doctor.json();
            let caps = report["capabilities"].as_array().unwrap().clone();
            ["cilium", "adminNetworkPolicy"]
                .iter()
                .all(|n| caps.iter().any(|c| c["name"] == *n && c["present"] == true))
        })
        .await;
        let (client, ns, suspect) = isolation_scene(tb, "precedence").await;
        let name = suspect.metadata.name.clone().unwrap();
        let uid = suspect.metadata.uid.clone().unwrap();
        let (_keep, case) = case_dir("precedence-case");
        // A served API is not an enforcer: without Cilium's agent, the allow policy still counts.
        let unenforced = run(kir_in(tb, &case).args([
            "isolate",
            "pod",
            &format!("{ns}/{name}"),
            "--dry-run",
            "-o",
            "json",
        ]))
        .success()
        .json();
        assert_eq!(unenforced["overridden"], false, "{unenforced}");
        let warnings = unenforced["warnings"].to_string();
        assert!(warnings.contains("does not count on it") && warnings.contains("additive"), "{warnings}");
        let agents = start_network_agent(&client, &ns, "cilium").await;
        let report =
            run(kir_in(tb, &case).args(["isolate", "pod", &format!("{ns}/{name}"), "--yes", "-o", "json"]))
                .success()
                .json();
        stop_network_agent(&agents, "cilium").await;
        assert_eq!(report["plan"]["overridden"], true);
        assert!(report["containedAfterMs"].is_u64(), "{report}");
        assert!(
            !report["plan"]["warnings"].to_string().contains("additive"),
            "{}",
            report["plan"]["warnings"]
        );
        let policy_name = format!("kir-quarantine-{}", &uid.replace('-', "")[..12]);
        let cilium = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("cilium.io", "v2", "CiliumNetworkPolicy"),
            "ciliumnetworkpolicies",
        );
        let cnp = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &cilium)
            .get(&policy_name)
            .await
            .unwrap();
        assert_eq!(cnp.data["spec"]["ingressDeny"][0]["fromEntities"][0], "all");
        assert_eq!(cnp.data["spec"]["egressDeny"][0]["toEntities"][0], "all");
        assert_eq!(
            cnp.data["spec"]["endpointSelector"]["matchLabels"]["ir.kir.dev/quarantine"],
            uid.as_str()
        );
        let admin = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("policy.networking.k8s.io", "v1alpha1", "AdminNetworkPolicy"),
            "adminnetworkpolicies",
        );
        let anp = Api::<DynamicObject>::all_with(client.clone(), &admin).get(&policy_name).await.unwrap();
        assert_eq!(anp.data["spec"]["priority"], 0);
        assert_eq!(anp.data["spec"]["ingress"][0]["action"], "Deny");
        run(kir_in(tb, &case).args(["release", "pod", &format!("{ns}/{name}"), "--yes"])).success();
        assert!(
            Api::<DynamicObject>::all_with(client.clone(), &admin)
                .get_opt(&policy_name)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &cilium)
                .get_opt(&policy_name)
                .await
                .unwrap()
                .is_none()
        );
    };
    // The CRDs go away whatever happened, so other tests see a plain cluster again.
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    remove_crd(&client, "ciliumnetworkpolicies.cilium.io").await;
    remove_crd(&client, "adminnetworkpolicies.policy.networking.k8s.io").await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// A process named like a miner on the machine kwok runs exec on, with a connection to a
/// mining-pool port: what `snapshot` must find.
struct FakeMiner {
    process: std::process::Child,
    _dir: tempfile::TempDir,
    _listener: std::net::TcpListener,
    _connection: std::net::TcpStream,
    port: u16,
}

impl Drop for FakeMiner {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn fake_miner() -> FakeMiner {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("xmrig");
    std::fs::copy("/bin/sleep", &binary).unwrap();
    let process = std::process::Command::new(&binary).arg("300").stdout(Stdio::null()).spawn().unwrap();
    let (listener, port) = [3333u16, 4444, 5555, 7777, 14444, 45700]
        .iter()
        .find_map(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).ok().map(|l| (l, *p)))
        .expect("one mining-pool port is free on loopback");
    let connection = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    FakeMiner { process, _dir: dir, _listener: listener, _connection: connection, port }
}

#[tokio::test]
async fn snapshot_finds_the_miner_and_its_pool_connection_without_extracting_anything() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("snapshot").await;
    create_deployment(&client, &ns, &deployment("app", 1, vec![container("app", "busybox:1.36")])).await;
    let pod = running_pods(&client, &ns, "app=app", 1).await.remove(0);
    let (name, uid) = (pod.metadata.name.clone().unwrap(), pod.metadata.uid.clone().unwrap());
    let miner = fake_miner();
    let (_keep, case) = case_dir("snapshot-case");
    let report = run(kir_in(tb, &case).args(["snapshot", "pod", &format!("{ns}/{name}"), "-o", "json"]))
        .success()
        .json();
    let findings = report["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["id"] == "miner-process" && f["evidence"].as_str().unwrap().contains("xmrig")),
        "{findings:?}"
    );
    assert!(
        findings.iter().any(|f| f["id"] == "mining-pool-port"
            && f["title"].as_str().unwrap().contains(&miner.port.to_string())),
        "{findings:?}"
    );
    let paths = artifact_paths(&report);
    let base = format!("pods/{ns}/{name}/{uid}/snapshot/app");
    for expected in
        ["proc.sh", "proc.raw", "processes.json", "connections.json", "etc.tar.zst", "findings.json"]
    {
        assert!(paths.contains(&format!("{base}/{expected}")), "{expected} missing from {paths:?}");
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(case.join("manifest.json")).unwrap()).unwrap();
    let etc = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"].as_str().unwrap().ends_with("etc.tar.zst"))
        .unwrap();
    assert!(etc["note"].as_str().unwrap().contains("container's own binaries"), "{etc}");
    let archive = std::fs::read(case.join("evidence").join(&base).join("etc.tar.zst")).unwrap();
    assert_eq!(&archive[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd, compressed by kir");
    assert!(
        all_bytes(&case).iter().all(|(path, _)| !path.to_string_lossy().contains("/etc/")),
        "nothing from the tar is extracted"
    );
    assert_eq!(verify(tb, &case).success().json()["intact"], true);

    // The same snapshot again, into the same case (a resumed run): the findings rest on what
    // the first run collected, not on nothing.
    let again = run(kir_in(tb, &case).args(["snapshot", "pod", &format!("{ns}/{name}"), "-o", "json"]))
        .success()
        .json();
    assert!(again["findings"].as_array().unwrap().iter().any(|f| f["id"] == "miner-process"), "{again}");

    // Output beyond the cap is cut at once (not at the time limit) and marked truncated.
    let (_keep_capped, capped) = case_dir("snapshot-capped");
    let cut = run(kir_in(tb, &capped).args([
        "snapshot",
        "pod",
        &format!("{ns}/{name}"),
        "--max-bytes",
        "1000",
        "--timeout",
        "5m",
        "-o",
        "json",
    ]))
    .success()
    .json();
    let raw = cut["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"].as_str().unwrap().ends_with("proc.raw"))
        .unwrap();
    assert_eq!(raw["size"], 1000);
    assert_eq!(raw["truncated"], true);
    assert!(raw["note"].as_str().unwrap().contains("output cut at the size limit"), "{raw}");
    assert!(!raw["note"].as_str().unwrap().contains("time limit"), "{raw}");
    drop(miner);
}

#[tokio::test]
async fn snapshot_of_a_container_without_a_shell_says_what_was_not_collected() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("distroless").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = bare_pod("distroless", vec![container("app", "gcr.io/distroless/static:nonroot")]);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    // kwok's per-pod Exec rule with no entry for container "app": exec into it fails the way
    // it does in an image without a shell.
    let exec_kind = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kwok.x-k8s.io", "v1alpha1", "Exec"),
        "execs",
    );
    let rule: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Exec",
        "metadata": {"name": "distroless", "namespace": ns},
        "spec": {"execs": [{"containers": ["not-this-one"], "local": {"workDir": "/nonexistent"}}]}
    }))
    .unwrap();
    Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &exec_kind)
        .create(&PostParams::default(), &rule)
        .await
        .unwrap();
    running_pods(&client, &ns, "", 1).await;
    eventually("kwok refuses exec into the container", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move {
            let attempt = pods.exec("distroless", ["true"], &kube::api::AttachParams::default()).await;
            match attempt {
                Err(_) => true,
                Ok(mut process) => {
                    let status = process.take_status().unwrap().await;
                    status.is_some_and(|s| s.status.as_deref() != Some("Success"))
                }
            }
        }
    })
    .await;

    let (_keep, case) = case_dir("distroless-case");
    let out = run(kir_in(tb, &case).args(["snapshot", "pod", &format!("{ns}/distroless"), "-o", "json"]));
    assert_eq!(out.code, 1, "nothing could be collected: {}", out.stderr);
    assert!(out.stderr.contains("nothing could be collected"), "{}", out.stderr);
    let report = out.json();
    let gaps: Vec<String> = report["notCollected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["path"].as_str().unwrap().to_string())
        .collect();
    for expected in ["proc.raw", "etc.tar.zst"] {
        assert!(gaps.iter().any(|g| g.ends_with(expected)), "{expected} not reported in {gaps:?}");
    }
    for gap in report["notCollected"].as_array().unwrap() {
        assert!(!gap["reason"].as_str().unwrap().is_empty(), "{gap}");
    }
    let table = run(kir_in(tb, &case).args(["snapshot", "pod", &format!("{ns}/distroless")]));
    assert!(table.stdout.contains("NOT COLLECTED") && table.stdout.contains("WHY"), "{}", table.stdout);
    assert_eq!(verify(tb, &case).success().json()["intact"], true);
}

/// Wait until the case journal of a running response holds `count` committed artifacts.
fn wait_for_collected(case: &Path, count: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let collected = std::fs::read_to_string(case.join("journal.jsonl"))
            .map(|j| j.matches("\"collect\"").count())
            .unwrap_or(0);
        if collected >= count || std::time::Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The journal of a resumed response did every action once and every step once.
fn assert_done_once(case: &Path) {
    let entries = journal(case);
    let count = |action: &str, status: &str| {
        entries.iter().filter(|e| e["action"] == action && e["result"]["status"] == status).count()
    };
    assert!(count("isolate.label-pod", "applied") <= 1, "labelled at most once");
    assert!(count("isolate.create-networkpolicy", "applied") <= 1);
    assert!(count("isolate.orphan", "applied") <= 1);
    for step in ["capture", "snapshot", "isolate"] {
        let done = entries
            .iter()
            .filter(|e| {
                e["action"] == "respond.step"
                    && e["parameters"]["step"] == step
                    && e["result"]["status"] == "done"
            })
            .count();
        assert_eq!(done, 1, "step {step} done exactly once");
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(case.join("manifest.json")).unwrap()).unwrap();
    let mut paths: Vec<&str> =
        manifest["artifacts"].as_array().unwrap().iter().map(|a| a["path"].as_str().unwrap()).collect();
    paths.sort();
    let twice: Vec<&&str> = paths.windows(2).filter(|w| w[0] == w[1]).map(|w| &w[0]).collect();
    assert!(twice.is_empty(), "collected twice: {twice:?}");
    assert!(
        paths.iter().any(|p| p.ends_with("/pod.json")) && paths.iter().any(|p| p.ends_with("logs/web.log")),
        "{paths:?}"
    );
}

#[tokio::test]
async fn respond_resumes_after_the_api_server_restarts() {
    // Restarting the API server would break the tests that share the testbed.
    let own = OwnTestbed::start("api-restart");
    let tb = &own.testbed;
    let client = tb.client().await;
    let ns = tb.namespace("restart").await;
    create_deployment(&client, &ns, &deployment("web", 2, vec![container("web", "nginx:1.27")])).await;
    create_service(&client, &ns, "web", &[("app", "web")]).await;
    let name = running_pods(&client, &ns, "app=web", 2).await[0].metadata.name.clone().unwrap();
    let (_keep, case) = case_dir("restart-case");
    let target = format!("{ns}/{name}");

    let child = kir_in(tb, &case)
        .args(["respond", "compromised-pod", &target, "--yes", "--request-timeout", "5s", "-o", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Held still once it has started collecting, so that the server dies in the middle of its
    // work; let go while the server is down, so that what it does next meets a dead server.
    wait_for_collected(&case, 2);
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling a child process this test started and still owns.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let mut restart = own.restart("kube-apiserver", 3);
    restart.wait_down();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let first = child.wait_with_output().unwrap();
    restart.wait_up();
    let interrupted: Value = serde_json::from_slice(&first.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&first.stdout), String::from_utf8_lossy(&first.stderr))
    });
    assert!(
        matches!(first.status.code(), Some(1 | 5)),
        "a step failed or its evidence is incomplete while the server was down: {interrupted}"
    );
    assert!(
        interrupted["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["status"] == "failed" || s["status"] == "incomplete"),
        "{interrupted}"
    );

    let resumed =
        run(kir_in(tb, &case).args(["respond", "compromised-pod", &target, "--yes", "-o", "json"])).success();
    let report = resumed.json();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let labels = pods.get(&name).await.unwrap().metadata.labels.unwrap();
    assert!(labels.contains_key("ir.kir.dev/quarantine"), "contained after resuming: {labels:?} {report}");
    assert_eq!(kir_policies(&client, &ns).await.len(), 1, "one quarantine policy");
    assert_done_once(&case);
    assert_eq!(verify(tb, &case).success().json()["intact"], true);
}

#[tokio::test]
async fn respond_killed_midway_resumes_without_repeating_or_losing_an_action() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("resume").await;
    create_deployment(&client, &ns, &deployment("web", 2, vec![container("web", "nginx:1.27")])).await;
    create_service(&client, &ns, "web", &[("app", "web")]).await;
    let name = running_pods(&client, &ns, "app=web", 2).await[0].metadata.name.clone().unwrap();
    let (_keep, case) = case_dir("resume-case");
    let target = format!("{ns}/{name}");

    let mut child = kir_in(tb, &case)
        .args(["respond", "compromised-pod", &target, "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as it has started acting: after the first artifacts are committed.
    wait_for_collected(&case, 2);
    child.kill().unwrap();
    child.wait().unwrap();
    let cut_short = journal_text(&case);
    assert!(cut_short.contains("\"collect\""), "the killed run had started collecting");
    assert!(!cut_short.contains("\"respond.step\""), "the killed run was stopped before it finished a step");

    let resumed =
        run(kir_in(tb, &case).args(["respond", "compromised-pod", &target, "--yes", "-o", "json"])).success();
    let report = resumed.json();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let labels = pods.get(&name).await.unwrap().metadata.labels.unwrap();
    assert!(labels.contains_key("ir.kir.dev/quarantine"), "contained after resuming: {labels:?}");
    assert!(
        report["isolatedAfterMs"].is_u64() || report["steps"].to_string().contains("skipped"),
        "{report}"
    );
    assert_done_once(&case);
    assert_eq!(verify(tb, &case).success().json()["intact"], true);

    // Undo reverses every change exactly once, even those journaled by the killed run.
    run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&case)).success();
    let labels = pods.get(&name).await.map(|p| p.metadata.labels.unwrap_or_default()).unwrap_or_default();
    assert!(!labels.contains_key("ir.kir.dev/quarantine"), "{labels:?}");
    assert!(kir_policies(&client, &ns).await.is_empty());
}

#[tokio::test]
async fn respond_replaces_the_suspect_and_warns_that_the_image_is_the_same() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("respond").await;
    create_deployment(&client, &ns, &deployment("web", 2, vec![container("web", "nginx:1.27")])).await;
    let name = running_pods(&client, &ns, "app=web", 2).await[0].metadata.name.clone().unwrap();
    let (_keep, case) = case_dir("respond-case");
    let target = format!("{ns}/{name}");

    let dry = run(kir_in(tb, &case).args(["respond", "compromised-pod", &target, "--dry-run"])).success();
    for needle in ["capture", "snapshot", "label pod", "create NetworkPolicy", "remove labels"] {
        assert!(dry.stdout.contains(needle), "{needle} missing from the plan:\n{}", dry.stdout);
    }
    assert!(!case.exists(), "a dry run opens no case");
    let no_tty = run(kir_in(tb, &case).args(["respond", "compromised-pod", &target]));
    assert_eq!(no_tty.code, 2);
    assert!(no_tty.stderr.contains("--yes"), "{}", no_tty.stderr);

    let out =
        run(kir_in(tb, &case).args(["respond", "compromised-pod", &target, "--yes", "--replace"])).success();
    for needle in
        ["capture", "snapshot", "isolate", "replace", "isolation in place after", "enforcement unknown"]
    {
        assert!(out.stdout.contains(needle), "{needle} missing:\n{}", out.stdout);
    }
    assert!(out.stdout.contains("same image"), "{}", out.stdout);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    eventually("the suspect is gone", Duration::from_secs(30), || {
        let pods = pods.clone();
        let name = name.clone();
        async move { pods.get_opt(&name).await.unwrap().is_none() }
    })
    .await;
    assert_eq!(running_pods_now(&client, &ns, "app=web").await.len(), 2, "the replacement serves");
    assert_eq!(verify(tb, &case).success().json()["intact"], true);
    // Run again with the same case (as after an interruption): the pod is gone by our hand.
    let again =
        run(kir_in(tb, &case).args(["respond", "compromised-pod", &target, "--yes", "--replace"])).success();
    assert!(again.stderr.contains("an earlier run with this case deleted it"), "{}", again.stderr);
    // Without the case, a vanished pod is an error that names it.
    let elsewhere = run(kir_with(&tb.kubeconfig).args(["respond", "compromised-pod", &target, "--yes"]));
    assert_eq!(elsewhere.code, 1);
    assert!(elsewhere.stderr.contains(&format!("pod {target} not found")), "{}", elsewhere.stderr);
}

#[tokio::test]
async fn replace_needs_evidence_and_says_when_nothing_replaces_the_pod() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("replace").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = bare_pod("lonely", vec![container("app", "busybox:1.36")]);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    running_pods(&client, &ns, "", 1).await;
    let (_keep, case) = case_dir("replace-case");
    let target = format!("{ns}/lonely");

    let refused = run(kir_in(tb, &case).args(["replace", "pod", &target, "--yes"]));
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("no evidence") && refused.stderr.contains("kir capture pod"),
        "{}",
        refused.stderr
    );
    assert!(pods.get_opt("lonely").await.unwrap().is_some());

    run(kir_in(tb, &case).args(["capture", "pod", &target])).success();
    let out = run(kir_in(tb, &case).args(["replace", "pod", &target, "--yes"])).success();
    assert!(out.stderr.contains("nothing will replace it"), "{}", out.stderr);
    eventually("the pod is gone", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move { pods.get_opt("lonely").await.unwrap().is_none() }
    })
    .await;
    let missing = run(kir_in(tb, &case).args(["capture", "pod", &format!("{ns}/lonely")]));
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains(&format!("pod {ns}/lonely not found")), "{}", missing.stderr);
}

/// The plan says what `--replace` means before anything is done: a bare pod is not replaced,
/// and the quarantine policy stays behind; the run says the latter again once it is so.
#[tokio::test]
async fn the_respond_plan_says_what_replacing_a_bare_pod_leaves() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("plan-bare").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    pods.create(&PostParams::default(), &bare_pod("loner", vec![container("app", "busybox:1.36")]))
        .await
        .unwrap();
    running_pods(&client, &ns, "", 1).await;
    let (_keep, case) = case_dir("plan-bare-case");
    let target = format!("{ns}/loner");
    let plan = run(kir_in(tb, &case).args(["respond", "compromised-pod", &target, "--replace", "--dry-run"]))
        .success();
    let replace_line =
        plan.stdout.lines().find(|l| l.trim_start().starts_with("replace")).unwrap_or_default();
    assert!(
        replace_line.contains("no controller: nothing will replace it")
            && replace_line.contains("kir-quarantine-")
            && replace_line.contains("stay"),
        "{}",
        plan.stdout
    );
    assert!(pods.get_opt("loner").await.unwrap().is_some(), "a dry run changes nothing");
    let done = run(kir_in(tb, &case).args([
        "respond",
        "compromised-pod",
        &target,
        "--replace",
        "--yes",
        "-o",
        "json",
    ]))
    .success()
    .json();
    let warnings = done["replace"]["warnings"].to_string();
    assert!(
        warnings.contains("nothing will replace it") && warnings.contains("`kir undo CASE` removes them"),
        "{done}"
    );
}

/// A replacement that cannot run (a quota refuses it) is explained while kir waits and when
/// the wait ends, and the exit status says the workload is not running clean again.
#[tokio::test]
async fn waiting_for_a_replacement_that_cannot_run_says_why() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("no-room").await;
    let quota: k8s_openapi::api::core::v1::ResourceQuota = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "one-pod"},
        "spec": {"hard": {"pods": "1"}}
    }))
    .unwrap();
    Api::<k8s_openapi::api::core::v1::ResourceQuota>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &quota)
        .await
        .unwrap();
    create_deployment(&client, &ns, &deployment("web", 1, vec![container("web", "nginx:1.27")])).await;
    let name = running_pods(&client, &ns, "app=web", 1).await[0].metadata.name.clone().unwrap();
    let (_keep, case) = case_dir("no-room-case");
    // Without NO_COLOR: a pipe gets no colour codes either.
    let out = run(kir_in(tb, &case).env_remove("NO_COLOR").args([
        "isolate",
        "pod",
        &format!("{ns}/{name}"),
        "--yes",
        "--replacement-timeout",
        "15s",
        "-o",
        "json",
    ]));
    assert!(!out.stderr.contains('\u{1b}'), "no escape codes on a pipe: {:?}", out.stderr);
    assert_eq!(out.code, 6, "isolated, not replaced: {}\n{}", out.stdout, out.stderr);
    let report = out.json();
    let why = report["replacementMissing"].as_str().unwrap_or_default();
    assert!(why.contains("not running after 15 s") && why.contains("quota"), "{report:#}");
    assert!(out.stderr.contains("waiting for the replacement ("), "progress while waiting: {}", out.stderr);
    assert!(report["isolatedAfterMs"].as_u64().is_some(), "the isolation itself holds: {report:#}");
}

/// A mistyped `--case` is an error, not a second case; `--new-case` starts one; `kir case list`
/// shows the cases of a folder.
#[tokio::test]
async fn a_case_is_started_only_on_purpose_and_listed() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("new-case").await;
    create_deployment(&client, &ns, &deployment("web", 1, vec![container("web", "nginx:1.27")])).await;
    let name = running_pods(&client, &ns, "app=web", 1).await[0].metadata.name.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases");
    let typo = cases.join("INC-7-typo");
    let refused = run(kir_with(&tb.kubeconfig).arg("--case").arg(&typo).args([
        "capture",
        "pod",
        &format!("{ns}/{name}"),
    ]));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("there is no case there") && refused.stderr.contains("--new-case"),
        "{}",
        refused.stderr
    );
    assert!(!typo.exists(), "nothing created");
    let from_env = run(kir_with(&tb.kubeconfig).env("KIR_CASE", &typo).args([
        "capture",
        "pod",
        &format!("{ns}/{name}"),
    ]));
    assert_eq!(from_env.code, 2, "KIR_CASE too: {}", from_env.stderr);

    let case = cases.join("INC-7");
    run(kir_with(&tb.kubeconfig).args(["--new-case", "--case"]).arg(&case).args([
        "capture",
        "pod",
        &format!("{ns}/{name}"),
    ]))
    .success();
    run(kir_with(&tb.kubeconfig).arg("--case").arg(&case).args(["capture", "pod", &format!("{ns}/{name}")]))
        .success();
    std::fs::create_dir_all(cases.join("not-a-case")).unwrap();
    let listed = run(kir().args(["case", "list", "-o", "json"]).arg(&cases)).success().json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "only case folders: {listed:?}");
    assert_eq!(listed[0]["path"], case.display().to_string());
    assert!(listed[0]["title"].as_str().unwrap().contains(&name), "{listed:?}");
    assert!(listed[0]["journalEntries"].as_u64().unwrap() > 2);
    let table = run(kir().args(["case", "list"]).arg(&cases)).success();
    assert!(table.stdout.contains("INC-7") && table.stdout.contains("LAST ACTION"), "{}", table.stdout);
    let missing = run(kir().args(["case", "list"]).arg(dir.path().join("nowhere")));
    assert_eq!(missing.code, 2, "{}", missing.stderr);
}

/// Several pods, named as kubectl prints them or matched by a selector, are answered in one
/// case after one confirmation, a few at a time, with a summary and the time by which all were
/// isolated.
#[tokio::test]
async fn several_pods_are_answered_in_one_case_after_one_confirmation() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("many").await;
    create_deployment(&client, &ns, &deployment("web", 3, vec![container("web", "nginx:1.27")])).await;
    let pods = running_pods(&client, &ns, "app=web", 3).await;
    let names: Vec<String> = pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
    let (_keep, case) = case_dir("many-case");

    let plan = run(kir_with(&tb.kubeconfig).args([
        "respond",
        "compromised-pod",
        "-n",
        &ns,
        &format!("pod/{}", names[0]),
        &format!("pod/{}", names[1]),
        "--dry-run",
    ]))
    .success();
    assert!(plan.stdout.starts_with("Plan for 2 compromised pods"), "{}", plan.stdout);
    assert!(plan.stdout.contains(&names[0]) && plan.stdout.contains(&names[1]), "{}", plan.stdout);
    let no_tty =
        run(kir_with(&tb.kubeconfig).args(["respond", "compromised-pod", "-n", &ns, "-l", "app=web"]));
    assert_ne!(no_tty.code, 0, "one confirmation, which a pipe cannot give: {}", no_tty.stderr);

    let out = run(kir_in(tb, &case).args([
        "respond",
        "compromised-pod",
        "-n",
        &ns,
        "-l",
        "app=web",
        "--yes",
        "-o",
        "json",
    ]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    let answered: Vec<&str> =
        report["pods"].as_array().unwrap().iter().map(|p| p["pod"].as_str().unwrap()).collect();
    let mut expected: Vec<String> = names.iter().map(|n| format!("{ns}/{n}")).collect();
    expected.sort();
    assert_eq!(answered, expected.iter().map(String::as_str).collect::<Vec<_>>());
    let all = report["isolatedAllAfterMs"].as_u64().unwrap();
    assert!(
        report["pods"].as_array().unwrap().iter().all(|p| p["isolatedAfterMs"].as_u64().unwrap() <= all),
        "{report:#}"
    );
    assert_eq!(report["case"], case.display().to_string(), "one case");
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    for name in &names {
        let labels = api.get(name).await.unwrap().metadata.labels.unwrap_or_default();
        assert!(labels.contains_key("ir.kir.dev/quarantine"), "{name}: {labels:?}");
    }
    assert_eq!(verify(tb, &case).success().json()["intact"], true);

    let none = run(kir_with(&tb.kubeconfig).args([
        "respond",
        "compromised-pod",
        "-n",
        &ns,
        "-l",
        "app=nothing",
        "--yes",
    ]));
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("no pod matches -l app=nothing"), "{}", none.stderr);
}

#[tokio::test]
async fn capture_snapshot_isolate_and_replace_take_several_pods_into_one_case() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("many-steps").await;
    create_deployment(&client, &ns, &deployment("web", 3, vec![container("web", "nginx:1.27")])).await;
    let pods = running_pods(&client, &ns, "app=web", 3).await;
    let mut names: Vec<String> = pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
    names.sort();
    let qualified: Vec<String> = names.iter().map(|n| format!("{ns}/{n}")).collect();
    let (_keep, case) = case_dir("many-steps-case");
    let answered = |report: &Value| -> Vec<String> {
        report["pods"].as_array().unwrap().iter().map(|p| p["pod"].as_str().unwrap().to_string()).collect()
    };

    // The form `kubectl get -o name` prints, twice the same pod: each pod once.
    let capture = run(kir_in(tb, &case).args([
        "capture",
        "pod",
        "-n",
        &ns,
        &format!("pod/{}", names[0]),
        &names[1],
        &format!("pod/{}", names[0]),
        "-o",
        "json",
    ]));
    assert_eq!(capture.code, 0, "{}\n{}", capture.stdout, capture.stderr);
    let report = capture.json();
    assert_eq!(answered(&report), qualified[..2]);
    assert_eq!(report["case"], case.display().to_string(), "one case");
    for pod in report["pods"].as_array().unwrap() {
        assert!(!pod["artifacts"].as_array().unwrap().is_empty(), "{pod:#}");
    }

    let snapshot = run(kir_in(tb, &case).args(["snapshot", "pod", "-n", &ns, "-l", "app=web", "-o", "json"]));
    assert!(matches!(snapshot.code, 0 | 5), "{}\n{}", snapshot.stdout, snapshot.stderr);
    assert_eq!(answered(&snapshot.json()), qualified);

    let plan =
        run(kir_with(&tb.kubeconfig).args(["isolate", "pod", "-n", &ns, "-l", "app=web", "--dry-run"]))
            .success();
    for name in &qualified {
        assert!(plan.stdout.contains(&format!("Plan to isolate pod {name}:")), "{}", plan.stdout);
    }
    let no_tty = run(kir_with(&tb.kubeconfig).args(["isolate", "pod", "-n", &ns, "-l", "app=web"]));
    assert_eq!(no_tty.code, 2, "one confirmation, which a pipe cannot give: {}", no_tty.stderr);
    let isolate =
        run(kir_in(tb, &case).args(["isolate", "pod", "-n", &ns, "-l", "app=web", "--yes", "-o", "json"]));
    assert_eq!(isolate.code, 0, "{}\n{}", isolate.stdout, isolate.stderr);
    let report = isolate.json();
    let all = report["isolatedAllAfterMs"].as_u64().expect("every pod isolated");
    let isolated: Vec<&str> =
        report["pods"].as_array().unwrap().iter().map(|p| p["pod"].as_str().unwrap()).collect();
    assert_eq!(isolated, qualified);
    assert!(report["pods"].as_array().unwrap().iter().all(|p| p["isolatedAfterMs"].as_u64().unwrap() <= all));
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    for name in &names {
        let labels = api.get(name).await.unwrap().metadata.labels.unwrap_or_default();
        assert!(labels.contains_key("ir.kir.dev/quarantine"), "{name}: {labels:?}");
    }

    // Two pods with their capture in the case, one without: the two are deleted, the third is
    // kept and named, and the status says a pod was not.
    let replace =
        run(kir_in(tb, &case).args(["replace", "pod", "-n", &ns, &names[0], &names[1], &names[2], "--yes"]));
    assert_eq!(replace.code, 1, "{}\n{}", replace.stdout, replace.stderr);
    for name in &qualified {
        assert!(replace.stderr.contains(&format!("Plan to replace pod {name}:")), "{}", replace.stderr);
    }
    for name in &qualified[..2] {
        assert!(replace.stdout.contains(&format!("{name}  deleted")), "{}", replace.stdout);
    }
    assert!(replace.stdout.contains(&format!("{}  NOT DELETED", qualified[2])), "{}", replace.stdout);
    for (name, kept) in names.iter().zip([false, false, true]) {
        eventually(&format!("pod {name} deleted: {}", !kept), Duration::from_secs(30), || {
            let api = api.clone();
            async move { api.get_opt(name).await.unwrap().is_some() == kept }
        })
        .await;
    }
    assert_eq!(verify(tb, &case).success().json()["intact"], true);
}

/// The whole artifacts of one pod in a case, relative to the pod's folder (UID left out): what
/// an uninterrupted run collects. Partial artifacts kept beside a cut stream are left out, and
/// no whole one may be marked truncated (the scene's output is far below every limit).
fn whole_artifacts(case: &Path, ns: &str, name: &str) -> std::collections::BTreeSet<String> {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(case.join("manifest.json")).unwrap()).unwrap();
    let prefix = format!("pods/{ns}/{name}/");
    let mut whole = std::collections::BTreeSet::new();
    for artifact in manifest["artifacts"].as_array().unwrap() {
        let path = artifact["path"].as_str().unwrap();
        let Some((_uid, relative)) = path.strip_prefix(&prefix).and_then(|p| p.split_once('/')) else {
            continue;
        };
        if relative.contains(".incomplete-") {
            assert_eq!(artifact["truncated"], true, "a partial artifact is marked: {artifact}");
            continue;
        }
        assert_eq!(artifact["truncated"], false, "{relative} is kept whole: {artifact}");
        whole.insert(relative.to_string());
    }
    whole
}

/// A Deployment of `replicas` pods behind a Service, and what an uninterrupted response to its
/// first pod collects (with `extra` flags): the pods' names and that artifact set.
async fn web_behind_a_service_and_a_reference_run(
    tb: &Testbed,
    client: &Client,
    ns: &str,
    replicas: usize,
    extra: &[&str],
) -> (Vec<String>, std::collections::BTreeSet<String>) {
    create_deployment(client, ns, &deployment("web", replicas as i32, vec![container("web", "nginx:1.27")]))
        .await;
    create_service(client, ns, "web", &[("app", "web")]).await;
    let names: Vec<String> = running_pods(client, ns, "app=web", replicas)
        .await
        .into_iter()
        .map(|p| p.metadata.name.unwrap())
        .collect();
    let (_keep, reference_case) = case_dir("uninterrupted");
    run(kir_in(tb, &reference_case)
        .args(["respond", "compromised-pod", &format!("{ns}/{}", names[0]), "--yes"])
        .args(extra))
    .success();
    let reference = whole_artifacts(&reference_case, ns, &names[0]);
    (names, reference)
}

/// What `reference` has and `case` lacks, for one pod.
fn lacking(reference: &std::collections::BTreeSet<String>, case: &Path, ns: &str, name: &str) -> Vec<String> {
    let collected = whole_artifacts(case, ns, name);
    reference.difference(&collected).cloned().collect()
}

/// The Services that selected the pod, as its evidence says.
fn selecting_services(case: &Path, ns: &str, name: &str) -> Vec<String> {
    let base = case.join("evidence/pods").join(ns).join(name);
    let uid = std::fs::read_dir(&base).unwrap().next().unwrap().unwrap().path();
    let services: Value = serde_json::from_slice(&std::fs::read(uid.join("services.json")).unwrap()).unwrap();
    services.as_array().unwrap().iter().map(|s| s["metadata"]["name"].as_str().unwrap().to_string()).collect()
}

/// Wait (up to 30 s) until the journal of a running response says `done`.
fn wait_for_journal(case: &Path, done: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done(&String::from_utf8_lossy(&std::fs::read(case.join("journal.jsonl")).unwrap_or_default())) {
        if std::time::Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// When a test interrupts a response.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// Once this many artifacts are committed.
    Collected(usize),
    /// Once the orphaning patch is applied (containment not held for the evidence).
    Orphaned,
}

impl Moment {
    fn wait(self, case: &Path) {
        match self {
            Moment::Collected(count) => wait_for_collected(case, count),
            Moment::Orphaned => wait_for_journal(case, |journal| {
                journal.lines().any(|l| l.contains("\"isolate.orphan\"") && l.contains("\"applied\""))
            }),
        }
    }

    fn flags(self) -> &'static [&'static str] {
        match self {
            Moment::Collected(_) => &[],
            Moment::Orphaned => &["--evidence-budget", "0s"],
        }
    }
}

/// Remove the pod from its ReplicaSet and its Service, as the orphaning patch of a response
/// does: owner references and selected labels go.
async fn orphan(client: &Client, ns: &str, name: &str) {
    use kube::api::{Patch, PatchParams};
    let patch = serde_json::json!({"metadata": {"ownerReferences": null, "labels": {"app": null}}});
    Api::<Pod>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test]
async fn respond_killed_at_any_moment_resumes_with_every_artifact_of_an_uninterrupted_run() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("killed").await;
    let moments = [
        Moment::Collected(1),
        Moment::Collected(3),
        Moment::Collected(6),
        Moment::Collected(10),
        Moment::Orphaned,
    ];
    // One suspect per moment, plus the pod of the uninterrupted run.
    let replicas = 2 + moments.len();
    let (names, reference) = web_behind_a_service_and_a_reference_run(tb, &client, &ns, replicas, &[]).await;
    for expected in
        ["pod.json", "owners/Deployment-web.json", "events/Deployment-web.json", "snapshot/web/etc.tar.zst"]
    {
        assert!(reference.contains(expected), "{expected} in an uninterrupted run: {reference:?}");
    }

    let mut cases = Vec::new();
    let mut interrupted: Vec<(String, Moment)> = names[1..].iter().cloned().zip(moments).collect();
    // And once more, killed while the pod is released from its controller by someone else
    // after its object was stored: what the resumed run collects must rest on that object.
    let released = names[replicas - 1].clone();
    interrupted.push((released.clone(), Moment::Collected(1)));
    for (name, moment) in interrupted {
        let (keep, case) = case_dir("killed-case");
        let target = format!("{ns}/{name}");
        let mut child = kir_in(tb, &case)
            .args(["respond", "compromised-pod", &target, "--yes"])
            .args(moment.flags())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        moment.wait(&case);
        if name == released {
            // SAFETY: signalling a child process this test started and still owns.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGSTOP) };
            orphan(&client, &ns, &name).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let resumed =
            run(kir_in(tb, &case).args(["respond", "compromised-pod", &target, "--yes", "-o", "json"]));
        assert_eq!(resumed.code, 0, "resumed after {moment:?}:\n{}\n{}", resumed.stdout, resumed.stderr);
        let missing = lacking(&reference, &case, &ns, &name);
        assert!(missing.is_empty(), "killed at {moment:?} ({name}), the resumed case lacks {missing:?}");
        assert_eq!(
            selecting_services(&case, &ns, &name),
            ["web"],
            "killed at {moment:?}: the Services that selected the pod before it was released"
        );
        assert_done_once(&case);
        assert_eq!(verify(tb, &case).success().json()["intact"], true);
        cases.push(keep);
    }
}

#[tokio::test]
async fn an_api_server_restart_never_deletes_a_pod_with_incomplete_evidence_and_the_rerun_completes_it() {
    // Restarting the API server would break the tests that share the testbed.
    let own = OwnTestbed::start("api-restart-replace");
    let tb = &own.testbed;
    let client = tb.client().await;
    let ns = tb.namespace("restart-replace").await;
    let moments = [Moment::Collected(1), Moment::Collected(6), Moment::Orphaned];
    let replicas = 1 + moments.len();
    let (names, reference) =
        web_behind_a_service_and_a_reference_run(tb, &client, &ns, replicas, &["--replace"]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);

    for (name, moment) in names[1..].iter().zip(moments) {
        let (_keep, case) = case_dir("restart-case");
        let target = format!("{ns}/{name}");
        let child = kir_in(tb, &case)
            .args([
                "respond",
                "compromised-pod",
                &target,
                "--yes",
                "--replace",
                "--request-timeout",
                "5s",
                "-o",
                "json",
            ])
            .args(moment.flags())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Held still at the moment, so that the server dies in the middle of the work; let go
        // while the server is down, so that what it does next meets a dead server.
        moment.wait(&case);
        let pid = child.id() as libc::pid_t;
        // SAFETY: signalling a child process this test started and still owns.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        let mut restart = own.restart("kube-apiserver", 3);
        restart.wait_down();
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        let first = child.wait_with_output().unwrap();
        restart.wait_up();
        let stderr = String::from_utf8_lossy(&first.stderr);

        let deleted = journal(&case)
            .iter()
            .any(|e| e["action"] == "replace.delete-pod" && e["result"]["status"] == "deleted");
        let missing = lacking(&reference, &case, &ns, name);
        if deleted {
            assert!(
                missing.is_empty(),
                "interrupted at {moment:?}, {name} was deleted lacking {missing:?}\n{stderr}"
            );
        } else {
            assert_ne!(first.status.code(), Some(0), "interrupted at {moment:?}: {stderr}");
            let alive = pods.get_opt(name).await.unwrap();
            assert!(
                alive.is_some_and(|p| p.metadata.deletion_timestamp.is_none()),
                "interrupted at {moment:?}, {name} is kept while its evidence is incomplete: {stderr}"
            );
            assert!(stderr.contains("evidence incomplete") || stderr.contains("failed"), "{stderr}");
        }

        let again =
            run(kir_in(tb, &case).args(["respond", "compromised-pod", &target, "--yes", "--replace"]));
        assert_eq!(again.code, 0, "re-run after {moment:?}:\n{}\n{}", again.stdout, again.stderr);
        let missing = lacking(&reference, &case, &ns, name);
        assert!(
            missing.is_empty(),
            "interrupted at {moment:?}, the re-run lacks {missing:?}\nfirst run:\n{stderr}\nre-run:\n{}\n{}\njournal:\n{}",
            again.stdout,
            again.stderr,
            std::fs::read_to_string(case.join("journal.jsonl")).unwrap_or_default()
        );
        eventually("the suspect is gone", Duration::from_secs(30), || {
            let (pods, name) = (pods.clone(), name.clone());
            async move {
                pods.get_opt(&name).await.unwrap().is_none_or(|p| p.metadata.deletion_timestamp.is_some())
            }
        })
        .await;
        assert_done_once(&case);
        assert_eq!(verify(tb, &case).success().json()["intact"], true);
    }
}

/// RBAC for a responder that may do everything a response needs except `create pods/exec`.
async fn responder_without_exec(client: &Client, ns: &str) -> String {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    let rules = serde_json::json!([
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch", "update", "delete"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events", "services", "serviceaccounts", "secrets", "configmaps", "endpoints"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["replicasets", "deployments"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}
    ]);
    let user = format!("system:serviceaccount:{ns}:responder");
    let subjects = serde_json::json!([{"kind": "ServiceAccount", "name": "responder", "namespace": ns}]);
    let params = PostParams::default();
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create(
            &params,
            &ServiceAccount {
                metadata: ObjectMeta { name: Some("responder".into()), ..Default::default() },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let role: Role =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "responder"}, "rules": rules}))
            .unwrap();
    Api::<Role>::namespaced(client.clone(), ns).create(&params, &role).await.unwrap();
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "responder"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "responder"},
        "subjects": subjects,
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), ns).create(&params, &binding).await.unwrap();
    let cluster_name = format!("kir-test-responder-{ns}");
    let nodes: ClusterRole = serde_json::from_value(serde_json::json!({
        "metadata": {"name": cluster_name},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}],
    }))
    .unwrap();
    Api::<ClusterRole>::all(client.clone()).create(&params, &nodes).await.unwrap();
    let cluster_binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": cluster_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_name},
        "subjects": subjects,
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(client.clone()).create(&params, &cluster_binding).await.unwrap();
    crate::scene::wait_until_allowed(client, &user, ns, "", "pods", "delete").await;
    crate::scene::wait_until_allowed(client, &user, ns, "networking.k8s.io", "networkpolicies", "create")
        .await;
    crate::scene::wait_until_allowed(client, &user, ns, "", "nodes", "get").await;
    user
}

#[tokio::test]
async fn without_exec_permission_respond_keeps_the_pod_names_the_permission_and_deletes_only_when_told() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("no-exec").await;
    create_deployment(&client, &ns, &deployment("web", 2, vec![container("web", "nginx:1.27")])).await;
    create_service(&client, &ns, "web", &[("app", "web")]).await;
    let name = running_pods(&client, &ns, "app=web", 2).await[0].metadata.name.clone().unwrap();
    let user = responder_without_exec(&client, &ns).await;
    let (_keep, case) = case_dir("no-exec-case");
    let target = format!("{ns}/{name}");
    let respond = |extra: &[&str]| {
        let mut command = kir_in(tb, &case);
        command.args([
            "--as",
            &user,
            "respond",
            "compromised-pod",
            &target,
            "--yes",
            "--replace",
            "-o",
            "json",
        ]);
        command.args(extra);
        run(&mut command)
    };

    let kept = respond(&[]);
    assert_eq!(kept.code, 5, "evidence incomplete, suspect kept:\n{}\n{}", kept.stdout, kept.stderr);
    assert!(kept.stderr.contains(&format!("create pods/exec in {ns}")), "{}", kept.stderr);
    let report = kept.json();
    let status = |report: &Value, step: &str| {
        report["steps"].as_array().unwrap().iter().find(|s| s["step"] == step).map(|s| s["status"].clone())
    };
    assert_eq!(status(&report, "capture"), Some("done".into()), "only exec is missing: {report}");
    assert_eq!(status(&report, "snapshot"), Some("incomplete".into()), "{report}");
    assert_eq!(status(&report, "replace"), Some("withheld".into()), "{report}");
    assert!(report["missingEvidence"].to_string().contains("create pods/exec"), "{report}");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    assert!(pods.get(&name).await.unwrap().metadata.deletion_timestamp.is_none(), "the suspect is kept");
    assert!(
        !journal(&case).iter().any(|e| e["action"] == "replace.delete-pod"),
        "no deletion was even tried"
    );
    // `kir replace pod` reads the same from the case, and refuses too.
    let refused = run(kir_in(tb, &case).args(["--as", &user, "replace", "pod", &target, "--yes"]));
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("evidence as incomplete") && refused.stderr.contains("create pods/exec"),
        "{}",
        refused.stderr
    );
    assert!(pods.get(&name).await.unwrap().metadata.deletion_timestamp.is_none(), "the suspect is kept");

    let deleted = respond(&["--accept-incomplete-evidence"]);
    assert_eq!(
        deleted.code, 5,
        "deleted, the evidence still incomplete:\n{}\n{}",
        deleted.stdout, deleted.stderr
    );
    assert!(deleted.stderr.contains("create pods/exec"), "{}", deleted.stderr);
    let entries = journal(&case);
    let accepted = entries
        .iter()
        .find(|e| e["action"] == "replace.accept-incomplete-evidence")
        .expect("the decision is journaled");
    assert!(accepted["result"]["missing"].to_string().contains("create pods/exec"), "{accepted}");
    assert!(
        entries.iter().any(|e| e["action"] == "replace.delete-pod" && e["result"]["status"] == "deleted")
    );
    eventually("the suspect is gone", Duration::from_secs(30), || {
        let (pods, name) = (pods.clone(), name.clone());
        async move { pods.get_opt(&name).await.unwrap().is_none_or(|p| p.metadata.deletion_timestamp.is_some()) }
    })
    .await;
    assert_eq!(verify(tb, &case).success().json()["intact"], true);
    let cluster_name = format!("kir-test-responder-{ns}");
    let _ = Api::<ClusterRoleBinding>::all(client.clone()).delete(&cluster_name, &Default::default()).await;
    let _ = Api::<ClusterRole>::all(client.clone()).delete(&cluster_name, &Default::default()).await;
}

#[tokio::test]
async fn snapshot_at_the_highest_verbosity_keeps_the_containers_output_off_stderr() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("verbose").await;
    create_deployment(&client, &ns, &deployment("app", 1, vec![container("app", "busybox:1.36")])).await;
    let name = running_pods(&client, &ns, "app=app", 1).await[0].metadata.name.clone().unwrap();
    let (_keep, case) = case_dir("verbose-case");
    let out = run(kir_in(tb, &case).args(["snapshot", "pod", &format!("{ns}/{name}"), "-vvv", "-o", "json"]))
        .success();
    let report = out.json();
    assert!(artifact_paths(&report).iter().any(|p| p.ends_with("etc.tar.zst")), "{report}");
    // kwok runs exec on this machine: its /etc/passwd is in the tar (and in the listing).
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd.lines().next().unwrap();
    let hex: String = line.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(out.stderr.contains("TRACE"), "the highest verbosity traces");
    assert!(!out.stderr.contains("<FRAME>"), "WebSocket frames are not traced");
    assert!(!out.stderr.contains(line) && !out.stderr.contains(&hex), "{line} of /etc/passwd is on stderr");
}

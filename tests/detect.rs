//! Real attack steps on the testbed, as other identities (impersonation), next to ordinary
//! work; `kir detect audit` on the API server's own audit log must find every attack, naming
//! the audit events, and nothing in the ordinary work.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::api::{
    core::v1::{Container, Pod, PodSpec, Secret, SecurityContext, ServiceAccount},
    rbac::v1::{ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject},
};
use kube::{
    Client, Config,
    api::{Api, AttachParams, ListParams, ObjectMeta, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::{
    scene::{container, create_deployment, create_service, deployment, running_pods, wait_until_allowed},
    testbed::{Testbed, testbed},
    util::{kir, run},
};

async fn client_as(tb: &Testbed, user: &str, groups: &[&str]) -> Client {
    let kubeconfig = Kubeconfig::read_from(&tb.kubeconfig).unwrap();
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    config.auth_info.impersonate = Some(user.to_string());
    config.auth_info.impersonate_groups =
        (!groups.is_empty()).then(|| groups.iter().map(|g| g.to_string()).collect());
    Client::try_from(config).unwrap()
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.to_string()), ..Default::default() }
}

/// The audit events whose effective user is `user` and that satisfy `pick`.
fn audit_ids(tb: &Testbed, user: &str, pick: impl Fn(&Value) -> bool) -> Vec<String> {
    tb.audit_events()
        .into_iter()
        .filter(|e| {
            e["impersonatedUser"]["username"].as_str().or(e["user"]["username"].as_str()) == Some(user)
        })
        .filter(|e| pick(e))
        .map(|e| e["auditID"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn attacks_on_the_testbed_are_found_and_ordinary_work_is_not() {
    let tb = testbed();
    let admin = tb.client().await;
    let ns = tb.namespace("detect").await;
    let id = std::process::id();
    let developer = format!("dev-{id}");
    let intruder = format!("mallory-{id}");
    let backdoor = format!("backdoor-{id}");
    let backdoor_user = format!("system:serviceaccount:{ns}:{backdoor}");

    // Setup (admin): a namespace role for the developer.
    let rule = |groups: &[&str], resources: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..Default::default()
    };
    let role = Role {
        metadata: meta("developer"),
        rules: Some(vec![
            rule(&[""], &["pods", "configmaps", "services"]),
            rule(&["apps"], &["deployments", "replicasets"]),
        ]),
    };
    Api::<Role>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &role).await.unwrap();
    let binding = RoleBinding {
        metadata: meta("developer"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "developer".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: developer.clone(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    wait_until_allowed(&admin, &developer, &ns, "apps", "deployments", "create").await;

    // Ordinary work, as the developer: a deployment, a config map, a service, reads.
    let dev = client_as(tb, &developer, &[]).await;
    create_deployment(&dev, &ns, &deployment("shop", 1, vec![container("web", "nginx:1.27")])).await;
    let config_map = k8s_openapi::api::core::v1::ConfigMap {
        metadata: meta("shop-settings"),
        data: Some(BTreeMap::from([("colour".to_string(), "blue".to_string())])),
        ..Default::default()
    };
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(dev.clone(), &ns)
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();
    create_service(&dev, &ns, "shop", &[("app", "shop")]).await;
    let pods = running_pods(&dev, &ns, "app=shop", 1).await;
    let target = pods[0].metadata.name.clone().unwrap();
    Api::<Pod>::namespaced(dev.clone(), &ns).list(&ListParams::default()).await.unwrap();

    // Attack 1, as an intruder holding a system:masters credential: a service account bound
    // to cluster-admin.
    let mallory = client_as(tb, &intruder, &["system:masters"]).await;
    Api::<ServiceAccount>::namespaced(mallory.clone(), &ns)
        .create(&PostParams::default(), &ServiceAccount { metadata: meta(&backdoor), ..Default::default() })
        .await
        .unwrap();
    let escalation = ClusterRoleBinding {
        metadata: meta(&backdoor),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "cluster-admin".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: backdoor.clone(),
            namespace: Some(ns.clone()),
            ..Default::default()
        }]),
    };
    Api::<ClusterRoleBinding>::all(mallory.clone())
        .create(&PostParams::default(), &escalation)
        .await
        .unwrap();

    // Attack 2, the intruder execs into the developer's pod.
    let mut process = Api::<Pod>::namespaced(mallory.clone(), &ns)
        .exec(&target, ["sh", "-c", "id"], &AttachParams::default().stderr(false))
        .await
        .unwrap();
    let mut output = String::new();
    process.stdout().unwrap().read_to_string(&mut output).await.unwrap();
    process.take_status().unwrap().await;

    // Attacks 3 and 4, as the backdoor service account: every secret of the cluster, then a
    // privileged pod.
    wait_until_allowed(&admin, &backdoor_user, "", "", "secrets", "list").await;
    let sa = client_as(tb, &backdoor_user, &[]).await;
    Api::<Secret>::all(sa.clone()).list(&ListParams::default()).await.unwrap();
    let privileged = Pod {
        metadata: meta(&format!("debugger-{id}")),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "shell".into(),
                image: Some("busybox:1.36".into()),
                security_context: Some(SecurityContext { privileged: Some(true), ..Default::default() }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    Api::<Pod>::namespaced(sa.clone(), &ns).create(&PostParams::default(), &privileged).await.unwrap();

    // The API server writes the audit log as requests complete; wait for the last one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while audit_ids(tb, &backdoor_user, |e| e["verb"] == "create" && e["objectRef"]["resource"] == "pods")
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the privileged pod's creation reaches the audit log"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let out = run(kir().args(["detect", "audit", "-o", "json"]).arg(&tb.audit_log));
    assert_eq!(out.code, 3, "findings exit 3\n{}", out.stderr);
    let findings: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let finding_of = |rule: &str, user: &str| -> &Value {
        findings
            .iter()
            .find(|f| f["rule"]["id"] == rule && f["user"] == user)
            .unwrap_or_else(|| panic!("no {rule} finding for {user}; findings: {}", out.stdout))
    };
    let expect = |rule: &str, user: &str, ids: Vec<String>| {
        assert!(!ids.is_empty(), "{rule}: the attack is in the audit log");
        let finding = finding_of(rule, user);
        let listed: Vec<&str> =
            finding["auditIDs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        for id in &ids {
            assert!(listed.contains(&id.as_str()), "{rule}: audit id {id} missing from {finding}");
        }
        assert!(finding["suggestedResponse"].as_str().unwrap().starts_with("kir "), "{finding}");
    };
    expect(
        "kir-audit-cluster-admin-binding",
        &intruder,
        audit_ids(tb, &intruder, |e| {
            e["objectRef"]["resource"] == "clusterrolebindings" && e["verb"] == "create"
        }),
    );
    expect(
        "kir-audit-exec-into-pod",
        &intruder,
        audit_ids(tb, &intruder, |e| {
            e["objectRef"]["subresource"] == "exec" && e["objectRef"]["namespace"] == ns.as_str()
        }),
    );
    expect(
        "kir-audit-secrets-listed-across-namespaces",
        &backdoor_user,
        audit_ids(tb, &backdoor_user, |e| e["objectRef"]["resource"] == "secrets" && e["verb"] == "list"),
    );
    expect(
        "kir-audit-privileged-pod",
        &backdoor_user,
        audit_ids(tb, &backdoor_user, |e| e["objectRef"]["resource"] == "pods" && e["verb"] == "create"),
    );
    let exec = finding_of("kir-audit-exec-into-pod", &intruder);
    assert!(exec["objects"].as_array().unwrap().contains(&Value::String(format!("{ns}/{target}"))), "{exec}");
    assert_eq!(exec["suggestedResponse"], format!("kir respond compromised-pod {ns}/{target}"));

    // Nothing about the ordinary work: no finding for the developer, and none resting on any
    // of the developer's events or on the pods its deployment made.
    let ordinary = audit_ids(tb, &developer, |_| true);
    assert!(ordinary.len() >= 5, "the ordinary work is in the log: {}", ordinary.len());
    for finding in &findings {
        assert_ne!(finding["user"], developer.as_str(), "ordinary work flagged: {finding}");
        for id in finding["auditIDs"].as_array().unwrap() {
            assert!(
                !ordinary.contains(&id.as_str().unwrap().to_string()),
                "ordinary event {id} in {finding}"
            );
        }
        // The intruder's exec touches the developer's pod; nobody else's finding may.
        let objects = finding["objects"].as_array().unwrap();
        if objects.iter().any(|o| o.as_str().unwrap().starts_with(&format!("{ns}/shop"))) {
            assert_eq!(finding["user"], intruder.as_str(), "the developer's workload flagged: {finding}");
        }
    }

    // S3: the intruder's timeline starts with the binding it wrote.
    let out = run(kir().args(["audit", "timeline", "--user", &intruder, "-o", "json"]).arg(&tb.audit_log))
        .success();
    let first: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["category"], "binding-written", "{}", out.stdout);
    assert_eq!(first["object"], backdoor.as_str());

    // Search finds exactly the developer's events, as the log has them.
    let out =
        run(kir().args(["audit", "search", "--user", &developer, "-o", "json"]).arg(&tb.audit_log)).success();
    let found: Vec<String> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["auditID"].as_str().unwrap().to_string())
        .collect();
    let in_log_now = audit_ids(tb, &developer, |_| true);
    assert!(
        found.len() >= ordinary.len() && found.iter().all(|id| in_log_now.contains(id)),
        "{} vs {}",
        found.len(),
        in_log_now.len()
    );
}

/// A privileged pod that admission refuses, and requests the authorizer refuses: each is
/// reported as an attempt, one severity lower, with its answer, never as done. The identity
/// RBAC refuses has its body left out of the log (the API server authorizes before it reads
/// it), so only its burst of denials is a finding, and that one is found as such.
#[tokio::test]
async fn denied_attempts_are_reported_as_attempts_not_as_done() {
    let tb = testbed();
    let admin = tb.client().await;
    let ns = tb.namespace("detect-denied").await;
    let id = std::process::id();
    // Pod Security's baseline level refuses privileged pods in this namespace.
    let labels =
        serde_json::json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}});
    Api::<k8s_openapi::api::core::v1::Namespace>::all(admin.clone())
        .patch(&ns, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&labels))
        .await
        .unwrap();
    let (deployer, nobody) = (format!("ci-{id}"), format!("nobody-{id}"));
    for name in [&deployer, &nobody] {
        Api::<ServiceAccount>::namespaced(admin.clone(), &ns)
            .create(&PostParams::default(), &ServiceAccount { metadata: meta(name), ..Default::default() })
            .await
            .unwrap();
    }
    let user = |name: &str| format!("system:serviceaccount:{ns}:{name}");
    let role = Role {
        metadata: meta("pod-creator"),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["pods".into()]),
            verbs: vec!["create".into()],
            ..Default::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &role).await.unwrap();
    let binding = RoleBinding {
        metadata: meta("pod-creator"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "pod-creator".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: deployer.clone(),
            namespace: Some(ns.clone()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    wait_until_allowed(&admin, &user(&deployer), &ns, "", "pods", "create").await;

    let root_and_privileged = Pod {
        metadata: meta(&format!("escape-{id}")),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "shell".into(),
                image: Some("busybox:1.36".into()),
                security_context: Some(SecurityContext {
                    privileged: Some(true),
                    run_as_user: Some(0),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let refused = |result: Result<Pod, kube::Error>| match result {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("the privileged pod must be refused: {other:?}"),
    };
    // Allowed by RBAC, refused by admission: the body is in the log.
    let ci = client_as(tb, &user(&deployer), &[]).await;
    refused(Api::<Pod>::namespaced(ci, &ns).create(&PostParams::default(), &root_and_privileged).await);
    // Refused by RBAC: the same pod, then guessed secret names, a dozen times.
    let stranger = client_as(tb, &user(&nobody), &[]).await;
    refused(
        Api::<Pod>::namespaced(stranger.clone(), &ns)
            .create(&PostParams::default(), &root_and_privileged)
            .await,
    );
    for guess in 0..12 {
        let read =
            Api::<Secret>::namespaced(stranger.clone(), &ns).get(&format!("db-password-{guess}")).await;
        assert!(matches!(read, Err(kube::Error::Api(ref s)) if s.code == 403), "{read:?}");
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while audit_ids(tb, &user(&nobody), |e| e["objectRef"]["resource"] == "secrets").len() < 12 {
        assert!(tokio::time::Instant::now() < deadline, "the denied reads reach the audit log");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = run(kir().args(["detect", "audit", "-o", "json"]).arg(&tb.audit_log));
    assert_eq!(out.code, 3, "findings exit 3\n{}", out.stderr);
    let findings: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |who: &str| -> Vec<&Value> { findings.iter().filter(|f| f["user"] == who).collect() };

    let creation = audit_ids(tb, &user(&deployer), |e| {
        e["objectRef"]["resource"] == "pods" && e["verb"] == "create" && e["responseStatus"]["code"] == 403
    });
    assert_eq!(creation.len(), 1, "the refused creation is in the log, once");
    for (rule, severity) in
        [("kir-audit-privileged-pod", "medium"), ("kir-audit-privileged-root-pod", "medium")]
    {
        let finding = of(&user(&deployer))
            .into_iter()
            .find(|f| f["rule"]["id"] == rule)
            .unwrap_or_else(|| panic!("no {rule} finding for the refused pod: {}", out.stdout));
        assert_eq!(finding["outcome"], "attempt", "{finding}");
        assert_eq!(finding["severity"], severity, "{finding}");
        assert_eq!(finding["responseCodes"], serde_json::json!([403]), "{finding}");
        assert_eq!(finding["auditIDs"], serde_json::json!(creation), "{finding}");
    }
    for finding in of(&user(&deployer)).into_iter().chain(of(&user(&nobody))) {
        let signal = finding["rule"]["id"] == "kir-audit-authorization-failure-burst";
        assert!(signal || finding["outcome"] == "attempt", "nothing was done, yet: {finding}");
    }
    let burst = of(&user(&nobody))
        .into_iter()
        .find(|f| f["rule"]["id"] == "kir-audit-authorization-failure-burst")
        .unwrap_or_else(|| panic!("the burst of denials is a finding: {}", out.stdout));
    assert_eq!(burst["outcome"], "done", "the burst of denials happened: {burst}");
    assert!(burst["count"].as_u64().unwrap() >= 12, "{burst}");

    let table = run(kir().args(["detect", "audit"]).arg(&tb.audit_log));
    let line = table
        .stdout
        .lines()
        .find(|l| l.contains("Privileged container created") && l.contains(&deployer))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(line.contains("attempt (403)") && line.contains("medium"), "{line}");
}

/// With `--case`, the requests the case's journal accounts for (the responder's snapshot exec,
/// its reads and permission review) are reported apart as kir's own, and alone they make no
/// finding; an intruder's exec into the same pod at the same time stays a finding. A forged
/// journal is not believed.
#[tokio::test]
async fn the_responders_own_requests_are_told_apart_with_the_case() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("footprint").await;
    create_deployment(&client, &ns, &deployment("web", 2, vec![container("web", "nginx:1.27")])).await;
    let pods = running_pods(&client, &ns, "app=web", 2).await;
    let (suspect, other) = (pods[0].metadata.name.clone().unwrap(), pods[1].metadata.name.clone().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    run(kir().arg("--kubeconfig").arg(&tb.kubeconfig).arg("--new-case").arg("--case").arg(&case).args([
        "snapshot",
        "pod",
        &format!("{ns}/{suspect}"),
    ]))
    .success();
    let intruder = format!("intruder-{ns}");
    let mallory = client_as(tb, &intruder, &["system:masters"]).await;
    let mut process = Api::<Pod>::namespaced(mallory, &ns)
        .exec(&other, ["sh", "-c", "id"], &AttachParams::default().stderr(false))
        .await
        .unwrap();
    let mut output = String::new();
    process.stdout().unwrap().read_to_string(&mut output).await.unwrap();
    process.take_status().unwrap().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while audit_ids(tb, &intruder, |e| e["objectRef"]["subresource"] == "exec").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the intruder's exec reaches the audit log");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let exec_findings = |case: Option<&std::path::Path>| -> (i32, Vec<Value>, String) {
        let mut command = kir();
        command.args(["detect", "audit", "-o", "json"]).arg(&tb.audit_log);
        if let Some(case) = case {
            command.arg("--new-case").arg("--case").arg(case);
        }
        let out = run(&mut command);
        let findings = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|f| f["rule"]["id"] == "kir-audit-exec-into-pod")
            .filter(|f| {
                f["objects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o.as_str().unwrap().starts_with(&format!("{ns}/")))
            })
            .collect();
        (out.code, findings, out.stderr)
    };
    let (_, plain, _) = exec_findings(None);
    assert!(
        plain.iter().all(|f| f.get("responder").is_none()),
        "without the case nothing is told apart: {plain:?}"
    );
    let (code, labelled, _) = exec_findings(Some(&case));
    assert_eq!(code, 3, "the intruder's exec is still a finding");
    let of = |responder: bool| -> Vec<&Value> {
        labelled.iter().filter(|f| f.get("responder").is_some() == responder).collect()
    };
    assert_eq!(of(true).len(), 1, "the responder's snapshot exec: {labelled:?}");
    assert!(of(true)[0]["objects"].to_string().contains(&suspect), "{labelled:?}");
    assert!(
        of(false).iter().any(|f| f["user"] == intruder.as_str()),
        "the intruder's exec, at the same time in the same namespace, stays a finding: {labelled:?}"
    );

    // The findings and the log lines they rest on are kept in the case, and the report draws
    // its detections from them.
    let manifest = std::fs::read_to_string(case.join("manifest.json")).unwrap();
    assert!(manifest.contains("detections/audit-") && manifest.contains("-events.jsonl"), "{manifest}");
    let verified = run(kir().args(["case", "verify", "-o", "json"]).arg(&case)).success().json();
    assert_eq!(verified["intact"], true, "{verified}");
    let report = run(kir().args(["report", "--offline"]).arg(&case)).success();
    assert!(report.stdout.contains("detected kir-audit-exec-into-pod"), "{}", report.stdout);

    // The timeline says which lines are kir's, and shows the user agent.
    let timeline = run(kir()
        .args(["audit", "timeline"])
        .arg(&tb.audit_log)
        .args([
            "--user",
            "testbed-admin",
            "--subresource",
            "exec",
            "--name",
            &suspect,
            "--new-case",
            "--case",
        ])
        .arg(&case));
    let line = timeline.stdout.lines().find(|l| l.contains(&suspect)).unwrap_or_default();
    assert!(line.contains("kir (--case)") && line.contains("kir/"), "{}", timeline.stdout);

    // A journal line changed by hand: kir believes none of it.
    let journal = case.join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    std::fs::write(&journal, text.replacen("snapshot.pod", "snapshot.pad", 1)).unwrap();
    let (code, forged, stderr) = exec_findings(Some(&case));
    assert!(!forged.is_empty() && forged.iter().all(|f| f.get("responder").is_none()), "{forged:?}");
    assert!(stderr.contains("kir's own requests are not told apart"), "{stderr}");
    assert_eq!(code, 1, "the findings are printed, and not kept in a case that is not intact: {stderr}");
    assert!(stderr.contains("the findings are not kept in the case"), "{stderr}");
}

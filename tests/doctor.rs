use std::{io::Write, net::TcpListener, path::Path};

use k8s_openapi::api::{
    core::v1::ServiceAccount,
    rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
};
use kube::api::{Api, ObjectMeta, PostParams};

use crate::{
    testbed::testbed,
    util::{kir, kir_with, run},
};

#[test]
fn doctor_reports_version_identity_and_permissions_of_the_admin() {
    let tb = testbed();
    let report = run(kir_with(&tb.kubeconfig).args(["doctor", "-o", "json"])).success().json();

    assert_eq!(report["server"]["gitVersion"], "v1.36.3");
    assert!(report["server"]["url"].as_str().unwrap().starts_with("https://127.0.0.1:"));
    assert_eq!(report["identity"]["username"], "testbed-admin");
    let groups = report["identity"]["groups"].as_array().unwrap();
    assert!(groups.iter().any(|g| g == "system:masters"), "{groups:?}");

    let permissions = report["permissions"].as_array().unwrap();
    assert!(permissions.len() >= 20);
    for p in permissions {
        assert_eq!(p["allowed"], true, "admin should be allowed {p}");
        for field in ["verb", "resource", "subresource", "namespace", "neededBy"] {
            assert!(p.get(field).is_some(), "{field} missing in {p}");
        }
    }
    assert!(permissions.iter().any(|p| p["resource"] == "pods" && p["subresource"] == "exec"));
    assert_eq!(report["disabledCommands"].as_array().unwrap().len(), 0);

    let capabilities = report["capabilities"].as_array().unwrap();
    let capability = |name: &str| capabilities.iter().find(|c| c["name"] == name).unwrap().clone();
    assert_eq!(capability("networkPolicy")["present"], true);
    assert_eq!(capability("validatingAdmissionPolicy")["present"], true);
    assert!(capability("falco")["detectedBy"].as_str().unwrap().contains("DaemonSet"));

    // kir's requests name it in the audit log, so a responder's actions are told apart from an
    // attacker's made with the same credentials.
    let reviews = tb
        .audit_events()
        .into_iter()
        .filter(|e| {
            e["objectRef"]["resource"] == "selfsubjectaccessreviews"
                && e["user"]["username"] == "testbed-admin"
        })
        .filter(|e| e["userAgent"] == concat!("kir/", env!("CARGO_PKG_VERSION")))
        .count();
    assert!(reviews >= 20, "the permission reviews are audited as kir's: {reviews}");
}

#[test]
fn doctor_table_names_every_section() {
    // The capabilities section depends on which CRDs the cluster serves.
    let _plain = crate::scene::plain_cluster_blocking();
    let tb = testbed();
    let out = run(kir_with(&tb.kubeconfig).args(["doctor"])).success().stdout;
    insta::with_settings!({filters => vec![(r"https://127\.0\.0\.1:\d+/", "https://127.0.0.1:PORT/")]}, {
        insta::assert_snapshot!("doctor_table_as_admin", out);
    });
}

#[tokio::test]
async fn doctor_as_a_narrow_service_account_sees_exactly_its_role() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("doctor-narrow").await;
    let meta = |name: &str| ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.clone()),
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &ServiceAccount { metadata: meta("reader"), ..Default::default() })
        .await
        .unwrap();
    let rule = |resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let role = Role {
        metadata: meta("log-reader"),
        rules: Some(vec![rule(&["pods", "pods/log"], &["get"]), rule(&["events"], &["list"])]),
    };
    Api::<Role>::namespaced(client.clone(), &ns).create(&PostParams::default(), &role).await.unwrap();
    let binding = RoleBinding {
        metadata: meta("reader-logs"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "log-reader".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "reader".into(),
            namespace: Some(ns.clone()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    let subject = format!("system:serviceaccount:{ns}:reader");
    crate::scene::wait_until_allowed(&client, &subject, &ns, "", "events", "list").await;
    let report = run(kir_with(&tb.kubeconfig).args(["doctor", "-o", "json", "-n", &ns, "--as", &subject]))
        .success()
        .json();
    assert_eq!(report["identity"]["username"], subject.as_str());
    let groups = report["identity"]["groups"].as_array().unwrap();
    assert!(groups.iter().any(|g| g.as_str() == Some(&format!("system:serviceaccounts:{ns}"))), "{groups:?}");

    let allowed: Vec<String> = report["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["allowed"] == true)
        .map(|p| {
            format!(
                "{} {} {}",
                p["verb"].as_str().unwrap(),
                p["resource"].as_str().unwrap(),
                p["subresource"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(allowed, ["get pods ", "get pods log", "list events "]);
    let commands = report["commands"].as_array().unwrap();
    let command = |name: &str| commands.iter().find(|c| c["command"] == name).unwrap().clone();
    let capture = command("capture pod");
    assert_eq!(capture["availability"], "unavailable", "{capture}");
    let missing: Vec<&str> =
        capture["missing"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(missing.contains(&"get nodes (cluster-wide)"), "{missing:?}");
    assert!(missing.contains(&format!("list services in {ns}").as_str()), "{missing:?}");
    assert!(!missing.iter().any(|m| m.contains("pods/log") || m.contains("events")), "granted: {missing:?}");
    let snapshot = command("snapshot pod");
    assert_eq!(
        snapshot["missing"],
        serde_json::json!([
            format!("get pods/exec in {ns}"),
            format!("create pods/exec in {ns}"),
            format!("create pods in {ns}"),
            format!("delete pods in {ns}")
        ])
    );
    let isolate = command("isolate pod");
    assert_eq!(isolate["availability"], "unavailable");
    let degraded: Vec<&str> =
        isolate["degraded"].as_array().unwrap().iter().map(|d| d["permission"].as_str().unwrap()).collect();
    assert!(degraded.contains(&"list daemonsets.apps (cluster-wide)"), "{isolate}");
    let disabled = report["disabledCommands"].as_array().unwrap();
    assert!(
        disabled.iter().any(|c| c == "isolate pod") && disabled.iter().any(|c| c == "capture pod"),
        "{disabled:?}"
    );
}

fn write_kubeconfig(dir: &Path, server: &str, user: &str, ca: Option<&str>) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let cluster = match ca {
        Some(ca) => format!("{{server: \"{server}\", certificate-authority-data: {ca}}}"),
        None => format!("{{server: \"{server}\"}}"),
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: broken\nclusters:\n- name: c\n  cluster: {cluster}\n\
         contexts:\n- name: broken\n  context: {{cluster: c, user: u}}\nusers:\n- name: u\n  user: {user}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn assert_connect_error(stderr: &str, kubeconfig: &Path, server: &str, failure: &str) {
    for needle in [failure, server, "context:    broken", &kubeconfig.display().to_string(), "hint:"] {
        assert!(stderr.contains(needle), "{needle:?} missing from:\n{stderr}");
    }
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
}

#[test]
fn unreachable_server_says_refused_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = format!("https://127.0.0.1:{port}");
    let kubeconfig = write_kubeconfig(dir.path(), &server, "{token: abc}", None);
    let out = run(kir().arg("--kubeconfig").arg(&kubeconfig).arg("doctor"));
    assert_eq!(out.code, 1);
    assert_connect_error(&out.stderr, &kubeconfig, &server, "connection refused");
}

#[test]
fn silent_server_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let kubeconfig = write_kubeconfig(dir.path(), &server, "{token: abc}", None);
    let out = run(kir().arg("--kubeconfig").arg(&kubeconfig).args(["--request-timeout", "2s", "doctor"]));
    drop(listener);
    assert_eq!(out.code, 1);
    assert_connect_error(&out.stderr, &kubeconfig, &server, "timed out");
}

#[test]
fn untrusted_certificate_is_a_tls_error() {
    let tb = testbed();
    let server = testbed_server(&tb.kubeconfig);
    let dir = tempfile::tempdir().unwrap();
    // A kubeconfig without the testbed's CA: the system roots do not know it.
    let kubeconfig = write_kubeconfig(dir.path(), &server, "{token: abc}", None);
    let out = run(kir().arg("--kubeconfig").arg(&kubeconfig).arg("doctor"));
    assert_eq!(out.code, 1);
    assert_connect_error(&out.stderr, &kubeconfig, &server, "TLS handshake failed");
}

#[test]
fn rejected_credentials_are_unauthorized() {
    let tb = testbed();
    let server = testbed_server(&tb.kubeconfig);
    let text = std::fs::read_to_string(&tb.kubeconfig).unwrap();
    let ca = text.lines().find_map(|l| l.trim().strip_prefix("certificate-authority-data: ")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &server, "{token: not-a-real-token}", Some(ca));
    let out = run(kir().arg("--kubeconfig").arg(&kubeconfig).arg("doctor"));
    assert_eq!(out.code, 1);
    assert_connect_error(&out.stderr, &kubeconfig, &server, "unauthorized (401)");
}

#[test]
fn malformed_kubeconfig_names_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "apiVersion: v1\nclusters:\n- name: c\n  cluster: {{server: [unclosed\n").unwrap();
    let out = run(kir().arg("--kubeconfig").arg(&path).arg("doctor"));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains(&path.display().to_string()), "{}", out.stderr);
    assert!(out.stderr.contains("YAML"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn missing_context_lists_the_known_ones() {
    let tb = testbed();
    let out = run(kir_with(&tb.kubeconfig).args(["--context", "nope", "doctor"]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("context \"nope\" does not exist"), "{}", out.stderr);
    assert!(out.stderr.contains("kir-testbed"), "{}", out.stderr);
}

fn testbed_server(kubeconfig: &Path) -> String {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    text.lines().find_map(|l| l.trim().strip_prefix("server: ")).unwrap().to_string()
}

//! `kir creds show`: every kind of credential the testbed really issues (legacy token
//! Secrets, bound and unbound TokenRequest tokens, client certificates signed through the CSR
//! API), what the API server says of it now, and bad input.

use std::{path::Path, process::Stdio, time::Duration};

use k8s_openapi::api::{
    authentication::v1::BoundObjectReference,
    certificates::v1::CertificateSigningRequest,
    core::v1::{Pod, Secret, ServiceAccount},
};
use kube::{
    Client,
    api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    scene::{bare_pod, container, eventually, request_token, running_pods, token_kubeconfig},
    testbed::testbed,
    util::{kir, kir_with, run},
};

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

async fn service_account(
    client: &Client,
    ns: &str,
    name: &str,
    annotations: &[(&str, &str)],
) -> ServiceAccount {
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &account)
        .await
        .unwrap()
}

/// The legacy token Secret of `account`, once the token controller has filled it in.
async fn legacy_token(client: &Client, ns: &str, account: &str) -> String {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(format!("{account}-token")),
            annotations: Some(
                [("kubernetes.io/service-account.name".to_string(), account.to_string())].into(),
            ),
            ..Default::default()
        },
        type_: Some("kubernetes.io/service-account-token".into()),
        ..Default::default()
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let name = format!("{account}-token");
    let mut token = None;
    for _ in 0..150 {
        let secret = secrets.get(&name).await.unwrap();
        token = secret.data.and_then(|d| d.get("token").map(|t| String::from_utf8(t.0.clone()).unwrap()));
        if token.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    token.expect("the token controller fills the legacy token Secret in")
}

fn show(kubeconfig: &Path, args: &[&str]) -> (Value, String) {
    let out = run(kir_with(kubeconfig).args(["creds", "show", "-o", "json"]).args(args)).success();
    let text = format!("{}{}", out.stdout, out.stderr);
    (out.json(), text)
}

fn show_token(kubeconfig: &Path, token: &str, dir: &Path) -> (Value, String) {
    let file = dir.join(format!("token-{}", &sha256(token.as_bytes())[..8]));
    std::fs::write(&file, token).unwrap();
    show(kubeconfig, &["--token-file", file.to_str().unwrap()])
}

#[tokio::test]
async fn tokens_of_every_kind_are_told_apart_and_reviewed() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("creds-show").await;
    let dir = tempfile::tempdir().unwrap();
    service_account(
        &client,
        &ns,
        "deployer",
        &[("eks.amazonaws.com/role-arn", "arn:aws:iam::1:role/deployer")],
    )
    .await;

    // A legacy token Secret: read from the Secret, and from the token itself.
    let legacy = legacy_token(&client, &ns, "deployer").await;
    let (report, text) = show(&tb.kubeconfig, &[&format!("secret/{ns}/deployer-token")]);
    assert!(report["kind"].as_str().unwrap().starts_with("legacy service-account token"), "{report}");
    assert_eq!(report["fingerprint"], sha256(legacy.as_bytes()));
    assert_eq!(report["accepted"]["authenticated"], true, "{report}");
    assert_eq!(report["user"], format!("system:serviceaccount:{ns}:deployer"));
    assert!(report["kill"].to_string().contains(&format!("delete Secret {ns}/deployer-token")), "{report}");
    assert!(
        report["kill"].to_string().contains("arn:aws:iam::1:role/deployer"),
        "the cloud identity: {report}"
    );
    assert!(!text.contains(&legacy), "the token is never printed");
    let (from_file, text) = show_token(&tb.kubeconfig, &legacy, dir.path());
    assert_eq!(from_file["fingerprint"], report["fingerprint"]);
    assert!(!text.contains(&legacy));

    // A token bound to a pod dies with the pod.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let mut holder = bare_pod("holder", vec![container("app", "busybox:1.36")]);
    holder.spec.as_mut().unwrap().service_account_name = Some("deployer".into());
    pods.create(&PostParams::default(), &holder).await.unwrap();
    let pod = running_pods(&client, &ns, "", 1).await.remove(0);
    let bound = BoundObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
    };
    let pod_token = request_token(&client, &ns, "deployer", Some(bound)).await;
    let (report, _) = show_token(&tb.kubeconfig, &pod_token, dir.path());
    assert!(report["kind"].as_str().unwrap().contains("bound to Pod holder"), "{report}");
    assert_eq!(report["accepted"]["authenticated"], true);
    assert_eq!(report["boundObject"]["exists"], true);
    assert!(report["credentialId"].as_str().unwrap().starts_with("JTI="), "{report}");
    pods.delete("holder", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() })
        .await
        .unwrap();
    eventually("the pod is gone", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move { pods.get_opt("holder").await.unwrap().is_none() }
    })
    .await;
    // The API server caches accepted tokens for a few seconds.
    let mut report = Value::Null;
    for _ in 0..30 {
        report = show_token(&tb.kubeconfig, &pod_token, dir.path()).0;
        if report["accepted"]["authenticated"] == false {
            break;
        }
        assert!(report["notes"].to_string().contains("caches"), "{report}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(report["accepted"]["authenticated"], false, "a pod-bound token dies with its pod: {report}");
    assert_eq!(report["boundObject"]["exists"], false);

    // An unbound TokenRequest token lives until it expires.
    let unbound = request_token(&client, &ns, "deployer", None).await;
    let (report, _) = show_token(&tb.kubeconfig, &unbound, dir.path());
    assert!(report["kind"].as_str().unwrap().contains("bound to no object"), "{report}");
    assert!(report["kill"].to_string().contains("recreate ServiceAccount"), "{report}");
    assert!(report["token"]["claims"]["expiresAt"].is_string(), "{report}");

    // The subject form lists the legacy token Secrets.
    let (report, _) = show(&tb.kubeconfig, &[&format!("system:serviceaccount:{ns}:deployer")]);
    assert_eq!(report["tokenSecrets"], json!(["deployer-token"]), "{report}");
    assert_eq!(report["serviceAccount"]["exists"], true);

    // Recorded into a case: the fingerprint, never the token.
    let case = dir.path().join("case");
    let file = dir.path().join("legacy");
    std::fs::write(&file, &legacy).unwrap();
    run(kir_with(&tb.kubeconfig)
        .arg("--new-case")
        .arg("--case")
        .arg(&case)
        .args(["creds", "show", "--token-file"])
        .arg(&file))
    .success();
    let journal = std::fs::read_to_string(case.join("journal.jsonl")).unwrap();
    assert!(journal.contains(&sha256(legacy.as_bytes())) && !journal.contains(&legacy), "{journal}");
}

/// A client certificate for `user` in `groups`, signed by the testbed's CA through the CSR API.
async fn client_certificate(client: &Client, dir: &Path, user: &str, groups: &[&str]) -> std::path::PathBuf {
    let key = dir.join(format!("{user}.key"));
    let csr = dir.join(format!("{user}.csr"));
    let mut subject = String::new();
    for group in groups {
        subject.push_str(&format!("/O={group}"));
    }
    subject.push_str(&format!("/CN={user}"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &subject,
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    use base64::Engine as _;
    let request = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&csr).unwrap());
    let name = format!("kir-test-{user}-{}", std::process::id());
    let object: CertificateSigningRequest = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"request": request, "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"], "expirationSeconds": 3600},
    }))
    .unwrap();
    let csrs: Api<CertificateSigningRequest> = Api::all(client.clone());
    csrs.create(&PostParams::default(), &object).await.unwrap();
    let approval = json!({"status": {"conditions": [{
        "type": "Approved", "status": "True", "reason": "KirTest", "message": "approved by the test",
    }]}});
    csrs.patch_approval(&name, &PatchParams::default(), &Patch::Merge(&approval)).await.unwrap();
    let mut certificate = None;
    for _ in 0..150 {
        certificate = csrs.get(&name).await.unwrap().status.and_then(|s| s.certificate);
        if certificate.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let path = dir.join(format!("{user}.crt"));
    std::fs::write(&path, certificate.expect("the controller-manager signs the CSR").0).unwrap();
    path
}

#[tokio::test]
async fn a_client_certificate_is_named_with_what_kills_it() {
    let tb = testbed();
    let client = tb.client().await;
    let dir = tempfile::tempdir().unwrap();
    let certificate = client_certificate(&client, dir.path(), "mallory", &["dev", "ops"]).await;
    let (report, _) = show(&tb.kubeconfig, &["--cert", certificate.to_str().unwrap()]);
    assert_eq!(report["user"], "mallory");
    assert_eq!(report["groups"], json!(["dev", "ops"]));
    let der = std::process::Command::new("openssl")
        .args(["x509", "-outform", "der", "-in"])
        .arg(&certificate)
        .output()
        .unwrap()
        .stdout;
    assert_eq!(report["credentialId"], format!("X509SHA256={}", sha256(&der)));
    assert!(report["kill"].to_string().contains("cannot be revoked"), "{report}");

    // The API server signs no client certificate in system:masters; one made elsewhere is
    // named as what RBAC cannot contain.
    let masters = dir.path().join("masters.crt");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", "/O=system:masters/CN=root", "-keyout"])
        .arg(dir.path().join("masters.key"))
        .arg("-out")
        .arg(&masters)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (report, _) = show(&tb.kubeconfig, &["--cert", masters.to_str().unwrap()]);
    let kill = report["kill"].to_string();
    assert!(kill.contains("system:masters") && kill.contains("CA"), "{kill}");
}

#[test]
fn bad_credentials_are_usage_errors_that_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 3] = [
        ("--token-file", b"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0", "parts"),
        ("--token-file", b"", "empty"),
        (
            "--cert",
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
            "PRIVATE KEY",
        ),
    ];
    for (flag, bytes, said) in cases {
        let file = dir.path().join("input");
        std::fs::write(&file, bytes).unwrap();
        let out = run(kir().args(["creds", "show", flag]).arg(&file));
        assert_eq!(out.code, 2, "{flag} {bytes:?}: {}", out.stderr);
        assert!(out.stderr.contains(flag) && out.stderr.contains(said), "{}", out.stderr);
    }
    for subject in ["alice", "system:serviceaccount:only-namespace", "secret/ns"] {
        let out = run(kir().args(["creds", "show", subject]));
        assert_eq!(out.code, 2, "{subject}: {}", out.stderr);
        assert!(out.stderr.contains(subject), "{}", out.stderr);
    }
}

/// One question to ask the API server and kir: verb, `resource[.group][/sub]` or `/url`, name,
/// namespace.
struct Question<'a> {
    verb: &'a str,
    target: &'a str,
    name: Option<&'a str>,
    namespaced: bool,
}

const QUESTIONS: &[Question<'static>] = &[
    Question { verb: "get", target: "pods", name: Some("web"), namespaced: true },
    Question { verb: "list", target: "pods", name: None, namespaced: true },
    Question { verb: "list", target: "pods", name: None, namespaced: false },
    Question { verb: "get", target: "secrets", name: Some("s1"), namespaced: true },
    Question { verb: "get", target: "secrets", name: Some("s2"), namespaced: true },
    Question { verb: "list", target: "secrets", name: None, namespaced: true },
    Question { verb: "create", target: "pods/exec", name: Some("web"), namespaced: true },
    Question { verb: "create", target: "deployments.apps", name: None, namespaced: true },
    Question { verb: "delete", target: "deployments.apps", name: Some("api"), namespaced: true },
    Question { verb: "patch", target: "deployments.apps/scale", name: Some("api"), namespaced: true },
    Question { verb: "get", target: "nodes", name: Some("kwok-node-0"), namespaced: false },
    Question {
        verb: "escalate",
        target: "clusterroles.rbac.authorization.k8s.io",
        name: None,
        namespaced: false,
    },
    Question { verb: "get", target: "/metrics", name: None, namespaced: false },
    Question { verb: "get", target: "/logs/kube-apiserver.log", name: None, namespaced: false },
];

#[tokio::test]
async fn scope_and_who_can_agree_with_the_api_server() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("creds-scope").await;
    let prefix = format!("kir-test-{ns}");
    for i in 0..8 {
        service_account(&client, &ns, &format!("sa-{i}"), &[]).await;
    }
    let rule = |verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]| {
        let mut rule = json!({"verbs": verbs, "apiGroups": groups, "resources": resources});
        if !names.is_empty() {
            rule["resourceNames"] = json!(names);
        }
        rule
    };
    let roles = [
        (
            "reader",
            vec![rule(&["get", "list"], &[""], &["pods"], &[]), rule(&["get"], &[""], &["secrets"], &["s1"])],
        ),
        ("execer", vec![rule(&["create", "get"], &[""], &["pods/exec"], &[])]),
        ("deployer", vec![rule(&["*"], &["apps"], &["deployments", "deployments/scale"], &[])]),
        ("scaler", vec![rule(&["patch"], &["apps"], &["*/scale"], &[])]),
    ];
    let params = PostParams::default();
    for (name, rules) in &roles {
        let role: Role = serde_json::from_value(json!({"metadata": {"name": name}, "rules": rules})).unwrap();
        Api::<Role>::namespaced(client.clone(), &ns).create(&params, &role).await.unwrap();
    }
    let cluster_roles = [
        (format!("{prefix}-secrets"), json!({"rules": [rule(&["list", "get"], &[""], &["secrets"], &[])]})),
        (
            format!("{prefix}-nodes-urls"),
            json!({"rules": [rule(&["get"], &[""], &["nodes"], &[]), {"verbs": ["get"], "nonResourceURLs": ["/metrics", "/logs/*"]}]}),
        ),
        (
            format!("{prefix}-escalator"),
            json!({"rules": [rule(&["escalate", "bind"], &["rbac.authorization.k8s.io"], &["clusterroles"], &[])]}),
        ),
        // Aggregates the piece below by its label.
        (
            format!("{prefix}-aggregate"),
            json!({"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"kir-test/aggregate-to": prefix.clone()}}]}, "rules": []}),
        ),
        (
            format!("{prefix}-piece"),
            json!({"metadata": {"labels": {"kir-test/aggregate-to": prefix.clone()}}, "rules": [rule(&["list"], &[""], &["pods"], &[])]}),
        ),
    ];
    for (name, body) in &cluster_roles {
        let mut body = body.clone();
        body["metadata"]["name"] = json!(name);
        let role: ClusterRole = serde_json::from_value(body).unwrap();
        Api::<ClusterRole>::all(client.clone()).create(&params, &role).await.unwrap();
    }
    let sa = |i: usize| json!({"kind": "ServiceAccount", "name": format!("sa-{i}"), "namespace": ns});
    let user = |name: &str| json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name});
    let group = |name: &str| json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name});
    let role_bindings = [
        (
            "r1",
            json!({"kind": "Role", "name": "reader"}),
            vec![sa(0), user("alice"), group(&format!("{prefix}-devs"))],
        ),
        ("r2", json!({"kind": "Role", "name": "execer"}), vec![sa(1), user("bob")]),
        (
            "r3",
            json!({"kind": "Role", "name": "deployer"}),
            vec![sa(2), group(&format!("system:serviceaccounts:{ns}"))],
        ),
        ("r4", json!({"kind": "Role", "name": "scaler"}), vec![user("carol")]),
        (
            "r5",
            json!({"kind": "ClusterRole", "name": format!("{prefix}-secrets")}),
            vec![sa(3), user("dave")],
        ),
        ("r6", json!({"kind": "Role", "name": "missing"}), vec![sa(4)]),
    ];
    for (name, role_ref, subjects) in &role_bindings {
        let mut role_ref = role_ref.clone();
        role_ref["apiGroup"] = json!("rbac.authorization.k8s.io");
        let binding: RoleBinding = serde_json::from_value(
            json!({"metadata": {"name": name}, "roleRef": role_ref, "subjects": subjects}),
        )
        .unwrap();
        Api::<RoleBinding>::namespaced(client.clone(), &ns).create(&params, &binding).await.unwrap();
    }
    let cluster_bindings = [
        (
            format!("{prefix}-c1"),
            format!("{prefix}-nodes-urls"),
            vec![sa(5), user("erin"), group(&format!("{prefix}-ops"))],
        ),
        (format!("{prefix}-c2"), format!("{prefix}-escalator"), vec![sa(6), user("frank")]),
        (format!("{prefix}-c3"), format!("{prefix}-aggregate"), vec![sa(7), user("grace")]),
    ];
    for (name, role, subjects) in &cluster_bindings {
        let binding: ClusterRoleBinding = serde_json::from_value(json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": subjects,
        }))
        .unwrap();
        Api::<ClusterRoleBinding>::all(client.clone()).create(&params, &binding).await.unwrap();
    }

    // The subjects: every service account, users with and without bindings, group members.
    let mut subjects: Vec<(String, Vec<String>)> = (0..8)
        .map(|i| {
            (
                format!("system:serviceaccount:{ns}:sa-{i}"),
                vec![
                    "system:serviceaccounts".into(),
                    format!("system:serviceaccounts:{ns}"),
                    "system:authenticated".into(),
                ],
            )
        })
        .collect();
    for name in ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "nobody"] {
        subjects.push((name.to_string(), vec!["system:authenticated".to_string()]));
    }
    for (name, groups) in [
        ("dev-1", vec![format!("{prefix}-devs")]),
        ("ops-1", vec![format!("{prefix}-ops")]),
        ("both", vec![format!("{prefix}-devs"), format!("{prefix}-ops")]),
        ("sa-like", vec![format!("system:serviceaccounts:{ns}")]),
    ] {
        let mut groups = groups;
        groups.push("system:authenticated".into());
        subjects.push((name.to_string(), groups));
    }
    assert!(subjects.len() >= 20);

    let sar = |user: &str, groups: &[String], question: &Question| {
        let ns = question.namespaced.then(|| ns.clone());
        let (client, user, groups) = (client.clone(), user.to_string(), groups.to_vec());
        let (verb, target, name) =
            (question.verb.to_string(), question.target.to_string(), question.name.map(String::from));
        async move {
            let question =
                Question { verb: &verb, target: &target, name: name.as_deref(), namespaced: ns.is_some() };
            allowed(&client, &user, &groups, &question, ns.as_deref()).await
        }
    };
    // RBAC reaches the authorizer a moment after it is written: wait for the last binding.
    eventually("the test's RBAC reached the authorizer", Duration::from_secs(30), || {
        let groups = vec!["system:authenticated".to_string()];
        let grace = sar("grace", &groups, &QUESTIONS[2]);
        let dave = sar("dave", &groups, &QUESTIONS[5]);
        async move { grace.await && dave.await }
    })
    .await;

    let mut compared = 0;
    for question in QUESTIONS {
        let mut args = vec!["creds", "who-can", question.verb, question.target];
        if let Some(name) = question.name {
            args.push(name);
        }
        if question.namespaced {
            args.extend(["-n", &ns]);
        }
        let holders = run(kir_with(&tb.kubeconfig).args(&args).args(["-o", "json"])).success().json();
        for (user, groups) in &subjects {
            let by_kir = holders.as_array().unwrap().iter().any(|h| {
                let subject = &h["subject"];
                match subject["kind"].as_str().unwrap() {
                    "User" => subject["name"] == user.as_str(),
                    "Group" => groups.iter().any(|g| subject["name"] == g.as_str()),
                    _ => {
                        format!(
                            "system:serviceaccount:{}:{}",
                            subject["namespace"].as_str().unwrap(),
                            subject["name"].as_str().unwrap()
                        ) == *user
                    }
                }
            });
            let by_server = sar(user, groups, question).await;
            assert_eq!(
                by_kir, by_server,
                "who-can {} {} {:?} (namespaced: {}) for {user} {groups:?}: kir {by_kir}, the API server {by_server}",
                question.verb, question.target, question.name, question.namespaced
            );
            compared += 1;
        }
    }
    assert!(compared >= 20 * QUESTIONS.len());

    // Scope: every grant kir lists for the test's own roles is one the API server allows.
    for (user, groups) in subjects.iter().take(16) {
        let subject =
            if user.starts_with("system:serviceaccount:") { user.clone() } else { format!("user:{user}") };
        let report =
            run(kir_with(&tb.kubeconfig).args(["creds", "scope", &subject, "-o", "json"])).success().json();
        for grant in report["grants"].as_array().unwrap() {
            let ours = grant["role"]["name"].as_str().unwrap().starts_with(&prefix)
                || grant["binding"]["namespace"] == ns.as_str();
            if !ours {
                continue;
            }
            let rule = &grant["rule"];
            for verb in rule["verbs"].as_array().unwrap().iter().filter(|v| *v != "*") {
                for resource in rule["resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| !r.as_str().unwrap().contains('*'))
                {
                    let group = rule["apiGroups"][0].as_str().unwrap();
                    let target = if group.is_empty() {
                        resource.as_str().unwrap().to_string()
                    } else {
                        let (r, sub) = resource
                            .as_str()
                            .unwrap()
                            .split_once('/')
                            .map_or((resource.as_str().unwrap(), String::new()), |(r, s)| {
                                (r, format!("/{s}"))
                            });
                        format!("{r}.{group}{sub}")
                    };
                    let question = Question {
                        verb: verb.as_str().unwrap(),
                        target: &target,
                        name: rule["resourceNames"][0].as_str(),
                        namespaced: grant["namespace"].is_string() || resource.as_str() != Some("nodes"),
                    };
                    assert!(
                        sar(user, groups, &question).await,
                        "scope says {user} may {} {} ({grant})",
                        question.verb,
                        question.target
                    );
                }
            }
        }
    }
}

/// Whether the API server's authorizer lets `user` (in `groups`) make `question` (in `ns`).
async fn allowed(
    client: &Client,
    user: &str,
    groups: &[String],
    question: &Question<'_>,
    ns: Option<&str>,
) -> bool {
    use k8s_openapi::api::authorization::v1::{
        NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    let (resource_attributes, non_resource_attributes) = if question.target.starts_with('/') {
        let url =
            NonResourceAttributes { path: Some(question.target.into()), verb: Some(question.verb.into()) };
        (None, Some(url))
    } else {
        let (qualified, subresource) = question.target.split_once('/').unwrap_or((question.target, ""));
        let (resource, group) = qualified.split_once('.').unwrap_or((qualified, ""));
        let attributes = ResourceAttributes {
            verb: Some(question.verb.into()),
            group: Some(group.into()),
            resource: Some(resource.into()),
            subresource: Some(subresource.to_string()).filter(|s| !s.is_empty()),
            name: question.name.map(String::from),
            namespace: ns.map(String::from),
            ..Default::default()
        };
        (Some(attributes), None)
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            groups: Some(groups.to_vec()),
            resource_attributes,
            non_resource_attributes,
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    api.create(&PostParams::default(), &review).await.unwrap().status.unwrap().allowed
}

/// [`allowed`] for `verb` on `resource` (no name).
async fn may(
    client: &Client,
    user: &str,
    groups: &[String],
    verb: &str,
    resource: &str,
    ns: Option<&str>,
) -> bool {
    let question = Question { verb, target: resource, name: None, namespaced: ns.is_some() };
    allowed(client, user, groups, &question, ns).await
}

#[tokio::test]
async fn revoke_takes_a_subject_out_of_every_binding_proves_it_and_undo_gives_it_back() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("creds-revoke").await;
    let prefix = format!("kir-test-{ns}");
    service_account(&client, &ns, "intruder", &[]).await;
    let user = format!("system:serviceaccount:{ns}:intruder");
    let groups = vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{ns}"),
        "system:authenticated".to_string(),
    ];
    let params = PostParams::default();
    let roles: Api<Role> = Api::namespaced(client.clone(), &ns);
    for (name, verbs, resource) in [
        ("reader", vec!["get", "list"], "secrets"),
        ("execer", vec!["create"], "pods/exec"),
        ("scaler", vec!["patch"], "deployments/scale"),
    ] {
        let role: Role = serde_json::from_value(json!({"metadata": {"name": name}, "rules": [{"apiGroups": [""], "resources": [resource], "verbs": verbs}]})).unwrap();
        roles.create(&params, &role).await.unwrap();
    }
    let nodes_role: ClusterRole = serde_json::from_value(json!({"metadata": {"name": format!("{prefix}-nodes")}, "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}]})).unwrap();
    Api::<ClusterRole>::all(client.clone()).create(&params, &nodes_role).await.unwrap();
    let sa = json!({"kind": "ServiceAccount", "name": "intruder", "namespace": ns});
    let bob = json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"});
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
    for (name, role, subjects) in [
        ("solo", "reader", json!([sa])),
        ("shared", "execer", json!([bob, sa])),
        (
            "team",
            "scaler",
            json!([{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": format!("system:serviceaccounts:{ns}")}]),
        ),
    ] {
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"team": "red"}, "annotations": {"owner": "platform"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": subjects,
        }))
        .unwrap();
        bindings.create(&params, &binding).await.unwrap();
    }
    let cluster_binding_name = format!("{prefix}-nodes");
    let cluster_binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": cluster_binding_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{prefix}-nodes")},
        // The service account named by its user name: revoke finds it too.
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
    }))
    .unwrap();
    let cluster_bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    cluster_bindings.create(&params, &cluster_binding).await.unwrap();
    eventually("the bindings reached the authorizer", Duration::from_secs(30), || {
        let (client, user, groups) = (client.clone(), user.clone(), groups.clone());
        async move { may(&client, &user, &groups, "get", "nodes", None).await }
    })
    .await;
    assert!(may(&client, &user, &groups, "get", "secrets", Some(&ns)).await);

    let versions = || {
        let (bindings, cluster_bindings, name) =
            (bindings.clone(), cluster_bindings.clone(), cluster_binding_name.clone());
        async move {
            let mut versions: Vec<String> = bindings
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|b| b.metadata.resource_version.unwrap())
                .collect();
            versions.push(cluster_bindings.get(&name).await.unwrap().metadata.resource_version.unwrap());
            versions
        }
    };
    let before = versions().await;
    let subject = format!("system:serviceaccount:{ns}:intruder");
    let dry = run(kir_with(&tb.kubeconfig).args(["creds", "revoke", &subject, "--dry-run"])).success();
    assert!(dry.stdout.contains(&format!("delete RoleBinding {ns}/solo")), "{}", dry.stdout);
    assert!(dry.stdout.contains(&format!("from RoleBinding {ns}/shared")), "{}", dry.stdout);
    assert!(
        dry.stdout.contains(&format!("delete ClusterRoleBinding {cluster_binding_name}")),
        "{}",
        dry.stdout
    );
    assert!(!dry.stdout.contains("team"), "a group binding is kept without --include-groups: {}", dry.stdout);
    assert_eq!(versions().await, before, "the dry run changed nothing");

    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let report = run(kir_with(&tb.kubeconfig)
        .arg("--new-case")
        .arg("--case")
        .arg(&case)
        .args(["creds", "revoke", &subject, "--yes", "-o", "json"]))
    .success()
    .json();
    assert_eq!(report["revoked"], true, "{report}");
    assert!(report["probes"].as_array().unwrap().iter().all(|p| p["denied"] == true), "{report}");
    assert!(bindings.get_opt("solo").await.unwrap().is_none());
    let shared = bindings.get("shared").await.unwrap();
    assert_eq!(shared.subjects.unwrap().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["bob"]);
    assert!(bindings.get_opt("team").await.unwrap().is_some(), "the group binding is kept");
    assert!(cluster_bindings.get_opt(&cluster_binding_name).await.unwrap().is_none());
    assert!(!may(&client, &user, &groups, "get", "secrets", Some(&ns)).await);
    assert!(!may(&client, &user, &groups, "get", "nodes", None).await);
    // Bob, who shared a binding with the intruder, keeps his access.
    let bob = ["system:authenticated".to_string()];
    assert!(may(&client, "bob", &bob, "create", "pods/exec", Some(&ns)).await, "bob may still exec");

    // Undo gives every binding back as it was, and the access returns.
    let undone = run(kir_with(&tb.kubeconfig).args(["undo", "--yes", "-o", "json"]).arg(&case)).success();
    assert!(!undone.stdout.contains("unconfirmed"), "{}", undone.stdout);
    let solo = bindings.get("solo").await.unwrap();
    assert_eq!(solo.metadata.labels.unwrap()["team"], "red", "re-created with its labels");
    assert_eq!(solo.metadata.annotations.unwrap()["owner"], "platform", "and its annotations");
    assert_eq!(solo.subjects.unwrap()[0].name, "intruder");
    let shared = bindings.get("shared").await.unwrap();
    assert_eq!(shared.subjects.unwrap().len(), 2);
    assert!(cluster_bindings.get_opt(&cluster_binding_name).await.unwrap().is_some());
    eventually("the access is back", Duration::from_secs(30), || {
        let (client, user, groups, ns) = (client.clone(), user.clone(), groups.clone(), ns.clone());
        async move { may(&client, &user, &groups, "get", "secrets", Some(&ns)).await }
    })
    .await;
    // A second undo has nothing left to do.
    let again = run(kir_with(&tb.kubeconfig).args(["undo", "--yes"]).arg(&case)).success();
    assert!(
        again.stderr.contains("no change") || again.stdout.contains("already"),
        "{}{}",
        again.stdout,
        again.stderr
    );

    let everyone =
        run(kir_with(&tb.kubeconfig).args(["creds", "revoke", "group:system:authenticated", "--yes"]));
    assert_eq!(everyone.code, 2, "{}", everyone.stderr);
    assert!(everyone.stderr.contains("every user"), "{}", everyone.stderr);
    let _ = cluster_bindings.delete(&cluster_binding_name, &DeleteParams::default()).await;
    let _ = Api::<ClusterRole>::all(client.clone())
        .delete(&format!("{prefix}-nodes"), &DeleteParams::default())
        .await;
}

#[tokio::test]
async fn rotate_writes_new_values_and_restarts_every_reader_until_it_runs_again() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("creds-rotate").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = Secret {
        metadata: ObjectMeta { name: Some("db".into()), ..Default::default() },
        string_data: Some(
            [("password".to_string(), "old-password".to_string()), ("user".to_string(), "app".to_string())]
                .into(),
        ),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &secret).await.unwrap();
    let mut reader = crate::scene::deployment("api", 2, vec![container("api", "busybox:1.36")]);
    let spec = reader.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    spec.containers[0].env = Some(vec![
        serde_json::from_value(json!({
            "name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}
        }))
        .unwrap(),
    ]);
    crate::scene::create_deployment(&client, &ns, &reader).await;
    let before = running_pods(&client, &ns, "app=api", 2).await;
    let version = secrets.get("db").await.unwrap().metadata.resource_version;

    let target = format!("secret/{ns}/db");
    let dry = run(kir_with(&tb.kubeconfig).args([
        "creds",
        "rotate",
        &target,
        "--generate",
        "password",
        "--dry-run",
    ]))
    .success();
    assert!(
        dry.stdout.contains("restart Deployment api (reads it by env PASSWORD of container api)"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        secrets.get("db").await.unwrap().metadata.resource_version,
        version,
        "the dry run changed nothing"
    );

    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let out = run(kir_with(&tb.kubeconfig).arg("--new-case").arg("--case").arg(&case).args([
        "creds",
        "rotate",
        &target,
        "--generate",
        "password",
        "--yes",
        "-o",
        "json",
    ]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["secretUpdated"], true);
    assert_eq!(report["restarts"][0]["status"], "running again", "{report}");
    let data = secrets.get("db").await.unwrap().data.unwrap();
    let new = String::from_utf8(data["password"].0.clone()).unwrap();
    assert_ne!(new, "old-password");
    assert_eq!(data["user"].0, b"app", "other keys keep their values");
    let after = running_pods(&client, &ns, "app=api", 2).await;
    let old_names: Vec<_> = before.iter().map(|p| p.metadata.name.clone()).collect();
    assert!(after.iter().all(|p| !old_names.contains(&p.metadata.name)), "every reader was replaced");
    let journal = std::fs::read_to_string(case.join("journal.jsonl")).unwrap();
    assert!(journal.contains("password") && !journal.contains(&new) && !out.stdout.contains(&new));

    legacy_token(&client, &ns, "default").await;
    let refused = run(kir_with(&tb.kubeconfig).args([
        "creds",
        "rotate",
        &format!("secret/{ns}/default-token"),
        "--generate",
        "x",
        "--yes",
    ]));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("service-account token"), "{}", refused.stderr);
    let bad = run(kir().args(["creds", "rotate", &target, "--from-literal", "no-equals-sign"]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(!bad.stderr.contains("no-equals-sign") || bad.stderr.contains("KEY=VALUE"), "{}", bad.stderr);
}

/// Whether the API server accepts `token` now (asked by the admin).
async fn accepted(client: &Client, token: &str) -> bool {
    use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
    let review = TokenReview {
        spec: TokenReviewSpec { token: Some(token.into()), ..Default::default() },
        ..Default::default()
    };
    let api: Api<TokenReview> = Api::all(client.clone());
    api.create(&PostParams::default(), &review).await.unwrap().status.unwrap().authenticated.unwrap_or(false)
}

fn respond_stolen(kubeconfig: &Path, case: &Path, args: &[&str]) -> crate::util::Run {
    run(kir_with(kubeconfig)
        .arg("--new-case")
        .arg("--case")
        .arg(case)
        .args(["respond", "stolen-credentials", "--yes", "-o", "json", "--wait", "60s"])
        .args(args))
}

#[tokio::test]
async fn stolen_tokens_are_killed_for_their_type_and_proved_dead() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("creds-stolen").await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, token: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, token).unwrap();
        path
    };
    service_account(
        &client,
        &ns,
        "ci",
        &[("iam.gke.io/gcp-service-account", "ci@project.iam.gserviceaccount.com")],
    )
    .await;
    service_account(&client, &ns, "bystander", &[]).await;
    let mut builder = crate::scene::deployment("builder", 1, vec![container("b", "busybox:1.36")]);
    builder.spec.as_mut().unwrap().template.spec.as_mut().unwrap().service_account_name = Some("ci".into());
    crate::scene::create_deployment(&client, &ns, &builder).await;
    let before = running_pods(&client, &ns, "app=builder", 1).await;
    let bystander = request_token(&client, &ns, "bystander", None).await;

    // A token from the TokenRequest API, bound to nothing: the account is recreated.
    let unbound = request_token(&client, &ns, "ci", None).await;
    let old_uid =
        Api::<ServiceAccount>::namespaced(client.clone(), &ns).get("ci").await.unwrap().metadata.uid;
    let leaked = file("unbound", &unbound);
    let dry = run(kir_with(&tb.kubeconfig)
        .args(["respond", "stolen-credentials", "--token-file"])
        .arg(&leaked)
        .arg("--dry-run"));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.contains("recreate ServiceAccount") && dry.stdout.contains("Google service account"),
        "{}",
        dry.stdout
    );
    assert!(accepted(&client, &unbound).await, "the dry run changed nothing");
    // The intruder used it: its requests are in the audit log under its credential id.
    let intruder = token_kubeconfig(&tb.kubeconfig, &unbound, &dir.path().join("intruder.kubeconfig"));
    run(kir_with(&intruder).args(["creds", "who-can", "get", "secrets", "-n", &ns]));
    let case = dir.path().join("case-unbound");
    let audit_log = tb.audit_log.to_str().unwrap().to_string();
    let out = respond_stolen(
        &tb.kubeconfig,
        &case,
        &["--token-file", leaked.to_str().unwrap(), "--audit-log", &audit_log],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["dead"], true, "{report}");
    assert!(report["confirmations"].to_string().contains("a token issued now"), "{report}");
    assert!(!out.stdout.contains(&unbound) && !out.stderr.contains(&unbound), "the token is never printed");
    assert!(!accepted(&client, &unbound).await, "the stolen token is dead");
    assert!(accepted(&client, &bystander).await, "an unrelated credential still works");
    let new_uid =
        Api::<ServiceAccount>::namespaced(client.clone(), &ns).get("ci").await.unwrap().metadata.uid;
    assert_ne!(new_uid, old_uid);
    let after = running_pods(&client, &ns, "app=builder", 1).await;
    assert_ne!(after[0].metadata.name, before[0].metadata.name, "the workload runs again with a fresh token");
    assert!(report["plan"]["residual"].to_string().contains("Google service account"), "{report}");
    let artifacts = std::fs::read_to_string(case.join("manifest.json")).unwrap();
    assert!(artifacts.contains("credential.json") && artifacts.contains("scope.json"), "{artifacts}");
    let activity = std::fs::read_to_string(case.join("evidence/credentials/activity.json")).unwrap();
    assert!(activity.contains("\"denied\"") && activity.contains("JTI="), "what the token did: {activity}");
    // Run again with the same case: the kill is not made twice.
    let again = respond_stolen(&tb.kubeconfig, &case, &["--token-file", leaked.to_str().unwrap()]).json();
    assert_eq!(again["kill"][0]["status"], "done earlier", "{again}");

    // A legacy token dies with its Secret.
    let legacy = legacy_token(&client, &ns, "bystander").await;
    let case = dir.path().join("case-legacy");
    let report =
        respond_stolen(&tb.kubeconfig, &case, &["--token-file", file("legacy", &legacy).to_str().unwrap()])
            .json();
    assert_eq!(report["dead"], true, "{report}");
    assert!(
        Api::<Secret>::namespaced(client.clone(), &ns).get_opt("bystander-token").await.unwrap().is_none()
    );
    assert!(!accepted(&client, &legacy).await);

    // A token bound to a Secret dies with that Secret.
    let holder = Secret {
        metadata: ObjectMeta { name: Some("holder".into()), ..Default::default() },
        string_data: Some([("x".to_string(), "y".to_string())].into()),
        ..Default::default()
    };
    let holder =
        Api::<Secret>::namespaced(client.clone(), &ns).create(&PostParams::default(), &holder).await.unwrap();
    let bound = BoundObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Secret".into()),
        name: holder.metadata.name.clone(),
        uid: holder.metadata.uid.clone(),
    };
    let secret_token = request_token(&client, &ns, "ci", Some(bound)).await;
    let case = dir.path().join("case-secret");
    let report = respond_stolen(
        &tb.kubeconfig,
        &case,
        &["--token-file", file("secret", &secret_token).to_str().unwrap()],
    )
    .json();
    assert_eq!(report["dead"], true, "{report}");
    assert!(Api::<Secret>::namespaced(client.clone(), &ns).get_opt("holder").await.unwrap().is_none());
    assert!(!accepted(&client, &secret_token).await);

    // A token bound to a pod: the pod is captured, then replaced by its controller.
    let pod = running_pods(&client, &ns, "app=builder", 1).await.remove(0);
    let bound = BoundObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
    };
    let pod_token = request_token(&client, &ns, "ci", Some(bound)).await;
    let case = dir.path().join("case-pod");
    let report =
        respond_stolen(&tb.kubeconfig, &case, &["--token-file", file("pod", &pod_token).to_str().unwrap()])
            .json();
    assert_eq!(report["dead"], true, "{report}");
    let manifest = std::fs::read_to_string(case.join("manifest.json")).unwrap();
    assert!(
        manifest.contains(&format!("pods/{ns}/{}", pod.metadata.name.clone().unwrap())),
        "the pod was captured first"
    );
    let replacement = running_pods(&client, &ns, "app=builder", 1).await;
    assert_ne!(replacement[0].metadata.name, pod.metadata.name);
}

#[tokio::test]
async fn a_stolen_certificate_loses_its_bindings_and_what_stays_open_is_said() {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("creds-cert").await;
    let dir = tempfile::tempdir().unwrap();
    let user = format!("trent-{ns}");
    let certificate = client_certificate(&client, dir.path(), &user, &["dev"]).await;
    let role: Role = serde_json::from_value(json!({"metadata": {"name": "reader"}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]})).unwrap();
    Api::<Role>::namespaced(client.clone(), &ns).create(&PostParams::default(), &role).await.unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "trent"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let groups = vec!["dev".to_string(), "system:authenticated".to_string()];
    eventually("the binding reached the authorizer", Duration::from_secs(30), || {
        let (client, user, groups, ns) = (client.clone(), user.clone(), groups.clone(), ns.clone());
        async move { may(&client, &user, &groups, "get", "secrets", Some(&ns)).await }
    })
    .await;
    let case = dir.path().join("case");
    let out = respond_stolen(&tb.kubeconfig, &case, &["--cert", certificate.to_str().unwrap()]);
    let report = out.json();
    assert_eq!(report["dead"], true, "{report}");
    assert!(report["plan"]["residual"].to_string().contains("cannot be revoked"), "{report}");
    assert!(!may(&client, &user, &groups, "get", "secrets", Some(&ns)).await);
    assert!(Api::<RoleBinding>::namespaced(client.clone(), &ns).get_opt("trent").await.unwrap().is_none());
}

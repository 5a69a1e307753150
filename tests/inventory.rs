//! `kir prepare inventory`: the architecture document finds what the cluster holds (policy
//! coverage, host access, exposure, admins), saves it, and tells the drift since a saved one.

use std::path::Path;

use k8s_openapi::api::{
    apps::v1::DaemonSet,
    core::v1::{Pod, Service, ServiceAccount},
    networking::v1::NetworkPolicy,
    rbac::v1::ClusterRoleBinding,
};
use kube::{
    Client,
    api::{Api, DeleteParams, PostParams},
};
use serde_json::{Value, json};

use crate::{
    scene::{
        container, create, create_deployment, deployment, eventually, exclusive_cluster, install_crd,
        plain_cluster, remove_crd,
    },
    testbed::testbed,
    util::{kir_with, run},
};

async fn default_deny(client: &Client, ns: &str) {
    create::<NetworkPolicy>(
        client,
        ns,
        json!({"metadata": {"name": "default-deny"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
    )
    .await;
}

async fn privileged_pod(client: &Client, ns: &str, name: &str) {
    create::<Pod>(
        client,
        ns,
        json!({"metadata": {"name": name}, "spec": {"containers": [
            {"name": "main", "image": "busybox:1.36", "securityContext": {"privileged": true}}]}}),
    )
    .await;
}

fn inventory(kubeconfig: &Path, args: &[&str]) -> crate::util::Run {
    run(kir_with(kubeconfig).args(["prepare", "inventory"]).args(args))
}

fn find<'a>(list: &'a Value, field: &str, value: &str) -> Option<&'a Value> {
    list.as_array().unwrap().iter().find(|item| item[field] == value)
}

#[tokio::test]
async fn inventory_finds_coverage_host_access_exposure_and_admins() {
    // Expects the Gateway API not to be served.
    let _plain = plain_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let denied = tb.namespace("inv-deny").await;
    let open = tb.namespace("inv-open").await;
    default_deny(&client, &denied).await;
    privileged_pod(&client, &open, "miner").await;
    create::<DaemonSet>(
        &client,
        &open,
        json!({"metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {
                "containers": [{"name": "agent", "image": "busybox:1.36",
                    "volumeMounts": [{"name": "logs", "mountPath": "/host"}]}],
                "volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}]}}}}),
    )
    .await;
    create_deployment(&client, &open, &deployment("web", 1, vec![container("web", "nginx:1.27")])).await;
    create::<Service>(
        &client,
        &open,
        json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort",
            "selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .await;
    create::<ServiceAccount>(&client, &open, json!({"metadata": {"name": "intruder"}})).await;
    // Cluster-wide: named after the test's namespace, so runs side by side never collide.
    let binding_name = format!("kir-test-{open}-admin");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": binding_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "intruder", "namespace": open}],
    }))
    .unwrap();
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    bindings.create(&PostParams::default(), &binding).await.unwrap();

    let out = inventory(&tb.kubeconfig, &["-o", "json"]).success();
    let found = out.json();
    assert_eq!(found["schema"], "kir.dev/inventory/v1");
    let coverage = &found["facts"]["coverage"];
    let of = |ns: &str| find(coverage, "namespace", ns).unwrap_or_else(|| panic!("{ns} in {coverage}"));
    assert_eq!(of(&denied)["defaultDenyIngress"], true);
    assert_eq!(of(&denied)["defaultDenyEgress"], true);
    assert_eq!(of(&open)["defaultDenyIngress"], false);
    let host = &found["facts"]["hostAccess"];
    let miner = find(host, "workload", &format!("Pod/{open}/miner")).expect("the privileged pod");
    assert_eq!(miner["reasons"], json!(["privileged container main"]));
    let agent = find(host, "workload", &format!("DaemonSet/{open}/agent")).expect("the hostPath DaemonSet");
    assert_eq!(agent["reasons"], json!(["hostPath /var/log"]));
    let exposure = found["facts"]["exposures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["namespace"] == open.as_str() && e["name"] == "web")
        .expect("the NodePort Service");
    assert_eq!(exposure["via"], "NodePort");
    assert_eq!(exposure["workloads"], json!([format!("Deployment/{open}/web")]));
    let admin = found["facts"]["admins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["subject"] == format!("ServiceAccount:{open}/intruder"))
        .expect("the service account bound to cluster-admin");
    assert_eq!(admin["binding"], format!("ClusterRoleBinding/{binding_name}"));
    assert!(
        found["notServed"].as_array().unwrap().iter().any(|k| k == "httproutes.gateway.networking.k8s.io")
    );

    // One namespace: its workloads only; the document and the diagrams render it.
    let one = inventory(&tb.kubeconfig, &["-n", &open, "-o", "json"]).success().json();
    assert!(one["workloads"].as_array().unwrap().iter().all(|w| w["namespace"] == open.as_str()));
    assert_eq!(one["workloads"].as_array().unwrap().len(), 3);
    let markdown = inventory(&tb.kubeconfig, &["-n", &open]).success().stdout;
    assert!(markdown.starts_with("# Cluster inventory") && markdown.contains("privileged container main"));
    let svg = inventory(&tb.kubeconfig, &["-n", &open, "-o", "svg"]).success().stdout;
    assert!(svg.starts_with("<svg") && svg.contains("DaemonSet agent"), "{svg}");
    let dot = inventory(&tb.kubeconfig, &["-n", &open, "-o", "dot"]).success().stdout;
    assert!(dot.starts_with("digraph inventory {") && dot.contains("internet -> e0"), "{dot}");

    bindings.delete(&binding_name, &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn a_saved_inventory_and_one_change_give_exactly_that_drift() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("inv-drift").await;
    create_deployment(&client, &ns, &deployment("web", 1, vec![container("web", "nginx:1.27")])).await;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let out = inventory(&tb.kubeconfig, &["-n", &ns, "--out", first.to_str().unwrap()]).success();
    assert!(out.stdout.is_empty(), "--out prints nothing on stdout: {}", out.stdout);
    assert!(out.stderr.contains("inventory saved in") && out.stderr.contains("first"), "{}", out.stderr);
    for file in ["inventory.json", "inventory.md", "inventory.dot", "inventory.svg"] {
        assert!(first.join(file).is_file(), "{file} is saved");
    }
    // DIR exists now: the next save goes into a new time-stamped folder inside it.
    let again = inventory(&tb.kubeconfig, &["-n", &ns, "--out", first.to_str().unwrap()]).success();
    let nested: Vec<_> =
        std::fs::read_dir(&first).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    assert_eq!(nested.len(), 1, "{}", again.stderr);
    assert!(nested[0].file_name().unwrap().to_str().unwrap().starts_with("inventory-"));
    assert!(nested[0].join("inventory.json").is_file());

    privileged_pod(&client, &ns, "late").await;
    default_deny(&client, &ns).await;
    let drift = inventory(&tb.kubeconfig, &["-n", &ns, "--diff", first.to_str().unwrap(), "-o", "json"])
        .success()
        .json();
    // Cluster-wide holders may change meanwhile through other tests; this namespace's drift
    // is exactly the change made.
    let changes: Vec<(String, String, String)> = drift["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["topic"] != "admin" && c["topic"] != "secretReader")
        .map(|c| {
            (
                c["topic"].as_str().unwrap().into(),
                c["kind"].as_str().unwrap().into(),
                c["item"].as_str().unwrap().into(),
            )
        })
        .collect();
    let late = format!("Pod/{ns}/late");
    assert_eq!(
        changes,
        [
            ("workload".into(), "added".into(), late.clone()),
            ("hostAccess".into(), "added".into(), late),
            ("policyCoverage".into(), "changed".into(), ns.clone()),
        ]
    );
    let coverage =
        &drift["changes"].as_array().unwrap().iter().find(|c| c["topic"] == "policyCoverage").unwrap();
    assert_eq!(
        coverage["detail"],
        "defaultDenyEgress: false → true; defaultDenyIngress: false → true; policies: 0 → 1"
    );
    let markdown =
        inventory(&tb.kubeconfig, &["-n", &ns, "--diff", first.join("inventory.json").to_str().unwrap()])
            .success()
            .stdout;
    assert!(markdown.starts_with("# Inventory drift") && markdown.contains("late"), "{markdown}");
}

#[tokio::test]
async fn a_diff_of_what_is_not_an_inventory_names_the_file_and_the_problem() {
    let tb = testbed();
    let dir = tempfile::tempdir().unwrap();
    let pod = dir.path().join("pod.json");
    std::fs::write(&pod, r#"{"apiVersion": "v1", "kind": "Pod"}"#).unwrap();
    let out = inventory(&tb.kubeconfig, &["--diff", pod.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains(pod.to_str().unwrap()) && out.stderr.contains("not a kir inventory"),
        "{}",
        out.stderr
    );
    let garbage = dir.path().join("notes.txt");
    std::fs::write(&garbage, "hello").unwrap();
    let out = inventory(&tb.kubeconfig, &["--diff", garbage.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("notes.txt") && out.stderr.contains("not JSON"), "{}", out.stderr);
    let out = inventory(&tb.kubeconfig, &["--diff", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("inventory.json") && out.stderr.contains("cannot read it"), "{}", out.stderr);
    let out = inventory(&tb.kubeconfig, &["--diff", pod.to_str().unwrap(), "-o", "svg"]);
    assert_eq!(out.code, 2, "a drift is no diagram: {}", out.stderr);
    // Graphviz's layout needs `dot`: without it on PATH, the error says what is missing.
    let out = run(kir_with(&tb.kubeconfig).env("PATH", dir.path()).args([
        "prepare",
        "inventory",
        "-n",
        "default",
        "-o",
        "svg",
        "--layout",
        "graphviz",
    ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("dot -Tsvg") && out.stderr.contains("Graphviz"), "{}", out.stderr);
    let out = run(kir_with(&tb.kubeconfig).args(["doctor", "-o", "svg"]));
    assert_eq!(out.code, 2, "other commands refuse document formats: {}", out.stderr);
}

const GATEWAY: &str = "gateway.networking.k8s.io";

async fn create_gateway_object(client: &Client, ns: &str, kind: &str, plural: &str, object: Value) {
    use kube::{
        api::{ApiResource, DynamicObject},
        core::GroupVersionKind,
    };
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GATEWAY, "v1", kind), plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let mut object: DynamicObject = serde_json::from_value(object).unwrap();
    object.types = Some(kube::core::TypeMeta { api_version: format!("{GATEWAY}/v1"), kind: kind.into() });
    api.create(&PostParams::default(), &object).await.unwrap();
}

#[tokio::test]
async fn where_the_gateway_api_is_served_routes_are_exposures() {
    let _exclusive = exclusive_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("inv-gateway").await;
    install_crd(&client, GATEWAY, "v1", "Gateway", "gateways", true).await;
    install_crd(&client, GATEWAY, "v1", "HTTPRoute", "httproutes", true).await;
    let outcome = async {
        eventually("discovery serves the Gateway API", std::time::Duration::from_secs(30), || async {
            let out = inventory(&tb.kubeconfig, &["-n", &ns, "-o", "json"]);
            out.code == 0 && out.json()["notServed"] == json!([])
        })
        .await;
        create_deployment(&client, &ns, &deployment("web", 1, vec![container("web", "nginx:1.27")])).await;
        create::<Service>(
            &client,
            &ns,
            json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        )
        .await;
        create_gateway_object(
            &client,
            &ns,
            "Gateway",
            "gateways",
            json!({"metadata": {"name": "edge"}, "spec": {"gatewayClassName": "public",
                "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}}),
        )
        .await;
        create_gateway_object(
            &client,
            &ns,
            "HTTPRoute",
            "httproutes",
            json!({"metadata": {"name": "shop"}, "spec": {"parentRefs": [{"name": "edge"}],
                "hostnames": ["shop.example"], "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}}),
        )
        .await;
        inventory(&tb.kubeconfig, &["-n", &ns, "-o", "json"])
    }
    .await;
    remove_crd(&client, &format!("httproutes.{GATEWAY}")).await;
    remove_crd(&client, &format!("gateways.{GATEWAY}")).await;
    let found = outcome.success().json();
    assert_eq!(found["gateways"][0]["listeners"], json!(["HTTP:80"]));
    let exposures = found["facts"]["exposures"].as_array().unwrap();
    assert_eq!(exposures.len(), 1, "a ClusterIP Service is no exposure: {exposures:?}");
    assert_eq!(exposures[0]["via"], "HTTPRoute");
    assert_eq!(exposures[0]["detail"], format!("shop.example via {ns}/edge"));
    assert_eq!(exposures[0]["workloads"], json!([format!("Deployment/{ns}/web")]));
}

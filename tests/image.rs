//! The malicious-image incident on the testbed: `kir image find` against a reference computed
//! from the raw API objects (every container kind, every controller kind, digests, spellings),
//! `kir image block` proved by the API server itself, undo, and bad input.

use std::{collections::BTreeSet, path::Path, time::Duration};

use k8s_openapi::api::{
    admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding},
    apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
    batch::v1::{CronJob, Job},
    core::v1::{Pod, ReplicationController},
};
use kube::{
    Client,
    api::{Api, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

use crate::{
    scene::{create, eventually, running_pods},
    testbed::testbed,
    util::{kir_with, run},
};

const DIGEST_ZERO: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn pod_spec(containers: Value) -> Value {
    json!({"containers": containers})
}

fn template(app: &str, spec: Value) -> Value {
    json!({"metadata": {"labels": {"app": app}}, "spec": spec})
}

fn controller(kind: &str, api_version: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec})
}

/// The canonical `registry/repository:tag` of the spellings this file uses: Docker Hub's
/// defaults written out, `:latest` when no tag or digest is given. The digest is dropped: the
/// tests compare what a reference names by tag.
fn canonical(image: &str) -> String {
    let (name, _digest) = image.split_once('@').unwrap_or((image, ""));
    let last = name.rsplit('/').next().unwrap();
    let (name, tag) = match last.split_once(':') {
        Some((_, tag)) => (&name[..name.len() - tag.len() - 1], tag),
        None => (name, "latest"),
    };
    let first = name.split('/').next().unwrap();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let name = if has_registry {
        name.replace("index.docker.io/", "docker.io/")
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{name}:{tag}")
}

/// Every container of the namespace's pods and templates, as the raw objects say:
/// `Kind/name kind:container image imageID`.
async fn raw_containers(client: &Client, ns: &str) -> Vec<(String, String, String, Option<String>)> {
    let mut all = Vec::new();
    let mut add = |owner: String, spec: &Value, status: Option<&Value>| {
        for (field, statuses, kind) in [
            ("initContainers", "initContainerStatuses", "init"),
            ("containers", "containerStatuses", "container"),
            ("ephemeralContainers", "ephemeralContainerStatuses", "ephemeral"),
        ] {
            for container in spec[field].as_array().into_iter().flatten() {
                let name = container["name"].as_str().unwrap().to_string();
                let image_id = status
                    .and_then(|s| s[statuses].as_array())
                    .into_iter()
                    .flatten()
                    .find(|s| s["name"] == name.as_str())
                    .and_then(|s| s["imageID"].as_str())
                    .filter(|id| !id.is_empty())
                    .map(str::to_string);
                all.push((
                    owner.clone(),
                    format!("{kind}:{name}"),
                    container["image"].as_str().unwrap().to_string(),
                    image_id,
                ));
            }
        }
    };
    let list = ListParams::default();
    for pod in Api::<Pod>::namespaced(client.clone(), ns).list(&list).await.unwrap() {
        let value = serde_json::to_value(&pod).unwrap();
        add(format!("Pod/{}", pod.metadata.name.unwrap()), &value["spec"], Some(&value["status"]));
    }
    macro_rules! templates {
        ($($kind:ty => $pointer:literal),*) => {$(
            for object in Api::<$kind>::namespaced(client.clone(), ns).list(&list).await.unwrap() {
                let value = serde_json::to_value(&object).unwrap();
                let kind = stringify!($kind);
                add(format!("{kind}/{}", value["metadata"]["name"].as_str().unwrap()), value.pointer($pointer).unwrap(), None);
            }
        )*};
    }
    templates!(
        Deployment => "/spec/template/spec",
        ReplicaSet => "/spec/template/spec",
        StatefulSet => "/spec/template/spec",
        DaemonSet => "/spec/template/spec",
        Job => "/spec/template/spec",
        CronJob => "/spec/jobTemplate/spec/template/spec",
        ReplicationController => "/spec/template/spec"
    );
    all
}

/// What `kir image find -o json` reported, in the same form as [`raw_containers`].
fn reported(report: &Value) -> BTreeSet<(String, String, String)> {
    let mut found = BTreeSet::new();
    for pod in report["pods"].as_array().unwrap() {
        for c in pod["containers"].as_array().unwrap() {
            found.insert((
                format!("Pod/{}", pod["name"].as_str().unwrap()),
                format!("{}:{}", c["kind"].as_str().unwrap(), c["name"].as_str().unwrap()),
                c["image"].as_str().unwrap().to_string(),
            ));
        }
    }
    for template in report["templates"].as_array().unwrap() {
        for c in template["containers"].as_array().unwrap() {
            found.insert((
                format!("{}/{}", template["kind"].as_str().unwrap(), template["name"].as_str().unwrap()),
                format!("{}:{}", c["kind"].as_str().unwrap(), c["name"].as_str().unwrap()),
                c["image"].as_str().unwrap().to_string(),
            ));
        }
    }
    found
}

/// `kir image find -o json`. Tags of the testbed's registry are resolved; Docker Hub, which
/// not every test machine reaches, is not asked.
fn find(kubeconfig: &Path, ns: &str, image: &str) -> Value {
    let mut command = kir_with(kubeconfig);
    command.args(["image", "find", image, "-n", ns, "-o", "json"]);
    if !image.starts_with("127.0.0.1:") {
        command.arg("--no-resolve");
    }
    run(&mut command).success().json()
}

/// A scene using one image in every place a pod can name it, under several spellings, beside
/// look-alikes that must not match.
async fn image_everywhere(client: &Client, ns: &str, bad: &str, look_alike: &str) {
    let c = |name: &str, image: &str| json!({"name": name, "image": image});
    create::<Deployment>(
        client,
        ns,
        controller(
            "Deployment",
            "apps/v1",
            "web",
            json!({
                "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": template("web", pod_spec(json!([c("app", bad)])))
            }),
        ),
    )
    .await;
    create::<Deployment>(
        client,
        ns,
        controller(
            "Deployment",
            "apps/v1",
            "look-alike",
            json!({
                "replicas": 1, "selector": {"matchLabels": {"app": "look-alike"}},
                "template": template("look-alike", pod_spec(json!([c("app", look_alike)])))
            }),
        ),
    )
    .await;
    create::<StatefulSet>(client, ns, controller("StatefulSet", "apps/v1", "db", json!({
        "replicas": 0, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
        "template": template("db", json!({"initContainers": [c("migrate", bad)], "containers": [c("db", "postgres:16")]}))
    }))).await;
    create::<DaemonSet>(
        client,
        ns,
        controller(
            "DaemonSet",
            "apps/v1",
            "agent",
            json!({
                "selector": {"matchLabels": {"app": "agent"}},
                "template": template("agent", pod_spec(json!([c("agent", bad)])))
            }),
        ),
    )
    .await;
    create::<CronJob>(client, ns, controller("CronJob", "batch/v1", "nightly", json!({
        "schedule": "0 3 * * *", "suspend": true,
        "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [c("job", bad)]}}}}
    }))).await;
    create::<Job>(client, ns, controller("Job", "batch/v1", "once", json!({
        "suspend": true, "template": {"spec": {"restartPolicy": "Never", "containers": [c("job", bad)]}}
    }))).await;
    create::<ReplicationController>(client, ns, controller("ReplicationController", "v1", "legacy", json!({
        "replicas": 0, "selector": {"app": "legacy"}, "template": template("legacy", pod_spec(json!([c("app", bad)])))
    }))).await;
    create::<Pod>(
        client,
        ns,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug"},
        "spec": {"initContainers": [c("fetch", bad)], "containers": [c("main", "busybox:1.36")]}}),
    )
    .await;
    // A static pod's mirror, as a kubelet posts it: bound to its node.
    let nodes = Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let node = nodes.items[0].metadata.name.clone().unwrap();
    create::<Pod>(
        client,
        ns,
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "static-web-node1", "annotations": {"kubernetes.io/config.mirror": "x"}},
        "spec": {"nodeName": node, "containers": [c("web", bad)]}}),
    )
    .await;
    let victim = create::<Pod>(
        client,
        ns,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "victim"},
        "spec": {"containers": [c("main", "busybox:1.36")]}}),
    )
    .await;
    let _ = victim;
    Api::<Pod>::namespaced(client.clone(), ns)
        .patch_subresource(
            "ephemeralcontainers",
            "victim",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"ephemeralContainers": [c("debugger", bad)]}})),
        )
        .await
        .unwrap();
    running_pods(client, ns, "app=web", 2).await;
}

#[tokio::test]
async fn image_find_finds_every_container_kind_and_controller_as_the_raw_objects_say() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("image-find").await;
    let registry = tb.registry();
    let first = tb.push_image("shop/web:1", &[]);
    let bad = format!("{registry}/shop/web:1");
    // The tag moves: what runs is the first digest, what the tag names now is the second.
    let moved = tb.push_image("shop/web:1", &[]);
    assert_ne!(first, moved);
    image_everywhere(&client, &ns, &bad, &format!("{registry}/shop/webapp:1")).await;
    // What a kubelet reports for a container it pulled: the digest, whatever the tag said.
    let pods = running_pods(&client, &ns, "app=web", 2).await;
    let running = pods[0].metadata.name.clone().unwrap();
    Api::<Pod>::namespaced(client.clone(), &ns)
        .patch_status(
            &running,
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(json!([
                    {"op": "replace", "path": "/status/containerStatuses/0/imageID", "value": first}
                ]))
                .unwrap(),
            ),
        )
        .await
        .unwrap();

    // Pinned to the digest the tag points to now: only asking the registry finds it.
    create::<Pod>(
        &client,
        &ns,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pinned"},
        "spec": {"containers": [{"name": "main", "image": moved}]}}),
    )
    .await;

    // A pull secret of the namespace's service account: read to ask the registry, never shown.
    let password = "pull-secret-password-not-to-be-printed";
    let auth =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("robot:{password}"));
    create::<k8s_openapi::api::core::v1::Secret>(&client, &ns, json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "registry"}, "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": json!({"auths": {registry.clone(): {"auth": auth}}}).to_string()}})).await;
    Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(client.clone(), &ns)
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"imagePullSecrets": [{"name": "registry"}]})),
        )
        .await
        .unwrap();

    let raw = raw_containers(&client, &ns).await;
    let mut expected: BTreeSet<_> = raw
        .iter()
        .filter(|(_, _, image, _)| canonical(image) == canonical(&bad))
        .map(|(owner, container, image, _)| (owner.clone(), container.clone(), image.clone()))
        .collect();
    // Every container kind and every controller kind is in the reference.
    for needed in [
        "Deployment/web",
        "ReplicaSet/",
        "StatefulSet/db",
        "DaemonSet/agent",
        "CronJob/nightly",
        "Job/once",
        "ReplicationController/legacy",
        "Pod/debug",
        "Pod/victim",
        "Pod/static-web-node1",
    ] {
        assert!(expected.iter().any(|(owner, _, _)| owner.starts_with(needed)), "{needed} in {expected:?}");
    }
    expected.insert(("Pod/pinned".to_string(), "container:main".to_string(), moved.clone()));
    let out = run(kir_with(&tb.kubeconfig).args(["image", "find", &bad, "-n", &ns, "-o", "json"]));
    assert!(!out.stdout.contains(password) && !out.stderr.contains(password));
    assert!(out.stderr.contains("points to"), "{}", out.stderr);
    let report = out.success().json();
    assert_eq!(reported(&report), expected, "{report:#}");
    assert_eq!(report["resolved"], moved.rsplit_once('@').unwrap().1);

    let pod =
        |name: &str| report["pods"].as_array().unwrap().iter().find(|p| p["name"] == name).cloned().unwrap();
    assert_eq!(pod("static-web-node1")["mirror"], true);
    assert_eq!(pod("victim")["containers"][0]["kind"], "ephemeral");
    assert_eq!(pod("debug")["containers"][0]["kind"], "init");
    assert_eq!(pod("pinned")["containers"][0]["matched"], "resolvedDigest");
    let web = pod(&running);
    assert_eq!(web["containers"][0]["imageID"], first.as_str());
    assert_eq!(web["owners"][1], "Deployment web", "{web:#}");
    assert!(web["owners"][0].as_str().unwrap().starts_with("ReplicaSet web-"));
    assert!(web["node"].is_string() && web["serviceAccount"] == "default");
    let cron = report["templates"].as_array().unwrap().iter().find(|t| t["kind"] == "CronJob").unwrap();
    assert_eq!(cron["suspended"], true);

    // The digest that runs finds the pod whose spec names only the tag.
    let digest = first.rsplit_once('@').unwrap().1;
    let by_digest = find(&tb.kubeconfig, &ns, digest);
    let names: Vec<_> =
        by_digest["pods"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, [running.as_str()]);
    assert_eq!(by_digest["pods"][0]["containers"][0]["matched"], "runningDigest");

    // A repository prefix on a `/` boundary: shop/ takes webapp too, shop/web (a repository)
    // does not.
    let prefix = find(&tb.kubeconfig, &ns, &format!("{registry}/shop/"));
    let repository = find(&tb.kubeconfig, &ns, &format!("{registry}/shop/web"));
    let images = |r: &Value| reported(r).into_iter().map(|(_, _, image)| image).collect::<BTreeSet<_>>();
    assert!(images(&prefix).contains(&format!("{registry}/shop/webapp:1")));
    assert!(!images(&repository).contains(&format!("{registry}/shop/webapp:1")));
    assert_eq!(reported(&repository), expected);
}

#[tokio::test]
async fn image_find_matches_every_spelling_of_a_docker_hub_image() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("image-spelling").await;
    let spellings = [
        "nginx".to_string(),
        "nginx:latest".to_string(),
        "docker.io/nginx".to_string(),
        "docker.io/library/nginx:latest".to_string(),
        "index.docker.io/library/nginx".to_string(),
        format!("nginx:latest@{DIGEST_ZERO}"),
    ];
    let others = [
        "nginx:1.27",
        "nginxinc/nginx-unprivileged:latest",
        "ghcr.io/library/nginx:latest",
        "my.registry/nginx",
    ];
    let containers: Vec<Value> = spellings
        .iter()
        .map(String::as_str)
        .chain(others)
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    create::<Pod>(
        &client,
        &ns,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "many"},
        "spec": {"containers": containers}}),
    )
    .await;
    for pattern in ["nginx:latest", "docker.io/library/nginx", "index.docker.io/nginx:latest"] {
        let report = find(&tb.kubeconfig, &ns, pattern);
        let images: BTreeSet<String> = reported(&report).into_iter().map(|(_, _, image)| image).collect();
        let mut expected: BTreeSet<String> = spellings.iter().cloned().collect();
        if !pattern.contains(":latest") {
            // A repository: every tag of it.
            expected.insert("nginx:1.27".into());
        }
        assert_eq!(images, expected, "{pattern}");
    }
}

#[tokio::test]
async fn bad_image_references_are_usage_errors_naming_the_reference() {
    let tb = testbed();
    for (bad, says) in [("::", "\"::\""), ("nginx:", "tag"), ("nginx@md5:abc", "sha256"), ("Nginx", "")] {
        for command in ["find", "block"] {
            let out = run(kir_with(&tb.kubeconfig).args(
                ["image", command, bad, "--dry-run"]
                    .iter()
                    .filter(|a| command == "block" || **a != "--dry-run"),
            ));
            assert_eq!(out.code, 2, "image {command} {bad}: {}", out.stderr);
            assert!(out.stderr.contains(says), "image {command} {bad}: {}", out.stderr);
            assert!(out.stdout.is_empty());
        }
    }
}

/// A dry-run creation as the admin: `Err(message)` when admission denied it.
async fn dry_run<K>(client: &Client, ns: &str, object: Value) -> Result<(), String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let object: K = serde_json::from_value(object).unwrap();
    let params = PostParams { dry_run: true, ..Default::default() };
    Api::<K>::namespaced(client.clone(), ns)
        .create(&params, &object)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn image_block_denies_every_spelling_everywhere_allows_the_rest_and_undo_lifts_it() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("image-block").await;
    // A Docker Hub image no other test uses: the policy is cluster-wide.
    let bad = format!("{ns}/miner:1");
    // Already running before the block: containment must still be able to label it.
    create::<Pod>(
        &client,
        &ns,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "running"},
        "spec": {"containers": [{"name": "m", "image": bad}]}}),
    )
    .await;
    create::<Pod>(
        &client,
        &ns,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bystander"},
        "spec": {"containers": [{"name": "b", "image": "busybox:1.36"}]}}),
    )
    .await;
    let case = tempfile::tempdir().unwrap();
    let case_dir = case.path().join("case");

    let dry =
        run(kir_with(&tb.kubeconfig).args(["image", "block", &bad, "-n", &ns, "--dry-run", "--no-resolve"]));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("ValidatingAdmissionPolicy kir-block-image-"), "{}", dry.stdout);
    let name = dry.stdout.split_whitespace().find(|w| w.starts_with("kir-block-image-")).unwrap().to_string();
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
    assert!(policies.get_opt(&name).await.unwrap().is_none(), "--dry-run created nothing");

    let yaml = run(kir_with(&tb.kubeconfig).args(["image", "block", &bad, "-o", "yaml"])).success();
    assert!(yaml.stdout.contains("kind: ValidatingAdmissionPolicyBinding") && yaml.stdout.contains("---"));
    assert!(policies.get_opt(&name).await.unwrap().is_none(), "-o yaml applies nothing");

    let blocked = run(kir_with(&tb.kubeconfig)
        .args([
            "image",
            "block",
            &bad,
            "-n",
            &ns,
            "--yes",
            "--no-resolve",
            "-o",
            "json",
            "--new-case",
            "--case",
        ])
        .arg(&case_dir));
    assert_eq!(blocked.code, 0, "{}\n{}", blocked.stdout, blocked.stderr);
    let report = blocked.json();
    assert_eq!(report["blocked"], true, "{report:#}");
    assert!(report["proofs"].as_array().unwrap().len() >= 10);

    // Beyond kir's own proof: each spelling in each place, as the admin (not kir) sees it.
    let spellings = [
        bad.clone(),
        format!("docker.io/{bad}"),
        format!("index.docker.io/{bad}"),
        format!("{bad}@{DIGEST_ZERO}"),
    ];
    let c = |image: &str| json!([{"name": "c", "image": image}]);
    for image in &spellings {
        let denied = |result: Result<(), String>, what: &str| {
            let message = result.expect_err(&format!("{what} with {image} is admitted"));
            assert!(message.contains(&name), "{what}: {message}");
        };
        denied(dry_run::<Pod>(&client, &ns, json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": c(image)}})).await, "pod");
        for (kind, api_version, spec) in [
            (
                "Deployment",
                "apps/v1",
                json!({"selector": {"matchLabels": {"app": "b"}}, "template": template("b", pod_spec(c(image)))}),
            ),
            (
                "ReplicaSet",
                "apps/v1",
                json!({"selector": {"matchLabels": {"app": "b"}}, "template": template("b", pod_spec(c(image)))}),
            ),
            (
                "DaemonSet",
                "apps/v1",
                json!({"selector": {"matchLabels": {"app": "b"}}, "template": template("b", pod_spec(c(image)))}),
            ),
            (
                "StatefulSet",
                "apps/v1",
                json!({"serviceName": "s", "selector": {"matchLabels": {"app": "b"}}, "template": template("b", pod_spec(c(image)))}),
            ),
            (
                "Job",
                "batch/v1",
                json!({"template": {"spec": {"restartPolicy": "Never", "containers": c(image)}}}),
            ),
            (
                "CronJob",
                "batch/v1",
                json!({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": c(image)}}}}}),
            ),
            (
                "ReplicationController",
                "v1",
                json!({"selector": {"app": "b"}, "template": template("b", pod_spec(c(image)))}),
            ),
        ] {
            let object =
                json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "spec": spec});
            let result = match kind {
                "Deployment" => dry_run::<Deployment>(&client, &ns, object).await,
                "ReplicaSet" => dry_run::<ReplicaSet>(&client, &ns, object).await,
                "DaemonSet" => dry_run::<DaemonSet>(&client, &ns, object).await,
                "StatefulSet" => dry_run::<StatefulSet>(&client, &ns, object).await,
                "Job" => dry_run::<Job>(&client, &ns, object).await,
                "CronJob" => dry_run::<CronJob>(&client, &ns, object).await,
                _ => dry_run::<ReplicationController>(&client, &ns, object).await,
            };
            denied(result, kind);
        }
        let dry = PatchParams { dry_run: true, ..Default::default() };
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let ephemeral = pods
            .patch_subresource(
                "ephemeralcontainers",
                "bystander",
                &dry,
                &Patch::Strategic(json!({"spec": {"ephemeralContainers": [{"name": "e", "image": image}]}})),
            )
            .await;
        denied(ephemeral.map(|_| ()).map_err(|e| e.to_string()), "an ephemeral container");
        let update = pods
            .patch(
                "bystander",
                &dry,
                &Patch::Strategic(json!({"spec": {"containers": [{"name": "b", "image": image}]}})),
            )
            .await;
        denied(update.map(|_| ()).map_err(|e| e.to_string()), "a pod update");
    }
    // The rest is admitted: another image, and a change of a pod that already ran the image.
    dry_run::<Pod>(
        &client,
        &ns,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": c(&format!("{ns}/miner-helper:1"))}}),
    )
    .await
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), &ns)
        .patch(
            "running",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"quarantine": "yes"}}})),
        )
        .await
        .expect("a running pod with the image can still be labelled");

    let undo = run(kir_with(&tb.kubeconfig).arg("undo").arg(&case_dir).args(["--yes"]));
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    assert!(policies.get_opt(&name).await.unwrap().is_none());
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(client.clone());
    assert!(bindings.get_opt(&name).await.unwrap().is_none());
    eventually("the image is admitted again", Duration::from_secs(20), || {
        let (client, ns, bad) = (client.clone(), ns.clone(), bad.clone());
        async move {
            dry_run::<Pod>(
                &client,
                &ns,
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": bad}]}}),
            )
            .await
            .is_ok()
        }
    })
    .await;
}

/// A namespace where `bad` runs under a Deployment, a ReplicationController, a DaemonSet and a
/// bare pod, and waits in a suspended CronJob. Returns the bare pod's UID.
async fn purge_scene(client: &Client, ns: &str, bad: &str) -> String {
    let c = |name: &str| json!([{"name": name, "image": bad}]);
    create::<Deployment>(client, ns, controller("Deployment", "apps/v1", "web", json!({
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template("web", pod_spec(c("app")))
    }))).await;
    create::<ReplicationController>(client, ns, controller("ReplicationController", "v1", "legacy", json!({
        "replicas": 1, "selector": {"app": "legacy"}, "template": template("legacy", pod_spec(c("app")))
    }))).await;
    create::<DaemonSet>(client, ns, controller("DaemonSet", "apps/v1", "agent", json!({
        "selector": {"matchLabels": {"app": "agent"}}, "template": template("agent", pod_spec(c("agent")))
    }))).await;
    create::<CronJob>(client, ns, controller("CronJob", "batch/v1", "nightly", json!({
        "schedule": "0 3 * * *", "suspend": true,
        "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": c("job")}}}}
    }))).await;
    let loose = create::<Pod>(
        client,
        ns,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "loose"},
        "spec": {"containers": c("main")}}),
    )
    .await;
    running_pods(client, ns, "app=web", 2).await;
    running_pods(client, ns, "app=legacy", 1).await;
    running_pods(client, ns, "app=agent", 2).await;
    loose.metadata.uid.unwrap()
}

fn running_with(report: &Value) -> Vec<String> {
    report["pods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["terminating"] == false && p["phase"] == "Running")
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn image_purge_scale_to_zero_captures_bare_pods_and_leaves_no_running_pod() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("image-purge-zero").await;
    let bad = format!("{ns}/miner:1");
    let loose_uid = purge_scene(&client, &ns, &bad).await;
    assert_eq!(running_with(&find(&tb.kubeconfig, &ns, &bad)).len(), 6);

    let dry = run(kir_with(&tb.kubeconfig).args([
        "image",
        "purge",
        &bad,
        "-n",
        &ns,
        "--scale-to-zero",
        "--dry-run",
    ]));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.contains("Deployment")
            && dry.stdout.contains("scale to 0")
            && dry.stdout.contains("capture, then delete pod")
    );

    let case = tempfile::tempdir().unwrap();
    let out = run(kir_with(&tb.kubeconfig)
        .args([
            "image",
            "purge",
            &bad,
            "-n",
            &ns,
            "--scale-to-zero",
            "--yes",
            "--no-resolve",
            "-o",
            "json",
            "--new-case",
            "--case",
        ])
        .arg(case.path().join("c")));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["purged"], true, "{report:#}");
    assert!(running_with(&find(&tb.kubeconfig, &ns, &bad)).is_empty());
    let deployment = Api::<Deployment>::namespaced(client.clone(), &ns).get("web").await.unwrap();
    assert_eq!(deployment.spec.unwrap().replicas, Some(0));
    let agent = Api::<DaemonSet>::namespaced(client.clone(), &ns).get("agent").await.unwrap();
    assert!(
        agent
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .node_selector
            .unwrap()
            .contains_key("kir.dev/purged-by-case")
    );
    // The bare pod is in the case before it is gone.
    let captured = case.path().join("c").join(format!("evidence/pods/{ns}/loose/{loose_uid}/pod.json"));
    assert!(captured.exists(), "{} missing", captured.display());
}

#[tokio::test]
async fn image_purge_set_image_rolls_out_and_deletes_what_does_not_roll() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("image-purge-set").await;
    let bad = format!("{ns}/miner:1");
    let good = format!("{ns}/clean:2");
    purge_scene(&client, &ns, &bad).await;
    let same = run(kir_with(&tb.kubeconfig).args([
        "image",
        "purge",
        &bad,
        "-n",
        &ns,
        "--set-image",
        &format!("docker.io/{bad}"),
        "--yes",
    ]));
    assert_eq!(same.code, 2, "a replacement the pattern names is refused: {}", same.stderr);

    let out = run(kir_with(&tb.kubeconfig)
        .args([
            "image",
            "purge",
            &bad,
            "-n",
            &ns,
            "--set-image",
            &good,
            "--yes",
            "--no-resolve",
            "-o",
            "json",
            "--new-case",
            "--case",
        ])
        .arg(tempfile::tempdir().unwrap().path().join("c")));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()["purged"], true);
    let deployment = Api::<Deployment>::namespaced(client.clone(), &ns).get("web").await.unwrap();
    let image = deployment.spec.unwrap().template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some(good.as_str()));
    // The ReplicationController's new pod runs the new image.
    let pods = running_pods(&client, &ns, "app=legacy", 1).await;
    assert_eq!(pods[0].spec.as_ref().unwrap().containers[0].image.as_deref(), Some(good.as_str()));
}

#[tokio::test]
async fn image_purge_of_pods_only_holds_once_the_image_is_blocked() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("image-purge-pods").await;
    let bad = format!("{ns}/miner:1");
    purge_scene(&client, &ns, &bad).await;
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("c");
    let plan =
        run(kir_with(&tb.kubeconfig).args(["image", "purge", &bad, "-n", &ns, "--dry-run", "--no-resolve"]));
    assert!(plan.stdout.contains("block it first"), "{}", plan.stdout);
    run(kir_with(&tb.kubeconfig)
        .args(["image", "block", &bad, "-n", &ns, "--yes", "--no-resolve", "--new-case", "--case"])
        .arg(&case))
    .success();
    let plan =
        run(kir_with(&tb.kubeconfig).args(["image", "purge", &bad, "-n", &ns, "--dry-run", "--no-resolve"]));
    assert!(plan.stdout.contains("keeps it from starting them again"), "{}", plan.stdout);
    let out = run(kir_with(&tb.kubeconfig)
        .args([
            "image",
            "purge",
            &bad,
            "-n",
            &ns,
            "--yes",
            "--no-resolve",
            "--timeout",
            "30s",
            "-o",
            "json",
            "--new-case",
            "--case",
        ])
        .arg(&case));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()["purged"], true);
    // The controllers try, and admission refuses them.
    assert!(running_with(&find(&tb.kubeconfig, &ns, &bad)).is_empty());
    run(kir_with(&tb.kubeconfig).arg("undo").arg(&case).arg("--yes")).success();
}

#[tokio::test]
async fn respond_malicious_image_keeps_the_evidence_blocks_purges_and_resumes() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("image-respond").await;
    let bad = format!("{ns}/miner:1");
    purge_scene(&client, &ns, &bad).await;
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("c");

    let dry = run(kir_with(&tb.kubeconfig).args([
        "respond",
        "malicious-image",
        &bad,
        "-n",
        &ns,
        "--scale-to-zero",
        "--dry-run",
        "-o",
        "json",
    ]));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let plan = dry.json();
    let policy = plan["block"]["policy"].as_str().unwrap().to_string();
    assert!(plan["purge"]["workloads"].as_array().unwrap().len() >= 4, "{plan:#}");
    assert!(policies.get_opt(&policy).await.unwrap().is_none(), "--dry-run changes nothing");

    let respond = |case: &Path| {
        run(kir_with(&tb.kubeconfig)
            .args([
                "respond",
                "malicious-image",
                &bad,
                "-n",
                &ns,
                "--scale-to-zero",
                "--yes",
                "--no-resolve",
                "-o",
                "json",
            ])
            .arg("--new-case")
            .arg("--case")
            .arg(case)
            .arg("--audit-log")
            .arg(&tb.audit_log))
    };
    let out = respond(&case);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["contained"], true, "{report:#}");
    assert_eq!(report["block"]["blocked"], true);
    assert_eq!(report["evidence"]["captured"].as_array().unwrap().len(), 6, "{report:#}");
    assert!(running_with(&find(&tb.kubeconfig, &ns, &bad)).is_empty());

    let evidence = case.join("evidence/image");
    let searches: Vec<_> = std::fs::read_dir(&evidence)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("find-"))
        .collect();
    assert_eq!(searches.len(), 1);
    assert!(evidence.join(format!("templates/{ns}/deployments")).is_dir());
    // Who created the Deployment is named, from the testbed's own audit log.
    let introduced: Value =
        serde_json::from_slice(&std::fs::read(evidence.join("introduced-by.json")).unwrap()).unwrap();
    assert!(
        introduced.as_array().unwrap().iter().any(|e| e["verb"] == "create"
            && e["object"] == format!("{ns}/web")
            && e["resource"] == "deployments"),
        "{introduced:#}"
    );

    // Again with the same case: everything is in place, nothing is done twice.
    let again = respond(&case);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let again = again.json();
    assert_eq!(again["contained"], true);
    assert!(
        again["block"]["objects"].as_array().unwrap().iter().all(|o| o["status"] == "in place"),
        "{again:#}"
    );

    run(kir_with(&tb.kubeconfig).arg("undo").arg(&case).arg("--yes")).success();
    assert!(policies.get_opt(&policy).await.unwrap().is_none());
    assert_eq!(run(kir_with(&tb.kubeconfig).arg("case").arg("verify").arg(&case)).code, 0);
}

#[tokio::test]
async fn a_block_of_a_resolved_tag_denies_its_digest_too_and_undo_lifts_it() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("image-block-resolved").await;
    let pushed = tb.push_image(&format!("{ns}/miner:1"), &[]);
    let tag = format!("{}/{ns}/miner:1", tb.registry());
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("c");
    let out = run(kir_with(&tb.kubeconfig)
        .args(["image", "block", &tag, "-n", &ns, "--yes", "-o", "json", "--new-case", "--case"])
        .arg(&case));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["blocked"], true, "{report:#}");
    assert!(
        report["proofs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["request"].as_str().unwrap().contains(&pushed) && p["answered"] == "denied"),
        "the digest the tag points to is denied: {report:#}"
    );
    let name = report["policy"].as_str().unwrap().to_string();
    let undo = run(kir_with(&tb.kubeconfig).arg("undo").arg(&case).arg("--yes"));
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    assert!(Api::<ValidatingAdmissionPolicy>::all(client.clone()).get_opt(&name).await.unwrap().is_none());
}

#[tokio::test]
async fn image_scan_finds_a_planted_key_offline_and_reads_existing_reports() {
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("image-scan").await;
    let leaky = tb.push_image(&format!("{ns}/leaky:1"), &["--secret"]);
    let clean = tb.push_image(&format!("{ns}/clean:1"), &[]);
    for (name, image) in [("leaky-a", &leaky), ("leaky-b", &leaky), ("clean", &clean)] {
        create::<Pod>(
            &client,
            &ns,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "scan"}},
            "spec": {"containers": [{"name": "c", "image": image}]}}),
        )
        .await;
    }
    running_pods(&client, &ns, "app=scan", 3).await;
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("c");
    let trivy = tb.trivy();
    let out = run(kir_with(&tb.kubeconfig)
        .args(["image", "scan", "-n", &ns, "--scanners", "secret", "-o", "json", "--trivy"])
        .arg(&trivy)
        .arg("--new-case")
        .arg("--case")
        .arg(&case));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let scans = out.json();
    let scans = scans.as_array().unwrap();
    assert_eq!(scans.len(), 2, "one scan per distinct image: {scans:#?}");
    let of = |image: &str| scans.iter().find(|s| s["reference"] == image).unwrap().clone();
    let leaky_scan = of(&leaky);
    assert_eq!(leaky_scan["pods"].as_array().unwrap().len(), 2);
    let secrets = leaky_scan["summary"]["secrets"].as_array().unwrap();
    assert!(!secrets.is_empty(), "the planted key is found: {leaky_scan:#}");
    assert!(of(&clean)["summary"]["secrets"].as_array().unwrap().is_empty());
    // The report is in the case; the key itself is nowhere in kir's output.
    let report = case.join("evidence").join(leaky_scan["report"].as_str().unwrap());
    assert!(report.is_file(), "{}", report.display());
    assert!(!out.stdout.contains("PRIVATE KEY-----\n"), "no secret text in the summary");

    // A report trivy wrote before is read, not rescanned.
    let again = run(kir_with(&tb.kubeconfig)
        .args(["image", "scan", "-o", "json", "--from"])
        .arg(&report)
        .arg("--new-case")
        .arg("--case")
        .arg(dir.path().join("imported")));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()[0]["summary"]["secrets"].as_array().unwrap().len(), secrets.len());

    // Without trivy: what to do.
    let missing =
        run(kir_with(&tb.kubeconfig).args(["image", "scan", "-n", &ns, "--trivy", "/nonexistent/trivy"]));
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("install trivy"), "{}", missing.stderr);
}

#[tokio::test]
async fn a_kyverno_policy_is_made_and_read_back_but_never_called_a_block_without_kyverno() {
    let _exclusive = crate::scene::exclusive_cluster().await;
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("image-kyverno").await;
    let bad = format!("{ns}/miner:1");
    crate::scene::install_crd(&client, "kyverno.io", "v1", "ClusterPolicy", "clusterpolicies", false).await;
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("c");

    // Its API alone is no proof that Kyverno runs: auto keeps the built-in engine.
    let auto = run(kir_with(&tb.kubeconfig).args([
        "image",
        "block",
        &bad,
        "-n",
        &ns,
        "--dry-run",
        "--no-resolve",
        "-o",
        "json",
    ]));
    assert_eq!(auto.code, 0, "{}", auto.stderr);
    assert_eq!(auto.json()["engine"], "ValidatingAdmissionPolicy");

    let out = run(kir_with(&tb.kubeconfig)
        .args([
            "image",
            "block",
            &bad,
            "-n",
            &ns,
            "--engine",
            "kyverno",
            "--yes",
            "--no-resolve",
            "-o",
            "json",
            "--new-case",
            "--case",
        ])
        .arg(&case));
    let report = out.json();
    assert_eq!(out.code, 1, "{report:#}\n{}", out.stderr);
    assert_eq!(report["objects"][0]["kind"], "KyvernoClusterPolicy");
    assert_eq!(report["objects"][0]["readBack"], true, "{report:#}");
    assert_eq!(report["blocked"], false, "nothing enforces it: {report:#}");
    assert!(
        report["unknown"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u.as_str().unwrap().contains("allowed, the block does not hold"))
    );

    let undo = run(kir_with(&tb.kubeconfig).arg("undo").arg(&case).arg("--yes"));
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    let policies = kube::Api::<kube::api::DynamicObject>::all_with(
        client.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("kyverno.io", "v1", "ClusterPolicy"),
            "clusterpolicies",
        ),
    );
    let name = report["policy"].as_str().unwrap();
    assert!(policies.get_opt(name).await.unwrap().is_none(), "undo deleted it");
    crate::scene::remove_crd(&client, "clusterpolicies.kyverno.io").await;

    // For GitOps, each engine's objects.
    let gatekeeper =
        run(kir_with(&tb.kubeconfig).args(["image", "block", &bad, "--engine", "gatekeeper", "-o", "yaml"]))
            .success();
    assert!(
        gatekeeper.stdout.contains("kind: ConstraintTemplate")
            && gatekeeper.stdout.contains("kind: KirBlockedImage")
    );
    let kyverno =
        run(kir_with(&tb.kubeconfig).args(["image", "block", &bad, "--engine", "kyverno", "-o", "yaml"]))
            .success();
    assert!(kyverno.stdout.contains("kind: ClusterPolicy"));
}

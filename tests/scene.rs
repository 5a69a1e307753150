//! Building incident scenes on the testbed: workloads, Services, policies, and waiting for
//! the controllers to act.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    api::{
        apps::v1::{DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec},
        authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec},
        core::v1::{Container, Pod, PodSpec, PodTemplateSpec, Service, ServicePort, ServiceSpec},
        networking::v1::{NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicySpec},
    },
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};
use kube::{
    Client,
    api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams},
};

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn container(name: &str, image: &str) -> Container {
    Container { name: name.into(), image: Some(image.into()), ..Default::default() }
}

/// A pod without a controller: nothing replaces it.
pub fn bare_pod(name: &str, containers: Vec<Container>) -> Pod {
    Pod {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        spec: Some(PodSpec { containers, ..Default::default() }),
        ..Default::default()
    }
}

pub fn deployment(name: &str, replicas: i32, containers: Vec<Container>) -> Deployment {
    let selector = labels(&[("app", name)]);
    Deployment {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: Some(selector.clone()), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(selector), ..Default::default() }),
                spec: Some(PodSpec { containers, ..Default::default() }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub async fn create_deployment(client: &Client, ns: &str, deployment: &Deployment) {
    Api::<Deployment>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), deployment)
        .await
        .unwrap();
}

pub async fn create_service(client: &Client, ns: &str, name: &str, selector: &[(&str, &str)]) {
    let service = Service {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        spec: Some(ServiceSpec {
            selector: Some(labels(selector)),
            ports: Some(vec![ServicePort { port: 80, ..Default::default() }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    Api::<Service>::namespaced(client.clone(), ns).create(&PostParams::default(), &service).await.unwrap();
}

/// A NetworkPolicy that selects every pod of the namespace and allows all ingress: the kind
/// of policy a deny-all NetworkPolicy cannot override.
pub async fn create_allow_all_policy(client: &Client, ns: &str, name: &str) {
    let policy = NetworkPolicy {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            ingress: Some(vec![NetworkPolicyIngressRule::default()]),
            ..Default::default()
        }),
    };
    Api::<NetworkPolicy>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
}

pub fn is_running(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// Wait until `count` pods matching `selector` are Running, and return them.
pub async fn running_pods(client: &Client, ns: &str, selector: &str, count: usize) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let params = ListParams::default().labels(selector);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let running: Vec<Pod> =
            api.list(&params).await.unwrap().items.into_iter().filter(is_running).collect();
        if running.len() == count {
            return running;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} running pods for {selector} in {ns}: {}",
            running.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Poll `check` until it holds (or fail after `limit`).
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Tests that install cluster-wide API (CRDs) take this lock exclusively; tests whose
/// expectations depend on the cluster not serving them hold it shared.
static CLUSTER_API: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub async fn plain_cluster() -> tokio::sync::RwLockReadGuard<'static, ()> {
    CLUSTER_API.read().await
}

/// [`plain_cluster`] for tests that are not async.
pub fn plain_cluster_blocking() -> tokio::sync::RwLockReadGuard<'static, ()> {
    CLUSTER_API.blocking_read()
}

pub async fn exclusive_cluster() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    CLUSTER_API.write().await
}

/// Make a container of a running pod look restarted (kwok never restarts one): a restart
/// count and a terminated previous instance in the pod status.
pub async fn mark_restarted(client: &Client, ns: &str, pod: &str) {
    use kube::api::{Patch, PatchParams};
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let current = api.get(pod).await.unwrap();
    let mut statuses = serde_json::to_value(current.status.unwrap().container_statuses.unwrap()).unwrap();
    for status in statuses.as_array_mut().unwrap() {
        status["restartCount"] = 1.into();
        status["lastState"] = serde_json::json!({"terminated": {
            "exitCode": 2, "reason": "Error", "startedAt": "2026-11-27T07:50:00Z", "finishedAt": "2026-11-27T07:55:31Z"
        }});
    }
    let patch = serde_json::json!({"status": {"containerStatuses": statuses}});
    api.patch_status(pod, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
}

/// RBAC reaches the authorizer through an informer, a moment after the binding is written:
/// wait (asking as the admin, so the user's own record stays ordinary work) until `user` may.
pub async fn wait_until_allowed(
    admin: &Client,
    user: &str,
    ns: &str,
    group: &str,
    resource: &str,
    verb: &str,
) {
    wait_for_access(admin, user, (ns, group, resource, verb), true).await;
}

/// The opposite of [`wait_until_allowed`]: a grant just deleted leaves the authorizer's cache a
/// moment later.
pub async fn wait_until_denied(
    admin: &Client,
    user: &str,
    ns: &str,
    group: &str,
    resource: &str,
    verb: &str,
) {
    wait_for_access(admin, user, (ns, group, resource, verb), false).await;
}

async fn wait_for_access(
    admin: &Client,
    user: &str,
    (ns, group, resource, verb): (&str, &str, &str, &str),
    allowed: bool,
) {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_string()),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.to_string()),
                group: Some(group.to_string()),
                resource: Some(resource.to_string()),
                verb: Some(verb.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = Api::<SubjectAccessReview>::all(admin.clone())
            .create(&PostParams::default(), &review)
            .await
            .unwrap();
        if answer.status.is_some_and(|s| s.allowed == allowed) {
            return;
        }
        let state = if allowed { "allowed" } else { "denied" };
        assert!(tokio::time::Instant::now() < deadline, "{user} is {state} to {verb} {resource} in {ns}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A DaemonSet named like a network plugin's agent (`calico-node`, `cilium`), ready on every
/// node: what kir counts as the plugin running. Hold `exclusive_cluster` while it exists:
/// every isolation in the cluster sees it.
pub async fn start_network_agent(client: &Client, ns: &str, name: &str) -> Api<DaemonSet> {
    let labels = labels(&[("k8s-app", name)]);
    let agent = DaemonSet {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        spec: Some(DaemonSetSpec {
            selector: LabelSelector { match_labels: Some(labels.clone()), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }),
                spec: Some(PodSpec {
                    containers: vec![container(name, "registry.example/agent:1")],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let agents: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
    agents.create(&PostParams::default(), &agent).await.unwrap();
    let name = name.to_string();
    eventually("the agent's DaemonSet is ready on every node", Duration::from_secs(60), || {
        let (agents, name) = (agents.clone(), name.clone());
        async move {
            let status = agents.get(&name).await.unwrap().status.unwrap_or_default();
            status.desired_number_scheduled > 0 && status.number_ready == status.desired_number_scheduled
        }
    })
    .await;
    agents
}

/// Delete the agent and wait until it is gone, before the cluster is shared again.
pub async fn stop_network_agent(agents: &Api<DaemonSet>, name: &str) {
    agents.delete(name, &DeleteParams::foreground()).await.unwrap();
    let name = name.to_string();
    eventually("the agent's DaemonSet is gone", Duration::from_secs(60), || {
        let (agents, name) = (agents.clone(), name.clone());
        async move { agents.get_opt(&name).await.unwrap().is_none() }
    })
    .await;
}

/// A CRD that makes the API server serve a kind, with an open schema.
pub async fn install_crd(
    client: &Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{plural}.{group}"),
            // The API server protects *.k8s.io groups; the upstream CRD carries its approval.
            "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/network-policy-api/pull/30"},
        },
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
            "scope": if namespaced { "Namespaced" } else { "Cluster" },
            "versions": [{"name": version, "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    }))
    .unwrap();
    match Api::<CustomResourceDefinition>::all(client.clone()).create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(error) => panic!("cannot install the {kind} CRD: {error}"),
    }
}

pub async fn remove_crd(client: &Client, name: &str) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let _ = api.delete(name, &Default::default()).await;
    eventually("the CRD is gone", Duration::from_secs(60), || {
        let api = api.clone();
        async move { api.get_opt(name).await.unwrap().is_none() }
    })
    .await;
}

/// A kubeconfig at `path` that authenticates with `token` alone to the server (and CA) of the
/// kubeconfig `admin`, as a leaked token would be used.
pub fn token_kubeconfig(admin: &std::path::Path, token: &str, path: &std::path::Path) -> std::path::PathBuf {
    let admin = std::fs::read_to_string(admin).unwrap();
    let field = |key: &str| admin.lines().find_map(|l| l.trim().strip_prefix(key)).unwrap().to_string();
    let (server, ca) = (field("server: "), field("certificate-authority-data: "));
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster: {{server: \"{server}\", \
             certificate-authority-data: {ca}}}\ncontexts:\n- name: t\n  context: {{cluster: c, user: t}}\n\
             users:\n- name: t\n  user: {{token: {token}}}\n"
        ),
    )
    .unwrap();
    path.to_path_buf()
}

/// A TokenRequest token of service account `account`, valid an hour, bound to `bound` when given.
pub async fn request_token(
    client: &Client,
    ns: &str,
    account: &str,
    bound: Option<k8s_openapi::api::authentication::v1::BoundObjectReference>,
) -> String {
    use k8s_openapi::api::{
        authentication::v1::{TokenRequest, TokenRequestSpec},
        core::v1::ServiceAccount,
    };
    let request = TokenRequest {
        spec: TokenRequestSpec { audiences: vec![], expiration_seconds: Some(3600), bound_object_ref: bound },
        ..Default::default()
    };
    let token: TokenRequest = Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create_subresource("token", account, &PostParams::default(), &request)
        .await
        .unwrap();
    token.status.unwrap().token
}

/// Create a namespaced object given as JSON, typed as `K`.
pub async fn create<K>(client: &Client, ns: &str, object: serde_json::Value) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let object: K = serde_json::from_value(object).unwrap();
    Api::<K>::namespaced(client.clone(), ns).create(&PostParams::default(), &object).await.unwrap()
}

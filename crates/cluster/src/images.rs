//! The images of every pod and every pod template, read in pages and decoded into only the
//! fields an image search needs: a cluster of 10,000 pods is searched in bounded memory, and
//! decoding skips the rest of each object.

use serde::{Deserialize, Serialize};

use crate::{Cluster, Error, Result};

/// Objects asked for in one page.
const PAGE: u32 = 500;

/// Where a container is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerKind {
    Container,
    Init,
    Ephemeral,
}

/// One container's image, as declared and (for pods) as running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerImage {
    pub kind: ContainerKind,
    pub name: String,
    /// The reference in the spec.
    pub image: String,
    /// What the runtime reports running (`status.*ContainerStatuses[].imageID`): the digest
    /// actually pulled, whatever the tag said.
    #[serde(rename = "imageID", skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

/// An owner reference, as the object states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
}

/// A pod's images and what tells a responder where it runs and who starts it again.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodImages {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub owners: Vec<Owner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// A mirror pod: the API's view of a static pod the kubelet runs from a file on the node;
    /// deleting it through the API does not stop it.
    pub mirror: bool,
    /// Being deleted already.
    pub terminating: bool,
    pub containers: Vec<ContainerImage>,
}

/// The kinds whose pod template starts pods again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum TemplateKind {
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    ReplicationController,
}

impl TemplateKind {
    pub const ALL: [TemplateKind; 7] = [
        TemplateKind::Deployment,
        TemplateKind::ReplicaSet,
        TemplateKind::StatefulSet,
        TemplateKind::DaemonSet,
        TemplateKind::Job,
        TemplateKind::CronJob,
        TemplateKind::ReplicationController,
    ];

    pub fn api_version(self) -> &'static str {
        match self {
            TemplateKind::Deployment
            | TemplateKind::ReplicaSet
            | TemplateKind::StatefulSet
            | TemplateKind::DaemonSet => "apps/v1",
            TemplateKind::Job | TemplateKind::CronJob => "batch/v1",
            TemplateKind::ReplicationController => "v1",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            TemplateKind::Deployment => "deployments",
            TemplateKind::ReplicaSet => "replicasets",
            TemplateKind::StatefulSet => "statefulsets",
            TemplateKind::DaemonSet => "daemonsets",
            TemplateKind::Job => "jobs",
            TemplateKind::CronJob => "cronjobs",
            TemplateKind::ReplicationController => "replicationcontrollers",
        }
    }

    pub fn group(self) -> &'static str {
        self.api_version().split_once('/').map_or("", |(group, _)| group)
    }

    /// Where its pod spec is, as a JSON pointer.
    pub fn pod_spec_pointer(self) -> &'static str {
        match self {
            TemplateKind::CronJob => "/spec/jobTemplate/spec/template/spec",
            _ => "/spec/template/spec",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TemplateKind::Deployment => "Deployment",
            TemplateKind::ReplicaSet => "ReplicaSet",
            TemplateKind::StatefulSet => "StatefulSet",
            TemplateKind::DaemonSet => "DaemonSet",
            TemplateKind::Job => "Job",
            TemplateKind::CronJob => "CronJob",
            TemplateKind::ReplicationController => "ReplicationController",
        }
    }

    pub fn parse(name: &str) -> Option<TemplateKind> {
        TemplateKind::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(name))
    }

    fn list_path(self, namespace: Option<&str>) -> String {
        let base = match self.group() {
            "" => "/api/v1".to_string(),
            group => format!("/apis/{group}/v1"),
        };
        match namespace {
            Some(ns) => format!("{base}/namespaces/{ns}/{}", self.plural()),
            None => format!("{base}/{}", self.plural()),
        }
    }
}

/// A controller's pod template and its images.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateImages {
    pub kind: TemplateKind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub owners: Vec<Owner>,
    /// Desired pods (`spec.replicas`; `None` for kinds without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    /// A CronJob that starts nothing while suspended.
    pub suspended: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    pub containers: Vec<ContainerImage>,
}

impl Cluster {
    /// Every pod (in `namespace`, or all), page by page: `page` sees each page's pods, and
    /// only what it keeps stays in memory.
    pub async fn pod_images(
        &self,
        namespace: Option<&str>,
        mut page: impl FnMut(Vec<PodImages>),
    ) -> Result<()> {
        let path = match namespace {
            Some(ns) => format!("/api/v1/namespaces/{ns}/pods"),
            None => "/api/v1/pods".to_string(),
        };
        self.pages::<wire::Pod>(&path, |items| page(items.into_iter().map(wire::Pod::into_images).collect()))
            .await
    }

    /// Every object of `kind` (in `namespace`, or all), with its template's images.
    pub async fn template_images(
        &self,
        kind: TemplateKind,
        namespace: Option<&str>,
        mut page: impl FnMut(Vec<TemplateImages>),
    ) -> Result<()> {
        self.pages::<wire::Controller>(&kind.list_path(namespace), |items| {
            page(items.into_iter().map(|c| c.into_images(kind)).collect())
        })
        .await
    }

    /// The registry credentials of `namespace`'s service accounts: the content of each image
    /// pull Secret they name (`.dockerconfigjson`, or the older `.dockercfg`). Never logged.
    pub async fn pull_secret_configs(&self, namespace: &str) -> Result<Vec<Vec<u8>>> {
        use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
        let accounts: Vec<ServiceAccount> = self.list_in(namespace).await?;
        let names: std::collections::BTreeSet<String> = accounts
            .iter()
            .flat_map(|account| account.image_pull_secrets.iter().flatten().map(|r| r.name.clone()))
            .collect();
        let mut configs = Vec::new();
        for name in names {
            let Some(secret) = self.get_typed::<Secret>(namespace, &name).await? else { continue };
            let data = secret.data.unwrap_or_default();
            configs.extend(
                [".dockerconfigjson", ".dockercfg"]
                    .iter()
                    .filter_map(|key| data.get(*key))
                    .map(|b| b.0.clone()),
            );
        }
        Ok(configs)
    }

    /// `GET path` in pages of [`PAGE`], each decoded into `T` and handed to `page`.
    pub(crate) async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        mut page: impl FnMut(Vec<T>),
    ) -> Result<()> {
        let mut token: Option<String> = None;
        loop {
            let what = format!("list {path}");
            let params = kube::api::ListParams {
                limit: Some(PAGE),
                continue_token: token.take(),
                ..Default::default()
            };
            let request = kube::core::Request::new(path)
                .list(&params)
                .map_err(|e| Error::Other { what: what.clone(), detail: e.to_string() })?;
            let list: wire::List<T> = self.call(what, self.client().request(request)).await?;
            page(list.items);
            match list.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(()),
            }
        }
    }
}

/// Only the fields an image search reads; serde skips the rest of each object unparsed.
mod wire {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::{ContainerImage, ContainerKind, Owner, PodImages, TemplateImages, TemplateKind};

    #[derive(Deserialize)]
    pub struct List<T> {
        #[serde(default)]
        pub metadata: ListMeta,
        #[serde(default = "Vec::new")]
        pub items: Vec<T>,
    }

    #[derive(Deserialize, Default)]
    pub struct ListMeta {
        #[serde(rename = "continue")]
        pub continue_: Option<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    pub struct Meta {
        #[serde(default)]
        name: String,
        #[serde(default)]
        namespace: String,
        #[serde(default)]
        uid: String,
        #[serde(default)]
        owner_references: Vec<Owner>,
        #[serde(default)]
        annotations: BTreeMap<String, String>,
        deletion_timestamp: Option<String>,
    }

    #[derive(Deserialize)]
    struct Container {
        #[serde(default)]
        name: String,
        #[serde(default)]
        image: String,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    pub struct PodSpec {
        #[serde(default)]
        containers: Vec<Container>,
        #[serde(default)]
        init_containers: Vec<Container>,
        #[serde(default)]
        ephemeral_containers: Vec<Container>,
        node_name: Option<String>,
        service_account_name: Option<String>,
    }

    impl PodSpec {
        fn images(self) -> Vec<ContainerImage> {
            let of = |kind, list: Vec<Container>| {
                list.into_iter().map(move |c| ContainerImage {
                    kind,
                    name: c.name,
                    image: c.image,
                    image_id: None,
                })
            };
            of(ContainerKind::Init, self.init_containers)
                .chain(of(ContainerKind::Container, self.containers))
                .chain(of(ContainerKind::Ephemeral, self.ephemeral_containers))
                .collect()
        }
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ContainerStatus {
        #[serde(default)]
        name: String,
        #[serde(default, rename = "imageID")]
        image_id: String,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct PodStatus {
        phase: Option<String>,
        #[serde(default)]
        container_statuses: Vec<ContainerStatus>,
        #[serde(default)]
        init_container_statuses: Vec<ContainerStatus>,
        #[serde(default)]
        ephemeral_container_statuses: Vec<ContainerStatus>,
    }

    #[derive(Deserialize)]
    pub struct Pod {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        spec: PodSpec,
        #[serde(default)]
        status: PodStatus,
    }

    impl Pod {
        pub fn into_images(self) -> PodImages {
            let Pod { metadata, spec, status } = self;
            let (node, service_account) = (spec.node_name.clone(), spec.service_account_name.clone());
            let mut containers = spec.images();
            for container in &mut containers {
                let statuses = match container.kind {
                    ContainerKind::Container => &status.container_statuses,
                    ContainerKind::Init => &status.init_container_statuses,
                    ContainerKind::Ephemeral => &status.ephemeral_container_statuses,
                };
                container.image_id = statuses
                    .iter()
                    .find(|s| s.name == container.name)
                    .map(|s| s.image_id.clone())
                    .filter(|id| !id.is_empty());
            }
            PodImages {
                mirror: metadata.annotations.contains_key("kubernetes.io/config.mirror"),
                terminating: metadata.deletion_timestamp.is_some(),
                namespace: metadata.namespace,
                name: metadata.name,
                uid: metadata.uid,
                owners: metadata.owner_references,
                node,
                service_account,
                phase: status.phase,
                containers,
            }
        }
    }

    #[derive(Deserialize, Default)]
    struct Template {
        #[serde(default)]
        spec: PodSpec,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct JobSpec {
        #[serde(default)]
        template: Template,
    }

    #[derive(Deserialize, Default)]
    struct JobTemplate {
        #[serde(default)]
        spec: JobSpec,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct ControllerSpec {
        replicas: Option<i64>,
        suspend: Option<bool>,
        #[serde(default)]
        template: Template,
        #[serde(default)]
        job_template: JobTemplate,
    }

    #[derive(Deserialize)]
    pub struct Controller {
        #[serde(default)]
        metadata: Meta,
        #[serde(default)]
        spec: ControllerSpec,
    }

    impl Controller {
        pub fn into_images(self, kind: TemplateKind) -> TemplateImages {
            let Controller { metadata, spec } = self;
            let pod = match kind {
                TemplateKind::CronJob => spec.job_template.spec.template.spec,
                _ => spec.template.spec,
            };
            TemplateImages {
                kind,
                namespace: metadata.namespace,
                name: metadata.name,
                uid: metadata.uid,
                owners: metadata.owner_references,
                replicas: spec.replicas,
                suspended: kind == TemplateKind::CronJob && spec.suspend == Some(true),
                service_account: pod.service_account_name.clone(),
                containers: pod.images(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_keeps_every_container_kind_with_the_image_its_runtime_reports() {
        let pod: wire::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1",
                "annotations": {"kubernetes.io/config.mirror": "x"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "uid": "r1", "controller": true}]},
            "spec": {"nodeName": "n1", "serviceAccountName": "sa",
                "initContainers": [{"name": "init", "image": "busybox"}],
                "containers": [{"name": "app", "image": "nginx:1.27", "resources": {}}],
                "ephemeralContainers": [{"name": "debug", "image": "evil:1"}]},
            "status": {"phase": "Running",
                "containerStatuses": [{"name": "app", "imageID": "docker.io/library/nginx@sha256:ab"}],
                "ephemeralContainerStatuses": [{"name": "debug", "imageID": ""}]}
        }))
        .unwrap();
        let images = pod.into_images();
        assert!(images.mirror && !images.terminating);
        assert_eq!(images.node.as_deref(), Some("n1"));
        let kinds: Vec<_> =
            images.containers.iter().map(|c| (c.kind, c.image.as_str(), c.image_id.as_deref())).collect();
        assert_eq!(
            kinds,
            [
                (ContainerKind::Init, "busybox", None),
                (ContainerKind::Container, "nginx:1.27", Some("docker.io/library/nginx@sha256:ab")),
                (ContainerKind::Ephemeral, "evil:1", None),
            ]
        );
        assert_eq!(images.owners[0].kind, "ReplicaSet");
    }

    #[test]
    fn a_cronjob_template_is_read_from_its_job_template() {
        let cron: wire::Controller = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "nightly", "namespace": "ops", "uid": "c1"},
            "spec": {"suspend": true, "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "job", "image": "registry:5000/tools/backup@sha256:00"}]}}}}}
        }))
        .unwrap();
        let images = cron.into_images(TemplateKind::CronJob);
        assert!(images.suspended);
        assert_eq!(images.containers[0].image, "registry:5000/tools/backup@sha256:00");
    }
}

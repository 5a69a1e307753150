//! `kir image find`: every pod container (regular, init, ephemeral) and every controller's pod
//! template that uses a known-bad image, matched by what the reference means (repository, tag,
//! digest, registry prefix) rather than by its spelling, with the digest each container really
//! runs, who starts the pod again, and where it runs.

use std::collections::HashMap;

use futures::future::join_all;
use kir_cluster::{
    Cluster,
    images::{ContainerImage, Owner, PodImages, TemplateImages, TemplateKind},
};
use kir_image::{Match, Pattern};
use serde::Serialize;

use crate::Result;

/// Owner chains longer than this are cut: a loop of owner references must not hang the search.
const OWNER_DEPTH: usize = 8;
/// Unparseable references named in the report (all are counted).
const UNPARSEABLE_SHOWN: usize = 20;

/// One container using the image, and how the reference matched.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerHit {
    #[serde(flatten)]
    pub container: ContainerImage,
    /// `repository`, `tag`, `digest`, `runningDigest` (the spec names a tag, the runtime runs
    /// the blocked digest), `resolvedDigest` or `prefix`.
    pub matched: &'static str,
}

/// A pod with at least one container using the image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodHit {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// A static pod's mirror: the kubelet runs it from a file on the node.
    pub mirror: bool,
    pub terminating: bool,
    /// Who starts it again, nearest first: `ReplicaSet web-7d9`, `Deployment web`.
    pub owners: Vec<String>,
    pub containers: Vec<ContainerHit>,
}

/// A controller whose pod template uses the image: it starts it again, running or not.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateHit {
    pub kind: TemplateKind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    pub suspended: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Its own owners, nearest first (a ReplicaSet's Deployment, a Job's CronJob).
    pub owners: Vec<String>,
    pub containers: Vec<ContainerHit>,
}

/// How much was searched.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Searched {
    pub pods: usize,
    pub containers: usize,
    pub templates: usize,
}

/// What `kir image find` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindReport {
    /// The reference as kir understood it.
    pub pattern: String,
    /// The digest the registry said the tag points to, also searched for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// A namespace, or every namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub pods: Vec<PodHit>,
    pub templates: Vec<TemplateHit>,
    pub searched: Searched,
    /// Image references in the cluster that are not valid references (counted, never matched).
    pub unparseable: usize,
    pub unparseable_examples: Vec<String>,
    /// What could not be read, e.g. `list cronjobs.batch: forbidden`: the search is incomplete.
    pub unread: Vec<String>,
}

impl FindReport {
    pub fn complete(&self) -> bool {
        self.unread.is_empty()
    }

    /// Running pods (not terminating, not finished) that use the image.
    pub fn running_pods(&self) -> impl Iterator<Item = &PodHit> {
        self.pods
            .iter()
            .filter(|p| !p.terminating && !matches!(p.phase.as_deref(), Some("Succeeded") | Some("Failed")))
    }
}

/// Search every pod and pod template in `namespace` (or all) for `pattern`.
pub async fn find(cluster: &Cluster, pattern: &Pattern, namespace: Option<&str>) -> Result<FindReport> {
    let mut matcher = Matcher::new(pattern);
    let templates = join_all(TemplateKind::ALL.map(|kind| async move {
        let mut found = Vec::new();
        let read = cluster.template_images(kind, namespace, |page| found.extend(page)).await;
        (kind, read.map(|()| found))
    }));
    let mut pods = Vec::new();
    let mut searched = Searched::default();
    let pod_search = cluster.pod_images(namespace, |page| {
        for pod in page {
            searched.pods += 1;
            searched.containers += pod.containers.len();
            if let Some(hit) = matcher.pod(pod) {
                pods.push(hit);
            }
        }
    });
    let (pod_result, template_results) = futures::join!(pod_search, templates);
    // Without the pods there is nothing to report: that failure is the command's.
    pod_result?;

    let mut unread = Vec::new();
    let mut controllers = Controllers::default();
    let mut template_hits = Vec::new();
    for (kind, result) in template_results {
        match result {
            Ok(found) => {
                for template in found {
                    searched.templates += 1;
                    controllers.add(&template);
                    if let Some(hit) = matcher.template(template) {
                        template_hits.push(hit);
                    }
                }
            }
            Err(error) => unread.push(format!("list {}: {error}", plural_of(kind))),
        }
    }
    for pod in &mut pods {
        let refs = matcher.pod_owners.remove(&pod.uid).unwrap_or_default();
        pod.owners = controllers.chain(&refs);
    }
    for template in &mut template_hits {
        let refs = matcher.template_owners.remove(&template.uid).unwrap_or_default();
        template.owners = controllers.chain(&refs);
    }
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    template_hits.sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    Ok(FindReport {
        pattern: pattern.to_string(),
        resolved: pattern.resolved_digest().map(ToString::to_string),
        namespace: namespace.map(str::to_string),
        pods,
        templates: template_hits,
        searched,
        unparseable: matcher.unparseable,
        unparseable_examples: matcher.unparseable_examples,
        unread,
    })
}

fn plural_of(kind: TemplateKind) -> String {
    match kind.group() {
        "" => kind.plural().to_string(),
        group => format!("{}.{group}", kind.plural()),
    }
}

/// Matches containers and remembers, for the hits only, the owner references to resolve once
/// every controller is known.
struct Matcher<'a> {
    pattern: &'a Pattern,
    pod_owners: HashMap<String, Vec<Owner>>,
    template_owners: HashMap<String, Vec<Owner>>,
    unparseable: usize,
    unparseable_examples: Vec<String>,
}

impl<'a> Matcher<'a> {
    fn new(pattern: &'a Pattern) -> Self {
        Matcher {
            pattern,
            pod_owners: HashMap::new(),
            template_owners: HashMap::new(),
            unparseable: 0,
            unparseable_examples: Vec::new(),
        }
    }

    fn containers(&mut self, containers: Vec<ContainerImage>) -> Vec<ContainerHit> {
        let mut hits = Vec::new();
        for container in containers {
            let found = self.pattern.matches(&container.image, container.image_id.as_deref());
            match match_name(&found) {
                Some(matched) => hits.push(ContainerHit { container, matched }),
                None if matches!(found, Match::Unparseable) => {
                    self.unparseable += 1;
                    if self.unparseable_examples.len() < UNPARSEABLE_SHOWN
                        && !self.unparseable_examples.contains(&container.image)
                    {
                        self.unparseable_examples.push(container.image);
                    }
                }
                None => {}
            }
        }
        hits
    }

    fn pod(&mut self, pod: PodImages) -> Option<PodHit> {
        let containers = self.containers(pod.containers);
        if containers.is_empty() {
            return None;
        }
        self.pod_owners.insert(pod.uid.clone(), pod.owners);
        Some(PodHit {
            namespace: pod.namespace,
            name: pod.name,
            uid: pod.uid,
            node: pod.node,
            service_account: pod.service_account,
            phase: pod.phase,
            mirror: pod.mirror,
            terminating: pod.terminating,
            owners: Vec::new(),
            containers,
        })
    }

    fn template(&mut self, template: TemplateImages) -> Option<TemplateHit> {
        let containers = self.containers(template.containers);
        if containers.is_empty() {
            return None;
        }
        self.template_owners.insert(template.uid.clone(), template.owners);
        Some(TemplateHit {
            kind: template.kind,
            namespace: template.namespace,
            name: template.name,
            uid: template.uid,
            replicas: template.replicas,
            suspended: template.suspended,
            service_account: template.service_account,
            owners: Vec::new(),
            containers,
        })
    }
}

fn match_name(found: &Match) -> Option<&'static str> {
    Some(match found {
        Match::Repository => "repository",
        Match::Tag => "tag",
        Match::Digest => "digest",
        Match::RunningDigest => "runningDigest",
        Match::ResolvedDigest => "resolvedDigest",
        Match::Prefix => "prefix",
        Match::NoMatch | Match::Unparseable => return None,
    })
}

/// Every controller read, by UID: enough to name an owner chain.
#[derive(Default)]
struct Controllers {
    by_uid: HashMap<String, (TemplateKind, String, Vec<Owner>)>,
}

impl Controllers {
    fn add(&mut self, template: &TemplateImages) {
        self.by_uid
            .insert(template.uid.clone(), (template.kind, template.name.clone(), template.owners.clone()));
    }

    /// The owners of an object, nearest first, following each controller's own owner.
    fn chain(&self, owners: &[Owner]) -> Vec<String> {
        let mut chain = Vec::new();
        let mut next = controller_of(owners);
        while let Some(owner) = next {
            if chain.len() == OWNER_DEPTH {
                chain.push("... (owner chain cut)".to_string());
                break;
            }
            chain.push(format!("{} {}", owner.kind, owner.name));
            next = self.by_uid.get(&owner.uid).and_then(|(_, _, owners)| controller_of(owners));
        }
        chain
    }
}

/// The controlling owner (else the first): the one that recreates the object.
fn controller_of(owners: &[Owner]) -> Option<&Owner> {
    owners.iter().find(|o| o.controller == Some(true)).or_else(|| owners.first())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(kind: &str, name: &str, uid: &str) -> Owner {
        Owner { kind: kind.into(), name: name.into(), uid: uid.into(), controller: Some(true) }
    }

    fn template(kind: TemplateKind, name: &str, uid: &str, owners: Vec<Owner>) -> TemplateImages {
        TemplateImages {
            kind,
            namespace: "shop".into(),
            name: name.into(),
            uid: uid.into(),
            owners,
            replicas: Some(1),
            suspended: false,
            service_account: None,
            containers: Vec::new(),
        }
    }

    #[test]
    fn an_owner_chain_follows_each_controller_to_the_top() {
        let mut controllers = Controllers::default();
        controllers.add(&template(
            TemplateKind::ReplicaSet,
            "web-7d9",
            "rs",
            vec![owner("Deployment", "web", "d")],
        ));
        controllers.add(&template(TemplateKind::Deployment, "web", "d", Vec::new()));
        assert_eq!(
            controllers.chain(&[owner("ReplicaSet", "web-7d9", "rs")]),
            ["ReplicaSet web-7d9", "Deployment web"]
        );
    }

    #[test]
    fn an_owner_loop_is_cut() {
        let mut controllers = Controllers::default();
        controllers.add(&template(TemplateKind::ReplicaSet, "a", "a", vec![owner("ReplicaSet", "b", "b")]));
        controllers.add(&template(TemplateKind::ReplicaSet, "b", "b", vec![owner("ReplicaSet", "a", "a")]));
        let chain = controllers.chain(&[owner("ReplicaSet", "a", "a")]);
        assert_eq!(chain.len(), OWNER_DEPTH + 1);
        assert!(chain.last().unwrap().contains("cut"));
    }

    #[test]
    fn containers_are_matched_by_meaning_and_unparseable_ones_counted() {
        let pattern = Pattern::parse("nginx").unwrap();
        let mut matcher = Matcher::new(&pattern);
        let container = |image: &str| ContainerImage {
            kind: kir_cluster::images::ContainerKind::Container,
            name: "c".into(),
            image: image.into(),
            image_id: None,
        };
        let hits = matcher.containers(vec![
            container("docker.io/library/nginx:1.27"),
            container("nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000"),
            container("nginxinc/nginx-unprivileged"),
            container("::"),
        ]);
        let images: Vec<_> = hits.iter().map(|h| h.container.image.as_str()).collect();
        assert_eq!(
            images,
            [
                "docker.io/library/nginx:1.27",
                "nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            ]
        );
        assert_eq!(
            (matcher.unparseable, matcher.unparseable_examples.as_slice()),
            (1, ["::".to_string()].as_slice())
        );
    }
}

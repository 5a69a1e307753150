//! `kir image block`: a ValidatingAdmissionPolicy and its binding that deny a known-bad image
//! in pods and in the pod templates of every controller kind, then proved: each object read
//! back and compared with what kir generated, and the API server asked (server-side dry-run)
//! to admit a pod and a Deployment with every spelling of the reference, which it must deny,
//! and a control image, which it must allow.

use std::time::Duration;

use kir_cluster::{Cluster, images::TemplateKind};
use kir_evidence::{Case, JournalRecord};
use kir_image::{DOCKER_HUB, Pattern, admission};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    Error, Result,
    blocking::record,
    netpol::{self, MANAGED_BY_LABEL, MANAGED_BY_VALUE},
    undo::Reversal,
};

/// The label naming the case whose block an admission object is.
pub const CASE_LABEL: &str = "kir.dev/case";
/// An image no pattern of a malicious image is expected to name: what the block must allow.
const CONTROL_IMAGES: [&str; 2] =
    ["registry.k8s.io/pause:3.10", "registry.k8s.io/e2e-test-images/agnhost:2.53"];
/// How long a new policy may take to be enforced: the API server loads policies from a watch.
const ENFORCEMENT_WAIT: Duration = Duration::from_secs(20);
const PROOF_NAME: &str = "kir-block-proof";

/// The admission objects kir creates to block an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum BlockKind {
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
    KyvernoClusterPolicy,
    GatekeeperConstraint,
}

impl BlockKind {
    pub fn api_version(self) -> &'static str {
        match self {
            BlockKind::ValidatingAdmissionPolicy | BlockKind::ValidatingAdmissionPolicyBinding => {
                "admissionregistration.k8s.io/v1"
            }
            BlockKind::KyvernoClusterPolicy => "kyverno.io/v1",
            BlockKind::GatekeeperConstraint => "constraints.gatekeeper.sh/v1beta1",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BlockKind::ValidatingAdmissionPolicy => "ValidatingAdmissionPolicy",
            BlockKind::ValidatingAdmissionPolicyBinding => "ValidatingAdmissionPolicyBinding",
            BlockKind::KyvernoClusterPolicy => "ClusterPolicy",
            BlockKind::GatekeeperConstraint => admission::GATEKEEPER_KIND,
        }
    }

    /// The journal action of its creation.
    pub fn action(self) -> &'static str {
        match self {
            BlockKind::ValidatingAdmissionPolicy => "image.block.create-policy",
            BlockKind::ValidatingAdmissionPolicyBinding => "image.block.create-binding",
            BlockKind::KyvernoClusterPolicy => "image.block.create-kyverno-policy",
            BlockKind::GatekeeperConstraint => "image.block.create-gatekeeper-constraint",
        }
    }

    pub fn target(self, name: &str) -> String {
        format!("{}/{name}", self.name().to_ascii_lowercase())
    }

    /// The object kir generates of this kind for `pattern` in case `case_id`.
    pub fn object(self, pattern: &Pattern, case_id: &str) -> Value {
        match self {
            BlockKind::ValidatingAdmissionPolicy => admission::validating_admission_policy(pattern, case_id),
            BlockKind::ValidatingAdmissionPolicyBinding => {
                admission::validating_admission_policy_binding(pattern, case_id)
            }
            BlockKind::KyvernoClusterPolicy => admission::kyverno_cluster_policy(pattern, case_id),
            BlockKind::GatekeeperConstraint => admission::gatekeeper_constraint(pattern, case_id),
        }
    }
}

/// What enforces the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Engine {
    /// Built into the API server (Kubernetes 1.30 and newer).
    ValidatingAdmissionPolicy,
    Kyverno,
    Gatekeeper,
}

impl Engine {
    /// The objects of a block, in the order they are made: a binding of a missing policy does
    /// nothing.
    pub fn kinds(self) -> &'static [BlockKind] {
        match self {
            Engine::ValidatingAdmissionPolicy => {
                &[BlockKind::ValidatingAdmissionPolicy, BlockKind::ValidatingAdmissionPolicyBinding]
            }
            Engine::Kyverno => &[BlockKind::KyvernoClusterPolicy],
            Engine::Gatekeeper => &[BlockKind::GatekeeperConstraint],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::ValidatingAdmissionPolicy => "ValidatingAdmissionPolicy",
            Engine::Kyverno => "Kyverno",
            Engine::Gatekeeper => "Gatekeeper",
        }
    }

    /// What the API server's denial names when this block denied a request.
    fn denial(self, policy: &str) -> String {
        match self {
            Engine::ValidatingAdmissionPolicy => format!("ValidatingAdmissionPolicy '{policy}'"),
            Engine::Kyverno => format!("{policy}:"),
            Engine::Gatekeeper => format!("[{policy}]"),
        }
    }

    /// The declared permissions' condition that names this engine.
    pub fn condition(self) -> &'static str {
        match self {
            Engine::ValidatingAdmissionPolicy => kir_cluster::permissions::WHEN_VAP,
            Engine::Kyverno => kir_cluster::permissions::WHEN_KYVERNO,
            Engine::Gatekeeper => kir_cluster::permissions::WHEN_GATEKEEPER,
        }
    }
}

/// The engine a cluster uses: Kyverno or Gatekeeper when its API is served and its admission
/// webhook is registered, else the built-in ValidatingAdmissionPolicy. Why, in words.
pub async fn detect_engine(cluster: &Cluster) -> Result<(Engine, String)> {
    let inventory = cluster.api_group_inventory().await?;
    // Without the list, an engine's presence is not proved: the built-in one is used.
    let webhooks = cluster.validating_webhooks().await.unwrap_or_default();
    let registered = |word: &str| webhooks.iter().any(|name| name.contains(word));
    if inventory.has_resource("kyverno.io", Some("v1"), "clusterpolicies") && registered("kyverno") {
        return Ok((Engine::Kyverno, "Kyverno's API is served and its webhook registered".into()));
    }
    if inventory.has_resource("templates.gatekeeper.sh", Some("v1"), "constrainttemplates")
        && registered("gatekeeper")
    {
        return Ok((Engine::Gatekeeper, "Gatekeeper's API is served and its webhook registered".into()));
    }
    Ok((Engine::ValidatingAdmissionPolicy, "no Kyverno or Gatekeeper webhook is registered".into()))
}

/// What blocking would create and how it is proved.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockPlan {
    pub pattern: String,
    pub engine: Engine,
    pub policy: String,
    pub objects: Vec<Value>,
    /// The references a pod or a Deployment is tried with: each must be denied.
    pub spellings: Vec<String>,
    /// The image that must still be admitted.
    pub control: String,
    /// Where the dry-run proofs are made.
    pub namespace: String,
    #[serde(skip)]
    parsed: Pattern,
}

/// The objects and proof of blocking `pattern` with `engine`, for case `case_id`, proved in
/// `namespace`.
pub fn plan(pattern: &Pattern, engine: Engine, case_id: &str, namespace: &str) -> BlockPlan {
    let control = CONTROL_IMAGES
        .iter()
        .find(|image| !pattern.matches(image, None).is_match())
        .unwrap_or(&CONTROL_IMAGES[1])
        .to_string();
    BlockPlan {
        pattern: pattern.to_string(),
        engine,
        policy: admission::policy_name(pattern),
        objects: engine.kinds().iter().map(|k| k.object(pattern, case_id)).collect(),
        spellings: spellings(pattern),
        control,
        namespace: namespace.to_string(),
        parsed: pattern.clone(),
    }
}

/// A digest no image is expected to have: a reference's digest part in the proofs.
const ANY_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// The ways a pod may write an image the pattern names: Docker Hub's defaults left out or
/// written out, a digest beside the tag. Each must be denied.
fn spellings(pattern: &Pattern) -> Vec<String> {
    let names = |registry: &str, repository: &str| -> Vec<String> {
        if registry != DOCKER_HUB {
            return vec![format!("{registry}/{repository}")];
        }
        let short = repository.strip_prefix("library/").unwrap_or(repository);
        let mut names = vec![
            short.to_string(),
            format!("{registry}/{repository}"),
            format!("index.docker.io/{repository}"),
        ];
        if short != repository {
            names.push(repository.to_string());
        }
        names
    };
    let mut spelled = match pattern {
        Pattern::Repository { registry, repository } => {
            let names = names(registry, repository);
            let mut spelled: Vec<String> = names.iter().map(|n| format!("{n}:1.0")).collect();
            spelled.push(names[0].clone());
            spelled.push(format!("{}@{ANY_DIGEST}", names[0]));
            spelled
        }
        Pattern::Tag { registry, repository, tag, .. } => {
            let names = names(registry, repository);
            let mut spelled: Vec<String> = names.iter().map(|n| format!("{n}:{tag}")).collect();
            if tag == "latest" {
                spelled.push(names[0].clone());
            }
            if let Some(digest) = pattern.resolved_digest() {
                spelled.push(format!("{}@{digest}", names[0]));
            }
            spelled.push(format!("{}:{tag}@{ANY_DIGEST}", names[0]));
            spelled
        }
        Pattern::Digest { registry, repository, digest } => {
            let names = names(registry, repository);
            let mut spelled: Vec<String> = names.iter().map(|n| format!("{n}@{digest}")).collect();
            spelled.push(format!("{}:1.0@{digest}", names[0]));
            spelled
        }
        Pattern::AnyDigest { digest } => {
            vec![format!("busybox@{digest}"), format!("registry.example.invalid/team/app:1.0@{digest}")]
        }
        Pattern::Prefix { registry, path } => {
            let repository = match path {
                Some(path) => format!("{path}/kir-proof"),
                None => "kir-proof/app".to_string(),
            };
            let names = names(registry, &repository);
            names.iter().map(|n| format!("{n}:1.0")).chain([format!("{}@{ANY_DIGEST}", names[0])]).collect()
        }
    };
    spelled.dedup();
    spelled
}

/// How one admission object came out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectOutcome {
    pub kind: BlockKind,
    pub name: String,
    /// `created`, `in place` (kir's own, same spec) or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Read back after creation: its spec is the one kir generated.
    pub read_back: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One dry-run request and what the API server answered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Proof {
    /// `create Pod with nginx:1.25 in shop`.
    pub request: String,
    pub expected: Admission,
    /// `None`: no answer either way (an error other than a denial).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered: Option<Admission>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Proof {
    pub fn holds(&self) -> bool {
        self.answered == Some(self.expected)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Admission {
    Denied,
    Allowed,
}

/// What `kir image block` did and proved.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockReport {
    pub pattern: String,
    pub policy: String,
    pub objects: Vec<ObjectOutcome>,
    pub proofs: Vec<Proof>,
    /// Every object read back as generated and every proof held.
    pub blocked: bool,
    /// What is not proved, in words.
    pub unknown: Vec<String>,
}

/// Create the policy and its binding (or find kir's own in place), journal each with its
/// reversal, read them back, and prove the block by dry-runs.
pub async fn apply(cluster: &Cluster, case: &Case, actor: &str, plan: &BlockPlan) -> Result<BlockReport> {
    preflight(cluster, plan.engine, &plan.namespace).await?;
    if plan.engine == Engine::Gatekeeper {
        gatekeeper_template(cluster, case, actor).await?;
    }
    let kinds = plan.engine.kinds();
    let mut objects = Vec::new();
    for (kind, object) in kinds.iter().zip(&plan.objects) {
        let outcome = ensure(cluster, case, actor, plan, *kind, object).await?;
        let failed = outcome.status == "failed";
        objects.push(outcome);
        if failed {
            // A binding without its policy, or a policy whose binding failed, blocks nothing:
            // stop here and say so rather than prove a block that is not there.
            break;
        }
    }
    let mut unknown = Vec::new();
    let objects_ok = objects.len() == kinds.len() && objects.iter().all(|o| o.read_back);
    let proofs = if objects_ok {
        prove(cluster, plan).await
    } else {
        unknown.push("the admission objects are not in place as generated: no proof attempted".to_string());
        Vec::new()
    };
    for proof in proofs.iter().filter(|p| !p.holds()) {
        unknown.push(match proof.answered {
            None => format!("{}: no answer ({})", proof.request, proof.detail.as_deref().unwrap_or("?")),
            Some(Admission::Allowed) => format!("{}: allowed, the block does not hold for it", proof.request),
            Some(Admission::Denied) => format!(
                "{}: denied, so the policy may deny more than the image ({})",
                proof.request,
                proof.detail.as_deref().unwrap_or("?")
            ),
        });
    }
    let blocked = objects_ok && !proofs.is_empty() && proofs.iter().all(Proof::holds);
    record(
        case,
        JournalRecord::new(actor, "image.block.prove")
            .target(format!("image/{}", plan.pattern))
            .parameters(
                json!({"spellings": plan.spellings, "control": plan.control, "namespace": plan.namespace}),
            )
            .result(json!({"blocked": blocked, "proofs": proofs, "unknown": unknown})),
    )
    .await?;
    Ok(BlockReport {
        pattern: plan.pattern.clone(),
        policy: plan.policy.clone(),
        objects,
        proofs,
        blocked,
        unknown,
    })
}

/// How long Gatekeeper may take to serve the constraint kind of a new template.
const TEMPLATE_WAIT: Duration = Duration::from_secs(60);

/// Gatekeeper's template of kir's constraints, created when missing (journaled; it denies
/// nothing alone, and other blocks' constraints use it, so undo leaves it), then awaited until
/// Gatekeeper serves its constraint kind.
async fn gatekeeper_template(cluster: &Cluster, case: &Case, actor: &str) -> Result<()> {
    let template = admission::gatekeeper_constraint_template();
    let name = admission::GATEKEEPER_KIND.to_ascii_lowercase();
    match cluster.get_object("templates.gatekeeper.sh/v1", "ConstraintTemplate", None, &name).await {
        Ok(_) => {}
        Err(kir_cluster::Error::NotFound { .. }) => {
            let created = cluster.create_object(&template).await;
            record(
                case,
                JournalRecord::new(actor, "image.block.create-gatekeeper-template")
                    .target(format!("constrainttemplate/{name}"))
                    .result(match &created {
                        Ok(_) => json!({"status": "created"}),
                        Err(error) => json!({"status": "failed", "detail": error.to_string()}),
                    }),
            )
            .await?;
            created?;
        }
        Err(error) => return Err(Error::Cluster(error)),
    }
    let started = tokio::time::Instant::now();
    loop {
        match cluster
            .resolve_kind(BlockKind::GatekeeperConstraint.api_version(), admission::GATEKEEPER_KIND)
            .await
        {
            Ok(_) => return Ok(()),
            Err(_) if started.elapsed() < TEMPLATE_WAIT => tokio::time::sleep(Duration::from_secs(1)).await,
            Err(error) => {
                return Err(Error::Invalid(format!(
                    "Gatekeeper does not serve the constraint kind {} of template {name} after {}s ({error}): is Gatekeeper running?",
                    admission::GATEKEEPER_KIND,
                    TEMPLATE_WAIT.as_secs()
                )));
            }
        }
    }
}

/// Refuse before creating anything when the responder may not make every request of the
/// block and of its proof (the command's declared permissions): a block made but not proved
/// helps no one.
async fn preflight(cluster: &Cluster, engine: Engine, namespace: &str) -> Result<()> {
    let Some(command) = kir_cluster::permissions::command("image block") else { return Ok(()) };
    let checks: Vec<_> = command
        .all_needs()
        .iter()
        .filter(|n| n.required() && n.when.is_none_or(|when| when == engine.condition()))
        .map(|n| n.check(namespace))
        .collect();
    crate::preflight::refuse_unless_allowed(cluster, &checks, &format!("\"image block\" -n {namespace}"))
        .await
}

/// Create one object, or accept kir's own identical one, and read it back.
async fn ensure(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    plan: &BlockPlan,
    kind: BlockKind,
    object: &Value,
) -> Result<ObjectOutcome> {
    let name = plan.policy.clone();
    let outcome = |status, uid: Option<String>, read_back, detail: Option<String>| ObjectOutcome {
        kind,
        name: name.clone(),
        status,
        uid,
        read_back,
        detail,
    };
    if let Some(live) = read(cluster, kind, &name).await? {
        let uid = text(&live, "/metadata/uid");
        return Ok(match foreign(object, &live) {
            None => outcome("in place", uid, true, None),
            Some(why) => outcome(
                "failed",
                uid,
                false,
                Some(format!(
                    "{} {name} exists and is not the one kir generates ({why}): delete it or investigate it first",
                    kind.name()
                )),
            ),
        });
    }
    let reversal = Reversal::LiftImageBlock {
        kind,
        pattern: plan.parsed.unresolved().to_string(),
        resolved: plan.parsed.resolved_digest().map(ToString::to_string),
    };
    let intent = record(
        case,
        JournalRecord::new(actor, kind.action())
            .target(kind.target(&name))
            .parameters(json!({"object": object}))
            .undo(serde_json::to_value(&reversal).unwrap_or_default()),
    )
    .await?;
    let created = cluster.create_object(object).await;
    let (status, uid, detail) = match &created {
        Ok(created) => ("created", text(created, "/metadata/uid"), None),
        Err(error) => ("failed", None, Some(error.to_string())),
    };
    record(
        case,
        JournalRecord::new(actor, kind.action())
            .target(kind.target(&name))
            .parameters(json!({"intent": intent.seq}))
            .result(json!({"status": status, "uid": uid, "detail": detail})),
    )
    .await?;
    if created.is_err() {
        return Ok(outcome("failed", None, false, detail));
    }
    let read_back = match read(cluster, kind, &name).await? {
        Some(live) if text(&live, "/metadata/uid") == uid => foreign(object, &live).is_none(),
        _ => false,
    };
    let detail = (!read_back).then(|| "read back, it is not the object kir created".to_string());
    Ok(outcome("created", uid, read_back, detail))
}

/// Whether kir's block of `pattern` is in place, with any engine: its objects exist with kir's
/// label and the spec kir generates (any case's).
pub async fn in_place(cluster: &Cluster, pattern: &Pattern) -> Result<bool> {
    if in_place_with(cluster, pattern, Engine::ValidatingAdmissionPolicy).await? {
        return Ok(true);
    }
    for engine in [Engine::Kyverno, Engine::Gatekeeper] {
        // An engine whose API is not served (or not readable) holds no block of kir's.
        if in_place_with(cluster, pattern, engine).await.unwrap_or(false) {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn in_place_with(cluster: &Cluster, pattern: &Pattern, engine: Engine) -> Result<bool> {
    let name = admission::policy_name(pattern);
    for kind in engine.kinds().iter().copied() {
        let Some(live) = read(cluster, kind, &name).await? else { return Ok(false) };
        let case = live
            .pointer(&format!("/metadata/labels/{}", CASE_LABEL.replace('/', "~1")))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if foreign(&kind.object(pattern, case), &live).is_some() {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn read(cluster: &Cluster, kind: BlockKind, name: &str) -> Result<Option<Value>> {
    match cluster.get_object(kind.api_version(), kind.name(), None, name).await {
        Ok(fetched) => Ok(Some(fetched.value)),
        Err(kir_cluster::Error::NotFound { .. }) => Ok(None),
        Err(error) => Err(Error::Cluster(error)),
    }
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value.pointer(pointer).and_then(Value::as_str).map(str::to_string)
}

/// Why a live admission object is not the one kir generates, if it is not: kir's label
/// missing, or another spec once the API server's defaults are set aside.
pub fn foreign(expected: &Value, live: &Value) -> Option<String> {
    if live
        .pointer(&format!("/metadata/labels/{}", MANAGED_BY_LABEL.replace('/', "~1")))
        .and_then(Value::as_str)
        != Some(MANAGED_BY_VALUE)
    {
        return Some("it lacks kir's label".to_string());
    }
    if without_defaults(&expected["spec"]) != without_defaults(&live["spec"]) {
        return Some("its spec differs".to_string());
    }
    None
}

/// A spec without the values the API server fills in when they are not given (and without
/// empty values): what remains is what the writer chose.
fn without_defaults(value: &Value) -> Value {
    netpol::normalized_without(value, &is_default)
}

fn is_default(key: &str, value: &Value) -> bool {
    matches!(
        (key, value.as_str()),
        ("matchPolicy", Some("Equivalent")) | ("scope", Some("*")) | ("failurePolicy", Some("Fail"))
    )
}

/// Ask the API server to admit, without storing anything, a pod and a Deployment with each
/// spelling (to be denied), every other controller kind with the first spelling, and a pod
/// with the control image (to be allowed). A new policy takes a moment to be loaded: a
/// request the policy should deny is tried again until [`ENFORCEMENT_WAIT`] has passed.
async fn prove(cluster: &Cluster, plan: &BlockPlan) -> Vec<Proof> {
    let mut requests = Vec::new();
    for (index, spelling) in plan.spellings.iter().enumerate() {
        requests.push((Target::Pod, spelling.clone(), Admission::Denied));
        requests.push((Target::Template(TemplateKind::Deployment), spelling.clone(), Admission::Denied));
        if index == 0 {
            for kind in TemplateKind::ALL.into_iter().filter(|k| *k != TemplateKind::Deployment) {
                requests.push((Target::Template(kind), spelling.clone(), Admission::Denied));
            }
        }
    }
    requests.push((Target::Pod, plan.control.clone(), Admission::Allowed));
    requests.push((Target::Template(TemplateKind::Deployment), plan.control.clone(), Admission::Allowed));

    let started = tokio::time::Instant::now();
    let mut proofs = Vec::new();
    for (target, image, expected) in requests {
        let object = target.object(&plan.namespace, &image);
        let request = format!("create {} with {image} in {}", target.kind_name(), plan.namespace);
        loop {
            let (answered, detail) = admit(cluster, &object, &plan.engine.denial(&plan.policy)).await;
            let waiting = expected == Admission::Denied
                && answered == Some(Admission::Allowed)
                && started.elapsed() < ENFORCEMENT_WAIT;
            if waiting {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            proofs.push(Proof { request, expected, answered, detail });
            break;
        }
    }
    proofs
}

/// The API server's answer to a dry-run creation: denied by this policy, allowed, or no
/// answer (denied for another reason, or an error).
async fn admit(cluster: &Cluster, object: &Value, denial: &str) -> (Option<Admission>, Option<String>) {
    match cluster.dry_run_create(object).await {
        Ok(_) => (Some(Admission::Allowed), None),
        // A denial by this block, whichever status the API server gave it.
        Err(error) if error.to_string().contains(denial) => {
            (Some(Admission::Denied), Some(error.to_string()))
        }
        Err(error) => (None, Some(error.to_string())),
    }
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Pod,
    Template(TemplateKind),
}

impl Target {
    fn kind_name(self) -> &'static str {
        match self {
            Target::Pod => "Pod",
            Target::Template(kind) => kind.name(),
        }
    }

    /// A minimal valid object of this kind running `image`.
    fn object(self, namespace: &str, image: &str) -> Value {
        let labels = json!({"app": PROOF_NAME});
        let pod_spec = |restart: &str| json!({"restartPolicy": restart, "containers": [{"name": "proof", "image": image}]});
        let template = |restart: &str| json!({"metadata": {"labels": labels}, "spec": pod_spec(restart)});
        // A name of its own: a dry-run of a name in use would be refused for that instead.
        let name = format!("{PROOF_NAME}-{}", crate::collect::random_hex(4));
        let metadata = json!({"name": name, "namespace": namespace});
        let Target::Template(kind) = self else {
            return json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec("Always")});
        };
        let selector = json!({"matchLabels": labels});
        let spec = match kind {
            TemplateKind::Deployment | TemplateKind::ReplicaSet | TemplateKind::DaemonSet => {
                json!({"selector": selector, "template": template("Always")})
            }
            TemplateKind::StatefulSet => {
                json!({"selector": selector, "serviceName": PROOF_NAME, "template": template("Always")})
            }
            TemplateKind::ReplicationController => {
                json!({"selector": labels, "template": template("Always")})
            }
            TemplateKind::Job => json!({"template": template("Never")}),
            TemplateKind::CronJob => {
                json!({"schedule": "0 0 * * *", "jobTemplate": {"spec": {"template": template("Never")}}})
            }
        };
        json!({"apiVersion": kind.api_version(), "kind": kind.name(), "metadata": metadata, "spec": spec})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_defaults_do_not_make_kirs_own_object_foreign() {
        let pattern = Pattern::parse("nginx:1.25").unwrap();
        let expected = BlockKind::ValidatingAdmissionPolicy.object(&pattern, "case-1");
        let mut live = expected.clone();
        live["spec"]["matchConstraints"]["matchPolicy"] = json!("Equivalent");
        live["spec"]["matchConstraints"]["namespaceSelector"] = json!({});
        live["metadata"]["uid"] = json!("u");
        assert_eq!(foreign(&expected, &live), None);
    }

    #[test]
    fn a_narrowed_or_unlabelled_object_is_foreign() {
        let pattern = Pattern::parse("nginx:1.25").unwrap();
        let expected = BlockKind::ValidatingAdmissionPolicy.object(&pattern, "case-1");
        let mut narrowed = expected.clone();
        narrowed["spec"]["matchConditions"] = json!([{"name": "never", "expression": "false"}]);
        assert_eq!(foreign(&expected, &narrowed).as_deref(), Some("its spec differs"));
        let mut unlabelled = expected.clone();
        unlabelled["metadata"]["labels"] = json!({});
        assert_eq!(foreign(&expected, &unlabelled).as_deref(), Some("it lacks kir's label"));
    }

    #[test]
    fn the_control_image_is_one_the_pattern_does_not_match() {
        let pattern = Pattern::parse("registry.k8s.io/pause").unwrap();
        let plan = plan(&pattern, Engine::ValidatingAdmissionPolicy, "case-1", "default");
        assert!(!pattern.matches(&plan.control, None).is_match());
        assert!(plan.spellings.iter().all(|s| pattern.matches(s, None).is_match()));
    }

    #[test]
    fn every_proof_object_names_the_image_in_its_pod_template() {
        for kind in TemplateKind::ALL {
            let object = Target::Template(kind).object("shop", "evil:1");
            let spec = object.pointer(kind.pod_spec_pointer()).unwrap();
            assert_eq!(spec["containers"][0]["image"], "evil:1", "{kind:?}");
        }
    }
}

//! `kir respond stolen-credentials`: the playbook of a leaked credential. Evidence first (what
//! the credential is, what it reaches, the bindings that grant it), then the kill switch that
//! works for its type, then proof: TokenReview refuses the token, SubjectAccessReview denies
//! what the subject could do, the workloads that used it run again.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{PodSpec, ServiceAccount};
use kir_cluster::Cluster;
use kir_credential::TokenKind;
use kir_evidence::{Case, JournalRecord};
use kir_rbac::{Identity, SubjectRef};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    Error, Result,
    blocking::{entries, record},
    collect::Collector,
    creds::{self, CredentialReport},
    revoke::{self, RevokeReport},
    rotate::{self, RestartOutcome},
};

/// What kills the credential, by its type.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum KillSwitch {
    /// A legacy token, or a token bound to a Secret, dies with the Secret.
    #[serde(rename_all = "camelCase")]
    DeleteSecret { namespace: String, name: String },
    /// A token bound to a pod dies with the pod: its evidence first, then the pod (its controller
    /// starts a clean one).
    #[serde(rename_all = "camelCase")]
    ReplacePod { namespace: String, name: String },
    /// Every token of a service account dies when the account is recreated (a new UID); the
    /// workloads that run as it are restarted so they get fresh tokens.
    #[serde(rename_all = "camelCase")]
    RecreateServiceAccount { namespace: String, name: String },
    /// A certificate, an OIDC user or a named subject: its bindings are taken away.
    #[serde(rename_all = "camelCase")]
    RevokeBindings { subject: String },
}

impl KillSwitch {
    pub fn describe(&self) -> String {
        match self {
            KillSwitch::DeleteSecret { namespace, name } => format!("delete Secret {namespace}/{name}"),
            KillSwitch::ReplacePod { namespace, name } => {
                format!("capture pod {namespace}/{name}, then delete it (its controller starts a clean one)")
            }
            KillSwitch::RecreateServiceAccount { namespace, name } => format!(
                "recreate ServiceAccount {namespace}/{name} (a new UID kills every token of it), then restart the \
                 workloads that run as it"
            ),
            KillSwitch::RevokeBindings { subject } => {
                format!("take {subject} out of every binding that names it")
            }
        }
    }

    fn step(&self) -> String {
        match self {
            KillSwitch::DeleteSecret { namespace, name } => format!("delete-secret {namespace}/{name}"),
            KillSwitch::ReplacePod { namespace, name } => format!("replace-pod {namespace}/{name}"),
            KillSwitch::RecreateServiceAccount { namespace, name } => {
                format!("recreate-serviceaccount {namespace}/{name}")
            }
            KillSwitch::RevokeBindings { subject } => format!("revoke {subject}"),
        }
    }
}

/// The playbook as planned.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StolenPlan {
    pub credential: CredentialReport,
    pub kill: Vec<KillSwitch>,
    /// What no action of kir can kill: said loudly.
    pub residual: Vec<String>,
}

/// Decide the kill switches for what `report` says the credential is.
pub fn plan(report: CredentialReport) -> StolenPlan {
    let mut kill = Vec::new();
    let mut residual = Vec::new();
    let token_kind = report.token.as_ref().map(|t| t.kind.clone());
    match token_kind {
        Some(TokenKind::LegacyServiceAccount { namespace, secret, .. }) => {
            kill.push(KillSwitch::DeleteSecret { namespace, name: secret });
        }
        Some(TokenKind::BoundServiceAccount { namespace, service_account, bound_to, .. }) => {
            match bound_to {
                Some(bound) if bound.kind == "Pod" => {
                    kill.push(KillSwitch::ReplacePod { namespace, name: bound.name });
                }
                Some(bound) if bound.kind == "Secret" => {
                    kill.push(KillSwitch::DeleteSecret { namespace, name: bound.name });
                }
                // Unbound, or bound to a Node: only a new service account UID kills it early.
                _ => kill.push(KillSwitch::RecreateServiceAccount { namespace, name: service_account }),
            }
        }
        Some(TokenKind::Bootstrap { token_id }) => {
            kill.push(KillSwitch::DeleteSecret {
                namespace: "kube-system".into(),
                name: format!("bootstrap-token-{token_id}"),
            });
        }
        Some(TokenKind::OtherJwt) | Some(TokenKind::Opaque) => {
            if let Some(user) = &report.user {
                kill.push(KillSwitch::RevokeBindings { subject: format!("user:{user}") });
            }
            residual.push(
                "the token itself stays valid until it expires or its issuer revokes it (the identity provider, the \
                 API server's token file or webhook): revoke it there"
                    .into(),
            );
        }
        None => {}
    }
    if let Some(certificate) = &report.certificate {
        kill.push(KillSwitch::RevokeBindings { subject: format!("user:{}", certificate.user) });
        residual.push(format!(
            "the certificate cannot be revoked: it authenticates as {} until {}; whatever its groups and \
             system:authenticated grant stays",
            certificate.user, certificate.not_after
        ));
        if certificate.groups.iter().any(|g| g == "system:masters") {
            residual.push(
                "it is in system:masters, which RBAC cannot restrict: the cluster stays open to it until the client \
                 CA is rotated"
                    .into(),
            );
        }
    }
    if report.token.is_none() && report.certificate.is_none() {
        // A named subject: every credential of it.
        match &report.service_account {
            Some(account) => {
                for secret in &report.token_secrets {
                    kill.push(KillSwitch::DeleteSecret {
                        namespace: account.namespace.clone(),
                        name: secret.clone(),
                    });
                }
                kill.push(KillSwitch::RecreateServiceAccount {
                    namespace: account.namespace.clone(),
                    name: account.name.clone(),
                });
            }
            None => {
                if let Some(user) = &report.user {
                    kill.push(KillSwitch::RevokeBindings { subject: format!("user:{user}") });
                    residual.push(format!(
                        "the credentials of user {user} (certificates, tokens) still authenticate until they expire"
                    ));
                } else if let Some(group) = report.groups.first() {
                    kill.push(KillSwitch::RevokeBindings { subject: format!("group:{group}") });
                }
            }
        }
    }
    if let Some(account) = &report.service_account {
        for identity in &account.cloud_identities {
            residual.push(format!(
                "the service account is mapped to {identity}: cloud credentials already exchanged for its tokens stay \
                 valid until they expire; revoke its sessions in the cloud's IAM"
            ));
        }
    }
    if kill.is_empty() {
        residual.push("kir knows no action that kills this credential: see the notes on how it dies".into());
    }
    StolenPlan { credential: report, kill, residual }
}

/// How one kill switch came out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KillOutcome {
    pub action: String,
    /// `done`, `done earlier` (a resumed run), `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<RestartOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<RevokeReport>,
}

/// What was checked after the kill, each a fact read from the API server.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Confirmation {
    pub check: String,
    pub holds: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StolenReport {
    pub plan: StolenPlan,
    pub evidence: Vec<String>,
    pub kill: Vec<KillOutcome>,
    pub confirmations: Vec<Confirmation>,
    /// Every kill switch done and every confirmation holds.
    pub dead: bool,
}

/// Options of the playbook.
#[derive(Debug, Clone)]
pub struct StolenOptions {
    /// How long to wait for restarted workloads and for the API server's token cache.
    pub wait: Duration,
    /// The token itself, when given: TokenReview confirms it dead.
    pub token: Option<String>,
}

const STEP_ACTION: &str = "respond.stolen-credentials.step";

/// Evidence, kill, confirm. A step journaled as done by an earlier run of the same case is not
/// made again.
pub async fn run(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    plan: StolenPlan,
    options: &StolenOptions,
) -> Result<StolenReport> {
    let done: Vec<String> = entries(case)
        .await?
        .into_iter()
        .filter(|e| e.action == STEP_ACTION && e.result.get("status").and_then(Value::as_str) == Some("done"))
        .filter_map(|e| e.parameters.get("step").and_then(Value::as_str).map(str::to_string))
        .collect();
    let evidence = collect_evidence(cluster, case, &plan).await?;
    let mut kill = Vec::new();
    for switch in &plan.kill {
        let step = switch.step();
        if done.contains(&step) {
            kill.push(KillOutcome {
                action: switch.describe(),
                status: "done earlier",
                detail: None,
                restarts: Vec::new(),
                revocation: None,
            });
            continue;
        }
        let outcome = make(cluster, case, actor, switch, options).await;
        record(
            case,
            JournalRecord::new(actor, STEP_ACTION)
                .target(plan.credential.kind.clone())
                .parameters(json!({"step": step}))
                .result(json!({"status": if outcome.status == "done" { "done" } else { outcome.status }, "detail": outcome.detail})),
        )
        .await?;
        kill.push(outcome);
    }
    let confirmations = confirm(cluster, &plan, &kill, options).await?;
    let dead = kill.iter().all(|k| k.status != "failed") && confirmations.iter().all(|c| c.holds);
    Ok(StolenReport { plan, evidence, kill, confirmations, dead })
}

/// What the credential is and reaches, and the bindings that grant it, into the case.
async fn collect_evidence(cluster: &Cluster, case: &Case, plan: &StolenPlan) -> Result<Vec<String>> {
    let report = &plan.credential;
    let label = report
        .fingerprint
        .as_deref()
        .map(|f| f[..16.min(f.len())].to_string())
        .or_else(|| report.user.clone())
        .unwrap_or_else(|| "subject".into())
        .replace(['/', ':'], "_");
    let collector = Collector::new(case, format!("credentials/{label}"));
    collector
        .store_json("credential.json", "kir creds show (the token itself is never stored)", report)
        .await;
    let snapshot = creds::rbac_snapshot(cluster).await?;
    let who = identity_of(report);
    if let Some(who) = &who {
        let scope = creds::scope(&snapshot, who);
        collector.store_json("scope.json", "kir creds scope, from the RBAC objects read once", &scope).await;
        let subjects = subjects_of(report, who);
        let mut bindings: Vec<Value> = Vec::new();
        for subject in &subjects {
            for found in snapshot.bindings_naming(subject) {
                bindings.push(serde_json::to_value(found).unwrap_or_default());
            }
        }
        collector.store_json("bindings.json", "the bindings naming the subject", &bindings).await;
    }
    let collected = collector.into_collected();
    Ok(collected.artifacts.into_iter().map(|a| a.path).chain(collected.already_collected).collect())
}

/// Who the credential authenticates as: the API server's answer when it accepted it, else the
/// subject read from it.
fn identity_of(report: &CredentialReport) -> Option<Identity> {
    let user = report.user.clone().unwrap_or_default();
    if user.is_empty() && report.groups.is_empty() {
        return None;
    }
    let mut groups = report.groups.clone();
    if groups.is_empty() && !user.is_empty() {
        groups = match &report.service_account {
            Some(a) => vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{}", a.namespace),
                kir_rbac::AUTHENTICATED_GROUP.into(),
            ],
            None => vec![kir_rbac::AUTHENTICATED_GROUP.into()],
        };
    }
    Some(Identity { user, groups })
}

/// The binding subjects that name the credential's identity itself (its groups aside).
fn subjects_of(report: &CredentialReport, who: &Identity) -> Vec<SubjectRef> {
    let mut subjects = Vec::new();
    if let Some(account) = &report.service_account {
        subjects.push(SubjectRef::ServiceAccount {
            namespace: account.namespace.clone(),
            name: account.name.clone(),
        });
    }
    if !who.user.is_empty() {
        subjects.push(SubjectRef::User { name: who.user.clone() });
    }
    subjects
}

async fn make(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    switch: &KillSwitch,
    options: &StolenOptions,
) -> KillOutcome {
    let mut outcome = KillOutcome {
        action: switch.describe(),
        status: "done",
        detail: None,
        restarts: Vec::new(),
        revocation: None,
    };
    let result: Result<Option<String>> = async {
        match switch {
            KillSwitch::DeleteSecret { namespace, name } => {
                let secret: Option<k8s_openapi::api::core::v1::Secret> = cluster.get_typed(namespace, name).await?;
                let Some(uid) = secret.and_then(|s| s.metadata.uid) else {
                    return Ok(Some(format!("Secret {namespace}/{name} no longer exists")));
                };
                journaled(case, actor, "stolen.delete-secret", &format!("secret/{namespace}/{name}"), &uid, async {
                    cluster.delete_object("v1", "Secret", Some(namespace), name, &uid).await.map(|_| ())
                })
                .await?;
                Ok(None)
            }
            KillSwitch::ReplacePod { namespace, name } => {
                let observed = crate::observe::observe_pod(cluster, namespace, name).await?;
                crate::capture::capture_pod(cluster, case, actor, &observed, Default::default()).await?;
                let missing = crate::replace::missing_evidence(case, &observed.state).await?;
                if !missing.is_empty() {
                    return Err(Error::Invalid(format!(
                        "pod {namespace}/{name} kept: its evidence is incomplete ({}); run again with the same --case",
                        missing.join("; ")
                    )));
                }
                let assessment = crate::replace::assess(
                    &crate::replace::images(&observed.pod),
                    observed.state.controller.as_ref(),
                    false,
                    None,
                );
                crate::replace::replace_pod(cluster, case, actor, &observed.state, assessment, None, true).await?;
                Ok(Some("its evidence is in the case".into()))
            }
            KillSwitch::RecreateServiceAccount { namespace, name } => {
                let restarts = recreate_account(cluster, case, actor, namespace, name, options.wait).await?;
                let detail = format!("{} workload(s) restarted", restarts.len());
                outcome.restarts = restarts;
                Ok(Some(detail))
            }
            KillSwitch::RevokeBindings { subject } => {
                let parsed = SubjectRef::parse(subject).map_err(|e| Error::Invalid(e.to_string()))?;
                let who = Identity::for_subject(&parsed);
                let (entries, kept) = revoke::entries_to_revoke(&parsed, &who, false);
                let revoke_plan = revoke::plan_from_cluster(cluster, &who, &entries, kept).await?;
                let report = revoke::apply(cluster, case, actor, revoke_plan).await?;
                let detail = format!("{} binding(s) changed", report.changes.len());
                outcome.revocation = Some(report);
                Ok(Some(detail))
            }
        }
    }
    .await;
    match result {
        Ok(detail) => outcome.detail = detail,
        Err(error) => {
            outcome.status = "failed";
            outcome.detail = Some(error.to_string());
        }
    }
    if outcome.restarts.iter().any(|r| r.status != "running again" && r.status != "left to the responder")
        || outcome.revocation.as_ref().is_some_and(|r| r.failed())
    {
        outcome.status = "failed";
    }
    outcome
}

/// A change journaled as intent and result around `change`, for a change kir cannot reverse.
async fn journaled(
    case: &Case,
    actor: &str,
    action: &str,
    target: &str,
    uid: &str,
    change: impl std::future::Future<Output = kir_cluster::Result<()>>,
) -> Result<()> {
    let intent = record(
        case,
        JournalRecord::new(actor, action)
            .target(target)
            .parameters(json!({"uid": uid, "note": "a killed credential is not brought back: not undoable"}))
            .result(json!({"status": "started"})),
    )
    .await?;
    let made = change.await;
    record(
        case,
        JournalRecord::new(actor, action).target(target).parameters(json!({"intent": intent.seq})).result(
            match &made {
                Ok(()) => json!({"status": "applied", "uid": uid}),
                Err(error) => json!({"status": "failed", "error": error.to_string()}),
            },
        ),
    )
    .await?;
    made.map_err(Error::from)
}

/// Delete the service account (bound to its UID) and create it again as it was: the same name,
/// labels, annotations, image pull secrets and token mounting, a new UID. Then restart the
/// workloads that run as it.
async fn recreate_account(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    namespace: &str,
    name: &str,
    wait: Duration,
) -> Result<Vec<RestartOutcome>> {
    let account: ServiceAccount = cluster
        .get_typed(namespace, name)
        .await?
        .ok_or_else(|| Error::Invalid(format!("there is no ServiceAccount {namespace}/{name}")))?;
    let uid = account.metadata.uid.clone().unwrap_or_default();
    let target = format!("serviceaccount/{namespace}/{name}");
    journaled(case, actor, "stolen.delete-serviceaccount", &target, &uid, async {
        cluster.delete_object("v1", "ServiceAccount", Some(namespace), name, &uid).await.map(|_| ())
    })
    .await?;
    let again = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": account.metadata.labels,
            "annotations": account.metadata.annotations,
        },
        "imagePullSecrets": account.image_pull_secrets,
        "automountServiceAccountToken": account.automount_service_account_token,
    });
    // The old object may linger a moment while the API server finishes deleting it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let created = loop {
        match cluster.create_object(&again).await {
            Err(kir_cluster::Error::Api { code: 409, .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => break other,
        }
    };
    let new_uid = created
        .as_ref()
        .ok()
        .and_then(|v| v.pointer("/metadata/uid"))
        .and_then(Value::as_str)
        .map(str::to_string);
    record(
        case,
        JournalRecord::new(actor, "stolen.create-serviceaccount").target(target).result(match &created {
            Ok(_) => json!({"status": "applied", "uid": new_uid, "previousUid": uid}),
            Err(error) => json!({"status": "failed", "error": error.to_string()}),
        }),
    )
    .await?;
    created?;
    let runs_as = |spec: &PodSpec| {
        let account = spec.service_account_name.as_deref().unwrap_or("default");
        if account == name { vec!["serviceAccountName".to_string()] } else { Vec::new() }
    };
    let consumers = rotate::consumers(cluster, namespace, runs_as).await?;
    let restarted_at = jiff::Timestamp::now().to_string();
    let mut restarts = Vec::new();
    for consumer in &consumers {
        if !consumer.restartable() {
            restarts.push(RestartOutcome {
                workload: format!("Pod {}", consumer.name),
                status: "left to the responder",
                detail: Some(
                    "no controller: its token died with the account; recreate the pod from its manifest"
                        .into(),
                ),
            });
            continue;
        }
        restarts.push(rotate::restart(cluster, case, actor, namespace, consumer, &restarted_at, wait).await?);
    }
    Ok(restarts)
}

/// The facts after the kill: the token refused, the subject's reach denied, the workloads
/// running again.
async fn confirm(
    cluster: &Cluster,
    plan: &StolenPlan,
    kill: &[KillOutcome],
    options: &StolenOptions,
) -> Result<Vec<Confirmation>> {
    let mut confirmations = Vec::new();
    if let Some(token) = &options.token {
        // The API server caches an accepted token for a few seconds.
        let deadline =
            Instant::now() + options.wait.min(Duration::from_secs(30)).max(Duration::from_secs(15));
        let verdict = loop {
            let verdict = cluster.review_token(token, &[]).await?;
            if !verdict.authenticated || Instant::now() >= deadline {
                break verdict;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        confirmations.push(Confirmation {
            check: "TokenReview of the stolen token".into(),
            holds: !verdict.authenticated,
            detail: if verdict.authenticated {
                format!("STILL ACCEPTED as {}", verdict.user.unwrap_or_default())
            } else {
                format!("refused{}", verdict.error.map(|e| format!(": {e}")).unwrap_or_default())
            },
        });
    }
    for outcome in kill {
        if let Some(revocation) = &outcome.revocation {
            let still: Vec<&str> =
                revocation.probes.iter().filter(|p| !p.denied).map(|p| p.probe.as_str()).collect();
            confirmations.push(Confirmation {
                check: format!("SubjectAccessReview of what {} could do", revocation.plan.user),
                holds: revocation.revoked,
                detail: if still.is_empty() {
                    format!("{} request(s) denied now", revocation.probes.len())
                } else {
                    format!("still allowed: {}", still.join("; "))
                },
            });
        }
        for restart in &outcome.restarts {
            confirmations.push(Confirmation {
                check: format!("{} runs again", restart.workload),
                holds: restart.status == "running again" || restart.status == "left to the responder",
                detail: restart.detail.clone().unwrap_or_else(|| restart.status.to_string()),
            });
        }
    }
    if let Some(account) = &plan.credential.service_account
        && plan.kill.iter().any(|k| matches!(k, KillSwitch::RecreateServiceAccount { .. }))
    {
        let now: Option<ServiceAccount> = cluster.get_typed(&account.namespace, &account.name).await?;
        let new_uid = now.and_then(|a| a.metadata.uid);
        confirmations.push(Confirmation {
            check: format!("ServiceAccount {}/{} has a new UID", account.namespace, account.name),
            holds: new_uid.is_some() && new_uid != account.uid,
            detail: format!(
                "{} (was {})",
                new_uid.unwrap_or_else(|| "missing".into()),
                account.uid.clone().unwrap_or_default()
            ),
        });
        // The kill took the stolen tokens, not the account: a token issued now works.
        let fresh = match cluster.request_token(&account.namespace, &account.name, 600).await {
            Ok(token) => cluster.review_token(&token, &[]).await.map(|v| v.authenticated),
            Err(error) => Err(error),
        };
        confirmations.push(Confirmation {
            check: format!("a token issued now for {}/{} is accepted", account.namespace, account.name),
            holds: matches!(fresh, Ok(true)),
            detail: match fresh {
                Ok(true) => "TokenRequest, then TokenReview: accepted".into(),
                Ok(false) => "TokenReview refuses a token issued now".into(),
                Err(error) => error.to_string(),
            },
        });
    }
    Ok(confirmations)
}

//! `kir creds`: what a leaked credential is, how it dies, what it can reach, and who can do
//! what. The credential's bytes are inspected by `kir-credential`, the reach computed by
//! `kir-rbac` from RBAC objects read once; the API server is asked only what it alone knows
//! (whether it accepts a token now, whether objects exist).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kir_cluster::{
    Cluster,
    credentials::{RbacObjects, TokenVerdict},
};
use kir_credential::{CertificateInfo, TokenInfo, TokenKind};
use kir_detect::rule::shell_word;
use kir_rbac::{Grant, Holder, Identity, RbacSnapshot, Request};
use serde::Serialize;

use crate::{Error, Result};

/// The credential the responder holds, or the subject they name.
#[derive(Debug, Clone)]
pub enum CredentialInput {
    /// A bearer token's text. Kept in memory only, never printed or stored.
    Token(String),
    /// A client certificate, PEM or DER.
    Certificate(Vec<u8>),
    /// A kubeconfig user whose credential a program or auth provider issues (named, not run).
    Issued(String),
    /// `user:NAME`, `group:NAME` or `system:serviceaccount:NS:NAME`.
    Subject(String),
    /// A Secret holding a service-account token.
    Secret { namespace: String, name: String },
}

/// What `kir creds show` found.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CredentialReport {
    /// What the credential is, in a line.
    pub kind: String,
    /// SHA-256 of the token or certificate: what a case keeps instead of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// What the audit log records of this credential (`JTI=...`, `X509SHA256=...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// Who it authenticates as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateInfo>,
    /// The API server's TokenReview, now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<TokenVerdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountFacts>,
    /// The object a bound token dies with, and whether it still exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound_object: Option<ObjectFacts>,
    /// Legacy token Secrets of the service account (each a credential that never expires).
    pub token_secrets: Vec<String>,
    /// How this credential is killed.
    pub kill: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountFacts {
    pub namespace: String,
    pub name: String,
    pub exists: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The token names a UID: whether the live service account still has it (a recreated one
    /// does not accept the old tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid_matches: Option<bool>,
    /// Cloud identities the account is mapped to: credentials outside the cluster that a
    /// token of it may already have been exchanged for.
    pub cloud_identities: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectFacts {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub exists: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid_matches: Option<bool>,
}

/// The annotations that map a service account to a cloud identity, and what each means.
const CLOUD_IDENTITIES: &[(&str, &str)] = &[
    ("eks.amazonaws.com/role-arn", "AWS IAM role (EKS IRSA)"),
    ("iam.gke.io/gcp-service-account", "Google service account (GKE Workload Identity)"),
    ("azure.workload.identity/client-id", "Azure identity (Azure Workload Identity)"),
];

/// Say what `input` is, how it dies, and whether the API server accepts it now.
pub async fn show(cluster: &Cluster, input: CredentialInput) -> Result<CredentialReport> {
    match input {
        CredentialInput::Token(token) => show_token(cluster, &token, None).await,
        CredentialInput::Certificate(bytes) => show_certificate(&bytes),
        CredentialInput::Issued(how) => Ok(CredentialReport {
            kind: format!("a credential issued on demand by {how}"),
            kill: vec![
                "revoke it where it is issued (the cloud's IAM or the identity provider), then remove the \
                 user's bindings (kir creds revoke user:NAME)"
                    .into(),
            ],
            notes: vec![format!("kir does not run {how}: it would run whatever the kubeconfig names")],
            ..Default::default()
        }),
        CredentialInput::Subject(spec) => show_subject(cluster, &spec).await,
        CredentialInput::Secret { namespace, name } => {
            let secret: Secret = cluster
                .get_typed(&namespace, &name)
                .await?
                .ok_or_else(|| Error::Invalid(format!("there is no Secret {namespace}/{name}")))?;
            let kind = secret.type_.clone().unwrap_or_default();
            if kind != "kubernetes.io/service-account-token" {
                return Err(Error::Invalid(format!(
                    "Secret {namespace}/{name} is of type {kind:?}, not a service-account token \
                     (kubernetes.io/service-account-token): kir creds show reads token Secrets only"
                )));
            }
            let token = secret
                .data
                .as_ref()
                .and_then(|d| d.get("token"))
                .map(|t| String::from_utf8_lossy(&t.0).into_owned())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "Secret {namespace}/{name} holds no token yet (the token controller fills it in)"
                    ))
                })?;
            show_token(cluster, &token, Some(format!("{namespace}/{name}"))).await
        }
    }
}

async fn show_token(cluster: &Cluster, token: &str, from_secret: Option<String>) -> Result<CredentialReport> {
    let info = kir_credential::inspect_token(token).map_err(|e| Error::Invalid(format!("the token: {e}")))?;
    let accepted = cluster.review_token(token, &[]).await?;
    let mut report = CredentialReport {
        fingerprint: Some(info.fingerprint.clone()),
        credential_id: info.credential_id(),
        user: info.username(),
        notes: info.notes(),
        ..Default::default()
    };
    if accepted.authenticated {
        report.user = accepted.user.clone().or(report.user);
        report.groups = accepted.groups.clone();
        if let Some(id) =
            accepted.extra.get("authentication.kubernetes.io/credential-id").and_then(|v| v.first())
        {
            report.credential_id = Some(id.clone());
        }
    }
    match &info.kind {
        TokenKind::LegacyServiceAccount { namespace, service_account, service_account_uid, secret } => {
            report.kind = format!(
                "legacy service-account token of {namespace}/{service_account} (Secret {namespace}/{secret}); it never expires"
            );
            report.service_account = Some(
                account_facts(cluster, namespace, service_account, service_account_uid.as_deref()).await?,
            );
            report.bound_object =
                Some(object_facts::<Secret>(cluster, "Secret", namespace, secret, None).await?);
            report.kill.push(format!(
                "delete Secret {namespace}/{secret}: the API server looks the Secret up on every request"
            ));
        }
        TokenKind::BoundServiceAccount { namespace, service_account, service_account_uid, bound_to } => {
            report.service_account = Some(
                account_facts(cluster, namespace, service_account, service_account_uid.as_deref()).await?,
            );
            match bound_to {
                Some(bound) => {
                    report.kind = format!(
                        "bound service-account token of {namespace}/{service_account}, bound to {} {}",
                        bound.kind, bound.name
                    );
                    let facts = match bound.kind.as_str() {
                        "Pod" => {
                            report.kill.push(format!(
                                "delete pod {namespace}/{} (after its evidence: kir respond compromised-pod \
                                 {namespace}/{} --replace): the token dies with the pod",
                                bound.name, bound.name
                            ));
                            object_facts::<Pod>(cluster, "Pod", namespace, &bound.name, bound.uid.as_deref())
                                .await?
                        }
                        "Secret" => {
                            report.kill.push(format!(
                                "delete Secret {namespace}/{}: the token dies with it",
                                bound.name
                            ));
                            object_facts::<Secret>(
                                cluster,
                                "Secret",
                                namespace,
                                &bound.name,
                                bound.uid.as_deref(),
                            )
                            .await?
                        }
                        _ => {
                            report.kill.push(format!(
                                "delete and re-register Node {} (the token dies with the Node object), or recreate \
                                 ServiceAccount {namespace}/{service_account}",
                                bound.name
                            ));
                            ObjectFacts {
                                kind: bound.kind.clone(),
                                namespace: None,
                                name: bound.name.clone(),
                                exists: true,
                                uid_matches: None,
                            }
                        }
                    };
                    report.bound_object = Some(facts);
                }
                None => {
                    report.kind = format!(
                        "service-account token of {namespace}/{service_account} from the TokenRequest API, bound to \
                         no object: it lives until it expires"
                    );
                    report.kill.push(format!(
                        "recreate ServiceAccount {namespace}/{service_account} (a new UID kills every token of it; \
                         bindings refer to it by name and keep working), then restart the workloads that use it"
                    ));
                }
            }
        }
        TokenKind::OtherJwt => {
            let issuer = info.claims.as_ref().and_then(|c| c.issuer.clone()).unwrap_or_default();
            report.kind = format!("a JWT of issuer {issuer:?} (an OIDC identity, not a service account)");
            report.kill.push(
                "revoke the session at the identity provider, then remove the user's bindings (kir creds revoke user:NAME)"
                    .into(),
            );
        }
        TokenKind::Bootstrap { token_id } => {
            report.kind = format!("a bootstrap token (id {token_id})");
            report.kill.push(format!("delete Secret kube-system/bootstrap-token-{token_id}"));
        }
        TokenKind::Opaque => {
            report.kind =
                "an opaque token (not a JWT): a static token, or one a webhook authenticates".into();
            report.kill.push(
                "remove it where the API server learns it (--token-auth-file, the authentication webhook), then \
                 remove the user's bindings"
                    .into(),
            );
        }
    }
    if let Some(secret) = from_secret {
        report.notes.push(format!("read from Secret {secret}"));
    }
    if !accepted.authenticated {
        report.notes.insert(
            0,
            format!(
                "the API server does not accept this token now{}",
                accepted.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
        );
    }
    let holder_gone = report.bound_object.as_ref().is_some_and(|o| !o.exists || o.uid_matches == Some(false))
        || report.service_account.as_ref().is_some_and(|a| !a.exists || a.uid_matches == Some(false));
    if accepted.authenticated && holder_gone {
        report.notes.insert(
            0,
            "accepted although what it is bound to is gone: the API server caches an accepted token for about 10 \
             seconds (its token success cache); ask again shortly"
                .into(),
        );
    }
    audit_note(&mut report);
    cloud_notes(&mut report);
    report.accepted = Some(accepted);
    report.token = Some(info);
    Ok(report)
}

fn show_certificate(bytes: &[u8]) -> Result<CredentialReport> {
    let info = kir_credential::inspect_certificate(bytes)
        .map_err(|e| Error::Invalid(format!("the certificate: {e}")))?;
    let mut kill = vec![format!(
        "an x509 client certificate cannot be revoked: remove the bindings of user {:?} and its groups (kir creds \
         revoke {}{}); it stays valid for authentication until {}",
        info.user,
        shell_word(&format!("user:{}", info.user)),
        info.groups.iter().map(|g| format!(" --group {}", shell_word(g))).collect::<String>()
            + if info.groups.is_empty() { "" } else { " --include-groups" },
        info.not_after
    )];
    if info.groups.iter().any(|g| g == "system:masters") {
        kill.push(
            "it is in group system:masters, which RBAC cannot restrict: only rotating the cluster's client CA \
             kills it"
                .into(),
        );
    }
    let mut report = CredentialReport {
        kind: format!("x509 client certificate of user {:?}, issued by {:?}", info.user, info.issuer),
        fingerprint: Some(info.fingerprint.clone()),
        credential_id: Some(info.credential_id.clone()),
        user: Some(info.user.clone()),
        groups: info.groups.clone(),
        notes: info.notes.clone(),
        kill,
        certificate: Some(info),
        ..Default::default()
    };
    audit_note(&mut report);
    Ok(report)
}

/// Where to find what the credential did: every request it made carries its id in the audit log.
fn audit_note(report: &mut CredentialReport) {
    if let Some(id) = &report.credential_id {
        report.notes.push(format!("what it did: kir audit timeline AUDIT_LOG_PATH --credential-id {id}"));
    }
}

async fn show_subject(cluster: &Cluster, spec: &str) -> Result<CredentialReport> {
    let who = Identity::parse(spec).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut report = CredentialReport {
        user: Some(who.user.clone()).filter(|u| !u.is_empty()),
        groups: who.groups.clone(),
        ..Default::default()
    };
    match who.service_account() {
        Some((namespace, name)) => {
            report.kind = format!("service account {namespace}/{name}");
            report.service_account = Some(account_facts(cluster, namespace, name, None).await?);
            report.token_secrets = cluster.token_secrets_of(namespace, name).await?;
            report.kill.push(format!(
                "recreate ServiceAccount {namespace}/{name} (a new UID kills every bound token of it), delete its \
                 legacy token Secrets, restart the workloads that use it"
            ));
            if !report.token_secrets.is_empty() {
                report.notes.push(format!(
                    "{} legacy token Secret(s): each holds a token that never expires until the Secret is deleted",
                    report.token_secrets.len()
                ));
            }
        }
        None if who.user.is_empty() => {
            report.kind = format!("group {}", who.groups.join(", "));
            report.kill.push(format!(
                "remove the group from the bindings that name it (kir creds revoke {})",
                shell_word(&format!("group:{}", who.groups.first().map(String::as_str).unwrap_or("NAME")))
            ));
        }
        None => {
            report.kind = format!("user {}", who.user);
            report.kill.push(format!(
                "remove the bindings of user {} (kir creds revoke {}); a client certificate or token of the user stays \
                 valid for authentication until it expires",
                who.user,
                shell_word(&format!("user:{}", who.user))
            ));
        }
    }
    cloud_notes(&mut report);
    Ok(report)
}

fn cloud_notes(report: &mut CredentialReport) {
    if let Some(account) = &report.service_account {
        for identity in &account.cloud_identities {
            report.kill.push(format!(
                "the account is mapped to {identity}: credentials already exchanged for it stay valid until they expire; \
                 revoke its sessions in the cloud's IAM"
            ));
        }
    }
}

async fn account_facts(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    token_uid: Option<&str>,
) -> Result<ServiceAccountFacts> {
    let account: Option<ServiceAccount> = cluster.get_typed(namespace, name).await?;
    let uid = account.as_ref().and_then(|a| a.metadata.uid.clone());
    let annotations: BTreeMap<String, String> =
        account.as_ref().and_then(|a| a.metadata.annotations.clone()).unwrap_or_default();
    let cloud_identities = CLOUD_IDENTITIES
        .iter()
        .filter_map(|(key, what)| annotations.get(*key).map(|value| format!("{what} {value}")))
        .collect();
    Ok(ServiceAccountFacts {
        namespace: namespace.to_string(),
        name: name.to_string(),
        exists: account.is_some(),
        uid_matches: token_uid.map(|t| uid.as_deref() == Some(t)),
        uid,
        cloud_identities,
    })
}

async fn object_facts<K>(
    cluster: &Cluster,
    kind: &str,
    namespace: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<ObjectFacts>
where
    K: kube_core::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let object: Option<K> = cluster.get_typed(namespace, name).await?;
    Ok(ObjectFacts {
        kind: kind.to_string(),
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
        uid_matches: uid.map(|u| object.as_ref().and_then(|o| o.meta().uid.as_deref()) == Some(u)),
        exists: object.is_some(),
    })
}

/// What `kir creds scope` found: every grant, dangerous first.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeReport<'a> {
    pub user: String,
    pub groups: Vec<String>,
    pub grants: Vec<Grant<'a>>,
}

/// The RBAC objects of the cluster, read once, as a snapshot to evaluate.
pub async fn rbac_snapshot(cluster: &Cluster) -> Result<RbacSnapshot> {
    let RbacObjects { roles, cluster_roles, role_bindings, cluster_role_bindings } =
        cluster.rbac_objects().await?;
    Ok(RbacSnapshot { roles, cluster_roles, role_bindings, cluster_role_bindings })
}

/// `who`'s effective permissions, from `snapshot`.
pub fn scope<'a>(snapshot: &'a RbacSnapshot, who: &Identity) -> ScopeReport<'a> {
    ScopeReport { user: who.user.clone(), groups: who.groups.clone(), grants: snapshot.grants(who) }
}

/// Who may make `request`, from `snapshot`.
pub fn who_can<'a>(snapshot: &'a RbacSnapshot, request: &Request) -> Vec<Holder<'a>> {
    snapshot.who_can(request)
}

/// `resource[.group][/subresource]` or a non-resource URL (`/metrics`), as `kir creds who-can`
/// takes it, into a request in `namespace` (`None`: cluster-wide).
pub fn request_of(
    verb: &str,
    resource: &str,
    name: Option<&str>,
    namespace: Option<&str>,
) -> Result<Request> {
    let invalid = |why: &str| {
        Error::Invalid(format!(
            "RESOURCE {resource:?}: {why}; give resource[.group][/subresource] (secrets, deployments.apps, pods/exec) \
             or a URL starting with / (/metrics)"
        ))
    };
    if verb.is_empty() || !verb.chars().all(|c| c.is_ascii_lowercase() || c == '*') {
        return Err(Error::Invalid(format!(
            "VERB {verb:?}: a verb is lower-case letters (get, list, create, ...) or *"
        )));
    }
    if resource.starts_with('/') {
        return Ok(Request::for_target(verb, resource));
    }
    let (qualified, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    let (plural, group) = qualified.split_once('.').unwrap_or((qualified, ""));
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == '*')
    };
    if !word(plural) || !(group.is_empty() || word(group)) || !(subresource.is_empty() || word(subresource)) {
        return Err(invalid("not a resource name"));
    }
    let mut request = Request::for_target(verb, resource);
    if let Some(name) = name {
        request = request.named(name);
    }
    if let Some(namespace) = namespace {
        request = request.in_namespace(namespace);
    }
    Ok(request)
}

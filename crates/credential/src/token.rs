//! Bearer tokens: service-account JWTs (legacy and TokenRequest), other JWTs, bootstrap tokens
//! and opaque ones. Claim names follow the API server's (k8s.io/kubernetes pkg/serviceaccount).

use base64::{
    Engine,
    alphabet::URL_SAFE,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Error, JwtPart, fingerprint};

/// The largest token read: service-account tokens are about 1 KiB, OIDC ones a few.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The issuer of Secret-based (legacy) service-account tokens.
const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";
const LEGACY_NAMESPACE: &str = "kubernetes.io/serviceaccount/namespace";
const LEGACY_SECRET_NAME: &str = "kubernetes.io/serviceaccount/secret.name";
const LEGACY_SERVICE_ACCOUNT_NAME: &str = "kubernetes.io/serviceaccount/service-account.name";
const LEGACY_SERVICE_ACCOUNT_UID: &str = "kubernetes.io/serviceaccount/service-account.uid";
/// The private claim of TokenRequest tokens.
const KUBERNETES_CLAIM: &str = "kubernetes.io";

/// base64url as JWTs use it. Padding and non-zero trailing bits are tolerated (Go's decoder
/// allows the latter): the question here is what the token says, not whether it is canonical.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// What a bearer token is. Holds no part of the token's secret: the signature is never kept,
/// and the token itself only as its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// SHA-256 of the token's bytes (without a "Bearer " prefix or surrounding whitespace), hex.
    pub fingerprint: String,
    pub kind: TokenKind,
    /// The JWT's header; `None` for a token that is not a JWT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<JwtHeader>,
    /// The JWT's claims; `None` for a token that is not a JWT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<Claims>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum TokenKind {
    /// The token of a `kubernetes.io/service-account-token` Secret (issuer
    /// "kubernetes/serviceaccount", claims "kubernetes.io/serviceaccount/…").
    LegacyServiceAccount {
        namespace: String,
        service_account: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        service_account_uid: Option<String>,
        secret: String,
    },
    /// A TokenRequest token (claim "kubernetes.io"), projected into a pod or made on request.
    BoundServiceAccount {
        namespace: String,
        service_account: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        service_account_uid: Option<String>,
        /// The object whose deletion kills the token: a pod, a Secret or a node.
        #[serde(skip_serializing_if = "Option::is_none")]
        bound_to: Option<BoundObject>,
    },
    /// A JWT that is not a service-account token (OIDC): see the claims' issuer and subject.
    OtherJwt,
    /// A bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`); only its public half, the id, is kept.
    Bootstrap { token_id: String },
    /// Anything else: a static token file entry, a webhook's or a cloud provider's token.
    Opaque,
}

/// An object a token names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BoundObject {
    /// Pod, Secret or Node.
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// What a JWT's header says about its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtHeader {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// The signing key's id: for service-account tokens, names one of the API server's keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// False when the signature part is empty or the algorithm is "none".
    pub signed: bool,
}

/// The claims of a JWT, as it states them (nothing here is verified).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// "aud", whether the token gives one string or an array.
    pub audiences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_id: Option<String>,
    /// "kubernetes.io"/"warnafter": when a token whose expiry admission extended would have
    /// expired; use after it is stale use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warn_after: Option<Timestamp>,
    /// "kubernetes.io"/"node": for a pod-bound token, the node of the pod (KEP-4193).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<BoundObject>,
}

impl TokenInfo {
    /// `JTI=<jti>` for a service-account token that has one: what the API server writes into
    /// audit events as `user.extra["authentication.kubernetes.io/credential-id"]`. Other JWTs'
    /// ids are not recorded there by default (only by an authenticator's claim mappings).
    pub fn credential_id(&self) -> Option<String> {
        if !self.is_service_account() {
            return None;
        }
        let jwt_id = self.claims.as_ref()?.jwt_id.as_ref()?;
        Some(format!("JTI={jwt_id}"))
    }

    /// The user name the API server authenticates the token as, when the token alone says it.
    pub fn username(&self) -> Option<String> {
        match &self.kind {
            TokenKind::LegacyServiceAccount { namespace, service_account, .. }
            | TokenKind::BoundServiceAccount { namespace, service_account, .. } => {
                Some(format!("system:serviceaccount:{namespace}:{service_account}"))
            }
            TokenKind::Bootstrap { token_id } => Some(format!("system:bootstrap:{token_id}")),
            TokenKind::OtherJwt | TokenKind::Opaque => None,
        }
    }

    /// The groups the API server puts the token's user in, as far as the token says
    /// (`system:authenticated` included; a bootstrap token's Secret may add more).
    pub fn groups(&self) -> Vec<String> {
        let mut groups = match &self.kind {
            TokenKind::LegacyServiceAccount { namespace, .. }
            | TokenKind::BoundServiceAccount { namespace, .. } => {
                vec!["system:serviceaccounts".to_string(), format!("system:serviceaccounts:{namespace}")]
            }
            TokenKind::Bootstrap { .. } => vec!["system:bootstrappers".to_string()],
            TokenKind::OtherJwt | TokenKind::Opaque => return Vec::new(),
        };
        groups.push("system:authenticated".to_string());
        groups
    }

    /// Facts worth saying about the token: above all, what makes it stop working.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let claims = self.claims.as_ref();
        let expires_at = claims.and_then(|claims| claims.expires_at);
        match &self.kind {
            TokenKind::LegacyServiceAccount { namespace, service_account, secret, .. } => {
                let lifetime = match expires_at {
                    None => "it never expires".to_string(),
                    Some(expires_at) => format!("it expires at {expires_at}"),
                };
                notes.push(format!(
                    "a legacy service-account token: {lifetime}; it works until Secret {namespace}/{secret} \
                     or service account {namespace}/{service_account} is deleted"
                ));
                notes.push(
                    "the Secret's label kubernetes.io/legacy-token-last-used gives the last day it was \
                     used (since Kubernetes 1.29, an auto-generated one unused for a year is invalidated: \
                     label kubernetes.io/legacy-token-invalid-since); audit events of its use carry the \
                     annotation authentication.k8s.io/legacy-token and name the Secret in \
                     authentication.k8s.io/legacy-token-autogenerated-secret or \
                     authentication.k8s.io/legacy-token-manual-secret"
                        .to_string(),
                );
            }
            TokenKind::BoundServiceAccount { namespace, service_account, bound_to, .. } => {
                let until = match expires_at {
                    Some(expires_at) => format!("its expiry ({expires_at})"),
                    None => "its expiry".to_string(),
                };
                let account = format!("service account {namespace}/{service_account}");
                notes.push(match bound_to {
                    Some(object) => format!(
                        "bound to {}: it dies when that {} is deleted, at {until}, or when {account} is \
                         deleted or recreated",
                        describe_object(object, namespace),
                        object.kind
                    ),
                    None => format!(
                        "an unbound TokenRequest token (e.g. kubectl create token): deleting pods does not \
                         stop it; it dies only at {until} or when {account} is deleted or recreated"
                    ),
                });
                if let Some(warn_after) = claims.and_then(|claims| claims.warn_after) {
                    notes.push(format!(
                        "admission injected it into a pod with its expiry extended (up to a year) so that \
                         old clients keep working: it is accepted until its expiry, but use after \
                         {warn_after} is stale and shows in audit events as the annotation \
                         authentication.k8s.io/stale-token"
                    ));
                }
                if bound_to.as_ref().is_some_and(|object| object.kind == "Pod") {
                    let extra =
                        "audit events of its use carry user.extra authentication.kubernetes.io/pod-name";
                    notes.push(match claims.and_then(|claims| claims.node.as_ref()) {
                        Some(node) => format!(
                            "the pod runs on node {}; {extra} and authentication.kubernetes.io/node-name",
                            node.name
                        ),
                        None => extra.to_string(),
                    });
                }
            }
            TokenKind::Bootstrap { token_id } => notes.push(format!(
                "a bootstrap token (for joining nodes): it works until Secret \
                 kube-system/bootstrap-token-{token_id} is deleted or its expiration passes; deleting \
                 that Secret revokes it, and its auth-extra-groups may add groups"
            )),
            TokenKind::OtherJwt => {
                let issuer = claims.and_then(|claims| claims.issuer.as_deref()).unwrap_or("unknown");
                notes.push(format!(
                    "not a Kubernetes service-account token (issuer {issuer}): whether the cluster \
                     accepts it, and as whom, depends on its OIDC/JWT authenticator configuration; it \
                     dies at its expiry or at the issuer (revoke the session there)"
                ));
                if let Some(expires_at) = expires_at {
                    notes.push(format!("it expires at {expires_at}"));
                }
            }
            TokenKind::Opaque => notes.push(
                "an opaque token: a static token file entry (--token-auth-file: it dies only when the \
                 API server restarts without it), or a webhook's or cloud provider's token; TokenReview \
                 tells whom it authenticates as"
                    .to_string(),
            ),
        }
        if let Some(credential_id) = self.credential_id() {
            notes.push(format!(
                "audit events of its use carry user.extra authentication.kubernetes.io/credential-id \
                 = {credential_id}"
            ));
        }
        if let Some(header) = &self.header {
            if !header.signed {
                notes.push(
                    "unsigned (no signature, or algorithm \"none\"): no API server accepts it".to_string(),
                );
            } else if let Some(key_id) = header.key_id.as_deref().filter(|_| self.is_service_account()) {
                notes.push(format!(
                    "signed with key id {key_id}: removing that key from the API server's \
                     service-account keys (--service-account-key-file) kills every token it signed at once"
                ));
            }
        }
        notes
    }

    fn is_service_account(&self) -> bool {
        matches!(self.kind, TokenKind::LegacyServiceAccount { .. } | TokenKind::BoundServiceAccount { .. })
    }
}

/// "pod ns/name (uid …)"; nodes are not namespaced.
fn describe_object(object: &BoundObject, namespace: &str) -> String {
    let name = match object.kind.as_str() {
        "Node" => object.name.clone(),
        _ => format!("{namespace}/{}", object.name),
    };
    let uid = object.uid.as_deref().map(|uid| format!(" (uid {uid})")).unwrap_or_default();
    format!("{} {name}{uid}", object.kind.to_lowercase())
}

/// Reads a bearer token's text: whitespace around it is trimmed and a leading "Bearer " (any
/// case) accepted. The signature is not checked: TokenReview says whether the cluster accepts it.
pub fn inspect_token(text: &str) -> Result<TokenInfo, Error> {
    if text.len() > MAX_TOKEN_BYTES {
        return Err(Error::TokenTooLarge { size: text.len() });
    }
    let token = without_bearer_scheme(text.trim());
    if token.is_empty() {
        return Err(Error::EmptyToken);
    }
    if let Some(offset) = token.find(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(Error::TokenHasSeparator { offset });
    }
    let fingerprint = fingerprint(token.as_bytes());
    if let Some(token_id) = bootstrap_token_id(token) {
        return Ok(TokenInfo {
            fingerprint,
            kind: TokenKind::Bootstrap { token_id },
            header: None,
            claims: None,
        });
    }
    // Every JWT issuer writes the header as compact JSON, `{"`, which base64url makes "eyJ";
    // past that prefix a malformed JWT is an error rather than an opaque token.
    if !token.starts_with("eyJ") {
        return Ok(TokenInfo { fingerprint, kind: TokenKind::Opaque, header: None, claims: None });
    }
    let (header, payload) = decode_jwt(token)?;
    let kubernetes = kubernetes_claim(&payload)?;
    let issuer = string_claim(&payload, "iss", "iss")?;
    let is_legacy = issuer.as_deref() == Some(LEGACY_ISSUER)
        || [LEGACY_NAMESPACE, LEGACY_SECRET_NAME, LEGACY_SERVICE_ACCOUNT_NAME, LEGACY_SERVICE_ACCOUNT_UID]
            .iter()
            .any(|name| claim(&payload, name).is_some());
    let kind = if is_legacy {
        TokenKind::LegacyServiceAccount {
            namespace: required_string(&payload, LEGACY_NAMESPACE, LEGACY_NAMESPACE)?,
            service_account: required_string(
                &payload,
                LEGACY_SERVICE_ACCOUNT_NAME,
                LEGACY_SERVICE_ACCOUNT_NAME,
            )?,
            service_account_uid: string_claim(
                &payload,
                LEGACY_SERVICE_ACCOUNT_UID,
                LEGACY_SERVICE_ACCOUNT_UID,
            )?,
            secret: required_string(&payload, LEGACY_SECRET_NAME, LEGACY_SECRET_NAME)?,
        }
    } else if let Some(kubernetes) = &kubernetes {
        TokenKind::BoundServiceAccount {
            namespace: kubernetes.namespace.clone(),
            service_account: kubernetes.service_account.clone(),
            service_account_uid: kubernetes.service_account_uid.clone(),
            // The API server binds a token to one object; a pod-bound token may also name its node.
            bound_to: kubernetes
                .pod
                .clone()
                .or_else(|| kubernetes.secret.clone())
                .or_else(|| kubernetes.node.clone()),
        }
    } else {
        TokenKind::OtherJwt
    };
    let claims = Claims {
        issuer,
        subject: string_claim(&payload, "sub", "sub")?,
        audiences: audiences(&payload)?,
        issued_at: time_claim(&payload, "iat", "iat")?,
        not_before: time_claim(&payload, "nbf", "nbf")?,
        expires_at: time_claim(&payload, "exp", "exp")?,
        jwt_id: string_claim(&payload, "jti", "jti")?,
        warn_after: kubernetes.as_ref().and_then(|kubernetes| kubernetes.warn_after),
        node: kubernetes.and_then(|kubernetes| kubernetes.node),
    };
    Ok(TokenInfo { fingerprint, kind, header: Some(header), claims: Some(claims) })
}

fn without_bearer_scheme(text: &str) -> &str {
    match text.get(..6) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer") => {
            let rest = &text[6..];
            if rest.is_empty() || rest.starts_with(char::is_whitespace) { rest.trim_start() } else { text }
        }
        _ => text,
    }
}

fn bootstrap_token_id(token: &str) -> Option<String> {
    let (id, secret) = token.split_once('.')?;
    let is_part = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
    };
    (is_part(id, 6) && is_part(secret, 16)).then(|| id.to_string())
}

/// The header and the payload of a compact JWT; the signature is only looked at for presence.
fn decode_jwt(token: &str) -> Result<(JwtHeader, Map<String, Value>), Error> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(Error::JwtParts { parts: parts.len() });
    };
    let header = decode_json_object(header, JwtPart::Header)?;
    let payload = decode_json_object(payload, JwtPart::Payload)?;
    // The header is not a claim set: a field of the wrong type is only left unsaid.
    let header_string = |name: &str| header.get(name).and_then(Value::as_str).map(str::to_string);
    let algorithm = header_string("alg");
    let signed =
        !signature.is_empty() && !algorithm.as_deref().is_some_and(|alg| alg.eq_ignore_ascii_case("none"));
    Ok((JwtHeader { algorithm, key_id: header_string("kid"), signed }, payload))
}

fn decode_json_object(part: &str, which: JwtPart) -> Result<Map<String, Value>, Error> {
    let bytes = BASE64URL.decode(part).map_err(|_| Error::NotBase64 { part: which })?;
    // serde_json's syntax errors give a line and column, never the text.
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Error::NotJsonObject { part: which }),
        Err(error) => Err(Error::NotJson { part: which, detail: error.to_string() }),
    }
}

/// The "kubernetes.io" claim of a TokenRequest token.
struct KubernetesClaim {
    namespace: String,
    service_account: String,
    service_account_uid: Option<String>,
    pod: Option<BoundObject>,
    secret: Option<BoundObject>,
    node: Option<BoundObject>,
    warn_after: Option<Timestamp>,
}

fn kubernetes_claim(payload: &Map<String, Value>) -> Result<Option<KubernetesClaim>, Error> {
    let Some(value) = claim(payload, KUBERNETES_CLAIM) else { return Ok(None) };
    let kubernetes = value.as_object().ok_or_else(|| bad_claim(KUBERNETES_CLAIM, "an object"))?;
    let service_account = claim(kubernetes, "serviceaccount")
        .ok_or_else(|| Error::MissingClaim { claim: "kubernetes.io.serviceaccount".to_string() })?
        .as_object()
        .ok_or_else(|| bad_claim("kubernetes.io.serviceaccount", "an object"))?;
    Ok(Some(KubernetesClaim {
        namespace: required_string(kubernetes, "namespace", "kubernetes.io.namespace")?,
        service_account: required_string(service_account, "name", "kubernetes.io.serviceaccount.name")?,
        service_account_uid: string_claim(service_account, "uid", "kubernetes.io.serviceaccount.uid")?,
        pod: object_reference(kubernetes, "pod", "Pod")?,
        secret: object_reference(kubernetes, "secret", "Secret")?,
        node: object_reference(kubernetes, "node", "Node")?,
        warn_after: time_claim(kubernetes, "warnafter", "kubernetes.io.warnafter")?,
    }))
}

fn object_reference(
    kubernetes: &Map<String, Value>,
    key: &str,
    kind: &str,
) -> Result<Option<BoundObject>, Error> {
    let Some(value) = claim(kubernetes, key) else { return Ok(None) };
    let path = format!("{KUBERNETES_CLAIM}.{key}");
    let object = value.as_object().ok_or_else(|| bad_claim(&path, "an object"))?;
    Ok(Some(BoundObject {
        kind: kind.to_string(),
        name: required_string(object, "name", &format!("{path}.name"))?,
        uid: string_claim(object, "uid", &format!("{path}.uid"))?,
    }))
}

/// A claim's value; null counts as absent, as it does when the API server decodes the token.
fn claim<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|value| !value.is_null())
}

/// `path` names the claim in errors (nested claims as "kubernetes.io.pod.name").
fn string_claim(object: &Map<String, Value>, name: &str, path: &str) -> Result<Option<String>, Error> {
    claim(object, name)
        .map(|value| value.as_str().map(str::to_string).ok_or_else(|| bad_claim(path, "a string")))
        .transpose()
}

/// A claim without which the API server rejects a service-account token; empty counts as absent.
fn required_string(object: &Map<String, Value>, name: &str, path: &str) -> Result<String, Error> {
    string_claim(object, name, path)?
        .filter(|value| !value.is_empty())
        .ok_or_else(|| Error::MissingClaim { claim: path.to_string() })
}

fn time_claim(object: &Map<String, Value>, name: &str, path: &str) -> Result<Option<Timestamp>, Error> {
    claim(object, name)
        .map(|value| numeric_date(value).ok_or_else(|| bad_claim(path, "a time in seconds since 1970")))
        .transpose()
}

/// A JWT NumericDate. It may have a fraction, which is dropped; `as` saturates, and jiff refuses
/// what is out of its range, so huge values are refused rather than wrapped.
fn numeric_date(value: &Value) -> Option<Timestamp> {
    let seconds = match value.as_i64() {
        Some(seconds) => seconds,
        None => value.as_f64()? as i64,
    };
    Timestamp::from_second(seconds).ok()
}

fn audiences(payload: &Map<String, Value>) -> Result<Vec<String>, Error> {
    let expected = "a string or an array of strings";
    match claim(payload, "aud") {
        None => Ok(Vec::new()),
        Some(Value::String(audience)) => Ok(vec![audience.clone()]),
        Some(Value::Array(audiences)) => audiences
            .iter()
            .map(|audience| audience.as_str().map(str::to_string).ok_or_else(|| bad_claim("aud", expected)))
            .collect(),
        Some(_) => Err(bad_claim("aud", expected)),
    }
}

fn bad_claim(path: &str, expected: &'static str) -> Error {
    Error::BadClaim { claim: path.to_string(), expected }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;

    const SIGNATURE: &str = "c2lnbmF0dXJlLW5ldmVyLXNob3du";

    fn encode(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn jwt(payload: Value) -> String {
        let header = json!({"alg": "RS256", "kid": "key-1"});
        format!("{}.{}.{SIGNATURE}", encode(&header), encode(&payload))
    }

    fn time(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    /// A projected token as the kubelet mounts it (with its expiry extended by admission).
    fn pod_bound_payload() -> Value {
        json!({
            "aud": ["https://kubernetes.default.svc.cluster.local"],
            "exp": 1_800_000_000,
            "iat": 1_768_464_000,
            "iss": "https://kubernetes.default.svc.cluster.local",
            "jti": "5c1b6d4e-8a51-4b0e-9d3a-2f0e5c7b9a11",
            "kubernetes.io": {
                "namespace": "payments",
                "node": {"name": "worker-2", "uid": "node-uid"},
                "pod": {"name": "api-7d9f", "uid": "pod-uid"},
                "serviceaccount": {"name": "api", "uid": "sa-uid"},
                "warnafter": 1_768_467_607
            },
            "nbf": 1_768_464_000,
            "sub": "system:serviceaccount:payments:api"
        })
    }

    #[test]
    fn legacy_service_account_token() {
        let token = jwt(json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": "ci",
            "kubernetes.io/serviceaccount/secret.name": "deployer-token-x7k2p",
            "kubernetes.io/serviceaccount/service-account.name": "deployer",
            "kubernetes.io/serviceaccount/service-account.uid": "sa-uid",
            "sub": "system:serviceaccount:ci:deployer"
        }));
        let info = inspect_token(&token).unwrap();
        assert_eq!(
            info.kind,
            TokenKind::LegacyServiceAccount {
                namespace: "ci".into(),
                service_account: "deployer".into(),
                service_account_uid: Some("sa-uid".into()),
                secret: "deployer-token-x7k2p".into(),
            }
        );
        assert_eq!(info.username().as_deref(), Some("system:serviceaccount:ci:deployer"));
        assert_eq!(
            info.groups(),
            ["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"]
        );
        assert_eq!(info.credential_id(), None);
        let claims = info.claims.as_ref().unwrap();
        assert_eq!(claims.expires_at, None);
        assert!(claims.audiences.is_empty());
        let notes = info.notes().join("\n");
        assert!(notes.contains("never expires"), "{notes}");
        assert!(notes.contains("Secret ci/deployer-token-x7k2p"), "{notes}");
        assert!(notes.contains("signed with key id key-1"), "{notes}");
    }

    #[test]
    fn legacy_token_without_its_secret_name_is_refused() {
        let token = jwt(json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": "ci",
            "kubernetes.io/serviceaccount/service-account.name": "deployer"
        }));
        assert_eq!(
            inspect_token(&token),
            Err(Error::MissingClaim { claim: "kubernetes.io/serviceaccount/secret.name".into() })
        );
    }

    #[test]
    fn pod_bound_token_with_extended_expiry() {
        let info = inspect_token(&jwt(pod_bound_payload())).unwrap();
        let pod = BoundObject { kind: "Pod".into(), name: "api-7d9f".into(), uid: Some("pod-uid".into()) };
        assert_eq!(
            info.kind,
            TokenKind::BoundServiceAccount {
                namespace: "payments".into(),
                service_account: "api".into(),
                service_account_uid: Some("sa-uid".into()),
                bound_to: Some(pod),
            }
        );
        let claims = info.claims.as_ref().unwrap();
        assert_eq!(claims.audiences, ["https://kubernetes.default.svc.cluster.local"]);
        assert_eq!(claims.expires_at, Some(time(1_800_000_000)));
        assert_eq!(claims.issued_at, Some(time(1_768_464_000)));
        assert_eq!(claims.not_before, Some(time(1_768_464_000)));
        assert_eq!(claims.warn_after, Some(time(1_768_467_607)));
        assert_eq!(
            claims.node,
            Some(BoundObject { kind: "Node".into(), name: "worker-2".into(), uid: Some("node-uid".into()) })
        );
        assert_eq!(claims.subject.as_deref(), Some("system:serviceaccount:payments:api"));
        assert_eq!(info.credential_id().as_deref(), Some("JTI=5c1b6d4e-8a51-4b0e-9d3a-2f0e5c7b9a11"));
        assert_eq!(info.username().as_deref(), Some("system:serviceaccount:payments:api"));
        let notes = info.notes().join("\n");
        assert!(notes.contains("bound to pod payments/api-7d9f (uid pod-uid)"), "{notes}");
        assert!(notes.contains("when that Pod is deleted"), "{notes}");
        assert!(notes.contains("authentication.k8s.io/stale-token"), "{notes}");
        assert!(notes.contains("node worker-2"), "{notes}");
        assert!(notes.contains("credential-id = JTI=5c1b6d4e"), "{notes}");
    }

    #[test]
    fn unbound_token_request_token_with_a_single_audience() {
        let token = jwt(json!({
            "aud": "vault",
            "exp": 1_768_467_600,
            "iss": "https://kubernetes.default.svc",
            "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "builder"}},
            "sub": "system:serviceaccount:ci:builder"
        }));
        let info = inspect_token(&token).unwrap();
        assert_eq!(
            info.kind,
            TokenKind::BoundServiceAccount {
                namespace: "ci".into(),
                service_account: "builder".into(),
                service_account_uid: None,
                bound_to: None,
            }
        );
        assert_eq!(info.claims.as_ref().unwrap().audiences, ["vault"]);
        assert_eq!(info.credential_id(), None, "no jti, no credential id");
        let notes = info.notes().join("\n");
        assert!(notes.contains("unbound TokenRequest token"), "{notes}");
        assert!(notes.contains("deleting pods does not stop it"), "{notes}");
        assert!(notes.contains("2026-01-15T09:00:00Z"), "{notes}");
        assert!(!notes.contains("stale-token"), "{notes}");
    }

    #[test]
    fn secret_and_node_bound_tokens() {
        let bound_to = |kubernetes: Value| {
            let info = inspect_token(&jwt(json!({"kubernetes.io": kubernetes}))).unwrap();
            let TokenKind::BoundServiceAccount { bound_to, .. } = &info.kind else {
                panic!("{:?}", info.kind)
            };
            (bound_to.clone().unwrap(), info.notes().join("\n"))
        };
        let (secret, notes) = bound_to(json!({
            "namespace": "ci", "serviceaccount": {"name": "a"}, "secret": {"name": "s", "uid": "u"}
        }));
        assert_eq!(secret, BoundObject { kind: "Secret".into(), name: "s".into(), uid: Some("u".into()) });
        assert!(notes.contains("bound to secret ci/s (uid u)"), "{notes}");
        let (node, notes) = bound_to(json!({
            "namespace": "kube-system", "serviceaccount": {"name": "a"}, "node": {"name": "worker-1"}
        }));
        assert_eq!(node, BoundObject { kind: "Node".into(), name: "worker-1".into(), uid: None });
        assert!(notes.contains("bound to node worker-1:"), "{notes}");
    }

    #[test]
    fn oidc_token_is_another_jwt_without_credential_id() {
        let token = jwt(json!({
            "iss": "https://accounts.example.com",
            "sub": "user-42",
            "aud": ["kubernetes", "other"],
            "exp": 1_768_467_600.75,
            "jti": "oidc-id"
        }));
        let info = inspect_token(&token).unwrap();
        assert_eq!(info.kind, TokenKind::OtherJwt);
        let claims = info.claims.as_ref().unwrap();
        assert_eq!(claims.issuer.as_deref(), Some("https://accounts.example.com"));
        assert_eq!(claims.subject.as_deref(), Some("user-42"));
        assert_eq!(claims.audiences, ["kubernetes", "other"]);
        assert_eq!(claims.expires_at, Some(time(1_768_467_600)), "the fraction of a NumericDate is dropped");
        assert_eq!(claims.jwt_id.as_deref(), Some("oidc-id"));
        assert_eq!(info.credential_id(), None);
        assert_eq!(info.username(), None);
        assert!(info.groups().is_empty());
        let notes = info.notes().join("\n");
        assert!(notes.contains("issuer https://accounts.example.com"), "{notes}");
        assert!(!notes.contains("key id"), "only service-account keys are the API server's: {notes}");
    }

    #[test]
    fn bootstrap_token_keeps_only_its_id() {
        let token = "07401b.f395accd246ae52d";
        let info = inspect_token(token).unwrap();
        assert_eq!(info.kind, TokenKind::Bootstrap { token_id: "07401b".into() });
        assert_eq!(info.fingerprint, fingerprint(token.as_bytes()));
        assert_eq!(info.username().as_deref(), Some("system:bootstrap:07401b"));
        assert_eq!(info.groups(), ["system:bootstrappers", "system:authenticated"]);
        assert!(info.notes().join("\n").contains("kube-system/bootstrap-token-07401b"));
        let json = serde_json::to_string(&info).unwrap();
        assert!(!json.contains("f395accd246ae52d"), "{json}");
        // Upper case or the wrong lengths make it something else.
        assert_eq!(inspect_token("07401B.f395accd246ae52d").unwrap().kind, TokenKind::Opaque);
        assert_eq!(inspect_token("07401b.f395accd246ae52").unwrap().kind, TokenKind::Opaque);
    }

    #[test]
    fn opaque_token_bearer_prefix_and_whitespace() {
        let info = inspect_token("  Bearer   31ada4fd-adec-460c-809a-9e56ceb75269\n").unwrap();
        assert_eq!(info.kind, TokenKind::Opaque);
        assert_eq!(info.header, None);
        assert_eq!(info.claims, None);
        assert_eq!(info.fingerprint, fingerprint(b"31ada4fd-adec-460c-809a-9e56ceb75269"));
        assert_eq!(inspect_token("bearer 31ada4fd-adec-460c-809a-9e56ceb75269").unwrap(), info);
        assert!(info.notes().join("\n").contains("static token file"));
        assert_eq!(info.username(), None);
        // "Bearer" glued to the token is the token.
        assert_ne!(inspect_token("Bearerabc").unwrap().fingerprint, fingerprint(b"abc"));
        assert_eq!(inspect_token("Bearer"), Err(Error::EmptyToken));
    }

    #[test]
    fn unsigned_token_is_said_to_be_refused() {
        let none = format!("{}.{}.", encode(&json!({"alg": "none"})), encode(&json!({"sub": "x"})));
        let info = inspect_token(&none).unwrap();
        assert!(!info.header.as_ref().unwrap().signed);
        assert!(info.notes().join("\n").contains("unsigned"));
        assert!(inspect_token(&jwt(json!({}))).unwrap().header.unwrap().signed);
    }

    #[test]
    fn null_claims_count_as_absent() {
        let info = inspect_token(&jwt(json!({"exp": null, "aud": null, "kubernetes.io": null}))).unwrap();
        assert_eq!(info.kind, TokenKind::OtherJwt);
        assert_eq!(info.claims.unwrap().expires_at, None);
    }

    #[test]
    fn malformed_tokens_give_the_right_error() {
        let header = encode(&json!({"alg": "RS256"}));
        let payload = encode(&json!({"sub": "x"}));
        let cases = [
            (format!("{header}.{payload}"), Error::JwtParts { parts: 2 }),
            (header.clone(), Error::JwtParts { parts: 1 }),
            (format!("{header}.{payload}.a.b.c"), Error::JwtParts { parts: 5 }),
            (format!("{header}.{payload}!.sig"), Error::NotBase64 { part: JwtPart::Payload }),
            (format!("eyJhbGciOiJub25lIn*.{payload}.sig"), Error::NotBase64 { part: JwtPart::Header }),
            (
                format!("{header}.{}.sig", URL_SAFE_NO_PAD.encode("[1, 2]")),
                Error::NotJsonObject { part: JwtPart::Payload },
            ),
            (
                format!("{header}.{}.sig", encode(&json!({"exp": "tomorrow"}))),
                Error::BadClaim { claim: "exp".into(), expected: "a time in seconds since 1970" },
            ),
            (
                format!("{header}.{}.sig", encode(&json!({"exp": 1e300}))),
                Error::BadClaim { claim: "exp".into(), expected: "a time in seconds since 1970" },
            ),
            (
                format!("{header}.{}.sig", encode(&json!({"aud": 7}))),
                Error::BadClaim { claim: "aud".into(), expected: "a string or an array of strings" },
            ),
            (
                format!("{header}.{}.sig", encode(&json!({"aud": ["a", 7]}))),
                Error::BadClaim { claim: "aud".into(), expected: "a string or an array of strings" },
            ),
            (
                format!("{header}.{}.sig", encode(&json!({"kubernetes.io": {"namespace": "a"}}))),
                Error::MissingClaim { claim: "kubernetes.io.serviceaccount".into() },
            ),
            (
                format!(
                    "{header}.{}.sig",
                    encode(
                        &json!({"kubernetes.io": {"namespace": "a", "serviceaccount": {"name": "b"}, "pod": {}}})
                    )
                ),
                Error::MissingClaim { claim: "kubernetes.io.pod.name".into() },
            ),
            (
                format!(
                    "{header}.{}.sig",
                    encode(&json!({"kubernetes.io": {"namespace": "a", "serviceaccount": {"name": 3}}}))
                ),
                Error::BadClaim { claim: "kubernetes.io.serviceaccount.name".into(), expected: "a string" },
            ),
            (format!("{header} .{payload}.sig"), Error::TokenHasSeparator { offset: header.len() }),
            ("Authorization: Bearer abc".to_string(), Error::TokenHasSeparator { offset: 14 }),
            (" \n\t".to_string(), Error::EmptyToken),
        ];
        for (token, expected) in cases {
            assert_eq!(inspect_token(&token), Err(expected), "{token}");
        }
        let not_json = format!("{header}.{}.sig", URL_SAFE_NO_PAD.encode("hello"));
        assert!(matches!(inspect_token(&not_json), Err(Error::NotJson { part: JwtPart::Payload, .. })));
    }

    #[test]
    fn error_messages_say_what_is_wrong() {
        let payload = encode(&json!({"sub": "x"}));
        let message = |token: &str| inspect_token(token).unwrap_err().to_string();
        assert_eq!(
            message(&format!("eyJhbGciOiJub25lIn0.{payload}")),
            "not a JWT: 2 dot-separated parts, expected 3 (the token is cut short: copy it again whole)"
        );
        assert!(message("eyJhbGciOiJub25lIn0").starts_with("not a JWT: 1 dot-separated part, expected 3"));
        assert!(
            message(&format!("eyJhbGciOiJub25lIn0.{payload}!.x"))
                .starts_with("the token's payload is not base64url")
        );
        assert!(
            message(&"a".repeat(MAX_TOKEN_BYTES + 1))
                .starts_with("too large for a token: 65537 bytes, at most 65536")
        );
    }

    #[test]
    fn errors_never_repeat_the_token() {
        let secret_part = "s3cr3tPayl0ad";
        let tokens = [
            format!("eyJ{secret_part}"),
            format!("eyJhbGciOiJub25lIn0.{secret_part}!.{SIGNATURE}"),
            format!(
                "eyJhbGciOiJub25lIn0.{}.{SIGNATURE}",
                URL_SAFE_NO_PAD.encode(format!("{{\"{secret_part}\"}}"))
            ),
            format!(
                "eyJhbGciOiJub25lIn0.{}.{SIGNATURE}",
                URL_SAFE_NO_PAD.encode(format!("[\"{secret_part}\"]"))
            ),
            format!("{secret_part} {SIGNATURE}"),
        ];
        for token in tokens {
            let message = inspect_token(&token).unwrap_err().to_string();
            assert!(!message.contains(secret_part) && !message.contains(SIGNATURE), "{message}");
        }
    }

    #[test]
    fn serialized_info_is_camel_case_and_holds_no_signature() {
        let info = inspect_token(&jwt(pod_bound_payload())).unwrap();
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["kind"]["type"], "boundServiceAccount");
        assert_eq!(json["kind"]["serviceAccount"], "api");
        assert_eq!(json["kind"]["boundTo"]["kind"], "Pod");
        assert_eq!(json["claims"]["warnAfter"], "2026-01-15T09:00:07Z");
        assert_eq!(json["claims"]["jwtId"], "5c1b6d4e-8a51-4b0e-9d3a-2f0e5c7b9a11");
        assert_eq!(json["header"]["keyId"], "key-1");
        assert!(!json.to_string().contains(SIGNATURE));
        assert_eq!(serde_json::to_value(TokenKind::Opaque).unwrap(), json!({"type": "opaque"}));
    }
}

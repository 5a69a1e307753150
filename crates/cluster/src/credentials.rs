//! What the API server says about a credential and a subject: whether it accepts a token now
//! (TokenReview), whether it allows a subject a request (SubjectAccessReview, every
//! authorizer's answer), and the RBAC objects the subject's reach is computed from, read once.

use std::collections::BTreeMap;

use k8s_openapi::api::{
    authentication::v1::{TokenReview, TokenReviewSpec},
    authorization::v1::{
        NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    },
    core::v1::Secret,
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
};
use kube::api::{Api, ListParams, PostParams};
use serde::{Serialize, de::DeserializeOwned};

use crate::{Cluster, Result, probe::AccessCheck};

/// The API server's answer to "who is this token?", now.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TokenVerdict {
    /// Accepted: the token authenticates as `user`.
    pub authenticated: bool,
    pub user: Option<String>,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    /// `authentication.kubernetes.io/credential-id`, pod name and UID, node: what the audit log
    /// records of this credential.
    pub extra: BTreeMap<String, Vec<String>>,
    pub audiences: Vec<String>,
    /// Why it was refused, as the API server says (an expired token, a deleted Secret).
    pub error: Option<String>,
}

/// The API server's answer to "may this subject do this?".
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SubjectDecision {
    pub allowed: bool,
    /// Denied by an authorizer outright (not merely "no opinion").
    pub denied: bool,
    pub reason: String,
}

/// The RBAC objects of the cluster, every namespace, as listed.
#[derive(Debug, Clone, Default)]
pub struct RbacObjects {
    pub roles: Vec<Role>,
    pub cluster_roles: Vec<ClusterRole>,
    pub role_bindings: Vec<RoleBinding>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
}

/// Objects per page when listing: bounded memory per response, few round trips (each page is
/// a request the API server answers in turn; 500 made 11 sequential pages of 5,000 bindings).
const PAGE: u32 = 5000;

impl Cluster {
    /// Ask the API server whether it accepts `token` now. The token goes in the request body
    /// only: it is never part of a message, a log line or an error.
    pub async fn review_token(&self, token: &str, audiences: &[String]) -> Result<TokenVerdict> {
        let api: Api<TokenReview> = Api::all(self.client().clone());
        let review = TokenReview {
            spec: TokenReviewSpec { token: Some(token.to_string()), audiences: Some(audiences.to_vec()) },
            ..Default::default()
        };
        let answer = self
            .call("create tokenreviews.authentication.k8s.io", api.create(&PostParams::default(), &review))
            .await?;
        let status = answer.status.unwrap_or_default();
        let user = status.user.unwrap_or_default();
        Ok(TokenVerdict {
            authenticated: status.authenticated.unwrap_or(false),
            user: user.username,
            uid: user.uid,
            groups: user.groups.unwrap_or_default(),
            extra: user.extra.unwrap_or_default().into_iter().collect(),
            audiences: status.audiences.unwrap_or_default(),
            error: status.error.filter(|e| !e.is_empty()),
        })
    }

    /// A short-lived token of service account `namespace/name`, bound to nothing (TokenRequest):
    /// to show that the account authenticates again. Kept in memory only.
    pub async fn request_token(&self, namespace: &str, name: &str, seconds: i64) -> Result<String> {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        let api: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(self.client().clone(), namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec { expiration_seconds: Some(seconds), ..Default::default() },
            ..Default::default()
        };
        let what = format!("create serviceaccounts/token {namespace}/{name}");
        let answer: TokenRequest =
            self.call(what, api.create_subresource("token", name, &PostParams::default(), &request)).await?;
        Ok(answer.status.map(|s| s.token).unwrap_or_default())
    }

    /// Ask every authorizer whether `user` (with `groups`) may do `check`.
    pub async fn review_access(
        &self,
        user: &str,
        groups: &[String],
        check: &AccessCheck,
    ) -> Result<SubjectDecision> {
        let what = format!("create subjectaccessreviews (may {user} {})", check.describe());
        self.subject_review(what, user, groups, Some(check.resource_attributes()), None).await
    }

    /// Ask every authorizer whether `user` (with `groups`) may `verb` the non-resource `path`.
    pub async fn review_url_access(
        &self,
        user: &str,
        groups: &[String],
        verb: &str,
        path: &str,
    ) -> Result<SubjectDecision> {
        let attributes = NonResourceAttributes { path: Some(path.to_string()), verb: Some(verb.to_string()) };
        let what = format!("create subjectaccessreviews (may {user} {verb} {path})");
        self.subject_review(what, user, groups, None, Some(attributes)).await
    }

    async fn subject_review(
        &self,
        what: String,
        user: &str,
        groups: &[String],
        resource_attributes: Option<ResourceAttributes>,
        non_resource_attributes: Option<NonResourceAttributes>,
    ) -> Result<SubjectDecision> {
        let api: Api<SubjectAccessReview> = Api::all(self.client().clone());
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.to_string()).filter(|u| !u.is_empty()),
                groups: Some(groups.to_vec()),
                resource_attributes,
                non_resource_attributes,
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = self.call(what, api.create(&PostParams::default(), &review)).await?;
        let status = answer.status.unwrap_or_default();
        Ok(SubjectDecision {
            allowed: status.allowed,
            denied: status.denied.unwrap_or(false),
            reason: status.reason.or(status.evaluation_error).unwrap_or_default(),
        })
    }

    /// Every Role, ClusterRole, RoleBinding and ClusterRoleBinding, listed in pages, the four
    /// kinds together.
    pub async fn rbac_objects(&self) -> Result<RbacObjects> {
        let (roles, cluster_roles, role_bindings, cluster_role_bindings) = tokio::try_join!(
            self.list_all::<Role>("roles"),
            self.list_all::<ClusterRole>("clusterroles"),
            self.list_all::<RoleBinding>("rolebindings"),
            self.list_all::<ClusterRoleBinding>("clusterrolebindings"),
        )?;
        Ok(RbacObjects { roles, cluster_roles, role_bindings, cluster_role_bindings })
    }

    /// A namespaced object of a built-in kind, or `None` when there is none of that name.
    pub async fn get_typed<K>(&self, namespace: &str, name: &str) -> Result<Option<K>>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client().clone(), namespace);
        let what = format!("get {} {namespace}/{name}", K::plural(&()));
        self.call(what, api.get_opt(name)).await
    }

    /// The legacy token Secrets of service account `namespace/name`, by name. Metadata only:
    /// no token is read.
    pub async fn token_secrets_of(&self, namespace: &str, name: &str) -> Result<Vec<String>> {
        let api: Api<Secret> = Api::namespaced(self.client().clone(), namespace);
        let params = ListParams::default().fields("type=kubernetes.io/service-account-token");
        let what = format!("list secrets of type kubernetes.io/service-account-token in {namespace}");
        let list = self.call(what, api.list_metadata(&params)).await?;
        let mut names: Vec<String> = list
            .items
            .into_iter()
            .filter(|s| {
                s.metadata.annotations.as_ref().and_then(|a| a.get("kubernetes.io/service-account.name"))
                    == Some(&name.to_string())
            })
            .filter_map(|s| s.metadata.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every object of a built-in namespaced kind in `namespace`, listed in pages.
    pub async fn list_in<K>(&self, namespace: &str) -> Result<Vec<K>>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client().clone(), namespace);
        self.list_pages(&api, &format!("list {} in {namespace}", K::plural(&()))).await
    }

    pub(crate) async fn list_all<K>(&self, plural: &str) -> Result<Vec<K>>
    where
        K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    {
        let api: Api<K> = Api::all(self.client().clone());
        self.list_pages(&api, &format!("list {plural}.rbac.authorization.k8s.io (all namespaces)")).await
    }

    /// Every object `api` lists, page after page.
    async fn list_pages<K>(&self, api: &Api<K>, what: &str) -> Result<Vec<K>>
    where
        K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
    {
        let mut items = Vec::new();
        let mut params = ListParams::default().limit(PAGE);
        loop {
            let page = self.call(what.to_string(), api.list(&params)).await?;
            items.extend(page.items);
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(items),
            }
        }
    }
}

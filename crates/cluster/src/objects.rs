//! Reading and writing arbitrary objects: the exact bytes the API server returned (for
//! evidence), and typed or dynamic values (for decisions).

use std::collections::HashMap;

use kube::{
    api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions},
    core::GroupVersionKind,
    discovery::{ApiCapabilities, Scope, pinned_kind},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{Cluster, Error, Result};

/// An object as fetched: the request that fetched it, the exact response body, and its parse.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// `GET <path>`, for the evidence manifest.
    pub source: String,
    pub body: Vec<u8>,
    pub value: Value,
}

impl Fetched {
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.value.clone())
            .map_err(|e| Error::Other { what: format!("parse {}", self.source), detail: e.to_string() })
    }
}

/// A resource type resolved by discovery.
#[derive(Debug, Clone)]
pub struct ResolvedKind {
    pub resource: ApiResource,
    pub namespaced: bool,
}

impl ResolvedKind {
    /// `/apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME]`
    pub fn path(&self, namespace: Option<&str>, name: Option<&str>) -> String {
        let base = if self.resource.group.is_empty() {
            format!("/api/{}", self.resource.version)
        } else {
            format!("/apis/{}/{}", self.resource.group, self.resource.version)
        };
        let mut path = match namespace.filter(|_| self.namespaced) {
            Some(ns) => format!("{base}/namespaces/{ns}/{}", self.resource.plural),
            None => format!("{base}/{}", self.resource.plural),
        };
        if let Some(name) = name {
            path = format!("{path}/{name}");
        }
        path
    }
}

/// The kinds a response touches most, resolved without a discovery round trip (containment
/// time counts every request).
fn builtin_kind(api_version: &str, kind: &str) -> Option<ResolvedKind> {
    use k8s_openapi::api::{
        apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
        batch::v1::{CronJob, Job},
        core::v1::{ConfigMap, Node, Pod, ReplicationController, Secret, Service, ServiceAccount},
        networking::v1::NetworkPolicy,
        rbac::v1::{ClusterRoleBinding, RoleBinding},
    };
    fn entry<K: kube::Resource<DynamicType = ()>>(namespaced: bool) -> (String, String, ResolvedKind) {
        let resource = ApiResource::erase::<K>(&());
        (resource.api_version.clone(), resource.kind.clone(), ResolvedKind { resource, namespaced })
    }
    let known = [
        entry::<Pod>(true),
        entry::<Node>(false),
        entry::<Service>(true),
        entry::<ServiceAccount>(true),
        entry::<Secret>(true),
        entry::<ConfigMap>(true),
        entry::<ReplicationController>(true),
        entry::<ReplicaSet>(true),
        entry::<Deployment>(true),
        entry::<StatefulSet>(true),
        entry::<DaemonSet>(true),
        entry::<Job>(true),
        entry::<CronJob>(true),
        entry::<NetworkPolicy>(true),
        entry::<RoleBinding>(true),
        entry::<ClusterRoleBinding>(false),
    ];
    known.into_iter().find(|(v, k, _)| v == api_version && k == kind).map(|(_, _, resolved)| resolved)
}

/// Discovery answers are cached per connection: an owner chain or a respond run asks about the
/// same few kinds again and again.
pub(crate) type KindCache = std::sync::Arc<tokio::sync::Mutex<HashMap<(String, String), ResolvedKind>>>;

impl Cluster {
    /// `GET path`, returning the exact body and its JSON parse.
    pub async fn get_raw(&self, path: &str) -> Result<Fetched> {
        let source = format!("GET {path}");
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| Error::Other { what: source.clone(), detail: e.to_string() })?;
        let text = self.call(source.clone(), self.client().request_text(request)).await?;
        let value = serde_json::from_str(&text).map_err(|e| Error::Other {
            what: source.clone(),
            detail: format!("response is not JSON: {e}"),
        })?;
        Ok(Fetched { source, body: text.into_bytes(), value })
    }

    /// Resolve `apiVersion` + `kind` to a resource (plural, scope): built-in kinds from
    /// the compiled-in API, others through discovery.
    pub async fn resolve_kind(&self, api_version: &str, kind: &str) -> Result<ResolvedKind> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(found) = builtin_kind(api_version, kind) {
            return Ok(found);
        }
        if let Some(found) = self.kinds().lock().await.get(&key) {
            return Ok(found.clone());
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, capabilities): (ApiResource, ApiCapabilities) =
            self.call(format!("discover {kind}.{api_version}"), pinned_kind(self.client(), &gvk)).await?;
        let resolved = ResolvedKind { resource, namespaced: capabilities.scope == Scope::Namespaced };
        self.kinds().lock().await.insert(key, resolved.clone());
        Ok(resolved)
    }

    /// Fetch any object by `apiVersion`, `kind`, namespace and name.
    pub async fn get_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Fetched> {
        let resolved = self.resolve_kind(api_version, kind).await?;
        self.get_raw(&resolved.path(namespace, Some(name))).await
    }

    /// Create an object given as JSON (`apiVersion`, `kind`, `metadata.namespace` inside).
    /// Returns the stored object. 409 (already exists) is reported as [`Error::Api`] with code 409.
    pub async fn create_object(&self, object: &Value) -> Result<Value> {
        let (api, resolved, name) = self.dynamic_api(object).await?;
        let object: DynamicObject = serde_json::from_value(object.clone())
            .map_err(|e| Error::Other { what: format!("create {name}"), detail: e.to_string() })?;
        let what = format!("create {} {name}", resolved.resource.kind);
        let created = self.call(what, api.create(&PostParams::default(), &object)).await?;
        Ok(serde_json::to_value(created).unwrap_or_default())
    }

    /// Ask the API server to admit `object` without storing it (a server-side dry-run): the
    /// answer is what validation and admission decide, with nothing created.
    pub async fn dry_run_create(&self, object: &Value) -> Result<Value> {
        let (api, resolved, name) = self.dynamic_api(object).await?;
        let object: DynamicObject = serde_json::from_value(object.clone())
            .map_err(|e| Error::Other { what: format!("dry-run create {name}"), detail: e.to_string() })?;
        let what = format!("dry-run create {} {name}", resolved.resource.kind);
        let params = PostParams { dry_run: true, ..Default::default() };
        let admitted = self.call(what, api.create(&params, &object)).await?;
        Ok(serde_json::to_value(admitted).unwrap_or_default())
    }

    /// Strategic-merge-patch a built-in object: lists of containers are merged by name, so a
    /// patch names only the containers it changes.
    pub async fn strategic_patch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value> {
        let api = self.api_for(api_version, kind, namespace).await?;
        let what = format!("patch {kind} {}{name}", namespace.map(|n| format!("{n}/")).unwrap_or_default());
        let patched =
            self.call(what, api.patch(name, &PatchParams::default(), &Patch::Strategic(patch))).await?;
        Ok(serde_json::to_value(patched).unwrap_or_default())
    }

    /// Delete the object named by `apiVersion`, `kind`, namespace and name that has this UID.
    /// A 404 is `Ok(false)`; an object of that name with another UID (recreated since it was
    /// read) is not deleted: the API server answers 409.
    pub async fn delete_object(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        uid: &str,
    ) -> Result<bool> {
        let api = self.api_for(api_version, kind, namespace).await?;
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }),
            ..Default::default()
        };
        let what = format!("delete {kind} {}{name}", namespace.map(|n| format!("{n}/")).unwrap_or_default());
        match self.call(what, api.delete(name, &params)).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Merge-patch any object (`null` values remove fields). Merge patches carry no
    /// resourceVersion, so they do not conflict with concurrent writers of other fields.
    pub async fn merge_patch<P: Serialize + std::fmt::Debug>(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &P,
    ) -> Result<Value> {
        let api = self.api_for(api_version, kind, namespace).await?;
        let what = format!("patch {kind} {}{name}", namespace.map(|n| format!("{n}/")).unwrap_or_default());
        let patched = self.call(what, api.patch(name, &PatchParams::default(), &Patch::Merge(patch))).await?;
        Ok(serde_json::to_value(patched).unwrap_or_default())
    }

    /// The API of a kind, in `namespace` when the kind is namespaced.
    async fn api_for(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>> {
        let resolved = self.resolve_kind(api_version, kind).await?;
        Ok(match namespace.filter(|_| resolved.namespaced) {
            Some(ns) => Api::namespaced_with(self.client().clone(), ns, &resolved.resource),
            None => Api::all_with(self.client().clone(), &resolved.resource),
        })
    }

    async fn dynamic_api(&self, object: &Value) -> Result<(Api<DynamicObject>, ResolvedKind, String)> {
        let field = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        let (Some(api_version), Some(kind), Some(name)) =
            (field("/apiVersion"), field("/kind"), field("/metadata/name"))
        else {
            return Err(Error::Other {
                what: "create object".into(),
                detail: "the object needs apiVersion, kind and metadata.name".into(),
            });
        };
        let resolved = self.resolve_kind(api_version, kind).await?;
        let api = match field("/metadata/namespace").filter(|_| resolved.namespaced) {
            Some(ns) => Api::namespaced_with(self.client().clone(), ns, &resolved.resource),
            None => Api::all_with(self.client().clone(), &resolved.resource),
        };
        Ok((api, resolved, name.to_string()))
    }
}

//! A request as the authorizer sees it, and whether one policy rule allows it.

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde::Serialize;

/// One request as the authorizer sees it: a resource request (verb, API group, resource,
/// subresource, name, namespace), or a non-resource URL when `non_resource_url` is set, in which
/// case only the verb counts besides it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub verb: String,
    /// The API group, "" for the core group.
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub name: Option<String>,
    /// None (or empty) for cluster-scoped resources and requests across all namespaces: only
    /// ClusterRoleBindings can allow those.
    pub namespace: Option<String>,
    pub non_resource_url: Option<String>,
}

impl Request {
    pub fn resource(
        verb: impl Into<String>,
        group: impl Into<String>,
        resource: impl Into<String>,
    ) -> Request {
        Request { verb: verb.into(), group: group.into(), resource: resource.into(), ..Request::default() }
    }

    pub fn non_resource(verb: impl Into<String>, url: impl Into<String>) -> Request {
        Request { verb: verb.into(), non_resource_url: Some(url.into()), ..Request::default() }
    }

    /// A request named the way `kubectl auth can-i` takes it: `/URL` for a non-resource URL,
    /// otherwise `RESOURCE[.GROUP][/SUBRESOURCE]` (`pods`, `pods/exec`, `deployments.apps`,
    /// `certificatesigningrequests.certificates.k8s.io/approval`). The group is never guessed:
    /// `deployments` alone is in the core group, where no such resource exists.
    pub fn for_target(verb: impl Into<String>, target: &str) -> Request {
        if target.starts_with('/') {
            return Request::non_resource(verb, target);
        }
        let (resource_and_group, subresource) = target.split_once('/').unwrap_or((target, ""));
        let (resource, group) = resource_and_group.split_once('.').unwrap_or((resource_and_group, ""));
        Request::resource(verb, group, resource).subresource(subresource)
    }

    pub fn subresource(mut self, subresource: impl Into<String>) -> Request {
        self.subresource = subresource.into();
        self
    }

    pub fn named(mut self, name: impl Into<String>) -> Request {
        self.name = Some(name.into());
        self
    }

    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Request {
        self.namespace = Some(namespace.into());
        self
    }

    pub fn is_resource_request(&self) -> bool {
        self.non_resource_url.is_none()
    }

    /// The namespace whose RoleBindings are consulted: none for non-resource URLs, which are never
    /// namespaced, nor for an empty namespace (the authorizer tests its length).
    pub fn binding_namespace(&self) -> Option<&str> {
        if !self.is_resource_request() {
            return None;
        }
        self.namespace.as_deref().filter(|namespace| !namespace.is_empty())
    }
}

/// Whether `rule` allows `request`, wherever the rule applies (the caller decides that).
///
/// A resource request needs the verb, the API group, the resource (with its subresource) and,
/// when the rule lists resource names, the name to match; a rule with resource names therefore
/// never allows a request without a name (create, list, a watch of a collection). A
/// non-resource request needs the verb and the URL.
pub fn rule_allows(rule: &PolicyRule, request: &Request) -> bool {
    match &request.non_resource_url {
        Some(url) => verb_matches(rule, &request.verb) && non_resource_url_matches(rule, url),
        None => allows_access(
            rule,
            &Access {
                verb: &request.verb,
                group: &request.group,
                resource: &request.resource,
                subresource: &request.subresource,
                name: request.name.as_deref().unwrap_or(""),
            },
        ),
    }
}

/// A resource request on borrowed parts, for checks that try many requests against one rule.
pub(crate) struct Access<'r> {
    pub(crate) verb: &'r str,
    pub(crate) group: &'r str,
    pub(crate) resource: &'r str,
    pub(crate) subresource: &'r str,
    /// Empty when the request names no object.
    pub(crate) name: &'r str,
}

/// Whether `rule` allows a resource request.
pub(crate) fn allows_access(rule: &PolicyRule, access: &Access<'_>) -> bool {
    verb_matches(rule, access.verb)
        && api_group_matches(rule, access.group)
        && resource_matches(rule, access.resource, access.subresource)
        && resource_name_matches(rule, access.name)
}

/// A rule's optional list, absent being the same as empty.
pub(crate) fn listed(field: &Option<Vec<String>>) -> &[String] {
    field.as_deref().unwrap_or_default()
}

fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|allowed| allowed == "*" || allowed == verb)
}

fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    listed(&rule.api_groups).iter().any(|allowed| allowed == "*" || allowed == group)
}

/// `*` is every resource and subresource; `RESOURCE/SUB` one subresource; `*/SUB` that subresource
/// of every resource. A plain `RESOURCE` does not cover its subresources.
fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    listed(&rule.resources).iter().any(|allowed| {
        if allowed == "*" {
            return true;
        }
        if subresource.is_empty() {
            return allowed == resource;
        }
        // Compared piecewise so no "resource/subresource" string is built per rule.
        let names_both = allowed.len() == resource.len() + 1 + subresource.len()
            && allowed.starts_with(resource)
            && allowed[resource.len()..].starts_with('/')
            && allowed.ends_with(subresource);
        let any_resource = allowed.len() == subresource.len() + 2
            && allowed.starts_with("*/")
            && allowed.ends_with(subresource);
        names_both || any_resource
    })
}

/// An empty list allows every name; otherwise the request's name (empty when it has none)
/// must be listed.
fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    let names = listed(&rule.resource_names);
    names.is_empty() || names.iter().any(|allowed| allowed == name)
}

/// `*` is every URL; a trailing `*` a prefix (all trailing stars dropped); anything else exact.
fn non_resource_url_matches(rule: &PolicyRule, url: &str) -> bool {
    listed(&rule.non_resource_urls).iter().any(|allowed| {
        allowed == "*"
            || allowed == url
            || (allowed.ends_with('*') && url.starts_with(allowed.trim_end_matches('*')))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|item| item.to_string()).collect())
    }

    pub(crate) fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: verbs.iter().map(|verb| verb.to_string()).collect(),
            api_groups: strings(groups),
            resources: strings(resources),
            ..PolicyRule::default()
        }
    }

    pub(crate) fn url_rule(verbs: &[&str], urls: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: verbs.iter().map(|verb| verb.to_string()).collect(),
            non_resource_urls: strings(urls),
            ..PolicyRule::default()
        }
    }

    pub(crate) fn with_names(mut rule: PolicyRule, names: &[&str]) -> PolicyRule {
        rule.resource_names = strings(names);
        rule
    }

    #[test]
    fn verbs_match_exactly_or_by_star() {
        let get_pods = Request::resource("get", "", "pods");
        assert!(rule_allows(&rule(&["get", "list"], &[""], &["pods"]), &get_pods));
        assert!(rule_allows(&rule(&["*"], &[""], &["pods"]), &get_pods));
        assert!(!rule_allows(&rule(&["list"], &[""], &["pods"]), &get_pods));
        assert!(!rule_allows(&rule(&[], &[""], &["pods"]), &get_pods));
    }

    #[test]
    fn api_groups_match_exactly_or_by_star() {
        let deployments = Request::resource("get", "apps", "deployments");
        assert!(rule_allows(&rule(&["get"], &["apps"], &["deployments"]), &deployments));
        assert!(rule_allows(&rule(&["get"], &["*"], &["deployments"]), &deployments));
        assert!(!rule_allows(&rule(&["get"], &[""], &["deployments"]), &deployments));
        // No apiGroups at all matches no group, not even the core one.
        assert!(!rule_allows(&rule(&["get"], &[], &["pods"]), &Request::resource("get", "", "pods")));
    }

    #[test]
    fn resources_and_subresources() {
        let exec = Request::resource("create", "", "pods").subresource("exec");
        let pods = Request::resource("create", "", "pods");
        assert!(rule_allows(&rule(&["create"], &[""], &["pods/exec"]), &exec));
        assert!(rule_allows(&rule(&["create"], &[""], &["*/exec"]), &exec));
        assert!(rule_allows(&rule(&["create"], &[""], &["*"]), &exec));
        // A resource does not cover its subresources, nor a subresource its resource.
        assert!(!rule_allows(&rule(&["create"], &[""], &["pods"]), &exec));
        assert!(!rule_allows(&rule(&["create"], &[""], &["pods/exec"]), &pods));
        assert!(!rule_allows(&rule(&["create"], &[""], &["*/exec"]), &pods));
        assert!(!rule_allows(&rule(&["create"], &[""], &["pods/attach"]), &exec));
        assert!(!rule_allows(&rule(&["create"], &[""], &["*/exe"]), &exec));
        assert!(!rule_allows(&rule(&["create"], &[""], &["*/execs"]), &exec));
        assert!(!rule_allows(&rule(&["create"], &[""], &["pod/exec"]), &exec));
        assert!(!rule_allows(&rule(&["create"], &[""], &["pods/"]), &pods));
        // "*/" names no subresource and "pods/*" is no wildcard.
        assert!(!rule_allows(&rule(&["create"], &[""], &["pods/*"]), &exec));
        assert!(!rule_allows(&rule(&["create"], &[""], &["*/"]), &pods));
    }

    #[test]
    fn resource_names_need_a_named_request() {
        let named = with_names(rule(&["get", "list", "update"], &[""], &["secrets"]), &["tls"]);
        let get = Request::resource("get", "", "secrets");
        assert!(rule_allows(&named, &get.clone().named("tls")));
        assert!(!rule_allows(&named, &get.clone().named("other")));
        assert!(!rule_allows(&named, &get));
        assert!(!rule_allows(&named, &Request::resource("list", "", "secrets")));
        // An empty list is no restriction.
        assert!(rule_allows(&with_names(rule(&["get"], &[""], &["secrets"]), &[]), &get));
    }

    #[test]
    fn non_resource_urls_exact_or_by_prefix() {
        let healthz = Request::non_resource("get", "/healthz");
        assert!(rule_allows(&url_rule(&["get"], &["/healthz"]), &healthz));
        assert!(rule_allows(&url_rule(&["get"], &["*"]), &healthz));
        assert!(rule_allows(&url_rule(&["get"], &["/health*"]), &healthz));
        assert!(rule_allows(&url_rule(&["get"], &["/healthz*"]), &healthz));
        assert!(rule_allows(&url_rule(&["get"], &["/h**"]), &healthz));
        assert!(!rule_allows(&url_rule(&["get"], &["/healthz/*"]), &healthz));
        assert!(!rule_allows(
            &url_rule(&["get"], &["/healthz"]),
            &Request::non_resource("get", "/healthz/etcd")
        ));
        assert!(!rule_allows(&url_rule(&["post"], &["/healthz"]), &healthz));
        // A resource rule never allows a URL, nor a URL rule a resource.
        assert!(!rule_allows(&rule(&["*"], &["*"], &["*"]), &healthz));
        assert!(!rule_allows(&url_rule(&["*"], &["*"]), &Request::resource("get", "", "pods")));
    }

    #[test]
    fn targets_read_like_kubectl() {
        assert_eq!(Request::for_target("get", "pods"), Request::resource("get", "", "pods"));
        assert_eq!(
            Request::for_target("create", "pods/exec"),
            Request::resource("create", "", "pods").subresource("exec")
        );
        assert_eq!(
            Request::for_target("update", "certificatesigningrequests.certificates.k8s.io/approval"),
            Request::resource("update", "certificates.k8s.io", "certificatesigningrequests")
                .subresource("approval")
        );
        assert_eq!(Request::for_target("get", "/metrics"), Request::non_resource("get", "/metrics"));
    }

    #[test]
    fn only_namespaced_resource_requests_consult_role_bindings() {
        assert_eq!(Request::resource("get", "", "pods").in_namespace("a").binding_namespace(), Some("a"));
        assert_eq!(Request::resource("get", "", "pods").in_namespace("").binding_namespace(), None);
        assert_eq!(Request::resource("get", "", "nodes").binding_namespace(), None);
        assert_eq!(Request::non_resource("get", "/healthz").in_namespace("a").binding_namespace(), None);
    }
}

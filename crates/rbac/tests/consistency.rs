//! The views of one snapshot agree: `allows` is true exactly when one of the identity's `grants`
//! covers the request, `who_can` lists exactly the subjects allowed, and an identity is allowed
//! exactly when a subject it matches is.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta};
use kir_rbac::{Identity, RbacSnapshot, Request, SubjectRef};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

const NAMESPACES: &[&str] = &["a", "b"];
const ROLE_NAMES: &[&str] = &["r1", "r2"];
const CLUSTER_ROLE_NAMES: &[&str] = &["c1", "c2", "c3"];

fn strings(items: Vec<&str>) -> Vec<String> {
    items.into_iter().map(str::to_string).collect()
}

/// Mostly a non-empty list; sometimes absent or empty, which match nothing.
fn list(items: &'static [&'static str], most: usize) -> impl Strategy<Value = Option<Vec<String>>> {
    prop_oneof![
        12 => subsequence(items, 1..=most).prop_map(|items| Some(strings(items))),
        1 => Just(None),
        1 => Just(Some(Vec::new())),
    ]
}

fn rule() -> impl Strategy<Value = PolicyRule> {
    // Dense on purpose: most rules should allow some of the generated requests.
    (
        subsequence(&["get", "list", "create", "*"][..], 1..=2),
        list(&["", "apps", "*"], 2),
        list(&["pods", "secrets", "pods/exec", "*/exec", "*", "deployments", "nodes"], 2),
        prop_oneof![4 => Just(None), 1 => list(&["x", "y"], 1)],
        prop_oneof![4 => Just(None), 1 => list(&["/healthz", "/api/*", "*"], 1)],
    )
        .prop_map(|(verbs, api_groups, resources, resource_names, non_resource_urls)| PolicyRule {
            verbs: strings(verbs),
            api_groups,
            resources,
            resource_names,
            non_resource_urls,
        })
}

fn meta(namespace: Option<&str>, name: &str, labels: Option<BTreeMap<String, String>>) -> ObjectMeta {
    ObjectMeta {
        namespace: namespace.map(str::to_string),
        name: Some(name.to_string()),
        labels,
        ..ObjectMeta::default()
    }
}

fn labels() -> impl Strategy<Value = Option<BTreeMap<String, String>>> {
    prop_oneof![
        Just(None),
        select(&["yes", "no"][..])
            .prop_map(|value| Some(BTreeMap::from([("agg".to_string(), value.to_string())]))),
    ]
}

fn selector() -> impl Strategy<Value = LabelSelector> {
    let requirement = |operator: &str, values: &[&str]| LabelSelectorRequirement {
        key: "agg".into(),
        operator: operator.into(),
        values: Some(strings(values.to_vec())),
    };
    prop_oneof![
        Just(LabelSelector {
            match_labels: Some(BTreeMap::from([("agg".to_string(), "yes".to_string())])),
            ..LabelSelector::default()
        }),
        Just(LabelSelector {
            match_expressions: Some(vec![requirement("NotIn", &["yes"])]),
            ..LabelSelector::default()
        }),
        Just(LabelSelector {
            match_expressions: Some(vec![requirement("Exists", &[])]),
            ..LabelSelector::default()
        }),
        Just(LabelSelector {
            match_expressions: Some(vec![requirement("In", &[])]),
            ..LabelSelector::default()
        }),
    ]
}

fn cluster_roles() -> impl Strategy<Value = Vec<ClusterRole>> {
    let one = (
        select(CLUSTER_ROLE_NAMES),
        labels(),
        prop::collection::vec(rule(), 1..4),
        prop::option::weighted(0.3, prop::collection::vec(selector(), 0..2)),
    )
        .prop_map(|(name, labels, rules, selectors)| ClusterRole {
            metadata: meta(None, name, labels),
            rules: Some(rules),
            aggregation_rule: selectors
                .map(|selectors| AggregationRule { cluster_role_selectors: Some(selectors) }),
        });
    prop::collection::vec(one, 1..6)
}

fn roles() -> impl Strategy<Value = Vec<Role>> {
    let one = (select(NAMESPACES), select(ROLE_NAMES), prop::collection::vec(rule(), 1..4)).prop_map(
        |(namespace, name, rules)| Role { metadata: meta(Some(namespace), name, None), rules: Some(rules) },
    );
    prop::collection::vec(one, 0..4)
}

fn subject() -> impl Strategy<Value = Subject> {
    let entry = |kind: &str, name: &str, namespace: Option<&str>| Subject {
        kind: kind.to_string(),
        name: name.to_string(),
        namespace: namespace.map(str::to_string),
        api_group: None,
    };
    prop_oneof![
        2 => select(&["alice", "bob", "system:serviceaccount:a:app"][..]).prop_map(move |name| entry("User", name, None)),
        2 => select(&["dev", "system:authenticated", "system:serviceaccounts:a"][..])
            .prop_map(move |name| entry("Group", name, None)),
        2 => (select(&["app", "ci"][..]), select(&[None, Some("a"), Some("b")][..]))
            .prop_map(move |(name, namespace)| entry("ServiceAccount", name, namespace)),
        1 => Just(entry("Robot", "r2", None)),
    ]
}

/// A roleRef, mostly to a Role or to a ClusterRole as `role_weight` to `cluster_role_weight`.
fn role_ref(role_weight: u32, cluster_role_weight: u32) -> impl Strategy<Value = RoleRef> {
    let reference = |kind: &'static str, name: &'static str| RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: name.into(),
    };
    prop_oneof![
        role_weight => select(ROLE_NAMES).prop_map(move |name| reference("Role", name)),
        cluster_role_weight => select(CLUSTER_ROLE_NAMES).prop_map(move |name| reference("ClusterRole", name)),
        1 => select(&["Role", "ClusterRole"][..]).prop_map(move |kind| reference(kind, "missing")),
    ]
}

fn snapshot() -> impl Strategy<Value = RbacSnapshot> {
    let role_binding = (select(NAMESPACES), role_ref(4, 4), prop::collection::vec(subject(), 1..4)).prop_map(
        |(namespace, role_ref, subjects)| RoleBinding {
            metadata: meta(Some(namespace), "binding", None),
            role_ref,
            subjects: Some(subjects),
        },
    );
    let cluster_role_binding =
        // A ClusterRoleBinding to a Role is rejected by the API; a few check it grants nothing.
        (role_ref(1, 8), prop::collection::vec(subject(), 1..4)).prop_map(|(role_ref, subjects)| {
            ClusterRoleBinding { metadata: meta(None, "binding", None), role_ref, subjects: Some(subjects) }
        });
    (
        roles(),
        cluster_roles(),
        prop::collection::vec(role_binding, 0..6),
        prop::collection::vec(cluster_role_binding, 0..4),
    )
        .prop_map(|(roles, cluster_roles, role_bindings, cluster_role_bindings)| RbacSnapshot {
            roles,
            cluster_roles,
            role_bindings,
            cluster_role_bindings,
        })
}

fn request() -> impl Strategy<Value = Request> {
    let namespace = select(&[None, Some(""), Some("a"), Some("b")][..]);
    let resource = (
        select(&["get", "list", "create"][..]),
        select(&["", "apps"][..]),
        select(&["pods", "secrets", "deployments", "nodes"][..]),
        select(&["", "exec"][..]),
        select(&[None, Some("x"), Some("y")][..]),
        namespace.clone(),
    )
        .prop_map(|(verb, group, resource, subresource, name, namespace)| Request {
            name: name.map(str::to_string),
            namespace: namespace.map(str::to_string),
            ..Request::resource(verb, group, resource).subresource(subresource)
        });
    let non_resource =
        (select(&["get", "post"][..]), select(&["/healthz", "/api", "/api/v1"][..]), namespace).prop_map(
            |(verb, url, namespace)| Request {
                namespace: namespace.map(str::to_string),
                ..Request::non_resource(verb, url)
            },
        );
    prop_oneof![3 => resource, 1 => non_resource]
}

fn identity() -> impl Strategy<Value = Identity> {
    let spec = select(&["user:alice", "user:bob", "group:dev", "sa:a/app", "sa:b/ci", "sa:a/ci"][..]);
    (spec, prop::option::of(select(&["dev", "ops"][..])))
        .prop_map(|(spec, extra)| Identity::parse(spec).unwrap().with_groups(extra.map(str::to_string)))
}

/// Every subject the generated bindings can name.
fn subjects() -> Vec<SubjectRef> {
    [
        "user:alice",
        "user:bob",
        "group:dev",
        "group:system:authenticated",
        "group:system:serviceaccounts:a",
        "sa:a/app",
        "sa:a/ci",
        "sa:b/app",
        "sa:b/ci",
    ]
    .into_iter()
    .map(|spec| SubjectRef::parse(spec).unwrap())
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn allows_exactly_when_a_grant_covers(snapshot in snapshot(), who in identity(), request in request()) {
        let allowed = snapshot.allows(&who, &request);
        let grants = snapshot.grants(&who);
        let covering = grants.iter().find(|grant| grant.covers(&request));
        prop_assert_eq!(allowed, covering.is_some(), "covering grant: {:?}", covering);
        // Every grant comes from a binding naming who, through the entry reported.
        for grant in &grants {
            prop_assert!(grant.subject.applies_to(&who));
        }
    }

    #[test]
    fn who_can_lists_exactly_the_subjects_allowed(snapshot in snapshot(), request in request()) {
        let index = snapshot.index();
        let holders = index.who_can(&request);
        for holder in &holders {
            prop_assert!(index.allows(&Identity::named_by(&holder.subject), &request), "{:?}", holder);
        }
        for subject in subjects() {
            let named = Identity::named_by(&subject);
            let listed = holders.iter().any(|holder| holder.subject.applies_to(&named));
            prop_assert_eq!(index.allows(&named, &request), listed, "{}", subject);
        }
    }

    #[test]
    fn an_identity_is_allowed_exactly_through_a_subject_it_matches(
        snapshot in snapshot(),
        who in identity(),
        request in request(),
    ) {
        let index = snapshot.index();
        let through_a_subject = subjects()
            .iter()
            .any(|subject| subject.applies_to(&who) && index.allows(&Identity::named_by(subject), &request));
        prop_assert_eq!(index.allows(&who, &request), through_a_subject);
    }
}

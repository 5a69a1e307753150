use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::AggregationRule;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::*;
use crate::danger::DangerKind;
use crate::request::tests::{rule, url_rule, with_names};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: namespace.map(str::to_string),
        name: Some(name.to_string()),
        ..ObjectMeta::default()
    }
}

fn role(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role { metadata: meta(Some(namespace), name), rules: Some(rules) }
}

fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole { metadata: meta(None, name), rules: Some(rules), aggregation_rule: None }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef { api_group: RBAC_GROUP.to_string(), kind: kind.to_string(), name: name.to_string() }
}

fn role_binding(namespace: &str, name: &str, role_ref: RoleRef, subjects: Vec<Subject>) -> RoleBinding {
    RoleBinding { metadata: meta(Some(namespace), name), role_ref, subjects: Some(subjects) }
}

fn cluster_role_binding(name: &str, role_ref: RoleRef, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding { metadata: meta(None, name), role_ref, subjects: Some(subjects) }
}

fn user(name: &str) -> Subject {
    Subject { kind: "User".into(), api_group: Some(RBAC_GROUP.into()), name: name.into(), namespace: None }
}

fn group(name: &str) -> Subject {
    Subject { kind: "Group".into(), api_group: Some(RBAC_GROUP.into()), name: name.into(), namespace: None }
}

fn service_account(namespace: Option<&str>, name: &str) -> Subject {
    Subject {
        kind: "ServiceAccount".into(),
        api_group: None,
        name: name.into(),
        namespace: namespace.map(str::to_string),
    }
}

fn who(spec: &str) -> Identity {
    Identity::parse(spec).unwrap()
}

fn subject(spec: &str) -> SubjectRef {
    SubjectRef::parse(spec).unwrap()
}

fn get(resource: &str) -> Request {
    Request::resource("get", "", resource)
}

fn holders_of(snapshot: &RbacSnapshot, request: &Request) -> Vec<String> {
    snapshot.who_can(request).iter().map(|holder| holder.subject.to_string()).collect()
}

#[test]
fn a_cluster_role_binding_applies_everywhere() {
    let snapshot = RbacSnapshot {
        cluster_roles: vec![cluster_role(
            "reader",
            vec![rule(&["get", "list"], &[""], &["pods", "nodes"]), url_rule(&["get"], &["/metrics"])],
        )],
        cluster_role_bindings: vec![cluster_role_binding(
            "reader",
            role_ref("ClusterRole", "reader"),
            vec![user("alice")],
        )],
        ..RbacSnapshot::default()
    };
    let alice = who("user:alice");
    assert!(snapshot.allows(&alice, &get("pods").in_namespace("a")));
    assert!(snapshot.allows(&alice, &get("pods").in_namespace("b")));
    assert!(snapshot.allows(&alice, &Request::resource("list", "", "pods")));
    assert!(snapshot.allows(&alice, &get("nodes")));
    assert!(snapshot.allows(&alice, &Request::non_resource("get", "/metrics")));
    assert!(!snapshot.allows(&alice, &Request::non_resource("get", "/metrics/slis")));
    assert!(!snapshot.allows(&alice, &Request::resource("delete", "", "pods").in_namespace("a")));
    assert!(!snapshot.allows(&who("user:bob"), &get("pods").in_namespace("a")));
    // A ClusterRoleBinding to a Role grants nothing (the API rejects it; a snapshot may hold one).
    let to_role = RbacSnapshot {
        roles: vec![role("a", "reader", vec![rule(&["get"], &[""], &["pods"])])],
        cluster_role_bindings: vec![cluster_role_binding(
            "odd",
            role_ref("Role", "reader"),
            vec![user("alice")],
        )],
        ..RbacSnapshot::default()
    };
    assert!(!to_role.allows(&alice, &get("pods").in_namespace("a")));
    assert!(to_role.grants(&alice).is_empty());
}

#[test]
fn a_role_binding_applies_in_its_namespace_only() {
    let snapshot = RbacSnapshot {
        roles: vec![
            role("team", "reader", vec![rule(&["get"], &[""], &["pods"])]),
            role("other", "writer", vec![rule(&["*"], &["*"], &["*"])]),
        ],
        role_bindings: vec![
            role_binding("team", "reader", role_ref("Role", "reader"), vec![user("alice")]),
            // The Role is looked up in the binding's namespace, where there is no "writer".
            role_binding("team", "writer", role_ref("Role", "writer"), vec![user("alice")]),
        ],
        ..RbacSnapshot::default()
    };
    let alice = who("user:alice");
    assert!(snapshot.allows(&alice, &get("pods").in_namespace("team")));
    assert!(!snapshot.allows(&alice, &get("pods").in_namespace("other")));
    assert!(!snapshot.allows(&alice, &get("pods")));
    assert!(!snapshot.allows(&alice, &get("pods").in_namespace("")));
    assert!(!snapshot.allows(&alice, &Request::resource("delete", "", "pods").in_namespace("team")));
    assert!(!snapshot.allows(&alice, &Request::resource("delete", "", "pods").in_namespace("other")));
}

#[test]
fn a_cluster_role_through_a_role_binding_holds_only_in_that_namespace() {
    let snapshot = RbacSnapshot {
        cluster_roles: vec![cluster_role(
            "everything",
            vec![rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])],
        )],
        role_bindings: vec![role_binding(
            "team",
            "admins",
            role_ref("ClusterRole", "everything"),
            vec![user("alice")],
        )],
        ..RbacSnapshot::default()
    };
    let alice = who("user:alice");
    assert!(
        snapshot.allows(&alice, &Request::resource("delete", "apps", "deployments").in_namespace("team"))
    );
    assert!(
        !snapshot.allows(&alice, &Request::resource("delete", "apps", "deployments").in_namespace("prod"))
    );
    // Never cluster-scoped resources, nor non-resource URLs, even with a namespace set.
    assert!(!snapshot.allows(&alice, &get("nodes")));
    assert!(!snapshot.allows(&alice, &Request::non_resource("get", "/healthz")));
    assert!(!snapshot.allows(&alice, &Request::non_resource("get", "/healthz").in_namespace("team")));

    // The non-resource rule can grant nothing here, so it is not listed.
    let grants = snapshot.grants(&alice);
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].namespace, Some("team"));
    assert_eq!(grants[0].role, RoleId { kind: "ClusterRole", namespace: None, name: "everything" });
    assert_eq!(grants[0].dangers[0].kind, DangerKind::Everything);
}

#[test]
fn missing_roles_grant_nothing_but_their_bindings_stay_revocable() {
    let snapshot = RbacSnapshot {
        role_bindings: vec![role_binding("team", "later", role_ref("Role", "not-yet"), vec![user("alice")])],
        cluster_role_bindings: vec![cluster_role_binding(
            "later",
            role_ref("ClusterRole", "not-yet"),
            vec![user("alice"), user("bob")],
        )],
        ..RbacSnapshot::default()
    };
    let alice = who("user:alice");
    assert!(snapshot.grants(&alice).is_empty());
    assert!(!snapshot.allows(&alice, &get("pods").in_namespace("team")));
    assert!(snapshot.who_can(&get("pods").in_namespace("team")).is_empty());

    let named = snapshot.bindings_naming(&subject("user:alice"));
    assert_eq!(named.len(), 2);
    assert!(named.iter().all(|binding| !binding.role_found));
    assert_eq!(named[0].binding.kind, BindingKind::ClusterRoleBinding);
    assert!(!named[0].only_subject);
    assert!(named[1].only_subject);
    assert_eq!(named[1].role, RoleId { kind: "Role", namespace: Some("team"), name: "not-yet" });
}

#[test]
fn service_account_subjects() {
    let snapshot = RbacSnapshot {
        cluster_roles: vec![cluster_role("secret-reader", vec![rule(&["get"], &[""], &["secrets"])])],
        role_bindings: vec![
            // No namespace: the binding's own.
            role_binding(
                "ci",
                "local",
                role_ref("ClusterRole", "secret-reader"),
                vec![service_account(None, "builder")],
            ),
            role_binding(
                "prod",
                "remote",
                role_ref("ClusterRole", "secret-reader"),
                vec![service_account(Some("ci"), "builder")],
            ),
        ],
        cluster_role_bindings: vec![cluster_role_binding(
            "nobody",
            role_ref("ClusterRole", "secret-reader"),
            vec![service_account(None, "builder")],
        )],
        ..RbacSnapshot::default()
    };
    let builder = who("sa:ci/builder");
    assert!(snapshot.allows(&builder, &get("secrets").in_namespace("ci")));
    assert!(snapshot.allows(&builder, &get("secrets").in_namespace("prod")));
    assert!(!snapshot.allows(&builder, &get("secrets").in_namespace("dev")));
    assert!(!snapshot.allows(&who("sa:prod/builder"), &get("secrets").in_namespace("ci")));
    // prod's own "builder" is another account: "remote" names the one from ci.
    assert!(!snapshot.allows(&who("sa:prod/builder"), &get("secrets").in_namespace("prod")));

    let grants = snapshot.grants(&builder);
    assert_eq!(grants.len(), 2);
    assert!(grants.iter().all(|grant| grant.subject == subject("sa:ci/builder")));

    assert_eq!(
        holders_of(&snapshot, &get("secrets").in_namespace("ci")),
        ["system:serviceaccount:ci:builder"]
    );
    assert_eq!(holders_of(&snapshot, &get("secrets")), Vec::<String>::new());
}

#[test]
fn group_subjects_and_every_authenticated_user() {
    let snapshot = RbacSnapshot {
        cluster_roles: vec![
            cluster_role("discovery", vec![url_rule(&["get"], &["/api", "/api/*", "/version"])]),
            cluster_role("deployer", vec![rule(&["create", "update"], &["apps"], &["deployments"])]),
            cluster_role("sa-reader", vec![rule(&["list"], &[""], &["configmaps"])]),
        ],
        role_bindings: vec![
            role_binding("web", "deployers", role_ref("ClusterRole", "deployer"), vec![group("dev")]),
            role_binding(
                "web",
                "accounts",
                role_ref("ClusterRole", "sa-reader"),
                vec![group("system:serviceaccounts:web")],
            ),
        ],
        cluster_role_bindings: vec![cluster_role_binding(
            "discovery",
            role_ref("ClusterRole", "discovery"),
            vec![group("system:authenticated")],
        )],
        ..RbacSnapshot::default()
    };
    let version = Request::non_resource("get", "/version");
    assert!(snapshot.allows(&who("user:alice"), &version));
    assert!(snapshot.allows(&who("sa:web/app"), &version));
    assert!(snapshot.allows(&who("group:system:authenticated"), &version));
    assert!(!snapshot.allows(&who("user:system:anonymous"), &version));
    assert!(!snapshot.allows(&who("group:dev"), &version));

    let deploy = Request::resource("create", "apps", "deployments").in_namespace("web");
    assert!(!snapshot.allows(&who("user:alice"), &deploy));
    assert!(snapshot.allows(&who("user:alice").with_groups(["dev".to_string()]), &deploy));
    assert!(snapshot.allows(&who("group:dev"), &deploy));

    let list_configmaps = Request::resource("list", "", "configmaps").in_namespace("web");
    assert!(snapshot.allows(&who("sa:web/app"), &list_configmaps));
    assert!(!snapshot.allows(&who("sa:api/app"), &list_configmaps));

    // The group's own scope, and the entry that matched on each grant.
    let dev_grants = snapshot.grants(&who("user:alice").with_groups(["dev".to_string()]));
    let matched: Vec<String> = dev_grants.iter().map(|grant| grant.subject.to_string()).collect();
    assert_eq!(matched, ["group:dev", "group:system:authenticated"]);
}

#[test]
fn aggregated_cluster_roles_grant_their_members_rules() {
    let mut aggregated = cluster_role("monitoring", vec![]);
    aggregated.aggregation_rule = Some(AggregationRule {
        cluster_role_selectors: Some(vec![LabelSelector {
            match_labels: Some(BTreeMap::from([("aggregate-to-monitoring".to_string(), "true".to_string())])),
            ..LabelSelector::default()
        }]),
    });
    let mut member = cluster_role("metrics", vec![rule(&["get"], &["metrics.k8s.io"], &["pods"])]);
    member.metadata.labels =
        Some(BTreeMap::from([("aggregate-to-monitoring".to_string(), "true".to_string())]));
    let snapshot = RbacSnapshot {
        cluster_roles: vec![aggregated, member],
        role_bindings: vec![role_binding(
            "team",
            "monitoring",
            role_ref("ClusterRole", "monitoring"),
            vec![user("alice")],
        )],
        ..RbacSnapshot::default()
    };
    let request = Request::resource("get", "metrics.k8s.io", "pods").in_namespace("team");
    assert!(snapshot.allows(&who("user:alice"), &request));
    let holders = snapshot.who_can(&request);
    assert_eq!(holders.len(), 1);
    assert_eq!(holders[0].role.name, "monitoring");
    assert_eq!(*holders[0].rule, rule(&["get"], &["metrics.k8s.io"], &["pods"]));
}

#[test]
fn grants_come_most_dangerous_first_with_their_origin() {
    let snapshot = RbacSnapshot {
        roles: vec![role(
            "team",
            "mixed",
            vec![rule(&["get"], &[""], &["configmaps"]), rule(&["create"], &[""], &["pods/exec"])],
        )],
        cluster_roles: vec![
            cluster_role("viewer", vec![rule(&["list"], &[""], &["pods"])]),
            cluster_role("secrets", vec![rule(&["list"], &[""], &["secrets"])]),
            cluster_role(
                "port-forward",
                vec![with_names(rule(&["create"], &[""], &["pods/portforward"]), &["db"])],
            ),
        ],
        role_bindings: vec![
            role_binding("team", "mixed", role_ref("Role", "mixed"), vec![user("alice")]),
            role_binding("team", "secrets", role_ref("ClusterRole", "secrets"), vec![user("alice")]),
        ],
        cluster_role_bindings: vec![
            cluster_role_binding("viewer", role_ref("ClusterRole", "viewer"), vec![user("alice")]),
            cluster_role_binding(
                "port-forward",
                role_ref("ClusterRole", "port-forward"),
                vec![user("alice")],
            ),
        ],
    };
    let grants = snapshot.grants(&who("user:alice"));
    let order: Vec<(&str, Option<&str>, Option<Severity>)> =
        grants.iter().map(|grant| (grant.binding.name, grant.namespace, grant.severity())).collect();
    assert_eq!(
        order,
        [
            ("mixed", Some("team"), Some(Severity::High)),
            ("secrets", Some("team"), Some(Severity::High)),
            ("port-forward", None, Some(Severity::Medium)),
            ("viewer", None, None),
            ("mixed", Some("team"), None),
        ]
    );
    assert_eq!(*grants[0].rule, rule(&["create"], &[""], &["pods/exec"]));
    assert_eq!(
        grants[0].binding,
        BindingId { kind: BindingKind::RoleBinding, namespace: Some("team"), name: "mixed" }
    );
    assert_eq!(grants[0].role, RoleId { kind: "Role", namespace: Some("team"), name: "mixed" });
    assert!(grants[2].dangers[0].named_only);
}

#[test]
fn grants_skip_rules_that_can_allow_nothing() {
    let snapshot = RbacSnapshot {
        cluster_roles: vec![cluster_role(
            "odd",
            vec![
                rule(&[], &[""], &["pods"]),
                rule(&["get"], &[], &["pods"]),
                rule(&["get"], &[""], &[]),
                url_rule(&["get"], &["/healthz"]),
            ],
        )],
        role_bindings: vec![role_binding("team", "odd", role_ref("ClusterRole", "odd"), vec![user("alice")])],
        cluster_role_bindings: vec![cluster_role_binding(
            "odd",
            role_ref("ClusterRole", "odd"),
            vec![user("alice")],
        )],
        ..RbacSnapshot::default()
    };
    let grants = snapshot.grants(&who("user:alice"));
    assert_eq!(grants.len(), 1);
    assert_eq!((grants[0].namespace, grants[0].rule), (None, &url_rule(&["get"], &["/healthz"])));
}

#[test]
fn who_can_lists_each_subject_entry_that_holds_the_request() {
    let snapshot = RbacSnapshot {
        cluster_roles: vec![
            cluster_role(
                "exec",
                vec![rule(&["get"], &[""], &["pods"]), rule(&["create"], &[""], &["*/exec"])],
            ),
            cluster_role("admin", vec![rule(&["*"], &["*"], &["*"])]),
        ],
        role_bindings: vec![
            role_binding(
                "team",
                "debuggers",
                role_ref("ClusterRole", "exec"),
                vec![user("alice"), group("oncall"), service_account(None, "debugger"), user("alice")],
            ),
            role_binding("prod", "debuggers", role_ref("ClusterRole", "exec"), vec![user("carol")]),
        ],
        cluster_role_bindings: vec![cluster_role_binding(
            "cluster-admin",
            role_ref("ClusterRole", "admin"),
            vec![
                group("system:masters"),
                service_account(None, "ignored"),
                Subject { kind: "Robot".into(), ..user("r2") },
            ],
        )],
        ..RbacSnapshot::default()
    };
    let exec =
        Request::resource("create", "", "pods").subresource("exec").named("web-0").in_namespace("team");
    let holders = snapshot.who_can(&exec);
    let subjects: Vec<String> = holders.iter().map(|holder| holder.subject.to_string()).collect();
    assert_eq!(
        subjects,
        ["group:system:masters", "user:alice", "group:oncall", "system:serviceaccount:team:debugger"]
    );
    assert_eq!(*holders[1].rule, rule(&["create"], &[""], &["*/exec"]));
    assert_eq!(holders[1].namespace, Some("team"));
    assert_eq!(holders[0].namespace, None);

    // Cluster-wide, only ClusterRoleBindings count.
    assert_eq!(holders_of(&snapshot, &get("pods")), ["group:system:masters"]);
}

#[test]
fn bindings_naming_a_subject_directly() {
    let snapshot = RbacSnapshot {
        cluster_roles: vec![cluster_role("view", vec![rule(&["get"], &["*"], &["*"])])],
        role_bindings: vec![
            role_binding(
                "ci",
                "solo",
                role_ref("ClusterRole", "view"),
                vec![service_account(None, "builder")],
            ),
            role_binding(
                "ci",
                "shared",
                role_ref("ClusterRole", "view"),
                vec![
                    user("alice"),
                    service_account(Some("ci"), "builder"),
                    user("system:serviceaccount:ci:builder"),
                ],
            ),
            role_binding(
                "ci",
                "all-accounts",
                role_ref("ClusterRole", "view"),
                vec![group("system:serviceaccounts")],
            ),
            role_binding(
                "prod",
                "other",
                role_ref("ClusterRole", "view"),
                vec![service_account(None, "builder")],
            ),
        ],
        ..RbacSnapshot::default()
    };
    let named = snapshot.bindings_naming(&subject("sa:ci/builder"));
    let summary: Vec<(&str, Vec<usize>, bool, bool)> = named
        .iter()
        .map(|binding| {
            (binding.binding.name, binding.subject_indices.clone(), binding.only_subject, binding.role_found)
        })
        .collect();
    // The group gives the account access too, but does not name it: revoking is for the group.
    assert_eq!(summary, [("solo", vec![0], true, true), ("shared", vec![1, 2], false, true)]);

    let group_bindings = snapshot.bindings_naming(&subject("group:system:serviceaccounts"));
    assert_eq!(group_bindings.len(), 1);
    assert_eq!(group_bindings[0].binding.name, "all-accounts");
    assert!(snapshot.bindings_naming(&subject("user:bob")).is_empty());
}

#[test]
fn results_serialize_as_camel_case_json() {
    let snapshot = RbacSnapshot {
        cluster_roles: vec![cluster_role("secrets", vec![rule(&["get"], &[""], &["secrets"])])],
        role_bindings: vec![role_binding(
            "ci",
            "read",
            role_ref("ClusterRole", "secrets"),
            vec![service_account(None, "b")],
        )],
        ..RbacSnapshot::default()
    };
    let grants = snapshot.grants(&who("sa:ci/b"));
    let json = serde_json::to_value(&grants[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "binding": {"kind": "RoleBinding", "namespace": "ci", "name": "read"},
            "role": {"kind": "ClusterRole", "namespace": null, "name": "secrets"},
            "subject": {"kind": "ServiceAccount", "namespace": "ci", "name": "b"},
            "namespace": "ci",
            "rule": {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
            "dangers": [{"kind": "readSecrets", "severity": "high", "label": "read secrets", "namedOnly": false}],
        })
    );
    let named = serde_json::to_value(snapshot.bindings_naming(&subject("sa:ci/b"))).unwrap();
    assert_eq!(named[0]["roleFound"], true);
    assert_eq!(named[0]["onlySubject"], true);
    assert_eq!(named[0]["subjectIndices"], serde_json::json!([0]));
}

#[test]
fn an_index_answers_at_the_stated_size() {
    // 500 namespaces, 2,000 Roles, 5,000 RoleBindings (speed is for the benchmark; this checks
    // that the index gives every binding's grants at that size).
    let mut snapshot = RbacSnapshot {
        cluster_roles: vec![cluster_role("edit", vec![rule(&["*"], &["", "apps"], &["*"])])],
        ..RbacSnapshot::default()
    };
    for namespace_number in 0..500 {
        let namespace = format!("ns-{namespace_number}");
        for role_number in 0..4 {
            let resource = format!("things-{role_number}");
            snapshot.roles.push(role(
                &namespace,
                &format!("role-{role_number}"),
                vec![rule(&["get"], &[""], &[&resource])],
            ));
        }
        for binding_number in 0..10 {
            let role_ref = if binding_number == 9 {
                role_ref("ClusterRole", "edit")
            } else {
                role_ref("Role", &format!("role-{}", binding_number % 4))
            };
            let subjects =
                vec![user(&format!("user-{}", (namespace_number + binding_number) % 50)), group("team")];
            snapshot.role_bindings.push(role_binding(
                &namespace,
                &format!("binding-{binding_number}"),
                role_ref,
                subjects,
            ));
        }
    }
    let index = snapshot.index();
    let grants = index.grants(&who("user:user-7"));
    let expected_bindings =
        (0..500).flat_map(|n| (0..10).map(move |b| (n, b))).filter(|(n, b)| (n + b) % 50 == 7).count();
    assert_eq!(grants.len(), expected_bindings);
    assert!(grants.iter().all(|grant| grant.covers(&grant_probe(grant))));
    let team_grants = index.grants(&who("group:team"));
    assert_eq!(team_grants.len(), 5_000);
    assert!(index.allows(&who("group:team"), &get("things-3").in_namespace("ns-499")));
}

/// A request a grant's rule allows, in the grant's namespace.
fn grant_probe(grant: &Grant<'_>) -> Request {
    let resource = listed(&grant.rule.resources)[0].replace('*', "anything");
    let group = listed(&grant.rule.api_groups)[0].clone();
    let request = Request::resource(grant.rule.verbs[0].replace('*', "get"), group, resource);
    match grant.namespace {
        Some(namespace) => request.in_namespace(namespace),
        None => request,
    }
}

//! ClusterRoles with their aggregated rules, and the label selectors aggregation uses.
//!
//! The aggregation controller sets an aggregated ClusterRole's rules to the stored rules of every
//! other ClusterRole one of its `clusterRoleSelectors` selects, and syncs every aggregated role
//! again whenever any ClusterRole changes. Because a selected role may itself be aggregated (the
//! built-in `admin` selects `edit`, which selects `view`), the rules it settles on are those of
//! every role reachable through selections: that is what is computed here, added to the rules
//! already stored (which the authorizer uses as they are, before the controller catches up).

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap, VecDeque};

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::request::listed;

/// A label selector checked once, as `LabelSelectorAsSelector` would convert it.
struct Selector<'a> {
    match_labels: Option<&'a BTreeMap<String, String>>,
    expressions: Vec<(&'a LabelSelectorRequirement, Operator)>,
}

#[derive(Clone, Copy)]
enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl<'a> Selector<'a> {
    /// None when the selector does not convert: an unknown operator, In/NotIn without values,
    /// Exists/DoesNotExist with values.
    fn new(selector: &'a LabelSelector) -> Option<Selector<'a>> {
        let expressions = selector
            .match_expressions
            .iter()
            .flatten()
            .map(|requirement| {
                let has_values = requirement.values.as_ref().is_some_and(|values| !values.is_empty());
                let operator = match (requirement.operator.as_str(), has_values) {
                    ("In", true) => Operator::In,
                    ("NotIn", true) => Operator::NotIn,
                    ("Exists", false) => Operator::Exists,
                    ("DoesNotExist", false) => Operator::DoesNotExist,
                    _ => return None,
                };
                Some((requirement, operator))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Selector { match_labels: selector.match_labels.as_ref(), expressions })
    }

    /// An empty selector selects everything; NotIn also selects objects without the key.
    fn selects(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let value_of = |key: &String| labels.and_then(|labels| labels.get(key));
        let labels_match = self
            .match_labels
            .iter()
            .flat_map(|wanted| wanted.iter())
            .all(|(key, value)| value_of(key) == Some(value));
        labels_match
            && self.expressions.iter().all(|(requirement, operator)| {
                let value = value_of(&requirement.key);
                let listed =
                    |value: &String| requirement.values.iter().flatten().any(|wanted| wanted == value);
                match operator {
                    Operator::In => value.is_some_and(listed),
                    Operator::NotIn => !value.is_some_and(listed),
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// The ClusterRoles of a snapshot by name, each one's effective rules worked out on first use.
pub(crate) struct ClusterRoles<'a> {
    roles: Vec<&'a ClusterRole>,
    by_name: HashMap<&'a str, usize>,
    effective_rules: Vec<OnceCell<Vec<&'a PolicyRule>>>,
}

impl<'a> ClusterRoles<'a> {
    pub(crate) fn new(cluster_roles: &'a [ClusterRole]) -> ClusterRoles<'a> {
        let mut by_name = HashMap::with_capacity(cluster_roles.len());
        let mut roles = Vec::with_capacity(cluster_roles.len());
        for role in cluster_roles {
            let Some(name) = role.metadata.name.as_deref() else { continue };
            // Names are unique in a cluster; a doubled one in a hand-made snapshot keeps the first.
            by_name.entry(name).or_insert_with(|| {
                roles.push(role);
                roles.len() - 1
            });
        }
        let effective_rules = roles.iter().map(|_| OnceCell::new()).collect();
        ClusterRoles { roles, by_name, effective_rules }
    }

    /// The rules of the named ClusterRole, aggregated ones included; None when it does not exist.
    pub(crate) fn rules(&self, name: &str) -> Option<&[&'a PolicyRule]> {
        let index = *self.by_name.get(name)?;
        Some(self.effective_rules[index].get_or_init(|| self.aggregate(index)))
    }

    /// The stored rules of the role and of every role reachable through its selectors, each rule
    /// once, in the order the controller would add them (selected roles by name).
    fn aggregate(&self, start: usize) -> Vec<&'a PolicyRule> {
        let mut rules: Vec<&'a PolicyRule> = Vec::new();
        let mut visited = vec![false; self.roles.len()];
        visited[start] = true;
        let mut queue = VecDeque::from([start]);
        while let Some(index) = queue.pop_front() {
            for rule in self.roles[index].rules.iter().flatten() {
                if !rules.iter().any(|known| same_rule(known, rule)) {
                    rules.push(rule);
                }
            }
            for selected in self.selected_by(index) {
                if !visited[selected] {
                    visited[selected] = true;
                    queue.push_back(selected);
                }
            }
        }
        rules
    }

    /// The other ClusterRoles this one's aggregation rule selects. A selector that does not
    /// convert makes the controller give up on the whole role, so then none.
    fn selected_by(&self, index: usize) -> Vec<usize> {
        let role = self.roles[index];
        let Some(aggregation) = &role.aggregation_rule else { return Vec::new() };
        let Some(selectors) = aggregation
            .cluster_role_selectors
            .iter()
            .flatten()
            .map(Selector::new)
            .collect::<Option<Vec<_>>>()
        else {
            return Vec::new();
        };
        let mut selected: Vec<usize> = (0..self.roles.len())
            .filter(|&other| other != index)
            .filter(|&other| {
                let labels = self.roles[other].metadata.labels.as_ref();
                selectors.iter().any(|selector| selector.selects(labels))
            })
            .collect();
        selected.sort_by_key(|&other| self.roles[other].metadata.name.as_deref());
        selected
    }
}

/// Rule equality as the controller's semantic comparison sees it: an absent list equals an empty one.
fn same_rule(a: &PolicyRule, b: &PolicyRule) -> bool {
    a.verbs == b.verbs
        && listed(&a.api_groups) == listed(&b.api_groups)
        && listed(&a.resources) == listed(&b.resources)
        && listed(&a.resource_names) == listed(&b.resource_names)
        && listed(&a.non_resource_urls) == listed(&b.non_resource_urls)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::rbac::v1::AggregationRule;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::request::tests::rule;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|value| value.to_string()).collect()),
        }
    }

    fn selects(selector: &LabelSelector, pairs: &[(&str, &str)]) -> Option<bool> {
        let labels = labels(pairs);
        Selector::new(selector).map(|selector| selector.selects(Some(&labels)))
    }

    fn cluster_role(name: &str, role_labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
        ClusterRole {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(labels(role_labels)),
                ..ObjectMeta::default()
            },
            rules: Some(rules),
            aggregation_rule: None,
        }
    }

    fn aggregating(mut role: ClusterRole, selectors: Vec<LabelSelector>) -> ClusterRole {
        role.aggregation_rule = Some(AggregationRule { cluster_role_selectors: Some(selectors) });
        role
    }

    fn by_labels(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector { match_labels: Some(labels(pairs)), ..LabelSelector::default() }
    }

    fn resources_of(roles: &ClusterRoles<'_>, name: &str) -> Option<Vec<String>> {
        roles
            .rules(name)
            .map(|rules| rules.iter().flat_map(|rule| rule.resources.clone().unwrap_or_default()).collect())
    }

    #[test]
    fn selectors_follow_label_semantics() {
        let role = [("tier", "web"), ("aggregate", "true")];
        assert_eq!(selects(&LabelSelector::default(), &role), Some(true));
        assert_eq!(selects(&by_labels(&[("tier", "web")]), &role), Some(true));
        assert_eq!(selects(&by_labels(&[("tier", "db")]), &role), Some(false));

        let expressions = |requirements| LabelSelector {
            match_expressions: Some(requirements),
            ..LabelSelector::default()
        };
        assert_eq!(selects(&expressions(vec![requirement("tier", "In", &["db", "web"])]), &role), Some(true));
        assert_eq!(selects(&expressions(vec![requirement("tier", "In", &["db"])]), &role), Some(false));
        assert_eq!(selects(&expressions(vec![requirement("tier", "NotIn", &["db"])]), &role), Some(true));
        assert_eq!(selects(&expressions(vec![requirement("tier", "NotIn", &["web"])]), &role), Some(false));
        assert_eq!(selects(&expressions(vec![requirement("zone", "NotIn", &["a"])]), &role), Some(true));
        assert_eq!(selects(&expressions(vec![requirement("tier", "Exists", &[])]), &role), Some(true));
        assert_eq!(selects(&expressions(vec![requirement("zone", "Exists", &[])]), &role), Some(false));
        assert_eq!(selects(&expressions(vec![requirement("zone", "DoesNotExist", &[])]), &role), Some(true));
        assert_eq!(selects(&expressions(vec![requirement("tier", "DoesNotExist", &[])]), &role), Some(false));

        // matchLabels and matchExpressions are ANDed.
        let both = LabelSelector {
            match_labels: Some(labels(&[("aggregate", "true")])),
            match_expressions: Some(vec![requirement("tier", "In", &["db"])]),
        };
        assert_eq!(selects(&both, &role), Some(false));

        // Selectors that do not convert.
        for broken in [
            requirement("tier", "In", &[]),
            requirement("tier", "NotIn", &[]),
            requirement("tier", "Exists", &["web"]),
            requirement("tier", "DoesNotExist", &["web"]),
            requirement("tier", "Equals", &["web"]),
        ] {
            assert_eq!(selects(&expressions(vec![broken.clone()]), &role), None, "{broken:?}");
        }
    }

    #[test]
    fn aggregated_rules_add_to_stored_ones_without_duplicates() {
        let cluster_roles = [
            aggregating(
                cluster_role("monitoring", &[], vec![rule(&["get"], &[""], &["stored"])]),
                vec![by_labels(&[("aggregate-to-monitoring", "true")])],
            ),
            cluster_role(
                "b-metrics",
                &[("aggregate-to-monitoring", "true")],
                vec![rule(&["get"], &[""], &["pods"])],
            ),
            cluster_role(
                "a-nodes",
                &[("aggregate-to-monitoring", "true")],
                vec![rule(&["get"], &[""], &["nodes"]), rule(&["get"], &[""], &["stored"])],
            ),
            cluster_role(
                "unrelated",
                &[("aggregate-to-monitoring", "false")],
                vec![rule(&["*"], &["*"], &["*"])],
            ),
        ];
        let roles = ClusterRoles::new(&cluster_roles);
        assert_eq!(resources_of(&roles, "monitoring").unwrap(), ["stored", "nodes", "pods"]);
        assert_eq!(resources_of(&roles, "b-metrics").unwrap(), ["pods"]);
        assert_eq!(resources_of(&roles, "missing"), None);
    }

    #[test]
    fn aggregation_reaches_through_aggregated_roles_and_survives_cycles() {
        let cluster_roles = [
            aggregating(cluster_role("admin", &[], vec![]), vec![by_labels(&[("to-admin", "true")])]),
            aggregating(
                cluster_role("edit", &[("to-admin", "true")], vec![]),
                vec![by_labels(&[("to-edit", "true")])],
            ),
            aggregating(
                cluster_role("view", &[("to-edit", "true")], vec![rule(&["get"], &[""], &["pods"])]),
                // Back to admin: a cycle the walk must not loop on.
                vec![by_labels(&[("is-admin", "true")])],
            ),
        ];
        let mut cluster_roles = cluster_roles.to_vec();
        cluster_roles[0].metadata.labels = Some(labels(&[("is-admin", "true")]));
        cluster_roles[0].rules =
            Some(vec![rule(&["create"], &["rbac.authorization.k8s.io"], &["rolebindings"])]);
        let roles = ClusterRoles::new(&cluster_roles);
        assert_eq!(resources_of(&roles, "admin").unwrap(), ["rolebindings", "pods"]);
        assert_eq!(resources_of(&roles, "edit").unwrap(), ["pods", "rolebindings"]);
        assert_eq!(resources_of(&roles, "view").unwrap(), ["pods", "rolebindings"]);
    }

    #[test]
    fn a_broken_selector_stops_the_whole_aggregation_and_empty_selects_all() {
        let member = cluster_role("member", &[("to-x", "true")], vec![rule(&["get"], &[""], &["pods"])]);
        let broken = aggregating(
            cluster_role("broken", &[], vec![rule(&["get"], &[""], &["stored"])]),
            vec![
                by_labels(&[("to-x", "true")]),
                LabelSelector {
                    match_expressions: Some(vec![requirement("to-x", "In", &[])]),
                    ..LabelSelector::default()
                },
            ],
        );
        let everything = aggregating(cluster_role("everything", &[], vec![]), vec![LabelSelector::default()]);
        let nothing = aggregating(cluster_role("nothing", &[], vec![]), vec![]);
        let cluster_roles = [member, broken, everything, nothing];
        let roles = ClusterRoles::new(&cluster_roles);
        assert_eq!(resources_of(&roles, "broken").unwrap(), ["stored"]);
        assert_eq!(resources_of(&roles, "everything").unwrap(), ["stored", "pods"]);
        assert_eq!(resources_of(&roles, "nothing").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn absent_and_empty_lists_are_the_same_rule() {
        let mut absent = rule(&["get"], &[""], &["pods"]);
        absent.resource_names = None;
        let mut empty = absent.clone();
        empty.resource_names = Some(Vec::new());
        assert!(same_rule(&absent, &empty));
        assert!(!same_rule(&absent, &rule(&["list"], &[""], &["pods"])));
    }
}

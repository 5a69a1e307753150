//! Label selectors, evaluated the way the API server does, so kir can tell which Services,
//! NetworkPolicies and controllers select a pod without asking the cluster again.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube_core::{Selector, SelectorExt};

pub type Labels = BTreeMap<String, String>;

/// Does a `LabelSelector` (matchLabels and matchExpressions) select these labels? Evaluated
/// by kube's own selector; an empty selector selects everything, one that does not parse (an
/// unknown operator) selects nothing.
pub fn selects(selector: &LabelSelector, labels: &Labels) -> bool {
    Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels))
}

/// Does a Service-style selector (a plain map) select these labels? An empty or absent map
/// selects nothing: such a Service has manually managed endpoints.
pub fn map_selects(selector: Option<&Labels>, labels: &Labels) -> bool {
    selector.is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The label keys a selector depends on: removing any of them from a pod can stop a
/// controller or Service from selecting it.
pub fn keys_of(selector: &LabelSelector) -> Vec<String> {
    let mut keys: Vec<String> = selector.match_labels.iter().flatten().map(|(k, _)| k.clone()).collect();
    for requirement in selector.match_expressions.iter().flatten() {
        // Only positive requirements stop matching when the key disappears.
        if matches!(requirement.operator.as_str(), "In" | "Exists") && !keys.contains(&requirement.key) {
            keys.push(requirement.key.clone());
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn match_labels_and_expressions_combine() {
        let pod = labels(&[("app", "web"), ("tier", "front")]);
        let empty = LabelSelector::default();
        assert!(selects(&empty, &pod));
        let by_label = LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() };
        assert!(selects(&by_label, &pod));
        let wrong = LabelSelector { match_labels: Some(labels(&[("app", "db")])), ..Default::default() };
        assert!(!selects(&wrong, &pod));

        let expressions = |reqs: Vec<LabelSelectorRequirement>| LabelSelector {
            match_expressions: Some(reqs),
            ..Default::default()
        };
        assert!(selects(&expressions(vec![requirement("tier", "In", &["front", "back"])]), &pod));
        assert!(!selects(&expressions(vec![requirement("tier", "NotIn", &["front"])]), &pod));
        assert!(selects(&expressions(vec![requirement("env", "NotIn", &["prod"])]), &pod));
        assert!(selects(&expressions(vec![requirement("app", "Exists", &[])]), &pod));
        assert!(!selects(&expressions(vec![requirement("app", "DoesNotExist", &[])]), &pod));
        assert!(!selects(&expressions(vec![requirement("app", "Sideways", &[])]), &pod));
    }

    #[test]
    fn service_selectors_need_every_pair_and_select_nothing_when_empty() {
        let pod = labels(&[("app", "web"), ("tier", "front")]);
        assert!(map_selects(Some(&labels(&[("app", "web")])), &pod));
        assert!(!map_selects(Some(&labels(&[("app", "web"), ("x", "y")])), &pod));
        assert!(!map_selects(Some(&Labels::new()), &pod));
        assert!(!map_selects(None, &pod));
    }

    #[test]
    fn keys_of_lists_positive_keys_once() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                requirement("app", "In", &["web"]),
                requirement("track", "Exists", &[]),
                requirement("canary", "DoesNotExist", &[]),
            ]),
        };
        assert_eq!(keys_of(&selector), ["app", "track"]);
    }
}

/// The selector as a `labelSelector` query string (`app=web,tier in (a,b),!canary`); empty
/// when it does not parse.
pub fn to_query(selector: &LabelSelector) -> String {
    Selector::try_from(selector.clone()).map(|s| s.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod query_tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    #[test]
    fn selectors_become_query_strings() {
        let selector = LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(to_query(&selector), "app=web,tier in (a,b),!canary");
    }
}

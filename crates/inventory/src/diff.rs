//! What changed between two inventories of one cluster: the drift since the last one saved.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Coverage, Exposure, Holder, HostReach, Inventory, Namespace, Workload};

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Topic {
    Namespace,
    Workload,
    Exposure,
    HostAccess,
    Admin,
    SecretReader,
    PolicyCoverage,
}

impl Topic {
    pub fn title(self) -> &'static str {
        match self {
            Topic::Namespace => "namespace",
            Topic::Workload => "workload",
            Topic::Exposure => "exposure",
            Topic::HostAccess => "privileged or host access",
            Topic::Admin => "cluster admin",
            Topic::SecretReader => "secret reader",
            Topic::PolicyCoverage => "network policy coverage",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub topic: Topic,
    pub kind: ChangeKind,
    pub item: String,
    /// For a change: each field, old and new.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// When the old inventory was taken.
    pub from: String,
    pub to: String,
    pub changes: Vec<Change>,
    /// Kinds either inventory could not read: what changed there is not known.
    pub unknown: Vec<String>,
}

/// The fields of an item that count as a change, by name.
type Fields = BTreeMap<&'static str, String>;

fn compare<T>(
    topic: Topic,
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> String,
    fields: impl Fn(&T) -> Fields,
    changes: &mut Vec<Change>,
) {
    let index =
        |items: &[T]| -> BTreeMap<String, Fields> { items.iter().map(|i| (key(i), fields(i))).collect() };
    let (old, new) = (index(old), index(new));
    for (item, before) in &old {
        match new.get(item) {
            None => {
                changes.push(Change { topic, kind: ChangeKind::Removed, item: item.clone(), detail: None })
            }
            Some(after) if after != before => {
                let detail: Vec<String> = before
                    .iter()
                    .filter(|(field, value)| after.get(*field) != Some(value))
                    .map(|(field, value)| format!("{field}: {value} → {}", after[field]))
                    .collect();
                changes.push(Change {
                    topic,
                    kind: ChangeKind::Changed,
                    item: item.clone(),
                    detail: Some(detail.join("; ")),
                });
            }
            Some(_) => {}
        }
    }
    for item in new.keys().filter(|item| !old.contains_key(*item)) {
        changes.push(Change { topic, kind: ChangeKind::Added, item: item.clone(), detail: None });
    }
}

fn listed(items: &[String]) -> String {
    if items.is_empty() { "none".to_string() } else { items.join(", ") }
}

/// The drift from `old` to `new`.
pub fn diff(old: &Inventory, new: &Inventory) -> Drift {
    let mut changes = Vec::new();
    compare(
        Topic::Namespace,
        &old.namespaces,
        &new.namespaces,
        |n: &Namespace| n.name.clone(),
        |n| {
            let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Fields::from([("labels", listed(&labels))])
        },
        &mut changes,
    );
    compare(
        Topic::Workload,
        &old.workloads,
        &new.workloads,
        Workload::key,
        |w| {
            Fields::from([
                ("images", listed(&w.images)),
                ("serviceAccount", w.service_account.clone()),
                ("hostAccess", listed(&w.host.reasons())),
            ])
        },
        &mut changes,
    );
    compare(
        Topic::Exposure,
        &old.facts.exposures,
        &new.facts.exposures,
        Exposure::key,
        |e| Fields::from([("reaches", e.detail.clone()), ("workloads", listed(&e.workloads))]),
        &mut changes,
    );
    compare(
        Topic::HostAccess,
        &old.facts.host_access,
        &new.facts.host_access,
        |h: &HostReach| h.workload.clone(),
        |h| Fields::from([("reasons", listed(&h.reasons))]),
        &mut changes,
    );
    compare(Topic::Admin, &old.facts.admins, &new.facts.admins, Holder::key, |_| Fields::new(), &mut changes);
    compare(
        Topic::SecretReader,
        &old.facts.secret_readers,
        &new.facts.secret_readers,
        Holder::key,
        |_| Fields::new(),
        &mut changes,
    );
    compare(
        Topic::PolicyCoverage,
        &old.facts.coverage,
        &new.facts.coverage,
        |c: &Coverage| c.namespace.clone(),
        |c| {
            Fields::from([
                ("policies", c.policies.to_string()),
                ("defaultDenyIngress", c.default_deny_ingress.to_string()),
                ("defaultDenyEgress", c.default_deny_egress.to_string()),
            ])
        },
        &mut changes,
    );
    changes.sort_by(|a, b| (a.topic, a.kind, &a.item).cmp(&(b.topic, b.kind, &b.item)));
    let mut unknown: Vec<String> = old.gaps.iter().chain(&new.gaps).map(|g| g.kind.clone()).collect();
    unknown.sort();
    unknown.dedup();
    Drift { from: old.taken_at.clone(), to: new.taken_at.clone(), changes, unknown }
}

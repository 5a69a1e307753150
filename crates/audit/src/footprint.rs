//! kir's own requests, told apart from an attacker's. A response leaves traces in the audit log
//! that rules flag (an exec into the suspect, a permission review, reads of Secret metadata),
//! made by the responder's identity or, impersonated, by the pod's. A case's journal says what
//! kir did, as whom and when: a request counts as kir's only when all three agree: the
//! authenticated user is one the journal names, it falls within the journal's time span, and
//! it is a kind of request the journaled actions make, in their namespaces. The `kir/`
//! User-Agent is shown but never trusted: anyone can send it.

use std::collections::BTreeSet;

use crate::Event;
use jiff::{SignedDuration, Timestamp};

/// What a journal entry says kir did, as the footprint needs it.
#[derive(Debug, Clone)]
pub struct JournaledAction {
    pub time: Timestamp,
    /// Who acted: the responder's identity, or `kir` for evidence kir wrote itself.
    pub actor: String,
    pub action: String,
    pub target: String,
}

/// How much earlier than its journal line a request may have been made (a capture journals
/// what it read once the read is done) and how much later (a deletion's grace, an exec's end).
const MARGIN: SignedDuration = SignedDuration::from_secs(120);

/// The requests a case's journal accounts for.
#[derive(Debug, Clone, Default)]
pub struct Footprint {
    /// The identities that acted (never `kir` itself, which is no API identity).
    users: BTreeSet<String>,
    from: Option<Timestamp>,
    until: Option<Timestamp>,
    /// Namespaces the journaled actions concern.
    namespaces: BTreeSet<String>,
    /// (verb, resource, subresource) of the writes the journaled actions make.
    writes: BTreeSet<(&'static str, &'static str, &'static str)>,
}

impl Footprint {
    /// The footprint of a case: `responder` (the case's recorded responder) and the actors of
    /// its journal.
    pub fn from_journal(responder: Option<&str>, actions: &[JournaledAction]) -> Footprint {
        let mut footprint = Footprint::default();
        footprint.users.extend(responder.map(str::to_string));
        for action in actions {
            if action.actor != "kir" && !action.actor.is_empty() {
                footprint.users.insert(action.actor.clone());
            }
            footprint.from = Some(footprint.from.map_or(action.time, |t| t.min(action.time)));
            footprint.until = Some(footprint.until.map_or(action.time, |t| t.max(action.time)));
            if let Some(namespace) = namespace_of(&action.target) {
                footprint.namespaces.insert(namespace.to_string());
            }
            footprint.writes.extend(writes_of(&action.action).iter().copied());
        }
        footprint
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty() || self.from.is_none()
    }

    /// The identities the journal names.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.iter().map(String::as_str)
    }

    /// Whether the journal accounts for `event` as kir's own request.
    pub fn accounts_for(&self, event: &Event<'_>) -> bool {
        if !self.users.contains(&*event.user.username) {
            return false;
        }
        let (Some(from), Some(until), Some(time)) = (self.from, self.until, event.time()) else {
            return false;
        };
        if time < from - MARGIN || time > until + MARGIN {
            return false;
        }
        let (resource, subresource) = (event.resource(), event.subresource());
        // kir impersonates only to review what a pod's account may do; anything else asked in
        // another identity's name through the responder's credential is not kir's.
        if event.impersonated_user.is_some() && !resource.ends_with("reviews") {
            return false;
        }
        let namespace = event.namespace();
        let in_scope = namespace.is_empty() || self.namespaces.contains(namespace);
        let verb = &*event.verb;
        match verb {
            // Permission and identity reviews are asked anywhere, and are kir's at every step.
            "create" if resource.ends_with("reviews") => true,
            "get" | "list" | "watch" => {
                in_scope && (subresource != "exec" || self.writes.contains(&("create", "pods", "exec")))
            }
            _ => in_scope && self.writes.iter().any(|w| w.0 == verb && w.1 == resource && w.2 == subresource),
        }
    }
}

/// `pod/NS/NAME`, `deployment/NS/NAME`, ...: the namespace of a journal target.
fn namespace_of(target: &str) -> Option<&str> {
    let mut parts = target.split('/');
    let (_kind, namespace, _name) = (parts.next()?, parts.next()?, parts.next()?);
    (!namespace.is_empty()).then_some(namespace)
}

/// The writes each kind of journaled action makes (exec counts as a write: it runs a command).
fn writes_of(action: &str) -> &'static [(&'static str, &'static str, &'static str)] {
    const EXEC: &[(&str, &str, &str)] = &[("create", "pods", "exec"), ("get", "pods", "exec")];
    match action.split('.').next().unwrap_or_default() {
        "snapshot" => EXEC,
        "isolate" | "release" => &[
            ("create", "networkpolicies", ""),
            ("delete", "networkpolicies", ""),
            ("patch", "pods", ""),
            ("create", "ciliumnetworkpolicies", ""),
            ("create", "adminnetworkpolicies", ""),
            ("patch", "nodes", ""),
        ],
        "replace" | "purge" => {
            &[("delete", "pods", ""), ("patch", "deployments", ""), ("patch", "statefulsets", "")]
        }
        "block" | "image" => &[
            ("create", "validatingadmissionpolicies", ""),
            ("create", "validatingadmissionpolicybindings", ""),
            // The proofs: server-side dry-runs of the image in a pod and in each controller.
            ("create", "pods", ""),
            ("create", "deployments", ""),
            ("create", "statefulsets", ""),
            ("create", "daemonsets", ""),
            ("create", "jobs", ""),
            ("create", "cronjobs", ""),
        ],
        "undo" => &[
            ("delete", "networkpolicies", ""),
            ("patch", "pods", ""),
            ("patch", "nodes", ""),
            ("delete", "validatingadmissionpolicies", ""),
            ("delete", "validatingadmissionpolicybindings", ""),
        ],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(time: &str, actor: &str, action: &str, target: &str) -> JournaledAction {
        JournaledAction {
            time: time.parse().unwrap(),
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
        }
    }

    fn event(json: &str) -> Event<'_> {
        serde_json::from_str(json).unwrap()
    }

    fn footprint() -> Footprint {
        Footprint::from_journal(
            Some("alice"),
            &[
                action("2026-12-06T10:00:00Z", "alice", "open-case", "20261206-100000-abcdef"),
                action("2026-12-06T10:00:01Z", "kir", "collect", "pods/shop/web/uid/pod.json"),
                action("2026-12-06T10:00:02Z", "alice", "snapshot.pod", "pod/shop/web"),
                action("2026-12-06T10:00:03Z", "alice", "isolate.create-networkpolicy", "pod/shop/web"),
            ],
        )
    }

    const EXEC: &str = r#"{"verb":"create","user":{"username":"alice"},"stageTimestamp":"2026-12-06T10:00:02Z",
        "objectRef":{"resource":"pods","subresource":"exec","namespace":"shop","name":"web"}}"#;

    #[test]
    fn kirs_exec_and_reads_are_its_own() {
        let footprint = footprint();
        assert!(footprint.accounts_for(&event(EXEC)));
        let read = r#"{"verb":"list","user":{"username":"alice"},"stageTimestamp":"2026-12-06T10:00:01Z",
            "objectRef":{"resource":"secrets","namespace":"shop"}}"#;
        assert!(footprint.accounts_for(&event(read)));
        let review = r#"{"verb":"create","user":{"username":"alice"},"impersonatedUser":{"username":"system:serviceaccount:shop:default"},
            "stageTimestamp":"2026-12-06T10:00:01Z","objectRef":{"resource":"selfsubjectrulesreviews","apiGroup":"authorization.k8s.io"}}"#;
        assert!(footprint.accounts_for(&event(review)), "the rules review as the pod's account");
    }

    #[test]
    fn the_same_requests_by_someone_else_elsewhere_or_later_are_not() {
        let footprint = footprint();
        let mallory = EXEC.replace("\"alice\"", "\"mallory\"");
        assert!(!footprint.accounts_for(&event(&mallory)), "another identity, even with kir's user agent");
        let later = EXEC.replace("10:00:02", "11:30:00");
        assert!(!footprint.accounts_for(&event(&later)), "outside the journal's time span");
        let impersonated = EXEC.replace(
            r#""user":{"username":"alice"}"#,
            r#""user":{"username":"alice"},"impersonatedUser":{"username":"eve"}"#,
        );
        assert!(!footprint.accounts_for(&event(&impersonated)), "an exec in another identity's name");
        let elsewhere = EXEC.replace("\"shop\"", "\"payments\"");
        assert!(!footprint.accounts_for(&event(&elsewhere)), "a namespace the case never touched");
        let binding = r#"{"verb":"create","user":{"username":"alice"},"stageTimestamp":"2026-12-06T10:00:02Z",
            "objectRef":{"resource":"clusterrolebindings","apiGroup":"rbac.authorization.k8s.io","name":"x"}}"#;
        assert!(!footprint.accounts_for(&event(binding)), "a write no journaled action makes");
        let no_exec = Footprint::from_journal(
            Some("alice"),
            &[action("2026-12-06T10:00:00Z", "alice", "capture.pod", "pod/shop/web")],
        );
        assert!(!no_exec.accounts_for(&event(EXEC)), "an exec without a journaled snapshot");
        assert!(Footprint::from_journal(None, &[]).is_empty());
    }
}

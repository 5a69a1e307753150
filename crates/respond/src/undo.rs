//! Reversing what kir did, from the case journal: `kir undo CASE` reverses every recorded
//! change, `kir release pod` those about one pod. Each reversal is journaled too, so running
//! undo again (or after an interruption) reverses nothing twice.

use kir_cluster::Cluster;
use kir_evidence::{Case, JournalEntry, JournalRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Result;

/// What reverses one change, as recorded in the journal entry of its intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum UndoOp {
    /// Merge-patch an object back (labels restored, a label or annotation removed, uncordon).
    #[serde(rename_all = "camelCase")]
    Patch { api_version: String, kind: String, namespace: Option<String>, name: String, patch: Value },
    /// Delete an object kir created.
    #[serde(rename_all = "camelCase")]
    Delete { api_version: String, kind: String, namespace: Option<String>, name: String },
}

impl UndoOp {
    pub fn describe(&self) -> String {
        let at = |ns: &Option<String>, name: &str| {
            ns.as_ref().map(|n| format!("{n}/{name}")).unwrap_or(name.to_string())
        };
        match self {
            UndoOp::Patch { kind, namespace, name, patch, .. } => {
                format!(
                    "patch {kind} {} with {}",
                    at(namespace, name),
                    serde_json::to_string(patch).unwrap_or_default()
                )
            }
            UndoOp::Delete { kind, namespace, name, .. } => format!("delete {kind} {}", at(namespace, name)),
        }
    }
}

/// One reversal and how it went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reversal {
    pub undoes: u64,
    pub action: String,
    pub description: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The entries still to reverse: those with an undo op whose change was made (or may have
/// been: an intent without a result is a run killed midway), not reversed yet, newest first
/// (so a label is restored after the policies that depend on it are gone). A change the
/// cluster already had (`unchanged`) or that failed was not made by this case: nothing to undo.
pub fn pending(entries: &[JournalEntry], target: Option<&str>) -> Vec<(u64, String, UndoOp)> {
    let undone: Vec<u64> = entries
        .iter()
        .filter(|e| e.action == "undo" && e.result.get("status").and_then(Value::as_str) != Some("failed"))
        .filter_map(|e| e.parameters.get("undoes").and_then(Value::as_u64))
        .collect();
    let not_made: Vec<u64> = entries
        .iter()
        .filter(|e| matches!(e.result.get("status").and_then(Value::as_str), Some("unchanged" | "failed")))
        .filter_map(|e| e.parameters.get("intent").and_then(Value::as_u64))
        .collect();
    entries
        .iter()
        .rev()
        .filter(|e| !e.undo.is_null() && !undone.contains(&e.seq) && !not_made.contains(&e.seq))
        .filter(|e| target.is_none_or(|t| e.target.as_deref() == Some(t)))
        .filter_map(|e| Some((e.seq, e.action.clone(), serde_json::from_value(e.undo.clone()).ok()?)))
        .collect()
}

/// Reverse every pending change (of `target` only, when given). `dry_run` lists them.
pub async fn undo(
    cluster: &Cluster,
    case: &Case,
    actor: &str,
    target: Option<&str>,
    dry_run: bool,
) -> Result<Vec<Reversal>> {
    let entries = case.entries()?;
    let mut reversals = Vec::new();
    for (seq, action, op) in pending(&entries, target) {
        let description = op.describe();
        if dry_run {
            reversals.push(Reversal { undoes: seq, action, description, status: "planned", error: None });
            continue;
        }
        let (status, error) = match apply(cluster, &op).await {
            Ok(true) => ("reversed", None),
            Ok(false) => ("already gone", None),
            Err(error) => ("failed", Some(error.to_string())),
        };
        case.record(
            JournalRecord::new(actor, "undo")
                .target(
                    entries.iter().find(|e| e.seq == seq).and_then(|e| e.target.clone()).unwrap_or_default(),
                )
                .parameters(json!({"undoes": seq, "op": op}))
                .result(json!({"status": status, "error": error})),
        )?;
        reversals.push(Reversal { undoes: seq, action, description, status, error });
    }
    Ok(reversals)
}

/// `Ok(false)` when there was nothing left to reverse (the object is gone).
async fn apply(cluster: &Cluster, op: &UndoOp) -> kir_cluster::Result<bool> {
    match op {
        UndoOp::Delete { api_version, kind, namespace, name } => {
            cluster.delete_object(api_version, kind, namespace.as_deref(), name).await
        }
        UndoOp::Patch { api_version, kind, namespace, name, patch } => {
            match cluster.merge_patch(api_version, kind, namespace.as_deref(), name, patch).await {
                Ok(_) => Ok(true),
                Err(kir_cluster::Error::NotFound { .. }) => Ok(false),
                // The patch names the UID it was made for: a pod recreated under the same name
                // is another object, and what the change was made to is gone.
                Err(kir_cluster::Error::Api { code: 422, message, .. })
                    if message.contains("metadata.uid") =>
                {
                    Ok(false)
                }
                Err(e) => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;

    fn entry(
        seq: u64,
        action: &str,
        target: &str,
        parameters: Value,
        result: Value,
        undo: Value,
    ) -> JournalEntry {
        JournalEntry {
            seq,
            time: Timestamp::UNIX_EPOCH,
            actor: "me".into(),
            action: action.into(),
            target: Some(target.into()),
            parameters,
            result,
            undo,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn delete(name: &str) -> Value {
        json!({"op": "delete", "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "namespace": "ns", "name": name})
    }

    #[test]
    fn pending_reversals_are_newest_first_and_skip_what_was_undone() {
        let entries = vec![
            entry(1, "case.open", "", json!({}), json!({}), Value::Null),
            entry(
                2,
                "isolate.create-networkpolicy",
                "pod/ns/a",
                json!({}),
                json!({"status": "started"}),
                delete("qa"),
            ),
            entry(
                3,
                "isolate.create-networkpolicy",
                "pod/ns/b",
                json!({}),
                json!({"status": "started"}),
                delete("qb"),
            ),
            entry(
                4,
                "isolate.label-pod",
                "pod/ns/a",
                json!({}),
                json!({}),
                json!({"op": "patch", "apiVersion": "v1", "kind": "Pod", "namespace": "ns", "name": "a", "patch": {}}),
            ),
            entry(5, "undo", "pod/ns/b", json!({"undoes": 3}), json!({"status": "reversed"}), Value::Null),
        ];
        let all: Vec<u64> = pending(&entries, None).iter().map(|(seq, _, _)| *seq).collect();
        assert_eq!(all, [4, 2]);
        let only_a: Vec<u64> = pending(&entries, Some("pod/ns/a")).iter().map(|(seq, _, _)| *seq).collect();
        assert_eq!(only_a, [4, 2]);
        assert!(pending(&entries, Some("pod/ns/b")).is_empty());

        let mut failed = entries.clone();
        failed[4].result = json!({"status": "failed"});
        assert_eq!(pending(&failed, Some("pod/ns/b")).len(), 1, "a failed reversal is tried again");
    }

    #[test]
    fn changes_that_were_not_made_are_not_reversed() {
        // An intent (with its undo) and, when its run lived long enough, its result.
        let intent = |seq: u64, action: &str, object: &str| {
            entry(seq, action, "pod/ns/a", json!({}), json!({"status": "started"}), delete(object))
        };
        let result = |seq: u64, action: &str, intent: u64, status: &str| {
            entry(seq, action, "pod/ns/a", json!({"intent": intent}), json!({"status": status}), Value::Null)
        };
        let entries = vec![
            intent(2, "isolate.create-networkpolicy", "qa"),
            result(3, "isolate.create-networkpolicy", 2, "unchanged"),
            intent(4, "isolate.cordon-node", "n"),
            result(5, "isolate.cordon-node", 4, "failed"),
            intent(6, "isolate.label-pod", "l"),
            result(7, "isolate.label-pod", 6, "applied"),
            intent(8, "isolate.orphan", "o"),
        ];
        let seqs: Vec<u64> = pending(&entries, None).iter().map(|(seq, _, _)| *seq).collect();
        assert_eq!(seqs, [8, 6], "applied, and started without a result (killed), are reversed");
    }
}

//! Completion that knows the cluster (`source <(COMPLETE=bash kir)`): namespaces, pods and case
//! folders, as kubectl completes its own. Each completion asks the API server of the current
//! kubeconfig context with a short deadline; when it cannot, it offers nothing rather than
//! making the shell wait or printing an error into the command line.

use std::{ffi::OsStr, path::Path, time::Duration};

use clap_complete::engine::CompletionCandidate;
use kir_cluster::{Cluster, ConnectOptions};

/// How long a completion may wait for the API server: a shell that hangs on TAB is worse than
/// one that offers nothing.
const DEADLINE: Duration = Duration::from_secs(2);

/// Run `ask` against the current context within [`DEADLINE`]; `None` on any failure.
fn ask<T>(ask: impl AsyncFnOnce(Cluster) -> Option<T>) -> Option<T> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    runtime.block_on(async {
        let options = ConnectOptions { request_timeout: DEADLINE, ..Default::default() };
        let cluster = Cluster::connect(&options).await.ok()?;
        tokio::time::timeout(DEADLINE, ask(cluster)).await.ok().flatten()
    })
}

fn matching(current: &OsStr, names: impl IntoIterator<Item = String>) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let mut names: Vec<String> = names.into_iter().filter(|n| n.starts_with(current.as_ref())).collect();
    names.sort();
    names.dedup();
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// `-n`: the cluster's namespaces.
pub fn namespaces(current: &OsStr) -> Vec<CompletionCandidate> {
    let names = ask(async |cluster| cluster.namespace_names().await.ok()).unwrap_or_default();
    matching(current, names)
}

/// A pod argument: `NS/NAME` once a namespace is typed, else the pods of the context's
/// namespace and every namespace as `NS/`.
pub fn pods(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy().into_owned();
    let names = ask(async |cluster| match typed.split_once('/') {
        Some((ns, _)) => {
            let pods = cluster.pods_matching(Some(ns), "").await.ok()?;
            Some(pods.into_iter().map(|(ns, name)| format!("{ns}/{name}")).collect::<Vec<_>>())
        }
        None => {
            let here = cluster.namespace().to_string();
            let pods = cluster.pods_matching(Some(&here), "").await.unwrap_or_default();
            let namespaces = cluster.namespace_names().await.unwrap_or_default();
            Some(
                pods.into_iter()
                    .map(|(_, name)| name)
                    .chain(namespaces.into_iter().map(|ns| format!("{ns}/")))
                    .collect(),
            )
        }
    })
    .unwrap_or_default();
    matching(current, names)
}

/// A case folder: the cases under `./cases` (folders holding a journal), and folders on the
/// way to the one being typed.
pub fn cases(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = Path::new(current);
    let parent = match typed.to_string_lossy() {
        t if t.ends_with('/') => typed.to_path_buf(),
        _ => typed.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let mut found = Vec::new();
    for dir in [parent.clone(), Path::new("cases").to_path_buf()] {
        let listing = if dir.as_os_str().is_empty() { Path::new(".").read_dir() } else { dir.read_dir() };
        for entry in listing.into_iter().flatten().flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = dir.join(entry.file_name());
            let shown = path.to_string_lossy().into_owned();
            found.push(if path.join("journal.jsonl").is_file() { shown } else { format!("{shown}/") });
        }
    }
    matching(current, found)
}

//! What every command that collects or changes something shares: the connection and the
//! identity acting, the pod named on the command line, the case, and the confirmation.

use std::{
    io::{BufRead, IsTerminal, Write},
    path::Path,
};

use anyhow::Context;
use kir_cluster::Cluster;
use kir_evidence::{Case, CaseInfo};
use kir_respond::blocking::blocking;

use crate::{
    cli::{ConfirmArgs, PodTargets},
    output::sanitize,
    settings::{Settings, UsageError, pod_ref},
};

/// A connection, and the name the API server gives whoever acts through it (journal actor).
pub struct Responder {
    pub cluster: Cluster,
    pub actor: String,
}

pub async fn connect(settings: &Settings) -> anyhow::Result<Responder> {
    let cluster = Cluster::connect(&settings.connect).await?;
    let actor = actor(&cluster).await?;
    Ok(Responder { cluster, actor })
}

/// Who acts through `cluster`: part of the record. The review is cheap; if the server does not
/// offer it, the kubeconfig context stands in and says so.
pub async fn actor(cluster: &Cluster) -> anyhow::Result<String> {
    match cluster.whoami().await {
        Ok(identity) => Ok(identity.username),
        Err(error) if error.connect_failure().is_some() => Err(error.into()),
        Err(error) => {
            tracing::warn!("cannot ask who I am ({error}); journaling the context name instead");
            Ok(format!("context:{}", cluster.target().context.clone().unwrap_or_default()))
        }
    }
}

/// The pod argument resolved against `-n` and the context's namespace.
pub fn pod(settings: &Settings, cluster: &Cluster, arg: &str) -> Result<(String, String), UsageError> {
    pod_ref(arg, settings.connect.namespace.as_deref(), cluster.namespace())
}

/// How many pods are answered at once: enough to act on a handful in the time of one, few
/// enough that the API server and the case's journal lock are not swamped.
pub const AT_ONCE: usize = 4;

/// The pods named on the command line, or matched by `-l`, each once.
pub async fn targets(
    args: &PodTargets,
    settings: &Settings,
    cluster: &Cluster,
) -> anyhow::Result<Vec<(String, String)>> {
    let Some(selector) = &args.selector else {
        let mut targets: Vec<(String, String)> = Vec::new();
        for arg in &args.pods {
            let target = pod(settings, cluster, arg)?;
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
        return Ok(targets);
    };
    let namespace = if args.all_namespaces {
        None
    } else {
        Some(settings.connect.namespace.clone().unwrap_or_else(|| cluster.namespace().to_string()))
    };
    let mut targets = cluster.pods_matching(namespace.as_deref(), selector).await?;
    if targets.is_empty() {
        let scope = namespace.map_or("any namespace".to_string(), |ns| format!("namespace {ns}"));
        return Err(UsageError(format!(
            "no pod matches -l {} in {scope}: nothing to do",
            sanitize(selector)
        ))
        .into());
    }
    targets.sort();
    Ok(targets)
}

/// A case title naming the first few of `targets`: `capture of pod a/b`, `capture of pods ...`.
pub fn title_for(what: &str, targets: &[(String, String)]) -> String {
    let names: Vec<String> = targets.iter().map(|(ns, name)| format!("{ns}/{name}")).collect();
    match names.len() {
        1 => format!("{what} pod {}", names[0]),
        2..=3 => format!("{what} pods {}", names.join(", ")),
        more => format!("{what} pods {} and {} more", names[..3].join(", "), more - 3),
    }
}

/// Run `act` on every target, [`AT_ONCE`] at a time; the results in the targets' order.
pub async fn each_pod<'a, T, F, Fut>(targets: &'a [(String, String)], act: F) -> Vec<((String, String), T)>
where
    F: Fn(&'a str, &'a str) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    use futures::StreamExt;
    futures::stream::iter(targets)
        .map(|(ns, name)| {
            let done = act(ns, name);
            async move { ((ns.clone(), name.clone()), done.await) }
        })
        .buffered(AT_ONCE)
        .collect()
        .await
}

/// The moment the last of several pods was isolated: unknown when one of them was not.
pub fn isolated_all_after_ms(each: impl IntoIterator<Item = Option<u128>>) -> Option<u128> {
    each.into_iter().collect::<Option<Vec<u128>>>().and_then(|all| all.into_iter().max())
}

/// The closing lines of a response to several pods.
pub fn print_isolated_all(pods: usize, isolated_all_after_ms: Option<u128>, case: &Case) {
    println!();
    match isolated_all_after_ms {
        Some(ms) => println!("all {pods} pods isolated after {ms} ms"),
        None => println!("NOT all pods are isolated: see the containment column"),
    }
    println!("case: {}", sanitize(&case.path().display().to_string()));
}

/// A `--case` (or `KIR_CASE`) folder that does not exist is a mistyped path, not a new case,
/// unless `--new-case` says so: checked before any work, so that nothing is collected for a case
/// that cannot take it.
pub fn case_may_be_opened(settings: &Settings) -> Result<(), UsageError> {
    match &settings.case {
        Some(dir) if !settings.new_case && std::fs::symlink_metadata(dir).is_err() => {
            Err(UsageError(format!(
                "--case {}: there is no case there; add --new-case to start one there, or check the path \
             (`kir case list` shows the cases under ./cases)",
                sanitize(&dir.display().to_string())
            )))
        }
        _ => Ok(()),
    }
}

/// The case to record into: `--case`/`KIR_CASE` (resumed when it exists, created only with
/// `--new-case`), else a new one under `./cases`, whose path is printed.
pub async fn open_case(settings: &Settings, responder: &Responder, title: String) -> anyhow::Result<Case> {
    let target = responder.cluster.target();
    let info = CaseInfo {
        cluster: Some(target.server.clone()),
        context: target.context.clone(),
        responder: Some(responder.actor.clone()),
        kir_version: env!("CARGO_PKG_VERSION").to_string(),
        ..CaseInfo::new(title)
    };
    match &settings.case {
        // Two commands starting at once on a new folder both record into one case: one creates
        // it, the other opens it.
        Some(dir) => {
            case_may_be_opened(settings)?;
            let folder = dir.clone();
            let (case, created) = blocking(move || Case::open_or_create(folder, info))
                .await
                .with_context(|| format!("cannot open or create case {}", dir.display()))?;
            if created {
                eprintln!("case: {} (new)", sanitize(&case.path().display().to_string()));
            } else {
                same_cluster(&case, &responder.cluster)?;
            }
            Ok(case)
        }
        None => {
            let case = blocking(move || Case::create_in(Path::new("cases"), info))
                .await
                .context("cannot create a case under ./cases")?;
            let path = case.path().display().to_string();
            eprintln!("case: {} (new; pass --case {} to add to it)", sanitize(&path), sanitize(&path));
            Ok(case)
        }
    }
}

/// The case recorded in `dir` (opening it finishes what an interrupted run left staged).
pub async fn open_recorded(dir: &Path) -> anyhow::Result<Case> {
    let folder = dir.to_path_buf();
    blocking(move || Case::open(folder))
        .await
        .map_err(|e| anyhow::anyhow!("cannot open case {}: {e}", dir.display()))
}

/// A case records the cluster it was opened for; acting on another one with it (after a
/// context switch) would mix two incidents, or reverse changes in the wrong cluster.
pub fn same_cluster(case: &Case, cluster: &Cluster) -> anyhow::Result<()> {
    let recorded = case.metadata().info.cluster.as_deref();
    let current = cluster.target().server.as_str();
    match recorded {
        Some(recorded) if recorded != current => Err(UsageError(format!(
            "case {} belongs to cluster {recorded}, but the current context ({}) points at {current}: switch \
             context (--context) or use another case",
            case.path().display(),
            cluster.target().context.as_deref().unwrap_or("<none>")
        ))
        .into()),
        _ => Ok(()),
    }
}

/// What to do after the plan is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    DryRun,
    Apply,
}

/// `--dry-run` stops after the plan; `--yes` applies; a terminal is asked; anything else is a
/// usage error, so a script never changes a cluster by accident.
pub fn confirm(args: &ConfirmArgs, question: &str) -> anyhow::Result<Decision> {
    if args.dry_run {
        return Ok(Decision::DryRun);
    }
    if args.yes {
        return Ok(Decision::Apply);
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "refusing to change the cluster without confirmation: stdin is not a terminal; pass --yes to apply the plan \
             above, or --dry-run to only show it"
                .to_string(),
        )
        .into());
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(Decision::Apply)
    } else {
        anyhow::bail!("not confirmed: nothing was changed")
    }
}

/// Show `plan` (as text, or as JSON/YAML with `--dry-run`) and ask for confirmation. `true`:
/// go ahead; `false`: a dry run, nothing to do.
pub fn plan_confirmed<T: serde::Serialize>(
    plan: &T,
    text: &str,
    confirm: &crate::cli::ConfirmArgs,
    question: &str,
    settings: &Settings,
) -> anyhow::Result<bool> {
    let text = sanitize(text).into_owned();
    if confirm.dry_run {
        match settings.output {
            crate::cli::OutputFormat::Json => crate::output::print_json(plan)?,
            crate::cli::OutputFormat::Yaml => crate::output::print_yaml(plan)?,
            crate::cli::OutputFormat::Table => print!("{text}"),
        }
        return Ok(false);
    }
    eprint!("{text}");
    Ok(self::confirm(confirm, question)? == Decision::Apply)
}

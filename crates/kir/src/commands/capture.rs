//! `kir capture pod` and the rendering of what a collecting step produced.

use comfy_table::Cell;
use kir_respond::{
    capture::{CaptureOptions, capture_pod},
    collect::Collected,
    observe::observe_pod,
};
use serde::Serialize;

use crate::{
    cli::{CapturePodArgs, OutputFormat},
    commands::responder,
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::Settings,
};

pub async fn pod(args: &CapturePodArgs, settings: &Settings) -> anyhow::Result<u8> {
    let options = CaptureOptions { log_limit: args.log_limit };
    let responder = responder::connect(settings).await?;
    let targets = responder::targets(&args.targets, settings, &responder.cluster).await?;
    let title = responder::title_for("capture of", &targets);
    if let [(ns, name)] = targets.as_slice() {
        let observed = observe_pod(&responder.cluster, ns, name).await?;
        let case = responder::open_case(settings, &responder, title).await?;
        let collected = capture_pod(&responder.cluster, &case, &responder.actor, &observed, options).await?;
        match settings.output {
            OutputFormat::Json => print_json(&collected)?,
            OutputFormat::Yaml => print_yaml(&collected)?,
            OutputFormat::Table => {
                print_collected(&collected)?;
                println!("case: {}", sanitize(&case.path().display().to_string()));
            }
        }
        return Ok(collected_status("capture", &collected));
    }
    let case = responder::open_case(settings, &responder, title).await?;
    let results = responder::each_pod(&targets, |ns, name| {
        let (responder, case) = (&responder, &case);
        async move {
            let observed = observe_pod(&responder.cluster, ns, name).await?;
            capture_pod(&responder.cluster, case, &responder.actor, &observed, options).await
        }
    })
    .await;
    let per_pod: Vec<PodCollected> =
        results.iter().map(|((ns, name), result)| PodCollected::new(ns, name, result)).collect();
    match settings.output {
        OutputFormat::Json => print_json(&serde_json::json!({"case": case.path(), "pods": per_pod}))?,
        OutputFormat::Yaml => print_yaml(&serde_json::json!({"case": case.path(), "pods": per_pod}))?,
        OutputFormat::Table => {
            print_summary(&per_pod)?;
            println!("case: {}", sanitize(&case.path().display().to_string()));
        }
    }
    Ok(many_status("capture", &results, |c| c))
}

/// What a collecting command did for one of several pods.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCollected<'a> {
    pub pod: String,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub collected: Option<&'a Collected>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<'a> PodCollected<'a> {
    pub fn new(ns: &str, name: &str, result: &'a Result<Collected, kir_respond::Error>) -> Self {
        let (collected, error) = match result {
            Ok(collected) => (Some(collected), None),
            Err(error) => (None, Some(error.to_string())),
        };
        PodCollected { pod: format!("{ns}/{name}"), collected, error }
    }
}

/// One row per pod: what went into the case, and what did not.
pub fn print_summary(pods: &[PodCollected]) -> anyhow::Result<()> {
    let mut rows = table(&["pod", "artifacts", "size", "not collected"]);
    for pod in pods {
        let (artifacts, size, missing) = match (pod.collected, &pod.error) {
            (Some(c), _) => (
                (c.artifacts.len() + c.already_collected.len()).to_string(),
                human_size(c.artifacts.iter().map(|a| a.size).sum()),
                match c.describe_missing() {
                    m if m.is_empty() => c.not_collected.len().to_string(),
                    m => m,
                },
            ),
            (None, error) => {
                ("-".into(), "-".into(), format!("FAILED: {}", error.as_deref().unwrap_or_default()))
            }
        };
        rows.add_row(vec![Cell::new(&pod.pod), Cell::new(artifacts), Cell::new(size), Cell::new(missing)]);
    }
    print_table(&rows)
}

/// What was done to one of several pods (namespace, name), or why it could not be.
pub type PodResult<T> = ((String, String), Result<T, kir_respond::Error>);

/// The status of a collecting command over several pods; each pod's trouble is said on stderr.
pub fn many_status<T, F>(what: &str, results: &[PodResult<T>], collected: F) -> u8
where
    F: Fn(&T) -> &Collected,
{
    crate::exit::worst(results.iter().map(|((ns, name), result)| match result {
        Ok(done) => collected_status(&format!("{what} of {ns}/{name}"), collected(done)),
        Err(error) => {
            eprintln!("{what} of {ns}/{name} failed: {}", sanitize(&error.to_string()));
            crate::exit::FAILURE
        }
    }))
}

/// Exit status of a collecting command (`what`: "capture", "snapshot"): a failure when
/// nothing could be put in the case; incomplete when something is missing that another run
/// with the same case can collect (the server could not be reached, a permission is missing),
/// which stderr names.
pub fn collected_status(what: &str, collected: &Collected) -> u8 {
    let missing = collected.describe_missing();
    if collected.nothing() {
        let why = if missing.is_empty() { String::new() } else { format!(": {missing}") };
        eprintln!("{what}: nothing could be collected into the case{}", sanitize(&why));
        return crate::exit::FAILURE;
    }
    if missing.is_empty() {
        return crate::exit::SUCCESS;
    }
    eprintln!(
        "{what} incomplete: not collected: {}; run the same command again with the same --case to collect it",
        sanitize(&missing)
    );
    crate::exit::INCOMPLETE
}

/// The artifacts (path, size, sha256 prefix) and what could not be collected, and why.
pub fn print_collected(collected: &Collected) -> anyhow::Result<()> {
    let mut artifacts = table(&["artifact", "size", "sha256"]);
    for artifact in &collected.artifacts {
        let mut path = artifact.path.clone();
        if artifact.truncated {
            path.push_str(" (truncated at the limit)");
        }
        artifacts.add_row(vec![
            Cell::new(path),
            Cell::new(human_size(artifact.size)),
            Cell::new(&artifact.sha256[..16.min(artifact.sha256.len())]),
        ]);
    }
    print_table(&artifacts)?;
    if !collected.already_collected.is_empty() {
        println!();
        println!(
            "kept from an earlier run with this case: {}",
            sanitize(&collected.already_collected.join(", "))
        );
    }
    if !collected.not_collected.is_empty() {
        println!();
        let mut gaps = table(&["not collected", "why"]);
        for gap in &collected.not_collected {
            gaps.add_row(vec![Cell::new(&gap.path), Cell::new(&gap.reason)]);
        }
        print_table(&gaps)?;
    }
    Ok(())
}

pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1}Gi", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1}Mi", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1}Ki", b as f64 / (1u64 << 10) as f64),
        b => format!("{b}B"),
    }
}

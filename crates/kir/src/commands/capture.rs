//! `kir capture pod` and the rendering of what a collecting step produced.

use comfy_table::Cell;
use kir_respond::{
    capture::{CaptureOptions, capture_pod},
    collect::Collected,
    observe::observe_pod,
};

use crate::{
    cli::{CapturePodArgs, OutputFormat},
    commands::responder,
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::Settings,
};

pub async fn pod(args: &CapturePodArgs, settings: &Settings) -> anyhow::Result<u8> {
    let log_limit = args.log_limit;
    let responder = responder::connect(settings).await?;
    let (ns, name) = responder::pod(settings, &responder.cluster, &args.pod)?;
    let observed = observe_pod(&responder.cluster, &ns, &name).await?;
    let case = responder::open_case(settings, &responder, format!("capture of pod {ns}/{name}")).await?;
    let collected =
        capture_pod(&responder.cluster, &case, &responder.actor, &observed, CaptureOptions { log_limit })
            .await?;
    match settings.output {
        OutputFormat::Json => print_json(&collected)?,
        OutputFormat::Yaml => print_yaml(&collected)?,
        OutputFormat::Table => {
            print_collected(&collected)?;
            println!("case: {}", sanitize(&case.path().display().to_string()));
        }
    }
    Ok(collected_status("capture", &collected))
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

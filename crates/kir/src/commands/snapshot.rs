//! `kir snapshot pod`.

use comfy_table::Cell;
use kir_respond::{
    findings::Finding,
    observe::observe_pod,
    snapshot::{SnapshotOptions, snapshot_pod},
};

use crate::{
    cli::{OutputFormat, SnapshotPodArgs},
    commands::{
        capture::{collected_status, print_collected},
        responder,
    },
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::Settings,
};

pub async fn pod(args: &SnapshotPodArgs, settings: &Settings) -> anyhow::Result<u8> {
    let options = SnapshotOptions {
        container: args.container.clone(),
        max_bytes: args.max_bytes,
        timeout: args.timeout,
    };
    let responder = responder::connect(settings).await?;
    let (ns, name) = responder::pod(settings, &responder.cluster, &args.pod)?;
    let observed = observe_pod(&responder.cluster, &ns, &name).await?;
    let case = responder::open_case(settings, &responder, format!("snapshot of pod {ns}/{name}")).await?;
    let report = snapshot_pod(&responder.cluster, &case, &responder.actor, &observed, &options).await?;
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => {
            print_collected(&report.collected)?;
            println!();
            println!(
                "container {}: {} processes, {} sockets (the collecting commands themselves excluded)",
                report.container, report.processes, report.sockets
            );
            print_findings(&report.findings)?;
            println!("case: {}", sanitize(&case.path().display().to_string()));
        }
    }
    Ok(collected_status("snapshot", &report.collected))
}

pub fn print_findings(findings: &[Finding]) -> anyhow::Result<()> {
    if findings.is_empty() {
        println!("no findings");
        return Ok(());
    }
    let mut rows = table(&["severity", "finding", "evidence"]);
    for finding in findings {
        rows.add_row(vec![
            Cell::new(serde_json::to_value(finding.severity)?.as_str().unwrap_or_default()),
            Cell::new(&finding.title),
            Cell::new(&finding.evidence),
        ]);
    }
    print_table(&rows)
}

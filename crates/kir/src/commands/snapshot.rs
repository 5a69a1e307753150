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
        capture::{collected_status, many_status, print_collected},
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
    let targets = responder::targets(&args.targets, settings, &responder.cluster).await?;
    let title = responder::title_for("snapshot of", &targets);
    if let [(ns, name)] = targets.as_slice() {
        let observed = observe_pod(&responder.cluster, ns, name).await?;
        let case = responder::open_case(settings, &responder, title).await?;
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
        return Ok(collected_status("snapshot", &report.collected));
    }
    let case = responder::open_case(settings, &responder, title).await?;
    let results = responder::each_pod(&targets, |ns, name| {
        let (responder, case, options) = (&responder, &case, &options);
        async move {
            let observed = observe_pod(&responder.cluster, ns, name).await?;
            snapshot_pod(&responder.cluster, case, &responder.actor, &observed, options).await
        }
    })
    .await;
    match settings.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let pods: Vec<serde_json::Value> = results
                .iter()
                .map(|((ns, name), result)| match result {
                    Ok(report) => serde_json::json!({"pod": format!("{ns}/{name}"), "snapshot": report}),
                    Err(error) => {
                        serde_json::json!({"pod": format!("{ns}/{name}"), "error": error.to_string()})
                    }
                })
                .collect();
            let all = serde_json::json!({"case": case.path(), "pods": pods});
            if settings.output == OutputFormat::Json { print_json(&all)? } else { print_yaml(&all)? }
        }
        OutputFormat::Table => {
            let mut rows = table(&["pod", "container", "processes", "sockets", "findings", "not collected"]);
            let mut findings = table(&["pod", "severity", "finding", "evidence"]);
            for ((ns, name), result) in &results {
                let pod = format!("{ns}/{name}");
                match result {
                    Ok(report) => {
                        let missing = report.collected.describe_missing();
                        rows.add_row(vec![
                            Cell::new(&pod),
                            Cell::new(&report.container),
                            Cell::new(report.processes),
                            Cell::new(report.sockets),
                            Cell::new(report.findings.len()),
                            Cell::new(if missing.is_empty() {
                                report.collected.not_collected.len().to_string()
                            } else {
                                missing
                            }),
                        ]);
                        for finding in &report.findings {
                            findings.add_row(vec![
                                Cell::new(&pod),
                                Cell::new(
                                    serde_json::to_value(finding.severity)?.as_str().unwrap_or_default(),
                                ),
                                Cell::new(&finding.title),
                                Cell::new(&finding.evidence),
                            ]);
                        }
                    }
                    Err(error) => {
                        rows.add_row(vec![Cell::new(&pod), Cell::new(format!("FAILED: {error}"))]);
                    }
                }
            }
            print_table(&rows)?;
            if !findings.is_empty() {
                println!();
                print_table(&findings)?;
            }
            println!("case: {}", sanitize(&case.path().display().to_string()));
        }
    }
    Ok(many_status("snapshot", &results, |report| &report.collected))
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

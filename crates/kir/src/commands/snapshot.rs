//! `kir snapshot pod`.

use comfy_table::Cell;
use kir_respond::{
    findings::Finding,
    node::{HelperOptions, NodeSnapshotOptions, PodSnapshot, Source, snapshot_from},
    observe::observe_pod,
    snapshot::SnapshotOptions,
};

use crate::{
    cli::{NodeArgs, OutputFormat, SnapshotFrom, SnapshotPodArgs},
    commands::{
        capture::{collected_status, print_collected},
        responder,
    },
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::{Settings, UsageError},
};

pub async fn pod(args: &SnapshotPodArgs, settings: &Settings) -> anyhow::Result<u8> {
    let options = SnapshotOptions {
        container: args.container.clone(),
        max_bytes: args.max_bytes,
        timeout: args.timeout,
    };
    let node = node_options(args.from, &args.node, &options)?;
    let source = match args.from {
        SnapshotFrom::Auto => Source::Auto,
        SnapshotFrom::Exec => Source::Exec,
        SnapshotFrom::Node => Source::Node,
    };
    let responder = responder::connect(settings).await?;
    let targets = responder::targets(&args.targets, settings, &responder.cluster).await?;
    let title = responder::title_for("snapshot of", &targets);
    let case = if let [(ns, name)] = targets.as_slice() {
        let observed = observe_pod(&responder.cluster, ns, name).await?;
        let case = responder::open_case(settings, &responder, title).await?;
        let snapshot = snapshot_from(
            &responder.cluster,
            &case,
            &responder.actor,
            &observed,
            &options,
            source,
            node.as_ref(),
        )
        .await?;
        match settings.output {
            OutputFormat::Json => print_json(&snapshot)?,
            OutputFormat::Yaml => print_yaml(&snapshot)?,
            OutputFormat::Table => {
                print_snapshot(&snapshot)?;
                println!("case: {}", sanitize(&case.path().display().to_string()));
            }
        }
        return Ok(snapshot_status("snapshot", &snapshot));
    } else {
        responder::open_case(settings, &responder, title).await?
    };
    let results = responder::each_pod(&targets, |ns, name| {
        let (responder, case, options, node) = (&responder, &case, &options, node.as_ref());
        async move {
            let observed = observe_pod(&responder.cluster, ns, name).await?;
            snapshot_from(&responder.cluster, case, &responder.actor, &observed, options, source, node).await
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
            let mut rows =
                table(&["pod", "container", "from", "processes", "sockets", "findings", "not collected"]);
            let mut findings = table(&["pod", "severity", "finding", "evidence"]);
            for ((ns, name), result) in &results {
                let pod = format!("{ns}/{name}");
                match result {
                    Ok(snapshot) => {
                        let collected = snapshot.deciding().cloned().unwrap_or_default();
                        let missing = collected.describe_missing();
                        let (container, processes, sockets, found) = match &snapshot.exec {
                            Some(exec) => (
                                exec.container.clone(),
                                exec.processes,
                                exec.sockets,
                                exec.findings.as_slice(),
                            ),
                            None => (
                                snapshot.node.as_ref().map(|n| n.container.clone()).unwrap_or_default(),
                                0,
                                0,
                                &[][..],
                            ),
                        };
                        rows.add_row(vec![
                            Cell::new(&pod),
                            Cell::new(container),
                            Cell::new(sources(snapshot)),
                            Cell::new(processes),
                            Cell::new(sockets),
                            Cell::new(found.len()),
                            Cell::new(if missing.is_empty() {
                                collected.not_collected.len().to_string()
                            } else {
                                missing
                            }),
                        ]);
                        for finding in found {
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
    Ok(crate::exit::worst(results.iter().map(|((ns, name), result)| match result {
        Ok(snapshot) => snapshot_status(&format!("snapshot of {ns}/{name}"), snapshot),
        Err(error) => {
            eprintln!("snapshot of {ns}/{name} failed: {}", sanitize(&error.to_string()));
            crate::exit::FAILURE
        }
    })))
}

/// The helper's settings when node-side collection may happen; a usage error when it must and
/// cannot (`from`: `--from`, `Auto` for `respond`).
pub fn node_options(
    from: SnapshotFrom,
    args: &NodeArgs,
    options: &SnapshotOptions,
) -> anyhow::Result<Option<NodeSnapshotOptions>> {
    let Some(image) = args.helper_image.clone() else {
        if from == SnapshotFrom::Node || args.memory || args.checkpoint {
            return Err(UsageError(
                "collecting from the node (--from node, --memory, --checkpoint) needs the helper pod's image: pass \
                 --helper-image IMAGE (or set KIR_HELPER_IMAGE), an image with kir's binary at /kir"
                    .into(),
            )
            .into());
        }
        return Ok(None);
    };
    if from == SnapshotFrom::Exec && (args.memory || args.checkpoint) {
        return Err(UsageError(
            "--memory and --checkpoint are collected from the node: drop --from exec".into(),
        )
        .into());
    }
    Ok(Some(NodeSnapshotOptions {
        helper: HelperOptions { image, start_timeout: args.helper_timeout },
        snapshot: options.clone(),
        memory: args.memory,
        checkpoint: args.checkpoint,
        dumps: SnapshotOptions {
            max_bytes: args.max_dump_bytes,
            timeout: args.dump_timeout,
            ..options.clone()
        },
    }))
}

fn sources(snapshot: &PodSnapshot) -> &'static str {
    match (&snapshot.exec, &snapshot.node) {
        (Some(_), Some(_)) => "exec, node",
        (None, Some(_)) => "node",
        _ => "exec",
    }
}

/// A snapshot's status: its collection's (the node's when it collected), and a failure when
/// the suspect was not found untouched afterwards.
fn snapshot_status(what: &str, snapshot: &PodSnapshot) -> u8 {
    for note in &snapshot.notes {
        eprintln!("note: {}", sanitize(note));
    }
    let collected = match snapshot.deciding() {
        Some(collected) => collected_status(what, collected),
        None => crate::exit::FAILURE,
    };
    let untouched = match &snapshot.node {
        Some(node) if !node.suspect_untouched => {
            eprintln!(
                "{what}: the suspect was not found as it was (another UID or a restart) after node-side collection"
            );
            crate::exit::FAILURE
        }
        _ => crate::exit::SUCCESS,
    };
    crate::exit::worst([collected, untouched])
}

fn print_snapshot(snapshot: &PodSnapshot) -> anyhow::Result<()> {
    if let Some(report) = &snapshot.exec {
        print_collected(&report.collected)?;
        println!();
        println!(
            "container {}: {} processes, {} sockets (the collecting commands themselves excluded)",
            report.container, report.processes, report.sockets
        );
        print_findings(&report.findings)?;
    }
    if let Some(node) = &snapshot.node {
        if snapshot.exec.is_some() {
            println!();
        }
        println!(
            "from node {} (helper pod {}, deleted), container {} ({}):",
            sanitize(&node.node),
            sanitize(&node.helper),
            sanitize(&node.container),
            sanitize(&node.container_id)
        );
        print_collected(&node.collected)?;
        println!(
            "the suspect afterwards: {}",
            if node.suspect_untouched { "the same pod, not restarted" } else { "NOT as it was" }
        );
        for note in &node.notes {
            println!("note: {}", sanitize(note));
        }
    }
    Ok(())
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

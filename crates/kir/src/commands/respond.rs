//! `kir respond compromised-pod`.

use std::io::Write;

use comfy_table::Cell;
use kir_cluster::Cluster;
use kir_respond::{
    capture::CaptureOptions,
    respond::{Playbook, RespondOptions, RespondReport, StepReport},
    snapshot::SnapshotOptions,
};

use crate::{
    cli::{OutputFormat, RespondPodArgs, SnapshotFrom},
    commands::{
        isolate::isolation_options,
        responder::{self, AT_ONCE, Decision, Responder},
        snapshot::{node_options, print_findings},
    },
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::Settings,
};

pub async fn compromised_pod(args: &RespondPodArgs, settings: &Settings) -> anyhow::Result<u8> {
    let (isolate, replacement_timeout) =
        (isolation_options(&args.isolation), args.isolation.replacement_timeout);
    let snapshot = SnapshotOptions { container: args.container.clone(), ..SnapshotOptions::default() };
    let node = node_options(SnapshotFrom::Auto, &args.node, &snapshot)?;
    let options = RespondOptions {
        capture: CaptureOptions { log_limit: args.log_limit },
        snapshot,
        node,
        isolate,
        replace: args.replace,
        accept_incomplete_evidence: args.accept_incomplete_evidence,
        evidence_budget: args.evidence_budget,
        replacement_timeout,
        grace_seconds: None,
    };
    let cluster = Cluster::connect(&settings.connect).await?;
    let targets = responder::targets(&args.targets, settings, &cluster).await?;
    if targets.len() > 1 {
        return many(args, settings, cluster, targets, options).await;
    }
    let (ns, name) = targets.into_iter().next().expect("one target at least");
    // Who acts is asked while the pod is read: neither needs the other.
    let (actor, prepared) =
        tokio::join!(responder::actor(&cluster), Playbook::prepare(&cluster, &ns, &name, options));
    let responder = Responder { cluster, actor: actor? };
    tracing::debug!("plan ready {} ms after start", settings.started.elapsed().as_millis());
    let playbook = match prepared {
        Ok(playbook) => playbook,
        Err(kir_respond::Error::PodNotFound { .. }) if deleted_by_this_case(settings, &ns, &name).await? => {
            eprintln!(
                "pod {ns}/{name} is gone: an earlier run with this case deleted it (see kir case show); nothing left to do"
            );
            return Ok(crate::exit::SUCCESS);
        }
        Err(error) => return Err(error.into()),
    };

    let case_label = settings
        .case
        .as_ref()
        .map(|c| c.display().to_string())
        .unwrap_or_else(|| "a new case under ./cases".into());
    let lines = playbook.describe(&case_label);
    let mut plan = format!("Plan for compromised pod {ns}/{name}:\n");
    for line in &lines {
        plan.push_str(&format!("  {:<9} {}\n", line.step, line.action));
    }
    for warning in &playbook.isolation.warnings {
        plan.push_str(&format!("warning: {warning}\n"));
    }
    if args.confirm.dry_run {
        match settings.output {
            OutputFormat::Json => {
                print_json(&serde_json::json!({"plan": lines, "isolation": playbook.isolation}))?
            }
            OutputFormat::Yaml => {
                print_yaml(&serde_json::json!({"plan": lines, "isolation": playbook.isolation}))?
            }
            OutputFormat::Table => print!("{}", sanitize(&plan)),
        }
        return Ok(crate::exit::SUCCESS);
    }
    eprint!("{}", sanitize(&plan));
    if responder::confirm(&args.confirm, "Run this response?")? == Decision::DryRun {
        return Ok(crate::exit::SUCCESS);
    }
    let case = responder::open_case(settings, &responder, format!("compromised pod {ns}/{name}")).await?;
    tracing::debug!("case open {} ms after start", settings.started.elapsed().as_millis());
    let progress = |step: &StepReport| {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "[{}] {} in {} ms: {}",
            step.step,
            step.status,
            step.millis,
            sanitize(&step.detail)
        );
    };
    let report =
        playbook.run(&responder.cluster, &case, &responder.actor, settings.started, &progress).await?;
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => print_report(&report)?,
    }
    // Said on stderr whatever the output format: it is what the responder must act on.
    if !report.missing_evidence.is_empty() {
        let kept = report.steps.iter().any(|s| s.step == "replace" && s.status == "withheld");
        eprintln!("evidence incomplete:");
        for missing in &report.missing_evidence {
            eprintln!("  {}", sanitize(missing));
        }
        eprintln!(
            "{}run the same command again with the same --case ({}) to collect what is missing",
            if kept { "the suspect was kept: " } else { "" },
            sanitize(&report.case)
        );
    }
    if let Some(why) = report.replacement_missing() {
        eprintln!("the clean replacement is not running: {}", sanitize(why));
    }
    Ok(if report.failed() {
        crate::exit::FAILURE
    } else if report.incomplete() {
        crate::exit::INCOMPLETE
    } else if report.replacement_missing().is_some() {
        crate::exit::NOT_REPLACED
    } else {
        crate::exit::SUCCESS
    })
}

/// Several pods: every plan, one confirmation, one case, [`AT_ONCE`] at a time, a summary.
async fn many(
    args: &RespondPodArgs,
    settings: &Settings,
    cluster: Cluster,
    targets: Vec<(String, String)>,
    options: RespondOptions,
) -> anyhow::Result<u8> {
    use futures::{StreamExt, TryStreamExt};
    let actor = responder::actor(&cluster).await?;
    let responder = Responder { cluster, actor };
    let playbooks: Vec<Playbook> = futures::stream::iter(&targets)
        .map(|(ns, name)| {
            let (cluster, options) = (&responder.cluster, options.clone());
            async move {
                Playbook::prepare(cluster, ns, name, options)
                    .await
                    .map_err(|e| anyhow::anyhow!("pod {ns}/{name}: {e}; nothing was done to any pod"))
            }
        })
        .buffered(AT_ONCE * 2)
        .try_collect()
        .await?;
    let case_label = settings
        .case
        .as_ref()
        .map(|c| c.display().to_string())
        .unwrap_or_else(|| "a new case under ./cases".into());
    let mut plan =
        format!("Plan for {} compromised pods, {AT_ONCE} at a time, into one case:\n", targets.len());
    for playbook in &playbooks {
        let state = &playbook.observed.state;
        plan.push_str(&format!("pod {}/{}:\n", state.namespace, state.name));
        for line in playbook.describe(&case_label) {
            plan.push_str(&format!("  {:<9} {}\n", line.step, line.action));
        }
        for warning in &playbook.isolation.warnings {
            plan.push_str(&format!("  warning: {warning}\n"));
        }
    }
    if args.confirm.dry_run {
        let plans: Vec<serde_json::Value> = playbooks
            .iter()
            .map(|p| {
                serde_json::json!({
                    "pod": format!("{}/{}", p.observed.state.namespace, p.observed.state.name),
                    "plan": p.describe(&case_label),
                    "isolation": p.isolation,
                })
            })
            .collect();
        match settings.output {
            OutputFormat::Json => print_json(&plans)?,
            OutputFormat::Yaml => print_yaml(&plans)?,
            OutputFormat::Table => print!("{}", sanitize(&plan)),
        }
        return Ok(crate::exit::SUCCESS);
    }
    eprint!("{}", sanitize(&plan));
    if responder::confirm(&args.confirm, &format!("Run this response on {} pods?", targets.len()))?
        == Decision::DryRun
    {
        return Ok(crate::exit::SUCCESS);
    }
    let title = responder::title_for("compromised", &targets);
    let case = responder::open_case(settings, &responder, title).await?;
    let reports: Vec<RespondReport> = futures::stream::iter(playbooks)
        .map(|playbook| {
            let (responder, case) = (&responder, &case);
            let pod = format!("{}/{}", playbook.observed.state.namespace, playbook.observed.state.name);
            async move {
                let progress = |step: &StepReport| {
                    let mut err = std::io::stderr().lock();
                    let _ = writeln!(
                        err,
                        "{} [{}] {} in {} ms: {}",
                        sanitize(&pod),
                        step.step,
                        step.status,
                        step.millis,
                        sanitize(&step.detail)
                    );
                };
                playbook
                    .run(&responder.cluster, case, &responder.actor, settings.started, &progress)
                    .await
                    .map_err(|e| anyhow::anyhow!("pod {pod}: {e}"))
            }
        })
        .buffer_unordered(AT_ONCE)
        .try_collect()
        .await?;
    let mut reports = reports;
    reports.sort_by(|a, b| a.pod.cmp(&b.pod));
    let isolated_all_after_ms = responder::isolated_all_after_ms(reports.iter().map(|r| r.isolated_after_ms));
    match settings.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "case": case.path().display().to_string(),
            "pods": reports,
            "isolatedAllAfterMs": isolated_all_after_ms,
        }))?,
        OutputFormat::Yaml => print_yaml(&reports)?,
        OutputFormat::Table => {
            let mut summary = table(&["pod", "containment", "steps", "total ms"]);
            for report in &reports {
                let steps: Vec<String> =
                    report.steps.iter().map(|s| format!("{} {}", s.step, s.status)).collect();
                summary.add_row(vec![
                    Cell::new(&report.pod),
                    Cell::new(&report.containment),
                    Cell::new(steps.join(", ")),
                    Cell::new(report.total_ms),
                ]);
            }
            print_table(&summary)?;
            responder::print_isolated_all(reports.len(), isolated_all_after_ms, &case);
        }
    }
    for report in &reports {
        for missing in &report.missing_evidence {
            eprintln!("{}: evidence incomplete: {}", sanitize(&report.pod), sanitize(missing));
        }
        if let Some(why) = report.replacement_missing() {
            eprintln!("{}: the clean replacement is not running: {}", sanitize(&report.pod), sanitize(why));
        }
    }
    Ok(if reports.iter().any(RespondReport::failed) {
        crate::exit::FAILURE
    } else if reports.iter().any(RespondReport::incomplete) {
        crate::exit::INCOMPLETE
    } else if reports.iter().any(|r| r.replacement_missing().is_some()) {
        crate::exit::NOT_REPLACED
    } else {
        crate::exit::SUCCESS
    })
}

/// Did a run with the case of `--case` delete this pod (a resumed run after `--replace`)?
async fn deleted_by_this_case(settings: &Settings, ns: &str, name: &str) -> anyhow::Result<bool> {
    let Some(dir) = settings.case.as_ref().filter(|d| d.join("case.json").exists()) else { return Ok(false) };
    let target = format!("pod/{ns}/{name}");
    let entries = kir_respond::blocking::entries(&responder::open_recorded(dir).await?).await?;
    Ok(entries
        .iter()
        .any(|e| e.action == "replace.delete-pod" && e.target.as_deref() == Some(target.as_str())))
}

fn print_report(report: &RespondReport) -> anyhow::Result<()> {
    let mut steps = table(&["step", "status", "ms", "detail"]);
    for step in &report.steps {
        steps.add_row(vec![
            Cell::new(step.step),
            Cell::new(step.status),
            Cell::new(step.millis),
            Cell::new(&step.detail),
        ]);
    }
    print_table(&steps)?;
    if let Some(snapshot) = &report.snapshot {
        println!();
        print_findings(&snapshot.findings)?;
    }
    // What the node step says the responder must act on (the checkpoint left on the node).
    if let Some(node) = &report.node {
        for note in &node.notes {
            println!("note: {}", sanitize(note));
        }
    }
    // The isolation plan's warnings were shown with the plan, before anything changed.
    if let Some(isolation) = &report.isolation {
        for warning in &isolation.notes {
            println!("warning: {}", sanitize(warning));
        }
    }
    if let Some(replace) = &report.replace {
        for warning in &replace.warnings {
            println!("warning: {}", sanitize(warning));
        }
    }
    println!();
    println!("{}; total {} ms", sanitize(&report.containment), report.total_ms);
    println!("case: {}", sanitize(&report.case));
    Ok(())
}

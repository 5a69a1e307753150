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
    cli::{OutputFormat, RespondPodArgs},
    commands::{
        isolate::isolation_options,
        responder::{self, Decision, Responder},
        snapshot::print_findings,
    },
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::Settings,
};

pub async fn compromised_pod(args: &RespondPodArgs, settings: &Settings) -> anyhow::Result<u8> {
    let (isolate, replacement_timeout) =
        (isolation_options(&args.isolation), args.isolation.replacement_timeout);
    let options = RespondOptions {
        capture: CaptureOptions { log_limit: args.log_limit },
        snapshot: SnapshotOptions { container: args.container.clone(), ..SnapshotOptions::default() },
        isolate,
        replace: args.replace,
        accept_incomplete_evidence: args.accept_incomplete_evidence,
        evidence_budget: args.evidence_budget,
        replacement_timeout,
        grace_seconds: None,
    };
    let cluster = Cluster::connect(&settings.connect).await?;
    let (ns, name) = responder::pod(settings, &cluster, &args.pod)?;
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
    if let Some(isolation) = &report.isolation {
        for warning in isolation.plan.warnings.iter().chain(&isolation.notes) {
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

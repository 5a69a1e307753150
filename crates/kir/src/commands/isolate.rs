//! `kir isolate pod` and `kir release pod`.

use comfy_table::Cell;
use kir_evidence::Case;
use kir_respond::{
    contain::{self, IsolationReport, Outcome},
    isolate::{self, IsolateOptions, IsolationPlan, OrphanChoice, PodState},
    observe::observe_with_surroundings,
    undo,
};

use crate::{
    cli::{IsolatePodArgs, IsolationArgs, OutputFormat, ReleasePodArgs},
    commands::{
        responder::{self, Decision, Responder},
        undo::carry_out,
    },
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::{Settings, UsageError},
};

pub fn isolation_options(args: &IsolationArgs) -> IsolateOptions {
    let orphan = match (args.orphan, args.no_orphan) {
        (true, _) => OrphanChoice::Always,
        (_, true) => OrphanChoice::Never,
        _ => OrphanChoice::Auto,
    };
    IsolateOptions { orphan, cordon: args.cordon }
}

pub async fn pod(args: &IsolatePodArgs, settings: &Settings) -> anyhow::Result<u8> {
    let (options, replacement_timeout) =
        (isolation_options(&args.isolation), args.isolation.replacement_timeout);
    let responder = responder::connect(settings).await?;
    let targets = responder::targets(&args.targets, settings, &responder.cluster).await?;
    if targets.len() > 1 {
        return many(args, settings, &responder, &targets).await;
    }
    let (ns, name) = &targets[0];
    let (observed, around) = observe_with_surroundings(&responder.cluster, ns, name).await?;
    let plan = isolate::plan(&observed.state, &around, options);

    if args.confirm.dry_run {
        match settings.output {
            OutputFormat::Json => print_json(&plan)?,
            OutputFormat::Yaml => print_yaml(&plan)?,
            OutputFormat::Table => print!("{}", sanitize(&plan_text(&format!("{ns}/{name}"), &plan))),
        }
        return Ok(crate::exit::SUCCESS);
    }
    eprint!("{}", sanitize(&plan_text(&format!("{ns}/{name}"), &plan)));
    if plan.pending().count() == 0 {
        eprintln!("pod {ns}/{name} is already isolated: nothing to change");
    } else if responder::confirm(&args.confirm, "Isolate this pod?")? == Decision::DryRun {
        return Ok(crate::exit::SUCCESS);
    }
    let case =
        responder::open_case(settings, &responder, responder::title_for("isolation of", &targets)).await?;
    let report = isolate_one(&responder, &case, &observed.state, plan, settings, replacement_timeout).await?;
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => {
            print_report(&report)?;
            println!("case: {}", sanitize(&case.path().display().to_string()));
        }
    }
    Ok(isolation_status(&report))
}

/// Apply `plan` to the pod, wait for its replacement, and read back what is in place.
async fn isolate_one(
    responder: &Responder,
    case: &Case,
    state: &PodState,
    plan: IsolationPlan,
    settings: &Settings,
    replacement_timeout: std::time::Duration,
) -> anyhow::Result<IsolationReport> {
    let mut report = contain::apply_and_wait(
        &responder.cluster,
        case,
        &responder.actor,
        state,
        plan,
        settings.started,
        replacement_timeout,
        None,
    )
    .await?;
    let in_place = contain::read_back(&responder.cluster, state, &report.plan).await;
    report.settle_read_back(in_place);
    Ok(report)
}

fn isolation_status(report: &IsolationReport) -> u8 {
    if report.failed() {
        crate::exit::FAILURE
    } else if report.replacement_missing.is_some() {
        crate::exit::NOT_REPLACED
    } else {
        crate::exit::SUCCESS
    }
}

/// Several pods: every plan, one confirmation, one case, a few at a time, a summary with the
/// time by which all of them were isolated.
async fn many(
    args: &IsolatePodArgs,
    settings: &Settings,
    responder: &Responder,
    targets: &[(String, String)],
) -> anyhow::Result<u8> {
    let (options, replacement_timeout) =
        (isolation_options(&args.isolation), args.isolation.replacement_timeout);
    let observed =
        responder::each_pod(targets, |ns, name| observe_with_surroundings(&responder.cluster, ns, name))
            .await;
    let mut plans = Vec::new();
    for ((ns, name), result) in observed {
        let (observed, around) =
            result.map_err(|e| anyhow::anyhow!("pod {ns}/{name}: {e}; nothing was done to any pod"))?;
        let plan = isolate::plan(&observed.state, &around, options);
        plans.push((observed.state, plan));
    }
    let text: String = plans
        .iter()
        .map(|(state, plan)| plan_text(&format!("{}/{}", state.namespace, state.name), plan))
        .collect();
    if args.confirm.dry_run {
        match settings.output {
            OutputFormat::Json => print_json(&plans.iter().map(|(_, plan)| plan).collect::<Vec<_>>())?,
            OutputFormat::Yaml => print_yaml(&plans.iter().map(|(_, plan)| plan).collect::<Vec<_>>())?,
            OutputFormat::Table => print!("{}", sanitize(&text)),
        }
        return Ok(crate::exit::SUCCESS);
    }
    eprint!("{}", sanitize(&text));
    if plans.iter().all(|(_, plan)| plan.pending().count() == 0) {
        eprintln!("all {} pods are already isolated: nothing to change", plans.len());
    } else if responder::confirm(&args.confirm, &format!("Isolate these {} pods?", plans.len()))?
        == Decision::DryRun
    {
        return Ok(crate::exit::SUCCESS);
    }
    let case =
        responder::open_case(settings, responder, responder::title_for("isolation of", targets)).await?;
    let reports: Vec<IsolationReport> = {
        use futures::{StreamExt, TryStreamExt};
        futures::stream::iter(plans)
            .map(|(state, plan)| {
                let case = &case;
                async move {
                    isolate_one(responder, case, &state, plan, settings, replacement_timeout)
                        .await
                        .map_err(|e| anyhow::anyhow!("pod {}/{}: {e}", state.namespace, state.name))
                }
            })
            .buffered(responder::AT_ONCE)
            .try_collect()
            .await?
    };
    let isolated_all_after_ms = responder::isolated_all_after_ms(reports.iter().map(|r| r.isolated_after_ms));
    match settings.output {
        OutputFormat::Json => print_json(&serde_json::json!({
            "case": case.path(), "pods": reports, "isolatedAllAfterMs": isolated_all_after_ms,
        }))?,
        OutputFormat::Yaml => print_yaml(&serde_json::json!({
            "case": case.path(), "pods": reports, "isolatedAllAfterMs": isolated_all_after_ms,
        }))?,
        OutputFormat::Table => {
            let mut rows = table(&["pod", "containment", "replacement", "failed changes"]);
            for report in &reports {
                let replacement = match (&report.replacement, &report.replacement_missing) {
                    (Some(r), _) => format!("{} after {} ms", r.name, r.running_after_ms),
                    (None, Some(why)) => format!("NOT RUNNING: {why}"),
                    (None, None) => "-".to_string(),
                };
                rows.add_row(vec![
                    Cell::new(&report.pod),
                    Cell::new(report.containment()),
                    Cell::new(replacement),
                    Cell::new(report.failures().join("; ")),
                ]);
            }
            print_table(&rows)?;
            responder::print_isolated_all(reports.len(), isolated_all_after_ms, &case);
        }
    }
    Ok(crate::exit::worst(reports.iter().map(isolation_status)))
}

/// The plan as people read it: what will change, what is already in place, what still leaks.
pub fn plan_text(pod: &str, plan: &IsolationPlan) -> String {
    let mut text = format!("Plan to isolate pod {pod}:\n");
    for change in &plan.changes {
        let mark = if change.already_in_place { "= (already in place)" } else { "+" };
        text.push_str(&format!("  {mark} {}\n", change.description));
    }
    if let Some(controller) = &plan.replaced_by {
        text.push_str(&format!("  then wait for {} to run a clean replacement\n", controller.describe()));
    }
    for warning in &plan.warnings {
        text.push_str(&format!("warning: {warning}\n"));
    }
    text
}

pub fn print_report(report: &IsolationReport) -> anyhow::Result<()> {
    let mut rows = table(&["change", "result", "ms"]);
    for change in &report.changes {
        let result = match (change.outcome, &change.error) {
            (Outcome::Applied, _) => "applied".to_string(),
            (Outcome::Unchanged, _) => "unchanged".to_string(),
            (Outcome::Failed, Some(error)) => format!("FAILED: {error}"),
            (Outcome::Failed, None) => "FAILED".to_string(),
            (Outcome::Skipped, Some(error)) => format!("SKIPPED: {error}"),
            (Outcome::Skipped, None) => "SKIPPED".to_string(),
        };
        rows.add_row(vec![Cell::new(&change.description), Cell::new(result), Cell::new(change.millis)]);
    }
    print_table(&rows)?;
    println!();
    let in_place = &report.in_place;
    println!("in place (read back from the cluster):");
    if in_place.pod_gone {
        println!("  the pod no longer exists");
    } else {
        println!("  quarantine label on the pod: {}", if in_place.quarantine_label { "yes" } else { "NO" });
    }
    for policy in &in_place.policies {
        println!("  {}", sanitize(policy));
    }
    if let Some(cordoned) = in_place.node_cordoned {
        println!("  node cordoned: {}", if cordoned { "yes" } else { "NO" });
    }
    if !in_place.still_routed_by.is_empty() {
        println!(
            "  Services whose endpoints still list the pod (the EndpointSlice controller is catching up): {}",
            in_place.still_routed_by.join(", ")
        );
    }
    if let Some(replacement) = &report.replacement {
        println!(
            "  replacement pod {} running after {} ms",
            sanitize(&replacement.name),
            replacement.running_after_ms
        );
    } else if let Some(why) = &report.replacement_missing {
        println!("  replacement: {}", sanitize(why));
    }
    // The plan's own warnings were shown with the plan, before anything changed.
    for warning in &report.notes {
        println!("warning: {}", sanitize(warning));
    }
    println!("{}", sanitize(&report.containment()));
    Ok(())
}

pub async fn release(args: &ReleasePodArgs, settings: &Settings) -> anyhow::Result<u8> {
    let Some(case_dir) = settings.case.clone() else {
        return Err(UsageError(
            "release needs the case that recorded the isolation: pass --case DIR (or set KIR_CASE)"
                .to_string(),
        )
        .into());
    };
    let responder = responder::connect(settings).await?;
    let (ns, name) = responder::pod(settings, &responder.cluster, &args.pod)?;
    let case = responder::open_recorded(&case_dir).await?;
    responder::same_cluster(&case, &responder.cluster)?;
    let target = format!("pod/{ns}/{name}");
    let options = undo::UndoOptions { release_shared: args.release_shared, readopt: args.readopt };
    let plan = undo::plan(&responder.cluster, &case, Some(&target), options).await?;
    if plan.is_empty() {
        eprintln!("case {} records no change to pod {ns}/{name} that is still in place", case_dir.display());
        return Ok(crate::exit::SUCCESS);
    }
    carry_out(&format!("release pod {ns}/{name}"), &plan, &args.confirm, &responder, &case, settings.output)
        .await
}

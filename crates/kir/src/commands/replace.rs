//! `kir replace pod`.

use comfy_table::Cell;
use kir_evidence::{Case, JournalRecord};
use kir_respond::{
    observe::{ObservedPod, observe_pod},
    replace::{Assessment, ReplaceReport, assess, images, missing_evidence, orphaned, replace_pod},
};

use crate::{
    cli::{OutputFormat, ReplacePodArgs},
    commands::responder::{self, Decision, Responder},
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::Settings,
};

pub async fn pod(args: &ReplacePodArgs, settings: &Settings) -> anyhow::Result<u8> {
    let responder = responder::connect(settings).await?;
    let targets = responder::targets(&args.targets, settings, &responder.cluster).await?;
    let observed = responder::each_pod(&targets, |ns, name| observe_pod(&responder.cluster, ns, name)).await;
    let mut pods = Vec::new();
    for ((ns, name), result) in observed {
        let observed = result.map_err(|e| anyhow::anyhow!("pod {ns}/{name}: {e}; nothing was deleted"))?;
        let assessment =
            assess(&images(&observed.pod), observed.state.controller.as_ref(), orphaned(&observed.pod), None);
        pods.push((observed, assessment));
    }
    let plan: String = pods.iter().map(|(observed, assessment)| plan_text(observed, assessment)).collect();
    if args.confirm.dry_run {
        print!("{}", sanitize(&plan));
        return Ok(crate::exit::SUCCESS);
    }
    eprint!("{}", sanitize(&plan));
    let question = if pods.len() == 1 {
        "Delete this pod?".to_string()
    } else {
        format!("Delete these {} pods?", pods.len())
    };
    if responder::confirm(&args.confirm, &question)? == Decision::DryRun {
        return Ok(crate::exit::SUCCESS);
    }
    let case =
        responder::open_case(settings, &responder, responder::title_for("replacement of", &targets)).await?;
    if pods.len() == 1 {
        let (observed, assessment) = pods.pop().expect("one pod");
        let report = replace_one(args, &responder, &case, &observed, assessment).await?;
        match settings.output {
            OutputFormat::Json => print_json(&report)?,
            OutputFormat::Yaml => print_yaml(&report)?,
            OutputFormat::Table => {
                println!(
                    "pod {}: {}",
                    sanitize(&report.pod),
                    if report.deleted { "deleted" } else { "already gone" }
                );
                println!("case: {}", sanitize(&case.path().display().to_string()));
            }
        }
        return Ok(crate::exit::SUCCESS);
    }
    let results: Vec<(String, anyhow::Result<ReplaceReport>)> = {
        use futures::StreamExt;
        futures::stream::iter(pods)
            .map(|(observed, assessment)| {
                let (responder, case) = (&responder, &case);
                async move {
                    let pod = format!("{}/{}", observed.state.namespace, observed.state.name);
                    (pod, replace_one(args, responder, case, &observed, assessment).await)
                }
            })
            .buffered(responder::AT_ONCE)
            .collect()
            .await
    };
    match settings.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let pods: Vec<serde_json::Value> = results
                .iter()
                .map(|(pod, result)| match result {
                    Ok(report) => serde_json::json!({"pod": pod, "replace": report}),
                    Err(error) => serde_json::json!({"pod": pod, "error": error.to_string()}),
                })
                .collect();
            let all = serde_json::json!({"case": case.path(), "pods": pods});
            if settings.output == OutputFormat::Json { print_json(&all)? } else { print_yaml(&all)? }
        }
        OutputFormat::Table => {
            let mut rows = table(&["pod", "result"]);
            for (pod, result) in &results {
                let outcome = match result {
                    Ok(report) if report.deleted => "deleted".to_string(),
                    Ok(_) => "already gone".to_string(),
                    Err(error) => format!("NOT DELETED: {error}"),
                };
                rows.add_row(vec![Cell::new(pod), Cell::new(outcome)]);
            }
            print_table(&rows)?;
            println!("case: {}", sanitize(&case.path().display().to_string()));
        }
    }
    Ok(crate::exit::worst(results.iter().map(|(pod, result)| match result {
        Ok(_) => crate::exit::SUCCESS,
        Err(error) => {
            eprintln!("pod {}: {}", sanitize(pod), sanitize(&format!("{error:#}")));
            crate::exit::FAILURE
        }
    })))
}

fn plan_text(observed: &ObservedPod, assessment: &Assessment) -> String {
    let (ns, name) = (&observed.state.namespace, &observed.state.name);
    let mut plan = format!(
        "Plan to replace pod {ns}/{name}:\n  - delete pod {ns}/{name} (uid {})\n",
        observed.state.uid
    );
    match &assessment.replaced_by {
        Some(by) => plan.push_str(&format!("  replaced by: {by}\n")),
        None => plan.push_str("  replaced by: nothing\n"),
    }
    for warning in &assessment.warnings {
        plan.push_str(&format!("warning: {warning}\n"));
    }
    plan
}

/// Delete one pod once the case holds its evidence (unless told otherwise).
async fn replace_one(
    args: &ReplacePodArgs,
    responder: &Responder,
    case: &Case,
    observed: &ObservedPod,
    assessment: Assessment,
) -> anyhow::Result<ReplaceReport> {
    let (ns, name) = (&observed.state.namespace, &observed.state.name);
    let missing =
        if args.without_evidence { Vec::new() } else { missing_evidence(case, &observed.state).await? };
    if !missing.is_empty() {
        if !args.accept_incomplete_evidence {
            anyhow::bail!(
                "pod {ns}/{name} not deleted: case {} records its evidence as incomplete:\n  {}\nrun the capture or \
                 snapshot again with this --case to collect it, or pass --accept-incomplete-evidence to delete it anyway",
                case.path().display(),
                missing.join("\n  ")
            );
        }
        kir_respond::blocking::record(
            case,
            JournalRecord::new(&responder.actor, "replace.accept-incomplete-evidence")
                .target(format!("pod/{ns}/{name}"))
                .parameters(serde_json::json!({"uid": observed.state.uid}))
                .result(serde_json::json!({"missing": missing})),
        )
        .await?;
    }
    Ok(replace_pod(
        &responder.cluster,
        case,
        &responder.actor,
        &observed.state,
        assessment,
        args.grace_period,
        !args.without_evidence,
    )
    .await?)
}

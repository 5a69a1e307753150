//! `kir replace pod`.

use kir_evidence::JournalRecord;
use kir_respond::{
    observe::observe_pod,
    replace::{Assessment, assess, images, missing_evidence, orphaned, replace_pod},
};

use crate::{
    cli::{OutputFormat, ReplacePodArgs},
    commands::responder::{self, Decision},
    output::{print_json, print_yaml, sanitize},
    settings::Settings,
};

pub async fn pod(args: &ReplacePodArgs, settings: &Settings) -> anyhow::Result<u8> {
    let responder = responder::connect(settings).await?;
    let (ns, name) = responder::pod(settings, &responder.cluster, &args.pod)?;
    let observed = observe_pod(&responder.cluster, &ns, &name).await?;
    let assessment =
        assess(&images(&observed.pod), observed.state.controller.as_ref(), orphaned(&observed.pod), None);
    let Assessment { replaced_by, warnings } = &assessment;
    let mut plan = format!(
        "Plan to replace pod {ns}/{name}:\n  - delete pod {ns}/{name} (uid {})\n",
        observed.state.uid
    );
    match replaced_by {
        Some(by) => plan.push_str(&format!("  replaced by: {by}\n")),
        None => plan.push_str("  replaced by: nothing\n"),
    }
    for warning in warnings {
        plan.push_str(&format!("warning: {warning}\n"));
    }
    if args.confirm.dry_run {
        print!("{plan}");
        return Ok(crate::exit::SUCCESS);
    }
    eprint!("{plan}");
    if responder::confirm(&args.confirm, "Delete this pod?")? == Decision::DryRun {
        return Ok(crate::exit::SUCCESS);
    }
    let case = responder::open_case(settings, &responder, format!("replacement of pod {ns}/{name}")).await?;
    let missing =
        if args.without_evidence { Vec::new() } else { missing_evidence(&case, &observed.state).await? };
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
            &case,
            JournalRecord::new(&responder.actor, "replace.accept-incomplete-evidence")
                .target(format!("pod/{ns}/{name}"))
                .parameters(serde_json::json!({"uid": observed.state.uid}))
                .result(serde_json::json!({"missing": missing})),
        )
        .await?;
    }
    let report = replace_pod(
        &responder.cluster,
        &case,
        &responder.actor,
        &observed.state,
        assessment,
        args.grace_period,
        !args.without_evidence,
    )
    .await?;
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
    Ok(crate::exit::SUCCESS)
}

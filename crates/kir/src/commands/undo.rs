//! `kir undo CASE`: reverse every change the case recorded, once the live cluster shows the
//! object is the one kir made.

use comfy_table::Cell;
use kir_evidence::Case;
use kir_respond::undo::{self, Outcome, UndoOptions, UndoPlan, Verdict};

use crate::{
    cli::{OutputFormat, UndoArgs},
    commands::responder::{self, Decision, Responder},
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::{Settings, UsageError},
};

pub async fn run(args: &UndoArgs, settings: &Settings) -> anyhow::Result<u8> {
    let Some(case_dir) = args.case.clone().or_else(|| settings.case.clone()) else {
        return Err(
            UsageError("which case? give its folder: kir undo CASE (or set KIR_CASE)".to_string()).into()
        );
    };
    let case = responder::open_recorded(&case_dir).await?;
    // The plan is checked against the cluster, a dry run too: which objects are still kir's
    // decides what undo would do.
    let responder = responder::connect(settings).await?;
    responder::same_cluster(&case, &responder.cluster)?;
    let options = UndoOptions { release_shared: args.release_shared, readopt: args.readopt };
    let plan = undo::plan(&responder.cluster, &case, None, options).await?;
    let what = format!("undo case {}", case_dir.display());
    carry_out(&what, &plan, &args.confirm, &responder, &case, settings.output).await
}

/// Show the plan, ask, reverse, and print how each reversal went. Shared by `undo` and
/// `release pod`.
pub async fn carry_out(
    what: &str,
    plan: &UndoPlan,
    confirm: &crate::cli::ConfirmArgs,
    responder: &Responder,
    case: &Case,
    output: OutputFormat,
) -> anyhow::Result<u8> {
    if plan.is_empty() {
        eprintln!(
            "case {} records no change that is still to be reversed",
            sanitize(&case.path().display().to_string())
        );
        return Ok(crate::exit::SUCCESS);
    }
    eprint!("{}", sanitize(&plan_text(what, plan)));
    let decision = if plan.changes_anything() {
        responder::confirm(confirm, "Reverse these changes?")?
    } else if confirm.dry_run {
        Decision::DryRun
    } else {
        Decision::Apply
    };
    if decision == Decision::DryRun {
        return Ok(crate::exit::SUCCESS);
    }
    let outcomes = undo::apply(&responder.cluster, case, &responder.actor, &plan.reversals).await?;
    print_outcomes(&outcomes, output)?;
    let refused = !plan.refused.is_empty();
    if refused || outcomes.iter().any(Outcome::not_done) {
        eprintln!(
            "not everything was reversed: see the lines above; kir acts only on objects it can prove it made"
        );
        return Ok(crate::exit::FAILURE);
    }
    Ok(crate::exit::SUCCESS)
}

/// The plan as people read it: `-` reversed, `=` nothing left to reverse, `!` left alone.
pub fn plan_text(what: &str, plan: &UndoPlan) -> String {
    let mut text = format!("Plan to {what}:\n");
    for reversal in &plan.reversals {
        let line = match &reversal.verdict {
            Verdict::Reverse => format!("  - {}", reversal.description),
            Verdict::AlreadyReversed(why) => format!("  = {} (nothing to do: {why})", reversal.description),
            Verdict::Mismatch(why) => format!("  ! {} — left alone: {why}", reversal.description),
            Verdict::KeptOrphaned(why) => format!("  = {} — kept orphaned: {why}", reversal.description),
            Verdict::Shared(others) => format!(
                "  ! {} — kept: case(s) {} also isolated this pod (--release-shared to reverse it anyway)",
                reversal.description,
                others.join(", ")
            ),
        };
        text.push_str(&format!("{line} (reverses journal entry {})\n", reversal.undoes));
    }
    for refused in &plan.refused {
        text.push_str(&format!("  ! journal entry {}: {}\n", refused.entry, refused.reason));
    }
    text
}

pub fn print_outcomes(outcomes: &[Outcome], output: OutputFormat) -> anyhow::Result<()> {
    match output {
        OutputFormat::Json => print_json(&outcomes),
        OutputFormat::Yaml => print_yaml(&outcomes),
        OutputFormat::Table => {
            let mut rows = table(&["reversal", "undoes", "result"]);
            for outcome in outcomes {
                let result = match &outcome.detail {
                    Some(detail) => format!("{}: {}", outcome.status, sanitize(detail)),
                    None => outcome.status.to_string(),
                };
                rows.add_row(vec![
                    Cell::new(sanitize(&outcome.description)),
                    Cell::new(outcome.undoes),
                    Cell::new(result),
                ]);
            }
            print_table(&rows)
        }
    }
}

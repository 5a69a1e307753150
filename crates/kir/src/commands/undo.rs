//! `kir undo CASE`: reverse every change the case recorded.

use comfy_table::Cell;
use kir_respond::undo::{self, Reversal, UndoOp};

use crate::{
    cli::{OutputFormat, UndoArgs},
    commands::responder,
    output::{print_json, print_table, print_yaml, table},
    settings::{Settings, UsageError},
};

pub async fn run(args: &UndoArgs, settings: &Settings) -> anyhow::Result<u8> {
    let Some(case_dir) = args.case.clone().or_else(|| settings.case.clone()) else {
        return Err(
            UsageError("which case? give its folder: kir undo CASE (or set KIR_CASE)".to_string()).into()
        );
    };
    let case = kir_evidence::Case::open(&case_dir)
        .map_err(|e| anyhow::anyhow!("cannot open case {}: {e}", case_dir.display()))?;
    let pending = undo::pending(&case.entries()?, None);
    if pending.is_empty() {
        eprintln!("case {} records no change that is still to be reversed", case_dir.display());
        return Ok(crate::exit::SUCCESS);
    }
    eprint!("{}", reversals_plan(&format!("undo case {}", case_dir.display()), &pending));
    if args.confirm.dry_run {
        return Ok(crate::exit::SUCCESS);
    }
    let responder = responder::connect(settings).await?;
    responder::same_cluster(&case, &responder.cluster)?;
    responder::confirm(&args.confirm, "Reverse these changes?")?;
    let reversals = undo::undo(&responder.cluster, &case, &responder.actor, None, false).await?;
    print_reversals(&reversals, settings.output)
}

pub fn reversals_plan(what: &str, pending: &[(u64, String, UndoOp)]) -> String {
    let mut text = format!("Plan to {what}:\n");
    for (seq, action, op) in pending {
        text.push_str(&format!("  - {} (reverses journal entry {seq}, {action})\n", op.describe()));
    }
    text
}

pub fn print_reversals(reversals: &[Reversal], output: OutputFormat) -> anyhow::Result<u8> {
    match output {
        OutputFormat::Json => print_json(&reversals)?,
        OutputFormat::Yaml => print_yaml(&reversals)?,
        OutputFormat::Table => {
            let mut rows = table(&["reversal", "undoes", "result"]);
            for r in reversals {
                let result = match &r.error {
                    Some(error) => format!("{}: {error}", r.status),
                    None => r.status.to_string(),
                };
                rows.add_row(vec![Cell::new(&r.description), Cell::new(r.undoes), Cell::new(result)]);
            }
            print_table(&rows)?;
        }
    }
    Ok(if reversals.iter().any(|r| r.status == "failed") {
        crate::exit::FAILURE
    } else {
        crate::exit::SUCCESS
    })
}

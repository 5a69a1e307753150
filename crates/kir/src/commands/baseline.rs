//! `kir baseline learn`.

use std::path::Path;

use anyhow::Context;
use kir_audit::{ScanOptions, scan};
use kir_detect::baseline::{Baseline, Learner, VERSION};

use super::scan::{Progress, inputs, report_skips};
use crate::{cli::BaselineCommand, settings::Settings};

pub fn run(command: BaselineCommand, _settings: &Settings) -> anyhow::Result<u8> {
    match command {
        BaselineCommand::Learn { inputs: paths, to } => learn(&paths, &to),
    }
}

fn learn(paths: &[std::path::PathBuf], to: &Path) -> anyhow::Result<u8> {
    let inputs = inputs(paths)?;
    let progress = Progress::new(&inputs, "learning");
    let mut baseline = Baseline { version: VERSION, ..Baseline::default() };
    let report =
        scan(&inputs, &ScanOptions::default(), &Learner, &|done| progress.update(done), &mut |part| {
            baseline.merge(part);
            Ok(())
        })?;
    progress.finish();
    if baseline.events == 0 {
        anyhow::bail!("no audit events in the input: a baseline needs past audit logs of this cluster");
    }
    // Write next to the target and rename, so an interrupted run leaves no half file.
    let temporary = to.with_extension("tmp");
    let text = serde_json::to_string_pretty(&baseline)?;
    std::fs::write(&temporary, text + "\n")
        .with_context(|| format!("--to {}: cannot write", temporary.display()))?;
    std::fs::rename(&temporary, to).with_context(|| format!("--to {}: cannot write", to.display()))?;
    eprintln!(
        "baseline of {} identities from {} events ({} to {}) written to {}",
        baseline.users.len(),
        baseline.events,
        baseline.first.as_deref().unwrap_or("?"),
        baseline.last.as_deref().unwrap_or("?"),
        to.display()
    );
    Ok(report_skips(&report))
}

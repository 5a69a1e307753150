//! `kir report CASE [--format markdown|json|html] [--out FILE-or-DIR] [--prevent]`: the
//! post-incident report of a case, or the preventive controls it calls for. The case folder is
//! evidence: it is only read, and nothing is written into it.

use std::{
    fs::OpenOptions,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use jiff::Timestamp;
use kir_report::{CaseSource, Report};

use crate::{
    cli::{OutputFormat, ReportArgs},
    exit,
    output::{print_json, print_yaml, sanitize},
    settings::{Settings, UsageError},
};

/// The formats of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Json,
    Html,
}

/// What goes to stdout or into one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rendering {
    Report(ReportFormat),
    /// `-o yaml`: the report's data as YAML, on stdout.
    Yaml,
    Prevent,
}

pub fn run(args: &ReportArgs, settings: &Settings) -> anyhow::Result<u8> {
    let case = args.case.clone().or_else(|| settings.case.clone()).ok_or_else(|| {
        UsageError("no case given: name its folder (kir report CASE) or set --case / KIR_CASE".into())
    })?;
    let rendering = rendering(args, settings.output)?;
    let source = CaseSource::read(&case).map_err(|error| match error {
        kir_report::Error::NotFound { .. } | kir_report::Error::NotACase { .. } => {
            anyhow::Error::from(UsageError(error.to_string()))
        }
        other => anyhow::Error::from(other),
    })?;
    let report = kir_report::report_of(&source, Timestamp::now());
    let report = if args.offline || args.prevent {
        report.without_live_containment("--offline")
    } else {
        match crate::runtime()?.block_on(live_containment(settings, &source)) {
            Ok((checked, server, changes)) => report.with_live_containment(checked, &server, changes),
            Err(why) => {
                eprintln!("{}", sanitize(&format!("containment not re-checked: {why}")));
                report.without_live_containment(&why)
            }
        }
    };
    match &args.out {
        Some(out) if is_folder(out) => write_folder(out, &case, &source, &report, args.prevent)?,
        Some(out) => {
            if rendering == Rendering::Yaml {
                return Err(UsageError("-o yaml prints to stdout; with --out, give --format".into()).into());
            };
            refuse_inside_case(out, &case)?;
            write_new(out, &render(rendering, &source, &report))?;
            eprintln!("{}", sanitize(&format!("wrote {}", out.display())));
        }
        None => print(rendering, &source, &report)?,
    }
    if !report.verification.verifies {
        eprintln!(
            "{}",
            sanitize(&format!(
                "the case does not verify ({} problem(s)): the report says so on its first line; `kir case verify {}` lists them",
                report.verification.problems.len(),
                case.display()
            ))
        );
        return Ok(exit::FAILURE);
    }
    Ok(exit::SUCCESS)
}

/// The format: `--format`, else the global `-o` (table, the default, is Markdown).
fn rendering(args: &ReportArgs, output: OutputFormat) -> Result<Rendering, UsageError> {
    if args.prevent {
        if args.format.is_some() || output != OutputFormat::Table {
            return Err(UsageError("--prevent writes YAML documents: leave out --format and -o".into()));
        }
        return Ok(Rendering::Prevent);
    }
    let from_output = match output {
        OutputFormat::Table => None,
        OutputFormat::Json => Some(Rendering::Report(ReportFormat::Json)),
        OutputFormat::Yaml => Some(Rendering::Yaml),
    };
    match (args.format, from_output) {
        (Some(format), None) => Ok(Rendering::Report(format)),
        (Some(format), Some(other)) if Rendering::Report(format) == other => Ok(other),
        (Some(_), Some(_)) => Err(UsageError("-o and --format disagree: give one of them".into())),
        (None, Some(other)) => Ok(other),
        (None, None) => Ok(Rendering::Report(ReportFormat::Markdown)),
    }
}

fn render(rendering: Rendering, source: &CaseSource, report: &Report) -> String {
    match rendering {
        Rendering::Report(ReportFormat::Markdown) => kir_report::markdown::render(report),
        Rendering::Report(ReportFormat::Html) => kir_report::html::render(report),
        Rendering::Report(ReportFormat::Json) | Rendering::Yaml => {
            let mut json = serde_json::to_string_pretty(report).expect("reports serialise");
            json.push('\n');
            json
        }
        Rendering::Prevent => kir_report::prevent::render(source),
    }
}

fn print(rendering: Rendering, source: &CaseSource, report: &Report) -> anyhow::Result<()> {
    match rendering {
        Rendering::Report(ReportFormat::Json) => print_json(report),
        Rendering::Yaml => print_yaml(report),
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(sanitize(&render(rendering, source, report)).as_bytes())?;
            Ok(())
        }
    }
}

/// `--out` names a folder: one that exists, or a path ending in `/`.
fn is_folder(out: &Path) -> bool {
    out.is_dir() || out.as_os_str().to_string_lossy().ends_with('/')
}

/// Every format into `dir` (created when missing): report.md, report.json and report.html, or
/// prevent.yaml with `--prevent`.
fn write_folder(
    dir: &Path,
    case: &Path,
    source: &CaseSource,
    report: &Report,
    prevent: bool,
) -> anyhow::Result<()> {
    refuse_inside_case(dir, case)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    let files: Vec<(&str, Rendering)> = if prevent {
        vec![("prevent.yaml", Rendering::Prevent)]
    } else {
        vec![
            ("report.md", Rendering::Report(ReportFormat::Markdown)),
            ("report.json", Rendering::Report(ReportFormat::Json)),
            ("report.html", Rendering::Report(ReportFormat::Html)),
        ]
    };
    for (name, rendering) in files {
        let path = dir.join(name);
        write_new(&path, &render(rendering, source, report))?;
        eprintln!("{}", sanitize(&format!("wrote {}", path.display())));
    }
    Ok(())
}

/// The case folder is evidence: a report written into it would be an extra file that makes it
/// fail verification. Checked before anything is created.
fn refuse_inside_case(out: &Path, case: &Path) -> Result<(), UsageError> {
    let (Some(out), Ok(case)) = (resolved(out), case.canonicalize()) else { return Ok(()) };
    if out.starts_with(&case) {
        return Err(UsageError(format!(
            "{} is inside the case folder {}: the case is evidence and kir writes no report into it; choose --out elsewhere",
            out.display(),
            case.display()
        )));
    }
    Ok(())
}

/// `path` made absolute through its nearest existing ancestor, links in that ancestor resolved.
fn resolved(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        rest.push(existing.file_name()?);
        existing = existing.parent()?;
    }
    let mut resolved = existing.canonicalize().ok()?;
    resolved.extend(rest.into_iter().rev());
    Some(resolved)
}

/// Create `path` (never over an existing file) with `text`.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::Error::from(UsageError(format!(
                "{} already exists; kir never overwrites a report, choose another --out",
                path.display()
            )))
        } else {
            anyhow::Error::from(e).context(format!("cannot create {}", path.display()))
        }
    })?;
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The changes the case's journal says kir made, read back from the live cluster the way
/// `kir undo` reads them (it only reads here). Only a journal this user's kir provably wrote is
/// followed, and only on the cluster the case was made on.
async fn live_containment(
    settings: &Settings,
    source: &CaseSource,
) -> Result<(Timestamp, String, Vec<kir_report::LiveChange>), String> {
    use kir_report::{LiveChange, LiveState};
    use kir_respond::undo::{self, Verdict};
    let metadata = source.metadata.as_ref().ok_or("case.json is unreadable")?;
    let key = kir_evidence::JournalKey::find()
        .map_err(|e| e.to_string())?
        .ok_or("no journal key on this machine: kir reads back only what its own key authenticates")?;
    let entries = kir_evidence::read_authenticated_journal(&source.path, &key).map_err(|e| e.to_string())?;
    let mut connect = settings.connect.clone();
    if connect.request_timeout.is_zero() {
        connect.request_timeout = std::time::Duration::from_secs(10);
    }
    let cluster = kir_cluster::Cluster::connect(&connect).await.map_err(|e| e.to_string())?;
    let server = cluster.target().server.clone();
    if let Some(made_on) = &metadata.info.cluster
        && made_on.trim_end_matches('/') != server.trim_end_matches('/')
    {
        return Err(format!("the case was made on {made_on}; the current context points at {server}"));
    }
    let journaled = undo::pending(&entries, None);
    let assessed = undo::assess(&cluster, &metadata.id, &journaled.pending, undo::UndoOptions::default())
        .await
        .map_err(|e| format!("the cluster could not be read: {e}"))?;
    let changes = assessed
        .into_iter()
        .map(|a| {
            let (state, detail) = match a.verdict {
                Verdict::Reverse => (LiveState::InPlace, "as kir made it".to_string()),
                Verdict::Shared(cases) => {
                    (LiveState::InPlace, format!("as kir made it; cases {} rely on it too", cases.join(", ")))
                }
                Verdict::KeptOrphaned(why) => (LiveState::InPlace, why),
                Verdict::AlreadyReversed(why) => (LiveState::Gone, why),
                Verdict::Mismatch(why) => (LiveState::Changed, why),
            };
            LiveChange { change: a.description, state, detail }
        })
        .collect();
    Ok((Timestamp::now(), server, changes))
}

//! `kir detect audit|runtime|rules`.

use std::{
    io::{self, Write},
    path::{Path, PathBuf},
};

use anyhow::Context;
use comfy_table::Cell;
use kir_audit::{ScanOptions, Windowed, scan};
use kir_detect::{
    AuditDetector, Finding, Rule,
    audit::{AuditField, AuditFields},
    baseline::Baseline,
    builtin,
    finding::Outcome,
    rule::{SigmaLoad, load_sigma},
    runtime::{RuntimeDetector, read_events},
};

use super::scan::{Progress, inputs, read_summary, report_skips, report_untimed, window};
use crate::{
    cli::{DetectCommand, OutputFormat},
    exit,
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::{Settings, UsageError},
};

pub fn run(command: DetectCommand, settings: &Settings) -> anyhow::Result<u8> {
    match command {
        DetectCommand::Audit { inputs: paths, rules, baseline, no_builtin, time } => {
            detect_audit(&paths, &rules, baseline.as_deref(), no_builtin, window(&time)?, settings)
        }
        DetectCommand::Runtime { inputs: paths } => detect_runtime(&paths, settings),
        DetectCommand::Rules => list_rules(settings),
    }
}

fn detect_audit(
    paths: &[PathBuf],
    rule_paths: &[PathBuf],
    baseline: Option<&Path>,
    no_builtin: bool,
    window: kir_audit::Window,
    settings: &Settings,
) -> anyhow::Result<u8> {
    let mut rules = if no_builtin { Vec::new() } else { builtin::audit_rules() };
    for path in rule_paths {
        rules.extend(sigma_rules(path)?);
    }
    let baseline = baseline.map(read_baseline).transpose()?;
    if rules.is_empty() && baseline.is_none() {
        return Err(
            UsageError("no rules to run: --no-builtin needs --rules DIR or --baseline FILE".into()).into()
        );
    }
    super::responder::case_may_be_opened(settings)?;
    let inputs = inputs(paths)?;
    let mut detector = AuditDetector::new(rules, baseline);
    if let Some(footprint) = super::audit::case_footprint(settings) {
        detector = detector.with_footprint(footprint);
    }
    let progress = Progress::new(&inputs, "detecting");
    // Hits are grouped block by block as they come: a flood of matching events costs counts,
    // not memory.
    // Standard input cannot be read again: its responses keep the AUDIT-LOG placeholder.
    let logs =
        paths.iter().filter(|p| p.as_os_str() != "-").map(|p| p.to_string_lossy().into_owned()).collect();
    let mut grouping = detector.grouping().with_logs(logs);
    let windowed = Windowed::new(&detector, window);
    let report =
        scan(&inputs, &ScanOptions::default(), &windowed, &|done| progress.update(done), &mut |hits| {
            hits.into_iter().for_each(|hit| grouping.add(hit));
            Ok(())
        })?;
    progress.finish();
    report_untimed(&windowed);
    let findings = detector.findings(grouping);
    // kir's own requests are reported apart, after everyone else's, and alone they are no
    // finding for the exit status.
    // A case that cannot take the findings must not cost them: they are printed either way.
    let recorded = settings.case.is_some().then(|| record_in_case(settings, paths, &inputs, &findings));
    let (responder, others): (Vec<Finding>, Vec<Finding>) = findings.into_iter().partition(|f| f.responder);
    let read = read_summary(&report);
    if settings.output == OutputFormat::Table {
        print_findings(&others, settings, false, Some(&read))?;
        if !responder.is_empty() {
            eprintln!("\nkir's own requests, as the case's journal accounts for them (not findings):");
            print_findings(&responder, settings, false, None)?;
        }
    } else {
        // One stream; each of kir's own carries `"responder": true`.
        let all: Vec<Finding> = others.iter().chain(&responder).cloned().collect();
        print_findings(&all, settings, false, None)?;
    }
    if let Some(Err(error)) = recorded {
        eprintln!("error: the findings are not kept in the case: {}", sanitize(&format!("{error:#}")));
        return Ok(exit::FAILURE);
    }
    Ok(status(&others, report_skips(&report)))
}

fn status(findings: &[Finding], skipped: u8) -> u8 {
    if !findings.is_empty() { exit::FOUND } else { skipped }
}

/// Load the Sigma rules in a file or directory (recursively). Rules for other log sources are
/// left out quietly; Kubernetes audit rules kir cannot run are named on stderr and left out.
fn sigma_rules(path: &Path) -> anyhow::Result<Vec<Rule<AuditField>>> {
    let mut files = Vec::new();
    collect_yaml(path, &mut files).with_context(|| format!("--rules {}", path.display()))?;
    let mut rules = Vec::new();
    let mut other = 0;
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                // Rule files are often downloaded: their names and contents are not trusted.
                eprintln!(
                    "warning: {}",
                    sanitize(&format!("{}: cannot read ({e}); left out", file.display()))
                );
                continue;
            }
        };
        match load_sigma(&text, file, &AuditFields) {
            Ok(SigmaLoad::Rule(rule)) => rules.push(*rule),
            Ok(SigmaLoad::OtherLogSource) => other += 1,
            Err(e) => eprintln!("warning: {}", sanitize(&format!("{e}; left out"))),
        }
    }
    tracing::info!(
        "{}: {} Kubernetes audit rules, {other} rules for other log sources",
        path.display(),
        rules.len()
    );
    if rules.is_empty() {
        eprintln!(
            "warning: {} holds no Sigma rule for product kubernetes, service audit ({} YAML files read)",
            path.display(),
            files.len()
        );
    }
    Ok(rules)
}

fn collect_yaml(path: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let metadata = std::fs::metadata(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            io::Error::new(e.kind(), "no such file or directory (give a directory of Sigma rules)")
        } else {
            e
        }
    })?;
    if metadata.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let p = entry.path();
        if entry.file_type()?.is_dir() {
            collect_yaml(&p, files)?;
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            files.push(p);
        }
    }
    Ok(())
}

fn read_baseline(path: &Path) -> anyhow::Result<Baseline> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--baseline {}: cannot read", path.display()))?;
    let baseline: Baseline = serde_json::from_str(&text).with_context(|| {
        format!(
            "--baseline {}: not a kir baseline (make one with `kir baseline learn FILE... --to FILE`)",
            path.display()
        )
    })?;
    if baseline.version != kir_detect::baseline::VERSION {
        anyhow::bail!(
            "--baseline {}: format version {} is not supported (this kir reads {}): learn it again",
            path.display(),
            baseline.version,
            kir_detect::baseline::VERSION
        );
    }
    Ok(baseline)
}

fn detect_runtime(paths: &[PathBuf], settings: &Settings) -> anyhow::Result<u8> {
    let inputs = inputs(paths)?;
    let detector = RuntimeDetector::new(builtin::runtime_rules());
    let mut grouping = detector.grouping();
    let mut hits = Vec::new();
    let report = read_events(&inputs, &ScanOptions::default(), &mut |event| {
        detector.check(&event, &mut hits);
        hits.drain(..).for_each(|hit| grouping.add(hit));
    });
    let findings = detector.findings(grouping);
    print_findings(&findings, settings, true, Some(&read_summary(&report)))?;
    Ok(status(&findings, report_skips(&report)))
}

/// `read`: what the scan read, said with the count (`in 7371 events read from 1 input`).
fn print_findings(
    findings: &[Finding],
    settings: &Settings,
    runtime: bool,
    read: Option<&str>,
) -> anyhow::Result<()> {
    let read = read.map(|read| format!(" in {read}")).unwrap_or_default();
    match settings.output {
        OutputFormat::Json => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            for finding in findings {
                serde_json::to_writer(&mut out, finding)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
        }
        OutputFormat::Yaml => print_yaml(&findings)?,
        OutputFormat::Table if findings.is_empty() => eprintln!("no findings{read}"),
        OutputFormat::Table => {
            let who = if runtime { "pod / container" } else { "user" };
            let mut t = if runtime {
                table(&["severity", "rule", who, "objects", "events", "first", "suggested response"])
            } else {
                table(&[
                    "severity",
                    "outcome",
                    "rule",
                    who,
                    "objects",
                    "events",
                    "first",
                    "suggested response",
                ])
            };
            for f in findings {
                let subject = if runtime { f.objects.join(", ") } else { f.user.clone().unwrap_or_default() };
                let objects = if runtime {
                    f.node.clone().map(|n| format!("node {n}")).unwrap_or_default()
                } else {
                    abbreviate(&f.objects, 2, f.truncated.contains(&"objects"))
                };
                let mut row = vec![Cell::new(f.severity)];
                if let Some(outcome) = f.outcome {
                    row.push(Cell::new(outcome_text(outcome, &f.response_codes)));
                }
                row.extend([
                    Cell::new(&f.rule.title),
                    Cell::new(subject),
                    Cell::new(objects),
                    Cell::new(f.count),
                    Cell::new(&f.first),
                    Cell::new(&f.suggested_response),
                ]);
                t.add_row(row);
            }
            print_table(&t)?;
            eprintln!(
                "{} finding{}{read} (details: -o json)",
                findings.len(),
                if findings.len() == 1 { "" } else { "s" }
            );
        }
    }
    Ok(())
}

/// `done`, or `attempt (403, 404)`: the answers that denied it.
fn outcome_text(outcome: Outcome, codes: &[i64]) -> String {
    if codes.is_empty() {
        return outcome.label().to_string();
    }
    let codes: Vec<String> = codes.iter().map(i64::to_string).collect();
    format!("{} ({})", outcome.label(), codes.join(", "))
}

/// The first `keep` items and how many more; `cut` when the list itself was cut short.
fn abbreviate(items: &[String], keep: usize, cut: bool) -> String {
    let mut text: Vec<String> = items.iter().take(keep).cloned().collect();
    if items.len() > keep {
        let more = items.len() - keep;
        text.push(if cut { format!("over {more} more") } else { format!("+{more} more") });
    }
    text.join(", ")
}

fn list_rules(settings: &Settings) -> anyhow::Result<u8> {
    #[derive(serde::Serialize)]
    struct Listed<'a> {
        kind: &'static str,
        #[serde(flatten)]
        meta: &'a kir_detect::RuleMeta,
    }
    let audit = builtin::audit_rules();
    let runtime = builtin::runtime_rules();
    let baseline = kir_detect::baseline::baseline_rules();
    let listed: Vec<Listed<'_>> = audit
        .iter()
        .map(|r| Listed { kind: "audit", meta: &r.meta })
        .chain(baseline.iter().map(|m| Listed { kind: "baseline", meta: m }))
        .chain(runtime.iter().map(|r| Listed { kind: "runtime", meta: &r.meta }))
        .collect();
    match settings.output {
        OutputFormat::Json => print_json(&listed)?,
        OutputFormat::Yaml => print_yaml(&listed)?,
        OutputFormat::Table => {
            let mut t = table(&["kind", "id", "severity", "att&ck", "title"]);
            for l in &listed {
                t.add_row(vec![
                    Cell::new(l.kind),
                    Cell::new(&l.meta.id),
                    Cell::new(l.meta.severity),
                    Cell::new(l.meta.attack.join(",")),
                    Cell::new(&l.meta.title),
                ]);
            }
            print_table(&t)?;
        }
    }
    Ok(exit::SUCCESS)
}

/// The most findings one journal entry lists (all of them are in the artifact).
const JOURNALED_FINDINGS: usize = 100;
/// The most bytes of matching log lines kept in a case per run.
const MATCHING_LINES_LIMIT: usize = 64 << 20;

/// Keep what detection found in the case of `--case`: the findings and the log lines they rest
/// on (by audit ID), hashed as evidence, and a journal entry listing the findings, from which
/// `kir report` draws its detections and the time to detect.
fn record_in_case(
    settings: &Settings,
    paths: &[PathBuf],
    inputs: &[kir_audit::Input],
    findings: &[Finding],
) -> anyhow::Result<()> {
    use kir_evidence::{Case, CaseInfo, JournalRecord};
    let dir = settings.case.as_ref().expect("called with --case");
    let shown = sanitize(&dir.display().to_string()).into_owned();
    // `case_may_be_opened` let a missing folder through only with --new-case.
    let case = if std::fs::symlink_metadata(dir).is_ok() {
        Case::open(dir).with_context(|| format!("cannot open case {shown}"))?
    } else {
        Case::create(dir, CaseInfo::new("detections in audit logs"))
            .with_context(|| format!("cannot create case {shown}"))?
    };
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ").to_string();
    let logs: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let source = format!("kir detect audit over {}", logs.join(", "));
    let findings_path = format!("detections/audit-{stamp}.json");
    case.store_bytes(&findings_path, &source, &serde_json::to_vec_pretty(findings)?)?;

    let wanted: std::collections::HashSet<&str> =
        findings.iter().flat_map(|f| f.audit_ids.iter().map(String::as_str)).collect();
    let lines_path = format!("detections/audit-{stamp}-events.jsonl");
    let mut lines = Vec::new();
    let mut truncated = false;
    if !wanted.is_empty() {
        let matching = MatchingLines(&wanted);
        scan(inputs, &ScanOptions::default(), &matching, &|_| {}, &mut |found: Vec<String>| {
            for line in found {
                if lines.len() + line.len() + 1 > MATCHING_LINES_LIMIT {
                    truncated = true;
                    break;
                }
                lines.extend_from_slice(line.as_bytes());
                lines.push(b'\n');
            }
            Ok(())
        })?;
        let source = format!("the audit log lines of the findings' audit IDs, from {}", logs.join(", "));
        case.store_bytes(&lines_path, &source, &lines)?;
    }
    let actor =
        std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "responder".into());
    let listed: Vec<&Finding> = findings.iter().take(JOURNALED_FINDINGS).collect();
    case.record(
        JournalRecord::new(actor, "detect.audit").parameters(serde_json::json!({"logs": logs})).result(
            serde_json::json!({
                "count": findings.len(),
                "findings": listed,
                "artifacts": [findings_path, lines_path],
                "linesTruncated": truncated,
            }),
        ),
    )?;
    eprintln!(
        "{} finding(s) and {} byte(s) of matching log lines kept in case {shown}",
        findings.len(),
        lines.len()
    );
    Ok(())
}

/// The raw lines of the events whose audit ID is wanted.
struct MatchingLines<'a>(&'a std::collections::HashSet<&'a str>);

impl kir_audit::Processor for MatchingLines<'_> {
    type Output = Vec<String>;

    fn output(&self) -> Vec<String> {
        Vec::new()
    }

    fn event(
        &self,
        event: &kir_audit::Event<'_>,
        raw: Option<&str>,
        _format: kir_audit::Format,
        out: &mut Vec<String>,
    ) {
        if self.0.contains(&*event.audit_id) {
            out.push(raw.map_or_else(|| serde_json::to_string(event).unwrap_or_default(), str::to_string));
        }
    }
}

//! `kir prepare check`: are the signals and tools the playbook relies on there before an
//! incident needs them? The audit log (there, recent, holding what the rules read), the audit
//! policy (logging what every rule reads), runtime sensors, forensic tools, and a place to
//! write and sign cases. Every gap comes with its fix.

use std::{
    io::{BufRead, Read},
    path::Path,
};

use kir_cluster::Cluster;
use kir_detect::audit_policy::{self, Level, Policy};
use kir_evidence::{Case, CaseInfo, SigningKey};
use serde::Serialize;
use serde_json::Value;

use crate::{
    cli::{OutputFormat, PrepareCheckArgs},
    exit,
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::{Settings, UsageError},
};

/// Events read from the newest audit log file for the sample.
const SAMPLE_EVENTS: usize = 200_000;
/// Bytes of one sample line kept; longer lines are skipped.
const SAMPLE_LINE_BYTES: u64 = 1 << 20;
/// An audit log whose newest event is older than this is not being written.
const STALE_AFTER_MINUTES: i64 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ready,
    Gap,
    Unknown,
}

#[derive(Debug, Serialize)]
struct Check {
    area: &'static str,
    item: String,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn check(area: &'static str, item: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
    Check { area, item: item.into(), status, detail: detail.into(), fix: None }
}

impl Check {
    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

#[derive(Debug, Serialize)]
struct Report {
    ready: bool,
    gaps: usize,
    checks: Vec<Check>,
}

pub async fn run(args: &PrepareCheckArgs, settings: &Settings) -> anyhow::Result<u8> {
    let policy = match &args.audit_policy {
        Some(path) => {
            let shown = sanitize(&path.display().to_string()).into_owned();
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("--audit-policy {shown}: cannot read it: {e}")))?;
            Some(Policy::parse(&text).map_err(|e| UsageError(format!("--audit-policy {shown}: {e}")))?)
        }
        None => None,
    };
    if let Some(log) = &args.audit_log
        && !log.exists()
    {
        let shown = sanitize(&log.display().to_string()).into_owned();
        return Err(UsageError(format!("--audit-log {shown}: no such file or folder")).into());
    }
    let mut checks = Vec::new();
    let sample = match &args.audit_log {
        Some(log) => audit_log(log, &mut checks),
        None => {
            checks.push(
                check("audit", "audit log", Status::Gap, "no --audit-log given: detection has nothing to read")
                    .fix("give the API server's --audit-log-path (self-managed), or export the log: EKS to CloudWatch, GKE Cloud Logging, AKS diagnostic settings; then --audit-log PATH"),
            );
            None
        }
    };
    match (&policy, &sample) {
        (Some(policy), _) => policy_coverage(policy, &mut checks),
        (None, Some(events)) => sample_coverage(events, &mut checks),
        (None, None) => checks.push(
            check(
                "audit",
                "audit policy",
                Status::Unknown,
                "neither --audit-policy nor a log sample to judge it by",
            )
            .fix("give --audit-policy FILE (the API server's --audit-policy-file)"),
        ),
    }
    cluster_tools(settings, &mut checks).await;
    cases(args, &mut checks);

    let gaps = checks.iter().filter(|c| c.status == Status::Gap).count();
    let report = Report { ready: gaps == 0, gaps, checks };
    match settings.output {
        OutputFormat::Json => print_json(&report)?,
        OutputFormat::Yaml => print_yaml(&report)?,
        OutputFormat::Table => print_report(&report)?,
    }
    Ok(if report.ready { exit::SUCCESS } else { exit::FAILURE })
}

/// Reads a sample of the newest log file: is it there, readable, recent?
fn audit_log(path: &Path, checks: &mut Vec<Check>) -> Option<Vec<Value>> {
    let shown = path.display().to_string();
    let inputs = match kir_audit::expand(&[path.to_path_buf()]) {
        Ok(inputs) => inputs,
        Err(e) => {
            checks.push(
                check("audit", "audit log", Status::Gap, e.to_string()).fix("give a readable file or folder"),
            );
            return None;
        }
    };
    let Some(newest) =
        inputs.iter().filter(|i| matches!(i, kir_audit::Input::File(_))).max_by_key(|i| modified(i))
    else {
        checks.push(
            check("audit", "audit log", Status::Gap, format!("{shown}: no readable file"))
                .fix("point --audit-log at the API server's --audit-log-path"),
        );
        return None;
    };
    let reader = match kir_audit::input::open(newest) {
        Ok(reader) => reader,
        Err(e) => {
            checks.push(
                check("audit", "audit log", Status::Gap, format!("{}: cannot read: {e}", newest.display()))
                    .fix("run kir as a user who may read the log, or copy it"),
            );
            return None;
        }
    };
    let mut events = Vec::new();
    let mut lines = reader;
    let mut line = Vec::new();
    while events.len() < SAMPLE_EVENTS {
        line.clear();
        match (&mut lines).take(SAMPLE_LINE_BYTES).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Ok(event) = serde_json::from_slice::<Value>(&line)
            && event.get("auditID").is_some()
        {
            events.push(event);
        }
    }
    let newest_time = events
        .iter()
        .filter_map(|e| e.get("stageTimestamp").or_else(|| e.get("requestReceivedTimestamp")))
        .filter_map(Value::as_str)
        .filter_map(|t| t.parse::<jiff::Timestamp>().ok())
        .max();
    let file = newest.display();
    match newest_time {
        None => checks.push(
            check(
                "audit",
                "audit log",
                Status::Gap,
                format!("{file}: no audit event in the first {SAMPLE_EVENTS} lines"),
            )
            .fix("check the API server's --audit-log-format=json and that the file is its audit log"),
        ),
        Some(time) => {
            let age = jiff::Timestamp::now().duration_since(time);
            let minutes = age.as_secs() / 60;
            if minutes > STALE_AFTER_MINUTES {
                checks.push(
                    check("audit", "audit log", Status::Gap, format!("{file}: newest event sampled is {minutes} min old ({time})"))
                        .fix("the log is not being written, or it rotated: point --audit-log at the folder, or check --audit-log-maxage"),
                );
            } else {
                checks.push(check(
                    "audit",
                    "audit log",
                    Status::Ready,
                    format!("{file}: {} events sampled, newest {time}", events.len()),
                ));
            }
        }
    }
    Some(events)
}

fn modified(input: &kir_audit::Input) -> std::time::SystemTime {
    match input {
        kir_audit::Input::File(path) => {
            std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH)
        }
        _ => std::time::UNIX_EPOCH,
    }
}

fn level_text(level: Level) -> &'static str {
    match level {
        Level::None => "None",
        Level::Metadata => "Metadata",
        Level::Request => "Request",
        Level::RequestResponse => "RequestResponse",
    }
}

fn policy_coverage(policy: &Policy, checks: &mut Vec<Check>) {
    let all = audit_policy::coverage(policy);
    let covered = all.iter().filter(|c| c.covered()).count();
    for gap in all.iter().filter(|c| !c.covered()) {
        let decided = match gap.decided_by {
            Some(i) => format!("policy rule {} logs it at {}", i + 1, level_text(gap.logged)),
            None => "no policy rule matches it: not logged".to_string(),
        };
        checks.push(
            check(
                "audit",
                format!("policy: {}", gap.rule),
                Status::Gap,
                format!("{} ({}): {decided}", gap.title, gap.example),
            )
            .fix(format!(
                "log {} at {} or more, in a rule before the one that decides it now",
                gap.example,
                level_text(gap.needs)
            )),
        );
    }
    let summary = check(
        "audit",
        "audit policy",
        if covered == all.len() { Status::Ready } else { Status::Gap },
        format!("{covered} of {} built-in rules see what they read", all.len()),
    );
    checks.push(if covered == all.len() {
        summary
    } else {
        summary.fix("change the policy as the rows above say")
    });
}

fn sample_coverage(events: &[Value], checks: &mut Vec<Check>) {
    let all = audit_policy::sample_coverage(events);
    let mut unseen = Vec::new();
    for rule in &all {
        match rule.seen {
            Some(seen) if seen < rule.needs => checks.push(
                check(
                    "audit",
                    format!("policy: {}", rule.rule),
                    Status::Gap,
                    format!(
                        "{} ({}): the log holds it at {}, the rule reads {}",
                        rule.title,
                        rule.example,
                        level_text(seen),
                        level_text(rule.needs)
                    ),
                )
                .fix(format!("log {} at {} or more", rule.example, level_text(rule.needs))),
            ),
            Some(_) => {}
            None => unseen.push(rule.rule.as_str()),
        }
    }
    if !unseen.is_empty() {
        checks.push(
            check(
                "audit",
                "audit policy",
                Status::Unknown,
                format!(
                    "the sample holds none of the requests {} of the rules read: {}",
                    unseen.len(),
                    unseen.join(", ")
                ),
            )
            .fix("give --audit-policy FILE to judge the policy itself"),
        );
    }
}

/// Runtime sensors and forensic tools, as `kir doctor` sees them.
async fn cluster_tools(settings: &Settings, checks: &mut Vec<Check>) {
    let readiness = match Cluster::connect(&settings.connect).await {
        Ok(cluster) => cluster.readiness().await,
        Err(e) => Err(e),
    };
    let readiness = match readiness {
        Ok(readiness) => readiness,
        Err(e) => {
            checks.push(
                check(
                    "cluster",
                    "sensors and tools",
                    Status::Unknown,
                    format!("cannot ask the cluster: {e}"),
                )
                .fix("run with a kubeconfig that reaches the cluster (`kir doctor` says what is wrong)"),
            );
            return;
        }
    };
    let present = |name: &str| readiness.capabilities.iter().find(|c| c.name == name);
    let sensors: Vec<&str> = ["falco", "tracee", "tetragon"]
        .into_iter()
        .filter(|name| present(name).is_some_and(|c| c.present))
        .collect();
    if sensors.is_empty() {
        checks.push(
            check("runtime", "runtime sensor", Status::Gap, "no Falco, Tracee or Tetragon seen running")
                .fix("install one (e.g. helm install falco falcosecurity/falco) and feed its events to kir detect runtime"),
        );
    } else {
        checks.push(check(
            "runtime",
            "runtime sensor",
            Status::Ready,
            format!("running: {}", sensors.join(", ")),
        ));
    }
    for (name, label, fix) in [
        ("trivy", "trivy", "install trivy on this machine's PATH (`kir image scan` uses it)"),
        (
            "inspektorGadget",
            "Inspektor Gadget",
            "kubectl gadget deploy (live process, network and file tracing on nodes)",
        ),
        ("tracee", "Tracee", "helm install tracee aqua/tracee (kernel events for forensics)"),
    ] {
        match present(name) {
            Some(c) if c.present => {
                checks.push(check("forensics", label, Status::Ready, c.detected_by.clone()))
            }
            Some(c) => checks.push(check("forensics", label, Status::Gap, c.detected_by.clone()).fix(fix)),
            None => checks.push(check("forensics", label, Status::Unknown, "not probed").fix(fix)),
        }
    }
}

/// Can a case be written where cases go, and signed with the key given?
fn cases(args: &PrepareCheckArgs, checks: &mut Vec<Check>) {
    let dir = &args.cases;
    let shown = dir.display().to_string();
    let trial = std::fs::create_dir_all(dir).map_err(|e| e.to_string()).and_then(|()| {
        let case = Case::create_in(dir, CaseInfo::new("kir prepare check: a trial case".to_string()))
            .map_err(|e| e.to_string())?;
        let path = case.path().to_path_buf();
        drop(case);
        std::fs::remove_dir_all(&path)
            .map_err(|e| format!("created {}, cannot remove it: {e}", path.display()))
    });
    match trial {
        Ok(()) => checks.push(check(
            "cases",
            "case folder",
            Status::Ready,
            format!("a trial case was written under {shown} and removed"),
        )),
        Err(e) => checks.push(
            check("cases", "case folder", Status::Gap, format!("{shown}: {e}"))
                .fix("give --cases a folder this user may write, on a disk with room"),
        ),
    }
    match &args.sign_key {
        None => checks.push(
            check(
                "cases",
                "signing key",
                Status::Gap,
                "no --sign-key given: exported cases would be unsigned",
            )
            .fix(
                "kir case keygen ~/.config/kir/signing (with KIR_SIGN_PASSWORD), keep the .pub with the team",
            ),
        ),
        Some(key) => {
            let password = std::env::var("KIR_SIGN_PASSWORD").ok();
            match SigningKey::from_file(key, password.as_deref()) {
                Ok(loaded) => checks.push(check(
                    "cases",
                    "signing key",
                    Status::Ready,
                    format!("{} loads (key id {})", key.display(), loaded.key_id()),
                )),
                Err(e) => checks.push(
                    check("cases", "signing key", Status::Gap, format!("{}: {e}", key.display()))
                        .fix("check the path, and KIR_SIGN_PASSWORD for a protected key"),
                ),
            }
        }
    }
}

fn print_report(report: &Report) -> anyhow::Result<()> {
    let mut rows = table(&["AREA", "CHECK", "STATUS", "DETAIL"]);
    for c in &report.checks {
        let status = match c.status {
            Status::Ready => "ready",
            Status::Gap => "GAP",
            Status::Unknown => "unknown",
        };
        rows.add_row(vec![c.area.to_string(), c.item.clone(), status.to_string(), c.detail.clone()]);
    }
    print_table(&rows)?;
    let fixes: Vec<&Check> =
        report.checks.iter().filter(|c| c.status != Status::Ready && c.fix.is_some()).collect();
    if !fixes.is_empty() {
        println!("\nto fix:");
        for c in fixes {
            println!("  {}: {}", sanitize(&c.item), sanitize(c.fix.as_deref().unwrap_or_default()));
        }
    }
    println!("\n{}", if report.ready { "ready".to_string() } else { format!("{} gaps", report.gaps) });
    Ok(())
}

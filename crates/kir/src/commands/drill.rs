//! `kir drill`: a practice incident, end to end, with a scorecard.

use std::{ffi::OsString, path::PathBuf};

use anyhow::Context;
use kir_cluster::Cluster;
use kir_drill::{Drill, Kir, Scenario, ScenarioScore, Scorecard};

use crate::{
    cli::{DrillArgs, DrillScenario, OutputFormat},
    exit,
    output::{print_json, print_table, print_yaml, sanitize, table},
    settings::{Settings, UsageError},
};

pub async fn run(args: &DrillArgs, settings: &Settings) -> anyhow::Result<u8> {
    if let Some(log) = &args.audit_log
        && !log.exists()
    {
        let shown = sanitize(&log.display().to_string()).into_owned();
        return Err(UsageError(format!(
            "--audit-log {shown}: no such file or folder (give the API server's --audit-log-path)"
        ))
        .into());
    }
    let scenarios = match args.scenario {
        DrillScenario::CompromisedPod => vec![Scenario::CompromisedPod],
        DrillScenario::StolenCredentials => vec![Scenario::StolenCredentials],
        DrillScenario::MaliciousImage => vec![Scenario::MaliciousImage],
        DrillScenario::All => Scenario::ALL.to_vec(),
    };
    let cluster = Cluster::connect(&settings.connect).await?;
    let consent = kir_drill::consent(&cluster, args.i_own_this_cluster).await?;
    let id = kir_drill::new_id();
    let started = jiff::Timestamp::now();
    let folder = folder(args, &id, started)?;
    let server = cluster.target().server.clone();
    eprintln!(
        "drill {id} on {} (consent: {consent}); cases and scorecard in {}",
        sanitize(&server),
        sanitize(&folder.display().to_string())
    );
    let progress = |line: &str| eprintln!("  {}", sanitize(line));
    let drill = Drill {
        cluster: &cluster,
        kir: Kir {
            exe: std::env::current_exe().context("cannot find kir's own executable")?,
            connection: connection(settings),
        },
        id: id.clone(),
        folder: folder.clone(),
        audit_log: args.audit_log.clone(),
        keep: args.keep,
        progress: &progress,
    };
    let mut card = Scorecard {
        drill: id,
        started: started.to_string(),
        cluster: server,
        kir_version: env!("CARGO_PKG_VERSION").to_string(),
        scenarios: Vec::new(),
    };
    for scenario in scenarios {
        let score = drill.run(scenario).await;
        let verdict = if score.passed() {
            "passed".to_string()
        } else {
            format!("FAILED: {}", score.failures().join(", "))
        };
        progress(&format!("{}: {verdict}", scenario.name()));
        card.scenarios.push(score);
    }
    let json = serde_json::to_vec_pretty(&card)?;
    std::fs::write(folder.join("scorecard.json"), json).context("cannot write the scorecard")?;
    std::fs::write(folder.join("scorecard.md"), card.markdown()).context("cannot write the scorecard")?;
    match settings.output {
        OutputFormat::Json => print_json(&card)?,
        OutputFormat::Yaml => print_yaml(&card)?,
        OutputFormat::Table => print_scorecard(&card)?,
    }
    Ok(if card.passed() { exit::SUCCESS } else { exit::FAILURE })
}

/// The drill's folder: `--out` (new or empty), else a new one under ./drills.
fn folder(args: &DrillArgs, id: &str, started: jiff::Timestamp) -> anyhow::Result<PathBuf> {
    let folder = match &args.out {
        Some(dir) => {
            let shown = sanitize(&dir.display().to_string()).into_owned();
            if dir.is_file() {
                return Err(UsageError(format!(
                    "--out {shown}: is a file; give a folder that does not exist or is empty"
                ))
                .into());
            }
            if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
                return Err(UsageError(format!(
                    "--out {shown}: the folder is not empty; give a new folder so no earlier drill's cases are mixed in"
                ))
                .into());
            }
            dir.clone()
        }
        None => PathBuf::from("drills").join(format!("{}-{id}", started.strftime("%Y%m%dT%H%M%SZ"))),
    };
    std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    Ok(folder)
}

/// The connection flags kir was given, for the kir commands the drill runs.
fn connection(settings: &Settings) -> Vec<OsString> {
    let connect = &settings.connect;
    let mut args: Vec<OsString> = Vec::new();
    if let Some(kubeconfig) = &connect.kubeconfig {
        args.extend(["--kubeconfig".into(), kubeconfig.into()]);
    }
    if let Some(context) = &connect.context {
        args.extend(["--context".into(), context.into()]);
    }
    if let Some(user) = &connect.impersonate_user {
        args.extend(["--as".into(), user.into()]);
    }
    for group in &connect.impersonate_groups {
        args.extend(["--as-group".into(), group.into()]);
    }
    if !connect.request_timeout.is_zero() {
        args.extend([
            "--request-timeout".into(),
            format!("{}ms", connect.request_timeout.as_millis()).into(),
        ]);
    }
    args
}

fn print_scorecard(card: &Scorecard) -> anyhow::Result<()> {
    let mut rows = table(&["SCENARIO", "RESULT", "DETECT", "CONTAIN", "RECOVER", "EVIDENCE"]);
    let seconds = |ms: Option<u64>| ms.map_or("–".to_string(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
    for score in &card.scenarios {
        rows.add_row(vec![
            score.scenario.clone(),
            if score.passed() { "passed".to_string() } else { "FAILED".to_string() },
            seconds(score.time_to_detect_ms),
            seconds(score.time_to_contain_ms),
            seconds(score.time_to_recover_ms),
            score.evidence_items.map_or("–".to_string(), |n| n.to_string()),
        ]);
    }
    print_table(&rows)?;
    for score in card.scenarios.iter().filter(|s| !s.passed()) {
        print_failures(score);
    }
    let verdict = if card.passed() { "passed" } else { "FAILED" };
    println!("drill {} {verdict}", sanitize(&card.drill));
    Ok(())
}

fn print_failures(score: &ScenarioScore) {
    for check in score.checks.iter().filter(|c| !c.passed) {
        println!("{}: {}: {}", sanitize(&score.scenario), sanitize(&check.name), sanitize(&check.detail));
    }
}

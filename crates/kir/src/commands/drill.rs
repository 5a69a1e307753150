//! `kir drill`: a practice incident, end to end, with a scorecard.

use std::{ffi::OsString, path::PathBuf};

use anyhow::Context;
use kir_cluster::{Cluster, ConnectOptions};
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
    let mut connect = settings.connect.clone();
    if no_kubeconfig(&connect) {
        connect.kubeconfig = Some(start_testbed()?);
    }
    let cluster = Cluster::connect(&connect).await?;
    let consent = kir_drill::consent(&cluster, args.i_own_this_cluster).await?;
    let audit_log = args.audit_log.clone().or_else(|| testbed_audit_log(&cluster));
    let id = kir_drill::new_id();
    let started = jiff::Timestamp::now();
    let folder = folder(args, &id, started)?;
    let server = cluster.target().server.clone();
    eprintln!(
        "drill {id} on {} (consent: {consent}); audit log {}; cases and scorecard in {}",
        sanitize(&server),
        audit_log
            .as_ref()
            .map_or("none (detection is not exercised)".into(), |p| sanitize(&p.display().to_string())
                .into_owned()),
        sanitize(&folder.display().to_string())
    );
    let progress = |line: &str| eprintln!("  {}", sanitize(line));
    let drill = Drill {
        cluster: &cluster,
        kir: Kir {
            exe: std::env::current_exe().context("cannot find kir's own executable")?,
            connection: connection(&connect),
        },
        id: id.clone(),
        folder: folder.clone(),
        audit_log,
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

/// Nothing says which cluster to use: no --kubeconfig, no KUBECONFIG, no ~/.kube/config, and
/// not in a pod.
fn no_kubeconfig(connect: &ConnectOptions) -> bool {
    let home_config = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config"));
    connect.kubeconfig.is_none()
        && std::env::var_os("KUBECONFIG").is_none_or(|k| k.is_empty())
        && !home_config.is_some_and(|c| c.exists())
        && std::env::var_os("KUBERNETES_SERVICE_HOST").is_none()
}

/// Start kir's testbed (from `KIR_TESTBED_DIR`, or the checkout kir was built in) and return
/// its kubeconfig: a drill with no cluster named practises on the testbed.
fn start_testbed() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find kir's own executable")?;
    let dir = std::env::var_os("KIR_TESTBED_DIR")
        .map(PathBuf::from)
        .or_else(|| exe.ancestors().map(|a| a.join("testbed")).find(|t| t.join("up").is_file()))
        .ok_or_else(|| {
            UsageError(
                "no cluster to drill on: no kubeconfig, and no kir testbed found (set KIR_TESTBED_DIR to a checkout's \
                 testbed/ folder, or give --kubeconfig)"
                    .to_string(),
            )
        })?;
    eprintln!("no kubeconfig: starting the testbed ({})", sanitize(&dir.display().to_string()));
    let output = std::process::Command::new(dir.join("up"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", dir.join("up").display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.trim().strip_prefix("export KUBECONFIG=") {
        Some(path) if output.status.success() => Ok(PathBuf::from(path)),
        _ => anyhow::bail!("testbed/up failed ({}); see its messages above", output.status),
    }
}

/// The testbed writes its audit log's path beside its kubeconfig: a drill there needs no
/// --audit-log.
fn testbed_audit_log(cluster: &Cluster) -> Option<PathBuf> {
    let kubeconfig = cluster.target().kubeconfig.first()?;
    let named = std::fs::read_to_string(kubeconfig.parent()?.join("audit-log-path")).ok()?;
    let path = PathBuf::from(named.trim());
    path.exists().then_some(path)
}

/// The connection flags kir was given, for the kir commands the drill runs.
fn connection(connect: &ConnectOptions) -> Vec<OsString> {
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

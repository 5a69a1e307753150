//! What the audit-log commands share: inputs, filters, progress and the report of skipped
//! records.

use std::{
    io::IsTerminal,
    path::PathBuf,
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kir_audit::{
    Input, Processor, ScanReport, Window, Windowed,
    filter::{CodeMatch, Filter},
    pattern::{Cidr, Glob},
};

use crate::{
    cli::{AuditFilterArgs, TimeArgs},
    exit,
    output::sanitize,
    settings::{UsageError, time_window},
};

/// The inputs named on the command line, directories expanded.
pub fn inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    Ok(kir_audit::expand(paths)?)
}

/// `--since`/`--until` as a window; the zone that times without one were read in is said on
/// stderr.
pub fn window(args: &TimeArgs) -> Result<Window, UsageError> {
    let resolved = time_window(args, jiff::Timestamp::now())?;
    if let Some(note) = resolved.zone_note {
        eprintln!("note: {note}");
    }
    Ok(resolved.window)
}

/// Say on stderr what `--since`/`--until` left out of what was read: events of other times,
/// and events without a readable time.
pub fn report_untimed<P: Processor>(windowed: &Windowed<'_, P>) {
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    let mut left_out = Vec::new();
    match windowed.outside() {
        0 => {}
        n => left_out.push(format!("{n} event{} of other times", plural(n))),
    }
    match windowed.untimed() {
        0 => {}
        n => left_out.push(format!(
            "{n} event{} without a readable requestReceivedTimestamp or stageTimestamp",
            plural(n)
        )),
    }
    if !left_out.is_empty() {
        eprintln!("note: read, then left out by --since/--until: {}", left_out.join(" and "));
    }
}

/// What a scan read, for the closing line of a command: `7371 events read from 2 inputs`
/// (lines a search passed over undecoded were read too, and count).
pub fn read_summary(report: &ScanReport) -> String {
    let read = report.read();
    format!(
        "{read} event{} read from {} input{}",
        if read == 1 { "" } else { "s" },
        report.inputs,
        if report.inputs == 1 { "" } else { "s" }
    )
}

/// The flags as a filter; a bad value is a usage error naming the flag.
pub fn filter(args: &AuditFilterArgs, namespace: Option<&str>) -> Result<Filter, UsageError> {
    let ips = args
        .ip
        .iter()
        .map(|ip| ip.parse::<Cidr>().map_err(|why| UsageError(format!("invalid --ip: {why}"))))
        .collect::<Result<_, _>>()?;
    let codes = args
        .code
        .iter()
        .map(|c| c.parse::<CodeMatch>().map_err(|why| UsageError(format!("invalid --code: {why}"))))
        .collect::<Result<_, _>>()?;
    Ok(Filter {
        users: args.user.iter().map(|u| Glob::new(u)).collect(),
        groups: args.group.iter().map(|g| Glob::new(g)).collect(),
        ips,
        verbs: args.verb.clone(),
        resources: args.resource.clone(),
        subresources: args.subresource.clone(),
        namespaces: namespace.map(Glob::new).into_iter().collect(),
        names: args.name.iter().map(|n| Glob::new(n)).collect(),
        codes,
        user_agents: args.user_agent.clone(),
        credential_ids: args.credential_id.clone(),
    })
}

/// A progress bar on stderr, shown only on a terminal and only once a scan has run for a
/// second (short scans stay quiet).
pub struct Progress {
    bar: OnceLock<ProgressBar>,
    total: u64,
    started: Instant,
    enabled: bool,
    label: &'static str,
    lock: Mutex<()>,
}

impl Progress {
    pub fn new(inputs: &[Input], label: &'static str) -> Progress {
        Progress {
            bar: OnceLock::new(),
            total: inputs.iter().filter_map(Input::size).sum(),
            started: Instant::now(),
            enabled: std::io::stderr().is_terminal(),
            label,
            lock: Mutex::new(()),
        }
    }

    pub fn update(&self, done: u64) {
        if !self.enabled || self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let _guard = self.lock.lock();
        let bar = self.bar.get_or_init(|| {
            // Shown late, so tell it when the work began and how far it got: rate and time left
            // are then right from the first frame.
            let bar = ProgressBar::with_draw_target(Some(self.total), ProgressDrawTarget::stderr())
                .with_elapsed(self.started.elapsed())
                .with_position(done.min(self.total));
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(self.label);
            bar
        });
        bar.set_position(done.min(self.total));
        // The rate since the start, not indicatif's estimate, which sees only the late frames.
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = done as f64 / seconds;
        let left = self.total.saturating_sub(done) as f64 / rate.max(1.0);
        bar.set_message(format!("{:.0} MB/s, {:.0} s left", rate / 1e6, left));
    }

    pub fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

/// Tell the user on stderr what was skipped, and where; return the exit status for it.
/// Events that lack fields were read, so they are reported without changing the status.
pub fn report_skips(report: &ScanReport) -> u8 {
    let incomplete: u64 = report.missing_fields.values().max().copied().unwrap_or(0);
    if incomplete > 0 {
        let fields: Vec<String> =
            report.missing_fields.iter().map(|(f, n)| format!("{n} without {f}")).collect();
        eprintln!("note: some events lack fields and were read anyway ({})", fields.join(", "));
        for example in &report.incomplete_examples {
            eprintln!("  {}", sanitize(&format!("{}:{}: {}", example.input, example.line, example.detail)));
        }
    }
    let total = report.skipped_total();
    if total == 0 {
        return exit::SUCCESS;
    }
    let reasons: Vec<String> =
        report.skipped.iter().map(|(reason, count)| format!("{count} {}", reason.describe())).collect();
    eprintln!(
        "warning: skipped {total} record{} of {} input{} ({}); the rest was read",
        if total == 1 { "" } else { "s" },
        report.inputs,
        if report.inputs == 1 { "" } else { "s" },
        reasons.join(", ")
    );
    for skip in &report.examples {
        let at = if skip.line == 0 { skip.input.clone() } else { format!("{}:{}", skip.input, skip.line) };
        // File names (found by walking directories) and details quote the hostile input.
        eprintln!("  {}", sanitize(&format!("{at}: {}: {}", skip.reason.describe(), skip.detail)));
    }
    if (report.examples.len() as u64) < total {
        eprintln!("  ... and {} more", total - report.examples.len() as u64);
    }
    exit::SKIPPED
}

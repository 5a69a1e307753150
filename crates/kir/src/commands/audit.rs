//! `kir audit search|stats|timeline`.

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use comfy_table::Cell;
use kir_audit::{
    Event, Format, Processor, ScanOptions, ScanReport, Window, Windowed,
    event::sources_display,
    filter::Filter,
    footprint::{Footprint, JournaledAction},
    scan,
    stats::{IpStats, Stats, UserStats},
    timeline::{Entry, arrange},
};
use serde::Serialize;

use super::scan::{Progress, filter, inputs, read_summary, report_skips, report_untimed, window};
use crate::{
    cli::{AuditCommand, AuditFilterArgs, OutputFormat},
    output::{print_json, print_table, print_yaml, sanitize, sanitize_json, table},
    settings::{Settings, UsageError},
};

pub fn run(command: AuditCommand, settings: &Settings) -> anyhow::Result<u8> {
    let namespace = settings.connect.namespace.as_deref();
    match command {
        AuditCommand::Search { inputs: paths, filters } => {
            search(&paths, &filter(&filters, namespace)?, window(&filters.time)?, settings)
        }
        AuditCommand::Stats { inputs: paths, filters } => {
            stats(&paths, &filter(&filters, namespace)?, window(&filters.time)?, settings)
        }
        AuditCommand::Timeline { inputs: paths, filters } => {
            if filters.user.is_empty() && filters.credential_id.is_empty() {
                return Err(UsageError(
                    "audit timeline needs --user or --credential-id: whose actions to review".into(),
                )
                .into());
            }
            timeline(&paths, &filter(&filters, namespace)?, window(&filters.time)?, &filters, settings)
        }
    }
}

/// Keeps the events the filter accepts; the scanner skips lines without the filter's literal.
struct Search {
    filter: Filter,
    literal: Option<String>,
    raw_output: bool,
}

/// Matches of one block: raw JSON lines (for `-o json`) or table rows.
enum Found {
    Lines(Vec<u8>),
    Rows(Vec<Row>),
}

#[derive(Serialize)]
struct Row {
    time: String,
    user: String,
    /// As the API server lists them: forwarded-for claims first, the peer last.
    source_ips: Vec<String>,
    verb: String,
    resource: String,
    object: String,
    code: String,
}

impl Processor for Search {
    type Output = Found;

    fn output(&self) -> Found {
        if self.raw_output { Found::Lines(Vec::new()) } else { Found::Rows(Vec::new()) }
    }

    fn literal(&self) -> Option<&[u8]> {
        self.literal.as_deref().map(str::as_bytes)
    }

    fn event(&self, event: &Event<'_>, raw: Option<&str>, _format: Format, out: &mut Found) {
        if !self.filter.matches(event) {
            return;
        }
        match out {
            Found::Lines(buffer) => {
                // The event as logged, with the characters that could drive a terminal escaped
                // (the same JSON): hostile clients choose user agents, names and bodies.
                match raw {
                    Some(raw) => buffer.extend_from_slice(sanitize_json(raw.trim()).as_bytes()),
                    // Converted envelopes (GKE) have no Event text of their own.
                    None => {
                        if let Ok(text) = serde_json::to_string(event) {
                            buffer.extend_from_slice(sanitize_json(&text).as_bytes());
                        }
                    }
                }
                buffer.push(b'\n');
            }
            Found::Rows(rows) => rows.push(Row {
                time: event.time_text().to_string(),
                user: match &event.impersonated_user {
                    Some(imp) if !imp.username.is_empty() => {
                        format!("{} (as {})", event.user.username, imp.username)
                    }
                    _ => event.user.username.to_string(),
                },
                source_ips: event.source_ips.iter().map(|s| s.to_string()).collect(),
                verb: event.verb.to_string(),
                resource: event.resource_path(),
                object: event.object_display(),
                code: event.code().map(|c| c.to_string()).unwrap_or_default(),
            }),
        }
    }
}

fn search(
    paths: &[std::path::PathBuf],
    filter: &Filter,
    window: Window,
    settings: &Settings,
) -> anyhow::Result<u8> {
    let inputs = inputs(paths)?;
    let raw_output = settings.output == OutputFormat::Json;
    let search = Search { literal: filter.literal(), filter: filter.clone(), raw_output };
    let processor = Windowed::new(&search, window);
    let progress = Progress::new(&inputs, "searching");
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut rows = Vec::new();
    let report =
        scan(&inputs, &ScanOptions::default(), &processor, &|done| progress.update(done), &mut |found| {
            match found {
                Found::Lines(bytes) => out.write_all(&bytes),
                Found::Rows(mut more) => {
                    rows.append(&mut more);
                    Ok(())
                }
            }
        });
    progress.finish();
    report_untimed(&processor);
    let report = match report {
        Ok(report) => report,
        // A closed pipe (`| head`) is the reader saying it has enough.
        Err(kir_audit::ScanError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(0),
        other => other?,
    }
    drop(out);
    match settings.output {
        OutputFormat::Json => {}
        OutputFormat::Yaml => print_yaml(&rows)?,
        OutputFormat::Table => {
            let mut t = table(&["time", "user", "source ip", "verb", "resource", "namespace/name", "code"]);
            for r in &rows {
                let source = sources_display(&r.source_ips);
                t.add_row(vec![&r.time, &r.user, &source, &r.verb, &r.resource, &r.object, &r.code]);
            }
            print_table(&t)?;
            eprintln!(
                "{} matching event{}; {}",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" },
                read_summary(&report)
            );
        }
    }
    Ok(report_skips(&report))
}

/// Statistics of the events the filter accepts.
struct StatsOf(Filter);

impl Processor for StatsOf {
    type Output = Stats;
    fn output(&self) -> Stats {
        Stats::default()
    }
    fn event(&self, event: &Event<'_>, _raw: Option<&str>, _format: Format, out: &mut Stats) {
        if self.0.matches(event) {
            out.add(event);
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatsReport {
    users: Vec<Named<UserStats>>,
    source_ips: Vec<Named<IpStats>>,
}

#[derive(Serialize)]
struct Named<T> {
    name: String,
    #[serde(flatten)]
    stats: T,
}

fn stats(
    paths: &[std::path::PathBuf],
    filter: &Filter,
    window: Window,
    settings: &Settings,
) -> anyhow::Result<u8> {
    let inputs = inputs(paths)?;
    let progress = Progress::new(&inputs, "reading");
    let mut total = Stats::default();
    let stats_of = StatsOf(filter.clone());
    let processor = Windowed::new(&stats_of, window);
    let report =
        scan(&inputs, &ScanOptions::default(), &processor, &|done| progress.update(done), &mut |s| {
            total.merge(s);
            Ok(())
        })?;
    progress.finish();
    report_untimed(&processor);
    let mut users: Vec<Named<UserStats>> =
        total.users.into_iter().map(|(name, stats)| Named { name, stats }).collect();
    users.sort_by(|a, b| b.stats.events.cmp(&a.stats.events).then_with(|| a.name.cmp(&b.name)));
    let mut ips: Vec<Named<IpStats>> =
        total.ips.into_iter().map(|(name, stats)| Named { name, stats }).collect();
    ips.sort_by(|a, b| b.stats.events.cmp(&a.stats.events).then_with(|| a.name.cmp(&b.name)));
    let stats_report = StatsReport { users, source_ips: ips };
    match settings.output {
        OutputFormat::Json => print_json(&stats_report)?,
        OutputFormat::Yaml => print_yaml(&stats_report)?,
        OutputFormat::Table => print_stats(&stats_report)?,
    }
    Ok(report_skips(&report))
}

/// A day as 24 bars (UTC hours), so a user's working hours show at a glance.
fn hour_bars(hours: &[u64; 24]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = hours.iter().copied().max().unwrap_or(0);
    hours.iter().map(|&n| if n == 0 { '·' } else { BARS[((n * 7) / max.max(1)) as usize] }).collect()
}

fn top(map: &BTreeMap<String, u64>, n: usize) -> String {
    let mut entries: Vec<(&String, &u64)> = map.iter().collect();
    entries.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let mut text: Vec<String> = entries.iter().take(n).map(|(k, v)| format!("{k} ({v})")).collect();
    if entries.len() > n {
        text.push(format!("+{} more", entries.len() - n));
    }
    text.join(", ")
}

fn print_stats(report: &StatsReport) -> anyhow::Result<()> {
    let mut users = table(&[
        "user",
        "events",
        "denied",
        "source ips",
        "user agents",
        "verbs",
        "stale tokens",
        "legacy tokens",
        "first",
        "last",
        "hours (utc 0-23)",
    ]);
    for u in &report.users {
        let s = &u.stats;
        users.add_row(vec![
            Cell::new(&u.name),
            Cell::new(s.events),
            Cell::new(s.denied),
            Cell::new(top(&s.source_ips, 3)),
            Cell::new(top(&s.user_agents, 2)),
            Cell::new(top(&s.verbs, 4)),
            Cell::new(s.stale_tokens),
            Cell::new(s.legacy_tokens),
            Cell::new(s.first.as_deref().unwrap_or("")),
            Cell::new(s.last.as_deref().unwrap_or("")),
            Cell::new(hour_bars(&s.hours)),
        ]);
    }
    print_table(&users)?;
    println!();
    let mut ips = table(&["source ip", "events", "users", "first", "last"]);
    for ip in &report.source_ips {
        let s = &ip.stats;
        let name = match s.forwarded {
            0 => ip.name.clone(),
            n => format!("{} (xff on {n} event{})", ip.name, if n == 1 { "" } else { "s" }),
        };
        ips.add_row(vec![
            Cell::new(name),
            Cell::new(s.events),
            Cell::new(top(&s.users, 3)),
            Cell::new(s.first.as_deref().unwrap_or("")),
            Cell::new(s.last.as_deref().unwrap_or("")),
        ]);
    }
    print_table(&ips)
}

/// Timeline entries of the events the filter accepts.
struct TimelineOf<'a>(Filter, Option<String>, Option<&'a Footprint>);

impl Processor for TimelineOf<'_> {
    type Output = Vec<Entry>;
    fn output(&self) -> Vec<Entry> {
        Vec::new()
    }
    fn literal(&self) -> Option<&[u8]> {
        self.1.as_deref().map(str::as_bytes)
    }
    fn event(&self, event: &Event<'_>, _raw: Option<&str>, _format: Format, out: &mut Vec<Entry>) {
        if self.0.matches(event) {
            let mut entry = Entry::of(event);
            entry.responder = self.2.is_some_and(|f| f.accounts_for(event));
            out.push(entry);
        }
    }
}

fn timeline(
    paths: &[std::path::PathBuf],
    filter: &Filter,
    window: Window,
    args: &AuditFilterArgs,
    settings: &Settings,
) -> anyhow::Result<u8> {
    let footprint = case_footprint(settings);
    let (entries, report) = timeline_entries(paths, filter, window, footprint.as_ref())?;
    match settings.output {
        OutputFormat::Json => {
            let mut out = io::BufWriter::new(io::stdout().lock());
            for entry in &entries {
                writeln!(out, "{}", sanitize_json(&serde_json::to_string(entry)?))?;
            }
            out.flush()?;
        }
        OutputFormat::Yaml => print_yaml(&entries)?,
        OutputFormat::Table => print_timeline(&entries, args)?,
    }
    Ok(report_skips(&report))
}

/// The actions of the events `filter` keeps in `paths`, most important first, each request
/// once; and how the reading went.
pub fn timeline_entries(
    paths: &[std::path::PathBuf],
    filter: &Filter,
    window: Window,
    footprint: Option<&Footprint>,
) -> anyhow::Result<(Vec<Entry>, ScanReport)> {
    let inputs = inputs(paths)?;
    let progress = Progress::new(&inputs, "reading");
    let mut entries = Vec::new();
    let timeline_of = TimelineOf(filter.clone(), filter.literal(), footprint);
    let processor = Windowed::new(&timeline_of, window);
    let report =
        scan(&inputs, &ScanOptions::default(), &processor, &|done| progress.update(done), &mut |mut e| {
            entries.append(&mut e);
            Ok(())
        })?;
    progress.finish();
    report_untimed(&processor);
    // The same request logged at several stages is one action.
    let mut seen = std::collections::HashSet::new();
    entries.retain(|e| e.audit_id.is_empty() || seen.insert(e.audit_id.clone()));
    arrange(&mut entries);
    Ok((entries, report))
}

/// Whose timeline: the users, the credential ids, or both.
fn timeline_subject(args: &AuditFilterArgs) -> String {
    let users = args.user.join(", ");
    let credentials: Vec<String> = args.credential_id.iter().map(|id| id.to_string()).collect();
    match (users.is_empty(), credentials.is_empty()) {
        (_, true) => users,
        (true, false) => format!("credential {}", credentials.join(", ")),
        (false, false) => format!("{users} with credential {}", credentials.join(", ")),
    }
}

fn print_timeline(entries: &[Entry], args: &AuditFilterArgs) -> anyhow::Result<()> {
    println!(
        "Timeline of {} ({} action{}), most important first",
        sanitize(&timeline_subject(args)),
        entries.len(),
        if entries.len() == 1 { "" } else { "s" }
    );
    // The credential of each action tells which token or certificate of a user did it; when
    // the timeline is of one credential, the title names it.
    let show_credential = args.credential_id.len() != 1 && entries.iter().any(|e| e.credential_id.is_some());
    let show_markers = entries.iter().any(|e| !e.token_markers.is_empty());
    let show_responder = entries.iter().any(|e| e.responder);
    let mut headers =
        vec!["time", "user", "verb", "resource", "namespace/name", "code", "source ip", "user agent"];
    if show_responder {
        headers.push("by");
    }
    if show_credential {
        headers.push("credential");
    }
    if show_markers {
        headers.push("token");
    }
    let mut current = None;
    let mut section = table(&headers);
    for entry in entries {
        if current != Some(entry.category) {
            if current.is_some() {
                print_table(&section)?;
            }
            let count = entries.iter().filter(|e| e.category == entry.category).count();
            println!("\n== {} ({count})", entry.category.title());
            section = table(&headers);
            current = Some(entry.category);
        }
        let mut row = vec![
            entry.time.clone(),
            entry.user.clone(),
            entry.verb.clone(),
            entry.resource.clone(),
            entry.object.clone(),
            entry.code.map(|c| c.to_string()).unwrap_or_default(),
            sources_display(&entry.source_ips),
            // The agent's name and version; its comment (OS, build) rarely helps and takes room.
            entry.user_agent.split(' ').next().unwrap_or_default().chars().take(40).collect(),
        ];
        if show_responder {
            row.push(if entry.responder { "kir (--case)".to_string() } else { String::new() });
        }
        if show_credential {
            row.push(entry.credential_id.clone().unwrap_or_default());
        }
        if show_markers {
            row.push(entry.token_markers.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("; "));
        }
        section.add_row(row);
    }
    if current.is_some() {
        print_table(&section)?;
    }
    Ok(())
}

/// kir's own requests, as the journal of `--case` accounts for them, so that detection and
/// timelines tell them apart. Only a journal this machine's journal key authenticates is
/// believed: a case folder is input too, and a forged one must not hide an attacker.
pub fn case_footprint(settings: &Settings) -> Option<Footprint> {
    let dir = settings.case.as_ref()?;
    let shown = sanitize(&dir.display().to_string()).into_owned();
    let authenticated = kir_evidence::JournalKey::find()
        .map_err(|e| e.to_string())
        .and_then(|key| key.ok_or_else(|| "no journal key on this machine".to_string()))
        .and_then(|key| kir_evidence::read_authenticated_journal(dir, &key).map_err(|e| e.to_string()));
    let entries = match authenticated {
        Ok(entries) => entries,
        Err(why) => {
            eprintln!("warning: kir's own requests are not told apart: case {shown}: {}", sanitize(&why));
            return None;
        }
    };
    let responder = kir_evidence::read_journal(dir).ok().and_then(|r| r.case).and_then(|c| c.info.responder);
    let actions: Vec<JournaledAction> = entries
        .into_iter()
        .map(|e| JournaledAction {
            time: e.time,
            actor: e.actor,
            action: e.action,
            target: e.target.unwrap_or_default(),
        })
        .collect();
    let footprint = Footprint::from_journal(responder.as_deref(), &actions);
    (!footprint.is_empty()).then_some(footprint)
}

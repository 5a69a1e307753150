//! `kir case`: open a case folder, show its journal, verify it, export it, make signing keys.

use std::path::{Path, PathBuf};

use kir_cluster::Cluster;
use kir_evidence::{
    Case, CaseInfo, ExportSummary, GeneratedKeys, JOURNAL_KEY_ENV, JournalEntry, JournalKey, JournalReading,
    SignatureStatus, SigningKey, VerifyReport, VerifyingKey,
    journal::{ACTION_COLLECT, ACTION_NOT_COLLECTED, ACTION_OPEN, ACTION_REPAIR},
};
use serde::Serialize;
use serde_json::Value;

use crate::{
    cli::{CaseCommand, OutputFormat},
    exit,
    output::{print_json, print_key_values, print_table, print_yaml, sanitize, table},
    settings::{Settings, UsageError},
};

/// The password of a protected signing key; also protects keys made by `kir case keygen`.
const PASSWORD_ENV: &str = "KIR_SIGN_PASSWORD";
/// Where `kir case open` creates cases when no folder is given.
const DEFAULT_CASES_DIR: &str = "cases";
const RESULT_WIDTH: usize = 80;

pub fn run(command: CaseCommand, settings: &Settings) -> anyhow::Result<u8> {
    match command {
        CaseCommand::List { dir } => list(&dir, settings),
        CaseCommand::Open { name, dir, responder } => open(&name, dir, responder, settings),
        CaseCommand::Show { dir } => show(&case_path(dir, settings, "`kir case show DIR`")?, settings),
        CaseCommand::Verify { path, pubkey } => verify(
            &case_path(path, settings, "`kir case verify DIR` or `kir case verify ARCHIVE`")?,
            pubkey.as_deref(),
            settings,
        ),
        CaseCommand::Export { dir, to, sign_key } => export(
            &case_path(dir, settings, "`kir case export DIR --to FILE`")?,
            &to,
            sign_key.as_deref(),
            settings,
        ),
        CaseCommand::Keygen { prefix } => keygen(&prefix, settings),
    }
}

/// The case named on the command line, else `--case`/`KIR_CASE`.
fn case_path(given: Option<PathBuf>, settings: &Settings, usage: &str) -> Result<PathBuf, UsageError> {
    given
        .or_else(|| settings.case.clone())
        .ok_or_else(|| UsageError(format!("no case given: name it ({usage}) or set --case / KIR_CASE")))
}

/// A path that does not exist is a mistake on the command line (exit 2), not a broken case.
fn usage_if_missing(error: kir_evidence::Error) -> anyhow::Error {
    match error {
        kir_evidence::Error::NotFound { .. } => UsageError(format!("{error}: check the path")).into(),
        other => other.into(),
    }
}

/// A line of text for the terminal: what it quotes (paths, names from a case) may be hostile.
fn say(text: &str) {
    println!("{}", sanitize(text));
}

fn warn(text: &str) {
    eprintln!("{}", sanitize(text));
}

fn print<T: Serialize>(
    settings: &Settings,
    value: &T,
    as_table: impl FnOnce(&T) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match settings.output {
        OutputFormat::Json => print_json(value),
        OutputFormat::Yaml => print_yaml(value),
        OutputFormat::Table => as_table(value),
    }
}

#[derive(Serialize)]
struct Opened {
    path: PathBuf,
    id: String,
}

fn open(
    name: &str,
    dir: Option<PathBuf>,
    responder: Option<String>,
    settings: &Settings,
) -> anyhow::Result<u8> {
    if name.trim().is_empty() {
        return Err(UsageError(
            "the case name is empty: give the incident a title, e.g. kir case open \"miner in prod/web\""
                .into(),
        )
        .into());
    }
    let mut info = CaseInfo::new(name);
    info.kir_version = env!("CARGO_PKG_VERSION").to_string();
    info.responder = responder.or_else(|| {
        ["USER", "LOGNAME"]
            .into_iter()
            .find_map(|name| std::env::var(name).ok().filter(|user| !user.is_empty()))
    });
    if let Some(target) = kubeconfig_target(settings) {
        info.cluster = Some(target.server);
        info.context = target.context;
    }
    let case = match (dir, &settings.case) {
        (Some(dir), _) => Case::create(&dir, info)?,
        (None, Some(from_case)) => Case::create(from_case, info).map_err(|error| {
            anyhow::anyhow!("{error} (the folder comes from --case / KIR_CASE; give --dir to choose another)")
        })?,
        (None, None) => Case::create_in(DEFAULT_CASES_DIR, info)?,
    };
    let opened = Opened { path: std::path::absolute(case.path())?, id: case.id().to_string() };
    print(settings, &opened, |opened| {
        say(&opened.path.display().to_string());
        Ok(())
    })?;
    Ok(exit::SUCCESS)
}

/// The cluster the case is about, as the kubeconfig names it. Nothing is sent to the server,
/// and a case can be opened without any kubeconfig (on an analysis machine, say).
fn kubeconfig_target(settings: &Settings) -> Option<kir_cluster::Target> {
    let runtime = crate::runtime().ok()?;
    match runtime.block_on(Cluster::connect(&settings.connect)) {
        Ok(cluster) => Some(cluster.target().clone()),
        Err(error) => {
            tracing::info!("recording the case without cluster details: {error}");
            None
        }
    }
}

fn show(dir: &Path, settings: &Settings) -> anyhow::Result<u8> {
    let reading = kir_evidence::read_journal(dir).map_err(usage_if_missing)?;
    print(settings, &reading, print_journal)?;
    for warning in &reading.warnings {
        warn(&format!("warning: {warning}"));
    }
    if reading.problems.is_empty() {
        return Ok(exit::SUCCESS);
    }
    for problem in &reading.problems {
        warn(&format!("problem: {problem}"));
    }
    warn(&format!(
        "error: the journal of {} is not intact ({} problem(s)); `kir case verify` checks the whole case",
        dir.display(),
        reading.problems.len()
    ));
    Ok(exit::FAILURE)
}

fn print_journal(reading: &JournalReading) -> anyhow::Result<()> {
    if let Some(case) = &reading.case {
        let cluster = match (&case.info.cluster, &case.info.context) {
            (Some(cluster), Some(context)) => format!("{cluster} (context {context})"),
            (Some(cluster), None) => cluster.clone(),
            (None, _) => "-".to_string(),
        };
        print_key_values(&[
            ("case", case.id.clone()),
            ("title", case.info.title.clone()),
            ("cluster", cluster),
            ("responder", case.info.responder.clone().unwrap_or_else(|| "-".into())),
        ])?;
        println!();
    }
    let mut entries = table(&["seq", "time", "actor", "action", "target", "result"]);
    for entry in &reading.entries {
        entries.add_row(vec![
            entry.seq.to_string(),
            entry.time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            entry.actor.clone(),
            entry.action.clone(),
            entry.target.clone().unwrap_or_default(),
            result_summary(entry),
        ]);
    }
    print_table(&entries)
}

/// One line saying what an entry's result was.
fn result_summary(entry: &JournalEntry) -> String {
    let text = match entry.action.as_str() {
        ACTION_OPEN => entry.result["title"].as_str().map(str::to_string),
        ACTION_COLLECT => {
            entry.result["size"].as_u64().zip(entry.result["sha256"].as_str()).map(|(size, sha)| {
                let truncated =
                    if entry.result["truncated"] == Value::Bool(true) { ", truncated" } else { "" };
                format!("{size} bytes, sha256 {}{truncated}", &sha[..sha.len().min(12)])
            })
        }
        ACTION_NOT_COLLECTED => {
            entry.result["reason"].as_str().map(|reason| format!("not collected: {reason}"))
        }
        ACTION_REPAIR => entry.parameters["repairs"].as_array().map(|r| format!("{} repair(s)", r.len())),
        _ => None,
    };
    let text = text.unwrap_or_else(|| match &entry.result {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    });
    let single_line = text.replace(['\n', '\r', '\t'], " ");
    match single_line.char_indices().nth(RESULT_WIDTH) {
        Some((cut, _)) => format!("{}…", &single_line[..cut]),
        None => single_line,
    }
}

fn verify(path: &Path, pubkey: Option<&Path>, settings: &Settings) -> anyhow::Result<u8> {
    let key = match pubkey {
        Some(file) if !file.exists() => {
            return Err(
                UsageError(format!("public key {} does not exist: check --pubkey", file.display())).into()
            );
        }
        Some(file) => Some(VerifyingKey::from_file(file)?),
        None => None,
    };
    // The verifier's own journal key, if this machine has one: verification never creates one.
    let journal_key = JournalKey::find()?;
    let report = kir_evidence::verify_with_journal_key(path, key.as_ref(), journal_key.as_ref())
        .map_err(usage_if_missing)?;
    print(settings, &report, print_report)?;
    Ok(if report.intact { exit::SUCCESS } else { exit::FAILURE })
}

fn print_report(report: &VerifyReport) -> anyhow::Result<()> {
    let verdict = if report.intact {
        "intact".to_string()
    } else {
        format!("NOT INTACT: {} problem(s)", report.problems.len())
    };
    say(&format!("{}: {verdict}", report.location.display()));
    let signature = match &report.signature {
        SignatureStatus::Absent => "not signed".to_string(),
        SignatureStatus::NotChecked => "signed, not checked (give --pubkey)".to_string(),
        SignatureStatus::Valid { key_id } => format!("valid, key {key_id}"),
        SignatureStatus::Invalid { reason } => format!("INVALID: {reason}"),
        SignatureStatus::Missing => "MISSING: a public key was given but the case is not signed".to_string(),
    };
    print_key_values(&[
        ("case", report.case_id.clone().unwrap_or_else(|| "-".into())),
        ("form", format!("{:?}", report.form).to_lowercase()),
        ("contents", format!("{} journal entries, {} artifacts", report.journal_entries, report.artifacts)),
        ("signature", signature),
        ("journal keys", journal_keys(report)),
        ("authenticated", authenticated(report)),
    ])?;
    for (title, findings) in [("problems", &report.problems), ("warnings", &report.warnings)] {
        if findings.is_empty() {
            continue;
        }
        say(&format!("{title}:"));
        for finding in findings {
            let kind = serde_json::to_value(finding.kind)?;
            say(&format!("  {:<15} {finding}", kind.as_str().unwrap_or_default()));
        }
    }
    say("what this proves:");
    for point in what_it_proves(report) {
        say(&format!("  - {point}"));
    }
    Ok(())
}

fn lines(count: u64) -> String {
    format!("{count} line{}", if count == 1 { "" } else { "s" })
}

/// The keys the journal's lines carry MACs under, and the lines without one.
fn journal_keys(report: &VerifyReport) -> String {
    let auth = &report.authentication;
    let mut parts: Vec<String> = auth
        .keys
        .iter()
        .map(|key| {
            let yours =
                if auth.your_key_id.as_deref() == Some(key.key_id.as_str()) { " (yours)" } else { "" };
            format!("{}{yours}: {}", key.key_id, lines(key.lines))
        })
        .collect();
    if let Some(first) = auth.first_line_without_mac {
        parts.push(format!("no MAC: {} (first: line {first})", lines(auth.lines_without_mac)));
    }
    if parts.is_empty() { "-".to_string() } else { parts.join("; ") }
}

fn authenticated(report: &VerifyReport) -> String {
    let auth = &report.authentication;
    match (&auth.your_key_id, auth.authenticated_lines) {
        (Some(id), Some(count)) => {
            format!("{count} of {} by your journal key {id}", lines(report.journal_entries))
        }
        _ => format!(
            "not checked: no journal key on this machine (set {JOURNAL_KEY_ENV} to the key file of the kir that wrote the case)"
        ),
    }
}

/// What the checks that passed do and do not prove, in words.
fn what_it_proves(report: &VerifyReport) -> Vec<String> {
    let auth = &report.authentication;
    let total = report.journal_entries;
    let mut points = vec![
        "the hash chain and the manifest prove that the files are unchanged relative to each other, not who \
         wrote them: anyone who can write the case folder can rewrite all of it consistently"
            .to_string(),
    ];
    points.push(match (&auth.your_key_id, auth.authenticated_lines) {
        (Some(id), Some(count)) if count == total && total > 0 => {
            format!("every journal line carries a valid MAC under your journal key {id}: your kir wrote them all")
        }
        (Some(id), Some(count)) => format!(
            "{count} of {} carry a valid MAC under your journal key {id}: your kir wrote those; the other {} \
             prove nothing about who wrote them (a line under another key was written by the kir holding that \
             key: check with {JOURNAL_KEY_ENV} set to its file)",
            lines(total),
            lines(total - count)
        ),
        _ => format!(
            "no journal line was authenticated: with the key of the kir that wrote them ({JOURNAL_KEY_ENV}, \
             else ~/.config/kir/journal.key), verification shows which lines that kir wrote"
        ),
    });
    points.push(match &report.signature {
        SignatureStatus::Valid { key_id } => format!(
            "the minisign signature proves that the manifest, and through it every artifact's hash and the \
             journal up to the entry it names, is the one the holder of key {key_id} signed"
        ),
        SignatureStatus::Absent => {
            "the case is not signed: nothing proves whose manifest it is (`kir case export DIR --to FILE --sign-key KEY` signs it)"
                .to_string()
        }
        SignatureStatus::NotChecked => {
            "the manifest is signed, but the signature was not checked: give --pubkey".to_string()
        }
        SignatureStatus::Invalid { .. } | SignatureStatus::Missing => {
            "the signature proves nothing: see the problems above".to_string()
        }
    });
    points
}

fn export(dir: &Path, archive: &Path, sign_key: Option<&Path>, settings: &Settings) -> anyhow::Result<u8> {
    let key = sign_key.map(load_signing_key).transpose()?;
    let summary = kir_evidence::export(dir, archive, key.as_ref()).map_err(usage_if_missing)?;
    print(settings, &summary, print_export)?;
    Ok(exit::SUCCESS)
}

fn load_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    if !path.exists() {
        return Err(
            UsageError(format!("signing key {} does not exist: check --sign-key", path.display())).into()
        );
    }
    let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
    SigningKey::from_file(path, password.as_deref()).map_err(|error| match password {
        None => anyhow::anyhow!("{error}; for a key protected by a password, set {PASSWORD_ENV}"),
        Some(_) => error.into(),
    })
}

fn print_export(summary: &ExportSummary) -> anyhow::Result<()> {
    say(&format!("exported case {} to {}", summary.case_id, summary.archive.display()));
    let signed = match &summary.signed_by {
        Some(key_id) => format!("key {key_id} (check: kir case verify ARCHIVE --pubkey KEY.pub)"),
        None => "not signed".to_string(),
    };
    print_key_values(&[
        ("sha256", summary.sha256.clone()),
        ("size", format!("{} bytes", summary.size)),
        ("contents", format!("{} journal entries, {} artifacts", summary.journal_entries, summary.artifacts)),
        ("signature", signed),
    ])
}

fn keygen(prefix: &Path, settings: &Settings) -> anyhow::Result<u8> {
    let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
    let keys = kir_evidence::generate_keys(prefix, password.as_deref())?;
    if !keys.protected {
        warn(&format!(
            "warning: {} is not protected by a password: anyone who can read it can sign as you. \
             Keep it private, or set {PASSWORD_ENV} and generate a new pair.",
            keys.secret_key.display()
        ));
    }
    print(settings, &keys, print_keys)?;
    Ok(exit::SUCCESS)
}

fn print_keys(keys: &GeneratedKeys) -> anyhow::Result<()> {
    print_key_values(&[
        ("secret key", keys.secret_key.display().to_string()),
        ("public key", keys.public_key.display().to_string()),
        ("key id", keys.key_id.clone()),
    ])
}

/// One case found by `kir case list`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    path: String,
    id: Option<String>,
    title: Option<String>,
    cluster: Option<String>,
    created: Option<String>,
    journal_entries: usize,
    last_action: Option<String>,
    /// Why the folder's journal could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// The case folders directly under `dir` (a folder with a journal), newest first. Read only:
/// listing never opens a case for writing.
fn list(dir: &Path, settings: &Settings) -> anyhow::Result<u8> {
    let shown = sanitize(&dir.display().to_string()).into_owned();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        UsageError(format!("{shown}: cannot list it ({e}); give the folder that holds the cases"))
    })?;
    let mut cases: Vec<Listed> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        // Links are not followed: a case folder is evidence, and a link may point anywhere.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) || !path.join("journal.jsonl").is_file() {
            continue;
        }
        let listed = match kir_evidence::read_journal(&path) {
            Ok(reading) => {
                let info = reading.case.as_ref();
                Listed {
                    path: path.display().to_string(),
                    id: info.map(|c| c.id.clone()),
                    title: info.map(|c| c.info.title.clone()),
                    cluster: info.and_then(|c| c.info.cluster.clone()),
                    created: reading.entries.first().map(|e| e.time.to_string()),
                    journal_entries: reading.entries.len(),
                    last_action: reading.entries.last().map(|e| format!("{} {}", e.time, e.action)),
                    problem: reading.problems.first().map(|p| p.message.clone()),
                }
            }
            Err(error) => Listed {
                path: path.display().to_string(),
                id: None,
                title: None,
                cluster: None,
                created: None,
                journal_entries: 0,
                last_action: None,
                problem: Some(error.to_string()),
            },
        };
        cases.push(listed);
    }
    cases.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.path.cmp(&b.path)));
    match settings.output {
        OutputFormat::Json => print_json(&cases)?,
        OutputFormat::Yaml => print_yaml(&cases)?,
        OutputFormat::Table => {
            let mut rows = table(&["CASE", "TITLE", "CLUSTER", "CREATED", "ENTRIES", "LAST ACTION"]);
            for case in &cases {
                rows.add_row(vec![
                    case.path.clone(),
                    case.title.clone().unwrap_or_default(),
                    case.cluster.clone().unwrap_or_default(),
                    case.created.clone().unwrap_or_default(),
                    case.journal_entries.to_string(),
                    case.problem
                        .clone()
                        .map(|p| format!("unreadable: {p}"))
                        .or(case.last_action.clone())
                        .unwrap_or_default(),
                ]);
            }
            print_table(&rows)?;
            if cases.is_empty() {
                eprintln!("no case under {shown}");
            }
        }
    }
    Ok(exit::SUCCESS)
}

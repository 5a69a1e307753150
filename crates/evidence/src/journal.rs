//! The journal: one JSON object per line, each sealed with the SHA-256 of its own bytes,
//! chained to the previous line, and authenticated with the writer's journal key.
//!
//! A line is written as
//!
//! ```text
//! {"seq":..,"time":..,"actor":..,"action":..,"target":..,"parameters":..,"result":..,"undo":..,
//!  "prevHash":"<64 hex>","keyId":"<16 hex>","mac":"<64 hex>","hash":"<64 hex>"}\n
//! ```
//!
//! (on one line), where
//! - `mac` is the HMAC-SHA256, under the journal key whose id is `keyId` (see [`crate::JournalKey`]),
//!   of the exact bytes before `,"mac":"`: every member before it, `keyId` included;
//! - `hash` is the SHA-256 of the exact bytes before `,"hash":"`, so it covers `mac` too;
//! - `prevHash` is the previous line's `hash` (64 zeros for the first line).
//!
//! So every byte of the line, whitespace included, is covered, and nothing is re-serialised to
//! check it; removing, reordering or changing a line breaks the chain; and a line that chains but
//! was not written with the reader's key (the chain has no key: anyone who can write the folder
//! can extend it) is told apart by its MAC. Lines written before journal keys have neither `keyId`
//! nor `mac`: they read and chain as before, and are unauthenticated.
//!
//! Lines are read one at a time with a cap ([`MAX_LINE`]); callers cap the whole journal
//! ([`MAX_JOURNAL`](crate::layout::MAX_JOURNAL)) before reading it.

use std::io::{self, BufRead, BufReader, Read};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    hash::{is_sha256_hex, sha256_hex},
    key::{JournalKey, KEY_ID_LEN},
    layout::JOURNAL_FILE,
    report::{Finding, FindingKind},
};

/// The first entry: the case was opened; records the SHA-256 of case.json.
pub const ACTION_OPEN: &str = "open-case";
/// An artifact was committed into `evidence/` (see [`crate::ArtifactWriter`]).
pub const ACTION_COLLECT: &str = "collect";
/// An artifact could not be collected, and why.
pub const ACTION_NOT_COLLECTED: &str = "not-collected";
/// Opening the case repaired what a crash left behind (a torn journal line, staged files).
pub const ACTION_REPAIR: &str = "repair";

pub(crate) const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The longest line read; kir's own lines are far shorter (a few KiB at most).
pub(crate) const MAX_LINE: usize = 1 << 20;

const KEY_ID_MEMBER: &[u8] = b",\"keyId\":\"";
const MAC_MEMBER: &[u8] = b",\"mac\":\"";
const HASH_MEMBER: &[u8] = b",\"hash\":\"";
const LINE_END: &[u8] = b"\"}";

/// What the caller wants journaled. `result` may be any JSON value, a plain string included;
/// `undo` says what reversing the action needs (`null` when nothing can or must be undone).
#[derive(Debug, Clone, PartialEq)]
pub struct JournalRecord {
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub parameters: Value,
    pub result: Value,
    pub undo: Value,
}

impl JournalRecord {
    pub fn new(actor: impl Into<String>, action: impl Into<String>) -> JournalRecord {
        JournalRecord {
            actor: actor.into(),
            action: action.into(),
            target: None,
            parameters: Value::Null,
            result: Value::Null,
            undo: Value::Null,
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> JournalRecord {
        self.target = Some(target.into());
        self
    }

    pub fn parameters(mut self, parameters: Value) -> JournalRecord {
        self.parameters = parameters;
        self
    }

    pub fn result(mut self, result: impl Into<Value>) -> JournalRecord {
        self.result = result.into();
        self
    }

    pub fn undo(mut self, undo: Value) -> JournalRecord {
        self.undo = undo;
        self
    }
}

/// One line of the journal, as read back (its `keyId` and `mac` are checked as it is read, not kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JournalEntry {
    pub seq: u64,
    pub time: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub parameters: Value,
    pub result: Value,
    pub undo: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The entry as written before it is sealed: the same fields in the same order, minus the seal
/// (`keyId`, `mac`, `hash`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnsealedEntry<'a> {
    seq: u64,
    time: Timestamp,
    actor: &'a str,
    action: &'a str,
    target: Option<&'a str>,
    parameters: &'a Value,
    result: &'a Value,
    undo: &'a Value,
    prev_hash: &'a str,
}

/// A line as read: the entry's members plus the authentication kir adds.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WireEntry {
    seq: u64,
    time: Timestamp,
    actor: String,
    action: String,
    target: Option<String>,
    parameters: Value,
    result: Value,
    undo: Value,
    prev_hash: String,
    key_id: Option<String>,
    mac: Option<String>,
    hash: String,
}

impl WireEntry {
    fn into_entry(self) -> JournalEntry {
        JournalEntry {
            seq: self.seq,
            time: self.time,
            actor: self.actor,
            action: self.action,
            target: self.target,
            parameters: self.parameters,
            result: self.result,
            undo: self.undo,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// How one line is authenticated, as far as the reader's key can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineMac {
    /// The line carries no MAC.
    Absent,
    /// A MAC under another key than the reader's (or the reader has none): not checked.
    Unchecked { key_id: String },
    /// A MAC that verifies under the reader's key.
    Valid { key_id: String },
    /// The line names the reader's key, but its MAC does not verify.
    Invalid { key_id: String },
}

impl LineMac {
    pub fn key_id(&self) -> Option<&str> {
        match self {
            LineMac::Absent => None,
            LineMac::Unchecked { key_id } | LineMac::Valid { key_id } | LineMac::Invalid { key_id } => {
                Some(key_id)
            }
        }
    }

    /// Why the line does not authenticate under `key`, in a responder's words; `None` when it does.
    pub fn problem(&self, key: &JournalKey) -> Option<String> {
        match self {
            LineMac::Valid { .. } => None,
            LineMac::Absent => Some(
                "it carries no MAC: an older kir wrote it, or it was forged (anyone who can write the case folder can add a line that chains)"
                    .to_string(),
            ),
            LineMac::Unchecked { key_id } => Some(format!(
                "it carries a MAC under journal key {key_id}, which is not yours ({}): another responder's kir wrote it; to act on it, set KIR_JOURNAL_KEY to their key file",
                key.id()
            )),
            LineMac::Invalid { key_id } => Some(format!(
                "its MAC does not verify under your journal key {key_id}: the line was forged or changed"
            )),
        }
    }
}

/// The authentication of one entry, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineAuth {
    pub line: u64,
    pub seq: u64,
    pub mac: LineMac,
}

/// The bytes of one journal line (newline included), authenticated with `key`, and the entry
/// they hold.
pub(crate) fn seal(
    seq: u64,
    time: Timestamp,
    record: &JournalRecord,
    prev_hash: &str,
    key: &JournalKey,
) -> (Vec<u8>, JournalEntry) {
    seal_line(seq, time, record, prev_hash, Some(key))
}

/// A line as kir wrote it before journal keys: no `keyId`, no `mac`.
#[cfg(test)]
pub(crate) fn seal_unauthenticated(
    seq: u64,
    time: Timestamp,
    record: &JournalRecord,
    prev_hash: &str,
) -> (Vec<u8>, JournalEntry) {
    seal_line(seq, time, record, prev_hash, None)
}

fn seal_line(
    seq: u64,
    time: Timestamp,
    record: &JournalRecord,
    prev_hash: &str,
    key: Option<&JournalKey>,
) -> (Vec<u8>, JournalEntry) {
    let unsealed = UnsealedEntry {
        seq,
        time,
        actor: &record.actor,
        action: &record.action,
        target: record.target.as_deref(),
        parameters: &record.parameters,
        result: &record.result,
        undo: &record.undo,
        prev_hash,
    };
    // Strings, numbers and JSON values with string keys always serialise.
    let mut line = serde_json::to_vec(&unsealed).expect("journal entries serialise");
    line.pop();
    if let Some(key) = key {
        line.extend_from_slice(KEY_ID_MEMBER);
        line.extend_from_slice(key.id().as_bytes());
        line.push(b'"');
        let mac = key.mac(&line);
        line.extend_from_slice(MAC_MEMBER);
        line.extend_from_slice(mac.as_bytes());
        line.push(b'"');
    }
    let hash = sha256_hex(&line);
    line.extend_from_slice(HASH_MEMBER);
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(LINE_END);
    line.push(b'\n');
    let entry = JournalEntry {
        seq,
        time,
        actor: record.actor.clone(),
        action: record.action.clone(),
        target: record.target.clone(),
        parameters: record.parameters.clone(),
        result: record.result.clone(),
        undo: record.undo.clone(),
        prev_hash: prev_hash.to_string(),
        hash,
    };
    (line, entry)
}

/// One line (without its newline), decoded.
struct Decoded {
    /// The entry, when the line parses as one.
    entry: Option<JournalEntry>,
    /// Its authentication, when the line's seal is where kir writes it.
    mac: LineMac,
    /// What is wrong with the line.
    problem: Option<String>,
}

fn decode_line(line: &[u8], key: Option<&JournalKey>) -> Decoded {
    let parsed = serde_json::from_slice::<WireEntry>(line);
    let mut mac = LineMac::Absent;
    let problem = match split_seal(line) {
        None => Some("does not end with a \"hash\" member of 64 lowercase hex digits".to_string()),
        Some((body, hash)) if sha256_hex(body) != hash => {
            Some("its bytes do not match its hash: the line was changed".to_string())
        }
        Some((body, hash)) => match &parsed {
            Err(e) => Some(format!("not a journal entry: {e}")),
            Ok(entry) if entry.hash != hash => Some("it has more than one \"hash\" member".to_string()),
            Ok(entry) => match (split_mac(body), entry.key_id.as_deref(), entry.mac.as_deref()) {
                (None, None, None) => None,
                (Some((signed, key_id, tag)), Some(named), Some(given)) if named == key_id && given == tag => {
                    mac = match key {
                        Some(key) if key.id() == key_id && key.verifies(signed, tag) => {
                            LineMac::Valid { key_id: key_id.to_string() }
                        }
                        Some(key) if key.id() == key_id => LineMac::Invalid { key_id: key_id.to_string() },
                        _ => LineMac::Unchecked { key_id: key_id.to_string() },
                    };
                    None
                }
                _ => Some(
                    "its \"keyId\" and \"mac\" members are not where kir writes them (16 and 64 lowercase hex digits, right before \"hash\")"
                        .to_string(),
                ),
            },
        },
    };
    Decoded { entry: parsed.ok().map(WireEntry::into_entry), mac, problem }
}

/// The sealed bytes and the hash recorded for them.
fn split_seal(line: &[u8]) -> Option<(&[u8], &str)> {
    let without_end = line.strip_suffix(LINE_END)?;
    let hash_start = without_end.len().checked_sub(64)?;
    let body = without_end[..hash_start].strip_suffix(HASH_MEMBER)?;
    let hash = std::str::from_utf8(&without_end[hash_start..]).ok()?;
    is_sha256_hex(hash).then_some((body, hash))
}

/// In the sealed bytes: the bytes the MAC covers, the key id and the MAC.
fn split_mac(body: &[u8]) -> Option<(&[u8], &str, &str)> {
    let (signed, tag) = split_member(body, MAC_MEMBER, 64)?;
    let (_, key_id) = split_member(signed, KEY_ID_MEMBER, KEY_ID_LEN)?;
    Some((signed, key_id, tag))
}

/// `bytes` ending with `member` and a string of `digits` lowercase hex digits: what precedes
/// the member, and the digits.
fn split_member<'a>(bytes: &'a [u8], member: &[u8], digits: usize) -> Option<(&'a [u8], &'a str)> {
    let without_quote = bytes.strip_suffix(b"\"")?;
    let start = without_quote.len().checked_sub(digits)?;
    let value = std::str::from_utf8(&without_quote[start..]).ok()?;
    let before = without_quote[..start].strip_suffix(member)?;
    value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)).then_some((before, value))
}

/// Where a chain continues from: the last entry already read, and how many lines precede.
#[derive(Debug, Clone)]
pub(crate) struct ChainPosition {
    pub seq: u64,
    pub hash: String,
    pub lines: u64,
}

impl ChainPosition {
    pub fn start() -> ChainPosition {
        ChainPosition { seq: 0, hash: GENESIS_HASH.to_string(), lines: 0 }
    }
}

/// The bytes after the last newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tail {
    /// The journal ends with a newline.
    Clean,
    /// The start of an entry, as a crash during an append leaves it: where it begins (bytes from
    /// the start of the read) and its bytes.
    Torn { offset: u64, bytes: Vec<u8> },
    /// A complete entry without its newline (a crash between the two); counted as an entry.
    Unterminated,
}

/// A journal, read line by line without giving up at the first problem.
#[derive(Debug)]
pub(crate) struct ParsedJournal {
    /// Every line that parses as an entry, intact or not (broken ones are also in `problems`).
    pub entries: Vec<JournalEntry>,
    /// The authentication of each entry, in the same order.
    pub auth: Vec<LineAuth>,
    pub problems: Vec<Finding>,
    pub tail: Tail,
    /// What a crash explains (a torn or unterminated last line); the caller decides how serious.
    pub tail_finding: Option<Finding>,
    pub end: ChainPosition,
}

/// Read the journal from `reader`, which yields at most [`MAX_JOURNAL`](crate::layout::MAX_JOURNAL) bytes, line by line.
pub(crate) fn read_journal_lines(reader: impl Read, key: Option<&JournalKey>) -> io::Result<ParsedJournal> {
    read(BufReader::with_capacity(64 * 1024, reader), &ChainPosition::start(), key)
}

/// Check `bytes` as journal lines following `start`; MACs under `key` are verified.
pub(crate) fn parse(bytes: &[u8], start: &ChainPosition, key: Option<&JournalKey>) -> ParsedJournal {
    read(bytes, start, key).expect("reading from memory does not fail")
}

/// Check the journal lines `reader` yields, following `start`, one line at a time: a line longer
/// than [`MAX_LINE`] is a problem, read no further and never held whole. The caller bounds the
/// reader (see [`MAX_JOURNAL`](crate::layout::MAX_JOURNAL)).
pub(crate) fn read(
    mut reader: impl BufRead,
    start: &ChainPosition,
    key: Option<&JournalKey>,
) -> io::Result<ParsedJournal> {
    let mut parsed = ParsedJournal {
        entries: Vec::new(),
        auth: Vec::new(),
        problems: Vec::new(),
        tail: Tail::Clean,
        tail_finding: None,
        end: start.clone(),
    };
    // The previous intact or parseable entry: what the next line must chain to.
    let mut previous = Some((start.seq, start.hash.clone()));
    let mut offset = 0u64;
    let mut line = Vec::new();
    loop {
        let line_number = parsed.end.lines + 1;
        line.clear();
        let terminated = match read_line(&mut reader, &mut line)? {
            LineRead::End => break,
            LineRead::TooLong => {
                parsed.problems.push(journal_finding(
                    FindingKind::BrokenEntry,
                    line_number,
                    None,
                    format!(
                        "longer than {MAX_LINE} bytes, which no entry kir writes is: not read, and the journal was not checked past it"
                    ),
                ));
                parsed.end.lines = line_number;
                break;
            }
            LineRead::Line { terminated } => terminated,
        };
        if !terminated {
            match classify_tail(&line) {
                TailKind::Torn => {
                    parsed.tail_finding = Some(journal_finding(
                        FindingKind::TornTail,
                        line_number,
                        None,
                        format!(
                            "the last {} byte(s) are an unfinished entry (an append was interrupted); they are not part of the record",
                            line.len()
                        ),
                    ));
                    parsed.tail = Tail::Torn { offset, bytes: std::mem::take(&mut line) };
                    break;
                }
                TailKind::Garbage(why) => {
                    parsed.problems.push(journal_finding(FindingKind::BrokenEntry, line_number, None, why));
                    parsed.end.lines = line_number;
                    break;
                }
                TailKind::Complete => {
                    parsed.tail = Tail::Unterminated;
                    parsed.tail_finding = Some(journal_finding(
                        FindingKind::TornTail,
                        line_number,
                        None,
                        "the last entry lacks its newline (an append was interrupted); opening the case adds it"
                            .to_string(),
                    ));
                }
            }
        }
        parsed.end.lines = line_number;
        offset += line.len() as u64 + u64::from(terminated);
        check_line(&line, line_number, key, &mut previous, &mut parsed);
    }
    Ok(parsed)
}

enum LineRead {
    /// Nothing more to read.
    End,
    /// A line is in the buffer; `terminated` when a newline ended it.
    Line { terminated: bool },
    /// The line is longer than [`MAX_LINE`]; reading stopped inside it.
    TooLong,
}

/// Read one line, without its newline, into `line`, holding at most [`MAX_LINE`] bytes of it.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<LineRead> {
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if line.is_empty() { LineRead::End } else { LineRead::Line { terminated: false } });
        }
        let newline = available.iter().position(|&b| b == b'\n');
        let chunk = &available[..newline.unwrap_or(available.len())];
        if line.len() + chunk.len() > MAX_LINE {
            return Ok(LineRead::TooLong);
        }
        line.extend_from_slice(chunk);
        let used = chunk.len() + usize::from(newline.is_some());
        reader.consume(used);
        if newline.is_some() {
            return Ok(LineRead::Line { terminated: true });
        }
    }
}

fn check_line(
    line: &[u8],
    line_number: u64,
    key: Option<&JournalKey>,
    previous: &mut Option<(u64, String)>,
    parsed: &mut ParsedJournal,
) {
    if line.is_empty() {
        parsed.problems.push(journal_finding(
            FindingKind::BrokenEntry,
            line_number,
            None,
            "empty line".into(),
        ));
        *previous = None;
        return;
    }
    let Decoded { entry, mac, problem } = decode_line(line, key);
    let seq = entry.as_ref().map(|e| e.seq);
    if let Some(problem) = problem {
        parsed.problems.push(journal_finding(FindingKind::BrokenEntry, line_number, seq, problem));
    }
    let Some(entry) = entry else {
        *previous = None;
        return;
    };
    if let Some((previous_seq, previous_hash)) = previous.as_ref() {
        if entry.seq != previous_seq + 1 {
            let detail =
                format!("seq {} follows seq {previous_seq}: entries are missing or reordered", entry.seq);
            parsed.problems.push(journal_finding(FindingKind::BrokenEntry, line_number, seq, detail));
        }
        if &entry.prev_hash != previous_hash {
            let detail = if *previous_seq == 0 {
                "the first entry's prevHash is not 64 zeros: entries before it are missing".to_string()
            } else {
                format!("prevHash does not match entry {previous_seq}: the chain is broken here")
            };
            parsed.problems.push(journal_finding(FindingKind::BrokenEntry, line_number, seq, detail));
        }
    }
    *previous = Some((entry.seq, entry.hash.clone()));
    parsed.end.seq = entry.seq;
    parsed.end.hash = entry.hash.clone();
    parsed.auth.push(LineAuth { line: line_number, seq: entry.seq, mac });
    parsed.entries.push(entry);
}

fn journal_finding(kind: FindingKind, line: u64, seq: Option<u64>, message: String) -> Finding {
    Finding { kind, file: JOURNAL_FILE.to_string(), line: Some(line), seq, message }
}

enum TailKind {
    Torn,
    Complete,
    Garbage(String),
}

/// Decide whether bytes after the last newline are what an interrupted append leaves (a prefix
/// of one entry) or something else, which only a change of the file explains.
fn classify_tail(tail: &[u8]) -> TailKind {
    if !tail.starts_with(b"{") {
        return TailKind::Garbage("the journal ends with bytes that are not the start of an entry".into());
    }
    let mut values = serde_json::Deserializer::from_slice(tail).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) if values.byte_offset() == tail.len() => TailKind::Complete,
        Some(Ok(_)) => TailKind::Garbage("bytes follow the last entry without a newline between them".into()),
        Some(Err(e)) if e.is_eof() => TailKind::Torn,
        Some(Err(e)) => TailKind::Garbage(format!("the journal ends with bytes that are not an entry: {e}")),
        None => TailKind::Garbage("the journal ends with bytes that are not an entry".into()),
    }
}

/// Parameters of the first entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OpenParameters {
    pub case_id: String,
    pub case_json_sha256: String,
}

/// Parameters of a `collect` entry (the evidence path is its `target`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CollectParameters {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Result of a `collect` entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CollectResult {
    pub sha256: String,
    pub size: u64,
    pub truncated: bool,
}

/// Parameters of a `not-collected` entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NotCollectedParameters {
    pub source: String,
}

/// Result of a `not-collected` entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NotCollectedResult {
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn key() -> JournalKey {
        JournalKey::for_tests(1)
    }

    fn time(index: usize) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + index as i64).unwrap()
    }

    fn journal(records: &[JournalRecord]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for (index, record) in records.iter().enumerate() {
            let (line, entry) = seal(index as u64 + 1, time(index), record, &prev, &key());
            prev = entry.hash;
            bytes.extend(line);
        }
        bytes
    }

    fn sample() -> Vec<JournalRecord> {
        vec![
            JournalRecord::new("kir", ACTION_OPEN).parameters(json!({"caseId": "c", "caseJsonSha256": "00"})),
            JournalRecord::new("alice", "isolate")
                .target("pod prod/web-1")
                .parameters(json!({"hash": "not the seal", "mac": "not the seal either"}))
                .result("policy created")
                .undo(json!({"delete": "networkpolicy/kir-q1"})),
            JournalRecord::new("kir", ACTION_COLLECT).target("pod.json").result(json!({"ok": true})),
        ]
    }

    fn macs(parsed: &ParsedJournal) -> Vec<LineMac> {
        parsed.auth.iter().map(|a| a.mac.clone()).collect()
    }

    #[test]
    fn sealed_lines_read_back_as_the_same_entries() {
        let bytes = journal(&sample());
        let parsed = parse(&bytes, &ChainPosition::start(), Some(&key()));
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.tail, Tail::Clean);
        assert_eq!(parsed.entries.len(), 3);
        assert_eq!(parsed.entries[1].result, json!("policy created"));
        assert_eq!(parsed.entries[1].prev_hash, parsed.entries[0].hash);
        assert_eq!(parsed.end.seq, 3);
        assert_eq!(parsed.end.lines, 3);
        assert!(bytes.ends_with(b"\"}\n"));
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 3);
        let valid = LineMac::Valid { key_id: key().id().to_string() };
        assert_eq!(macs(&parsed), vec![valid.clone(), valid.clone(), valid]);
        assert_eq!(parsed.auth[2], LineAuth { line: 3, seq: 3, mac: parsed.auth[2].mac.clone() });
    }

    #[test]
    fn the_seal_is_documented_where_kir_writes_it() {
        let (line, entry) = seal(1, time(0), &sample()[0], GENESIS_HASH, &key());
        let text = std::str::from_utf8(&line).unwrap();
        let key_id = key().id().to_string();
        let mac_start = text.find(",\"mac\":\"").unwrap();
        let expected_mac = key().mac(&line[..mac_start]);
        let tail = format!(
            "\"prevHash\":\"{GENESIS_HASH}\",\"keyId\":\"{key_id}\",\"mac\":\"{expected_mac}\",\"hash\":\"{}\"}}\n",
            entry.hash
        );
        assert!(text.ends_with(&tail), "{text}");
        assert_eq!(entry.hash, sha256_hex(&line[..text.find(",\"hash\":\"").unwrap()]));
    }

    #[test]
    fn lines_without_a_mac_read_and_chain_as_unauthenticated() {
        let records = sample();
        let (first, entry) = seal_unauthenticated(1, time(0), &records[0], GENESIS_HASH);
        let (second, _) = seal(2, time(1), &records[1], &entry.hash, &key());
        let parsed = parse(&[first, second].concat(), &ChainPosition::start(), Some(&key()));
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(macs(&parsed), vec![LineMac::Absent, LineMac::Valid { key_id: key().id().to_string() }]);
    }

    #[test]
    fn macs_tell_the_readers_key_from_another_and_from_a_forgery() {
        let other = JournalKey::for_tests(2);
        let bytes = journal(&sample());
        // Another reader's key: the MACs are there, under a key it cannot check.
        let parsed = parse(&bytes, &ChainPosition::start(), Some(&other));
        assert!(parsed.problems.is_empty());
        assert!(macs(&parsed).iter().all(|m| *m == LineMac::Unchecked { key_id: key().id().to_string() }));
        let problem = parsed.auth[0].mac.problem(&other).unwrap();
        assert!(problem.contains(key().id()) && problem.contains("KIR_JOURNAL_KEY"), "{problem}");
        // No key at all: nothing is checked.
        let parsed = parse(&bytes, &ChainPosition::start(), None);
        assert!(matches!(parsed.auth[0].mac, LineMac::Unchecked { .. }));

        // A forger who changes a line, keeps its MAC and fixes the hash chain is caught by the MAC.
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let forged_body = lines[1].replace("pod prod/web-1", "namespace victim");
        let body = &forged_body[..forged_body.find(",\"hash\":\"").unwrap()];
        let forged = format!("{body},\"hash\":\"{}\"}}", sha256_hex(body.as_bytes()));
        let journal = format!("{}\n{forged}\n", lines[0]);
        let parsed = parse(journal.as_bytes(), &ChainPosition::start(), Some(&key()));
        assert!(parsed.problems.is_empty(), "the chain alone cannot tell: {:?}", parsed.problems);
        assert_eq!(parsed.auth[1].mac, LineMac::Invalid { key_id: key().id().to_string() });
        assert!(parsed.auth[1].mac.problem(&key()).unwrap().contains("forged or changed"));
        assert!(LineMac::Absent.problem(&key()).unwrap().contains("no MAC"));
    }

    #[test]
    fn a_seal_out_of_place_is_a_problem() {
        let (line, _) = seal(1, time(0), &sample()[0], GENESIS_HASH, &key());
        let text = String::from_utf8(line).unwrap();
        let without_key_id = text.replacen(&format!(",\"keyId\":\"{}\"", key().id()), "", 1);
        let body = &without_key_id[..without_key_id.find(",\"hash\":\"").unwrap()];
        let resealed = format!("{body},\"hash\":\"{}\"}}\n", sha256_hex(body.as_bytes()));
        let parsed = parse(resealed.as_bytes(), &ChainPosition::start(), Some(&key()));
        assert_eq!(parsed.problems.len(), 1, "{:?}", parsed.problems);
        assert!(parsed.problems[0].message.contains("\"keyId\" and \"mac\""), "{}", parsed.problems[0]);
    }

    #[test]
    fn a_removed_line_breaks_the_chain_at_that_point() {
        let bytes = journal(&sample());
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        let without_second: Vec<u8> = [lines[0], lines[2]].concat();
        let parsed = parse(&without_second, &ChainPosition::start(), None);
        assert_eq!(parsed.problems.len(), 2, "{:?}", parsed.problems);
        assert!(parsed.problems.iter().all(|p| p.line == Some(2) && p.seq == Some(3)));
    }

    #[test]
    fn a_torn_last_line_is_a_warning_and_the_rest_stays_intact() {
        let bytes = journal(&sample());
        let cut = bytes.len() - 40;
        let parsed = parse(&bytes[..cut], &ChainPosition::start(), None);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.entries.len(), 2);
        let start_of_third = bytes[..cut].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        let torn = bytes[start_of_third..cut].to_vec();
        assert_eq!(parsed.tail, Tail::Torn { offset: start_of_third as u64, bytes: torn });
        assert_eq!(parsed.tail_finding.unwrap().line, Some(3));
    }

    #[test]
    fn a_missing_final_newline_keeps_the_entry() {
        let bytes = journal(&sample());
        let parsed = parse(&bytes[..bytes.len() - 1], &ChainPosition::start(), None);
        assert!(parsed.problems.is_empty());
        assert_eq!(parsed.entries.len(), 3);
        assert_eq!(parsed.tail, Tail::Unterminated);
    }

    #[test]
    fn parsing_continues_from_a_position() {
        let bytes = journal(&sample());
        let first_line_end = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        let head = parse(&bytes[..first_line_end], &ChainPosition::start(), None);
        let rest = parse(&bytes[first_line_end..], &head.end, None);
        assert!(rest.problems.is_empty(), "{:?}", rest.problems);
        assert_eq!(rest.entries.len(), 2);
        assert_eq!(rest.end.lines, 3);
        assert_eq!(rest.auth[0].line, 2);
    }

    /// A reader that yields `length` bytes of `byte` and counts what was taken from it.
    struct Endless {
        byte: u8,
        length: u64,
        taken: u64,
    }

    impl io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(usize::try_from(self.length - self.taken).unwrap_or(usize::MAX));
            buf[..n].fill(self.byte);
            self.taken += n as u64;
            Ok(n)
        }
    }

    #[test]
    fn an_overlong_line_is_a_problem_and_is_never_read_whole() {
        let mut huge = Endless { byte: b'{', length: 8 << 30, taken: 0 };
        let head = journal(&sample()[..1]);
        let mut reader = io::BufReader::new(io::Read::chain(&head[..], &mut huge));
        let parsed = read(&mut reader, &ChainPosition::start(), None).unwrap();
        drop(reader);
        assert_eq!(parsed.entries.len(), 1);
        assert_eq!(parsed.problems.len(), 1, "{:?}", parsed.problems);
        assert_eq!(parsed.problems[0].line, Some(2));
        assert!(parsed.problems[0].message.contains("longer than 1048576 bytes"), "{}", parsed.problems[0]);
        assert!(huge.taken < 2 * MAX_LINE as u64, "read {} bytes of the line", huge.taken);

        // A line of exactly the cap is still read (and is simply not an entry).
        let mut at_cap = vec![b'x'; MAX_LINE];
        at_cap.push(b'\n');
        let parsed = parse(&at_cap, &ChainPosition::start(), None);
        assert!(parsed.problems[0].message.contains("hash"), "{}", parsed.problems[0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Changing any one byte of the file, newlines and whitespace included, is a problem.
        #[test]
        fn any_changed_byte_is_detected(position in any::<prop::sample::Index>(), replacement in any::<u8>()) {
            let mut bytes = journal(&sample());
            let index = position.index(bytes.len());
            prop_assume!(bytes[index] != replacement);
            bytes[index] = replacement;
            let parsed = parse(&bytes, &ChainPosition::start(), Some(&key()));
            prop_assert!(!parsed.problems.is_empty(), "byte {} set to {:?} went unnoticed", index, replacement as char);
        }

        /// A changed byte with the line's hash recomputed (what a forger who knows the format
        /// does) never passes as authenticated.
        #[test]
        fn a_resealed_change_never_authenticates(position in any::<prop::sample::Index>(), replacement in any::<u8>()) {
            let bytes = journal(&sample()[..1]);
            let body_end = bytes.windows(HASH_MEMBER.len()).position(|w| w == HASH_MEMBER).unwrap();
            let index = position.index(body_end);
            prop_assume!(bytes[index] != replacement);
            let mut body = bytes[..body_end].to_vec();
            body[index] = replacement;
            let mut forged = body.clone();
            forged.extend_from_slice(HASH_MEMBER);
            forged.extend_from_slice(sha256_hex(&body).as_bytes());
            forged.extend_from_slice(b"\"}\n");
            let parsed = parse(&forged, &ChainPosition::start(), Some(&key()));
            let authenticated = parsed.problems.is_empty()
                && parsed.auth.iter().all(|a| matches!(a.mac, LineMac::Valid { .. }));
            prop_assert!(!authenticated, "byte {} set to {:?} passed as authenticated", index, replacement as char);
        }

        /// Every prefix of a valid journal (what a crash can leave) has no problems.
        #[test]
        fn every_prefix_is_a_torn_tail_at_worst(position in any::<prop::sample::Index>()) {
            let bytes = journal(&sample());
            let cut = position.index(bytes.len() + 1);
            let parsed = parse(&bytes[..cut], &ChainPosition::start(), Some(&key()));
            prop_assert!(parsed.problems.is_empty(), "cut at {}: {:?}", cut, parsed.problems);
        }

        /// Arbitrary bytes after a valid journal never panic and never hide the valid entries.
        #[test]
        fn arbitrary_tails_never_panic(tail in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut bytes = journal(&sample());
            bytes.extend(&tail);
            let parsed = parse(&bytes, &ChainPosition::start(), Some(&key()));
            prop_assert!(parsed.entries.len() >= 3);
        }

        /// Arbitrary input never panics.
        #[test]
        fn arbitrary_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes, &ChainPosition::start(), Some(&key()));
        }

        /// Reading through a small buffer finds the same lines as reading from memory.
        #[test]
        fn small_reads_find_the_same_lines(capacity in 1usize..64, cut in any::<prop::sample::Index>()) {
            let bytes = journal(&sample());
            let bytes = &bytes[..cut.index(bytes.len() + 1)];
            let whole = parse(bytes, &ChainPosition::start(), Some(&key()));
            let small = read(io::BufReader::with_capacity(capacity, bytes), &ChainPosition::start(), Some(&key())).unwrap();
            prop_assert_eq!(whole.entries, small.entries);
            prop_assert_eq!(whole.auth, small.auth);
            prop_assert_eq!(whole.tail, small.tail);
        }
    }
}

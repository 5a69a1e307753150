//! The journal: one JSON object per line, each sealed with the SHA-256 of its own bytes and
//! chained to the previous line.
//!
//! A line is written as `{"seq":..,..,"prevHash":"<hex>","hash":"<hex>"}\n`, where `hash` is the
//! SHA-256 of the exact bytes before `,"hash":"` — so every byte of the line, whitespace included,
//! is covered, and nothing is re-serialised to check it. `prevHash` is the previous line's `hash`
//! (64 zeros for the first line), so removing, reordering or changing a line breaks the chain.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    hash::{is_sha256_hex, sha256_hex},
    verify::{Finding, FindingKind},
};

/// The first entry: the case was opened; records the SHA-256 of case.json.
pub const ACTION_OPEN: &str = "open-case";
/// An artifact was committed into `evidence/` (see [`crate::ArtifactWriter`]).
pub const ACTION_COLLECT: &str = "collect";
/// An artifact could not be collected, and why.
pub const ACTION_NOT_COLLECTED: &str = "not-collected";
/// Opening the case repaired what a crash left behind (a torn journal line, staged files).
pub const ACTION_REPAIR: &str = "repair";

pub(crate) const JOURNAL_FILE: &str = "journal.jsonl";
pub(crate) const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

/// One line of the journal, as read back.
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

/// The entry as written before it is sealed: the same fields in the same order, minus `hash`.
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

/// The bytes of one journal line (newline included) and the entry they hold.
pub(crate) fn seal(
    seq: u64,
    time: Timestamp,
    record: &JournalRecord,
    prev_hash: &str,
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

/// Read one line (without its newline): the entry, when it parses, and what is wrong with it.
fn decode_line(line: &[u8]) -> (Option<JournalEntry>, Option<String>) {
    let parsed = serde_json::from_slice::<JournalEntry>(line);
    let problem = match split_seal(line) {
        None => Some("does not end with a \"hash\" member of 64 lowercase hex digits".to_string()),
        Some((body, hash)) if sha256_hex(body) != hash => {
            Some("its bytes do not match its hash: the line was changed".to_string())
        }
        Some((_, hash)) => match &parsed {
            Err(e) => Some(format!("not a journal entry: {e}")),
            Ok(entry) if entry.hash != hash => Some("it has more than one \"hash\" member".to_string()),
            Ok(_) => None,
        },
    };
    (parsed.ok(), problem)
}

/// The sealed bytes and the hash recorded for them.
fn split_seal(line: &[u8]) -> Option<(&[u8], &str)> {
    let without_end = line.strip_suffix(LINE_END)?;
    let hash_start = without_end.len().checked_sub(64)?;
    let body = without_end[..hash_start].strip_suffix(HASH_MEMBER)?;
    let hash = std::str::from_utf8(&without_end[hash_start..]).ok()?;
    is_sha256_hex(hash).then_some((body, hash))
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
    /// The start of an entry, as a crash during an append leaves it; `offset` is where it begins.
    Torn { offset: usize },
    /// A complete entry without its newline (a crash between the two); counted as an entry.
    Unterminated,
}

/// A journal, read line by line without giving up at the first problem.
#[derive(Debug)]
pub(crate) struct ParsedJournal {
    /// Every line that parses as an entry, intact or not (broken ones are also in `problems`).
    pub entries: Vec<JournalEntry>,
    pub problems: Vec<Finding>,
    pub tail: Tail,
    /// What a crash explains (a torn or unterminated last line); the caller decides how serious.
    pub tail_finding: Option<Finding>,
    pub end: ChainPosition,
}

/// Check `bytes` as journal lines following `start`.
pub(crate) fn parse(bytes: &[u8], start: &ChainPosition) -> ParsedJournal {
    let mut parsed = ParsedJournal {
        entries: Vec::new(),
        problems: Vec::new(),
        tail: Tail::Clean,
        tail_finding: None,
        end: start.clone(),
    };
    // The previous intact or parseable entry: what the next line must chain to.
    let mut previous = Some((start.seq, start.hash.clone()));
    let mut offset = 0;
    while offset < bytes.len() {
        let line_number = parsed.end.lines + 1;
        let (line, terminated) = match find_newline(&bytes[offset..]) {
            Some(length) => (&bytes[offset..offset + length], true),
            None => (&bytes[offset..], false),
        };
        if !terminated {
            match classify_tail(line) {
                TailKind::Torn => {
                    parsed.tail = Tail::Torn { offset };
                    parsed.tail_finding = Some(journal_finding(
                        FindingKind::TornTail,
                        line_number,
                        None,
                        format!(
                            "the last {} byte(s) are an unfinished entry (an append was interrupted); they are not part of the record",
                            line.len()
                        ),
                    ));
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
        offset += line.len() + usize::from(terminated);
        check_line(line, line_number, &mut previous, &mut parsed);
    }
    parsed
}

fn check_line(
    line: &[u8],
    line_number: u64,
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
    let (entry, problem) = decode_line(line);
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
    parsed.entries.push(entry);
}

fn journal_finding(kind: FindingKind, line: u64, seq: Option<u64>, message: String) -> Finding {
    Finding { kind, file: JOURNAL_FILE.to_string(), line: Some(line), seq, message }
}

fn find_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
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

    fn journal(records: &[JournalRecord]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for (index, record) in records.iter().enumerate() {
            let time = Timestamp::from_second(1_800_000_000 + index as i64).unwrap();
            let (line, entry) = seal(index as u64 + 1, time, record, &prev);
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
                .parameters(json!({"hash": "not the seal", "labels": {"kir.dev/quarantine": "q1"}}))
                .result("policy created")
                .undo(json!({"delete": "networkpolicy/kir-q1"})),
            JournalRecord::new("kir", ACTION_COLLECT).target("pod.json").result(json!({"ok": true})),
        ]
    }

    #[test]
    fn sealed_lines_read_back_as_the_same_entries() {
        let bytes = journal(&sample());
        let parsed = parse(&bytes, &ChainPosition::start());
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.tail, Tail::Clean);
        assert_eq!(parsed.entries.len(), 3);
        assert_eq!(parsed.entries[1].result, json!("policy created"));
        assert_eq!(parsed.entries[1].prev_hash, parsed.entries[0].hash);
        assert_eq!(parsed.end.seq, 3);
        assert_eq!(parsed.end.lines, 3);
        assert!(bytes.ends_with(b"\"}\n"));
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 3);
    }

    #[test]
    fn a_removed_line_breaks_the_chain_at_that_point() {
        let bytes = journal(&sample());
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        let without_second: Vec<u8> = [lines[0], lines[2]].concat();
        let parsed = parse(&without_second, &ChainPosition::start());
        assert_eq!(parsed.problems.len(), 2, "{:?}", parsed.problems);
        assert!(parsed.problems.iter().all(|p| p.line == Some(2) && p.seq == Some(3)));
    }

    #[test]
    fn a_torn_last_line_is_a_warning_and_the_rest_stays_intact() {
        let bytes = journal(&sample());
        let cut = bytes.len() - 40;
        let parsed = parse(&bytes[..cut], &ChainPosition::start());
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.entries.len(), 2);
        let start_of_third = bytes[..cut].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        assert_eq!(parsed.tail, Tail::Torn { offset: start_of_third });
        assert_eq!(parsed.tail_finding.unwrap().line, Some(3));
    }

    #[test]
    fn a_missing_final_newline_keeps_the_entry() {
        let bytes = journal(&sample());
        let parsed = parse(&bytes[..bytes.len() - 1], &ChainPosition::start());
        assert!(parsed.problems.is_empty());
        assert_eq!(parsed.entries.len(), 3);
        assert_eq!(parsed.tail, Tail::Unterminated);
    }

    #[test]
    fn parsing_continues_from_a_position() {
        let bytes = journal(&sample());
        let first_line_end = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        let head = parse(&bytes[..first_line_end], &ChainPosition::start());
        let rest = parse(&bytes[first_line_end..], &head.end);
        assert!(rest.problems.is_empty(), "{:?}", rest.problems);
        assert_eq!(rest.entries.len(), 2);
        assert_eq!(rest.end.lines, 3);
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
            let parsed = parse(&bytes, &ChainPosition::start());
            prop_assert!(!parsed.problems.is_empty(), "byte {} set to {:?} went unnoticed", index, replacement as char);
        }

        /// Every prefix of a valid journal (what a crash can leave) has no problems.
        #[test]
        fn every_prefix_is_a_torn_tail_at_worst(position in any::<prop::sample::Index>()) {
            let bytes = journal(&sample());
            let cut = position.index(bytes.len() + 1);
            let parsed = parse(&bytes[..cut], &ChainPosition::start());
            prop_assert!(parsed.problems.is_empty(), "cut at {}: {:?}", cut, parsed.problems);
        }

        /// Arbitrary bytes after a valid journal never panic and never hide the valid entries.
        #[test]
        fn arbitrary_tails_never_panic(tail in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut bytes = journal(&sample());
            bytes.extend(&tail);
            let parsed = parse(&bytes, &ChainPosition::start());
            prop_assert!(parsed.entries.len() >= 3);
        }

        /// Arbitrary input never panics.
        #[test]
        fn arbitrary_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes, &ChainPosition::start());
        }
    }
}

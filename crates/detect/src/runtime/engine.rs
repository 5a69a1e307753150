//! Reading runtime-event files and running the runtime rules over them.

use std::io::{BufRead, Read};

use kir_audit::{Input, ScanReport, Skip, SkipReason, input::open};
use serde_json::Value;

use super::{RuntimeEvent, normalise};
use crate::{
    detection::{FieldCompiler, Record},
    finding::{Finding, Hit, findings},
    rule::{Rule, RuleMeta, Threshold},
    value::{Val, split_path, walk},
};

/// Runtime rule fields are paths in the normalised event (`process.name`, `connection.dstPort`).
pub struct RuntimeFields;

impl FieldCompiler for RuntimeFields {
    type Field = Vec<String>;
    fn compile(&self, name: &str) -> Result<Vec<String>, String> {
        const ROOTS: &[&str] = &[
            "source",
            "kind",
            "time",
            "node",
            "namespace",
            "pod",
            "container",
            "containerId",
            "image",
            "process",
            "parent",
            "connection",
            "file",
            "alert",
        ];
        let path = split_path(name);
        if !ROOTS.contains(&path[0].as_str()) {
            return Err(format!("unknown runtime field (fields start with one of: {})", ROOTS.join(", ")));
        }
        Ok(path)
    }
}

pub struct RuntimeRecord {
    value: Value,
    text: String,
}

impl RuntimeRecord {
    pub fn new(event: &RuntimeEvent) -> RuntimeRecord {
        RuntimeRecord::from_value(serde_json::to_value(event).unwrap_or(Value::Null))
    }

    /// A record from an event already in the normalised shape (rule tests are written so).
    pub fn from_value(value: Value) -> RuntimeRecord {
        let text = value.to_string();
        RuntimeRecord { value, text }
    }
}

impl Record for RuntimeRecord {
    type Field = Vec<String>;
    fn visit(&self, field: &Vec<String>, visit: &mut dyn FnMut(Val<'_>) -> bool) -> bool {
        walk(&self.value, field, visit)
    }
    fn text(&self) -> &str {
        &self.text
    }
}

pub struct RuntimeDetector {
    rules: Vec<Rule<Vec<String>>>,
}

impl RuntimeDetector {
    pub fn new(rules: Vec<Rule<Vec<String>>>) -> RuntimeDetector {
        RuntimeDetector { rules }
    }

    pub fn rules(&self) -> impl Iterator<Item = &RuleMeta> {
        self.rules.iter().map(|r| &r.meta)
    }

    /// The hits of one event.
    pub fn check(&self, event: &RuntimeEvent, out: &mut Vec<Hit>) {
        let record = RuntimeRecord::new(event);
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.detection.matches(&record) {
                out.push(Hit {
                    rule: index,
                    subject: event.subject(),
                    source_ips: Vec::new(),
                    namespace: event.namespace.clone(),
                    name: if event.pod.is_empty() { event.subject() } else { event.pod.clone() },
                    id: String::new(),
                    time: event.time.clone(),
                    evidence: Some(event.describe()),
                    node: (!event.node.is_empty()).then(|| event.node.clone()),
                });
            }
        }
    }

    pub fn findings(&self, hits: &[Hit]) -> Vec<Finding> {
        let metas: Vec<&RuleMeta> = self.rules().collect();
        let thresholds: Vec<Option<Threshold>> = self.rules.iter().map(|r| r.threshold).collect();
        let mut found = findings(&metas, &thresholds, hits, false);
        for finding in &mut found {
            // Events without a pod name a container or node instead: say what to look up.
            if finding.suggested_response.contains("container ")
                || finding.suggested_response.contains("node ")
            {
                finding.suggested_response = format!(
                    "the event names no pod ({}): find the pod on its node (crictl ps), then kir respond compromised-pod NS/POD",
                    finding.objects.join(", ")
                );
            }
        }
        found
    }
}

/// A runtime input bigger than this is not read as one document (JSON lines have no limit).
const MAX_DOCUMENT_BYTES: u64 = 256 << 20;

/// Read every input: JSON lines, or concatenated (pretty-printed) JSON documents; gzip and
/// zstd like audit logs. Each event goes to `sink`; bad records are counted in the report.
pub fn read_events(inputs: &[Input], examples: usize, sink: &mut dyn FnMut(RuntimeEvent)) -> ScanReport {
    let mut report = ScanReport { inputs: inputs.len(), ..ScanReport::default() };
    for input in inputs {
        let name = input.display();
        let skip = |report: &mut ScanReport, line: u64, reason: SkipReason, detail: String| {
            *report.skipped.entry(reason).or_default() += 1;
            if report.examples.len() < examples {
                report.examples.push(Skip { input: name.clone(), line, reason, detail });
            }
        };
        let mut reader = match open(input) {
            Ok(reader) => reader,
            Err(e) => {
                skip(&mut report, 0, SkipReason::UnreadableInput, e.to_string());
                continue;
            }
        };
        let mut text = Vec::new();
        if let Err(e) = (&mut reader).take(MAX_DOCUMENT_BYTES + 1).read_to_end(&mut text) {
            skip(&mut report, 0, SkipReason::UnreadableInput, e.to_string());
            continue;
        }
        let mut rest = Vec::new();
        let more = text.len() as u64 > MAX_DOCUMENT_BYTES;
        if more {
            // Too big for one read: continue line by line, which holds for JSON lines.
            let cut = memchr::memrchr(b'\n', &text).map_or(0, |i| i + 1);
            rest = text.split_off(cut);
        }
        report.bytes += text.len() as u64;
        let mut handle = |value: Value, line: u64, report: &mut ScanReport| match normalise(&value) {
            Some(event) => {
                report.events += 1;
                *report.formats.entry(event.source.name().to_string()).or_default() += 1;
                sink(event);
            }
            None => skip(
                report,
                line,
                SkipReason::UnknownEvent,
                "no rule/priority (Falco), process_* (Tetragon) or eventName/name (Tracee)".into(),
            ),
        };
        parse_values(&text, 1, &mut |result, line| match result {
            Ok(value) => handle(value, line, &mut report),
            Err((reason, detail)) => skip(&mut report, line, reason, detail),
        });
        if more {
            let mut line_number = 1 + memchr::memchr_iter(b'\n', &text).count() as u64;
            let mut line = rest;
            loop {
                if let Some(end) = memchr::memchr(b'\n', &line) {
                    let tail = line.split_off(end + 1);
                    parse_values(&line, line_number, &mut |result, at| match result {
                        Ok(value) => handle(value, at, &mut report),
                        Err((reason, detail)) => skip(&mut report, at, reason, detail),
                    });
                    line_number += 1;
                    line = tail;
                    continue;
                }
                match reader.fill_buf() {
                    Ok([]) => break,
                    Ok(buf) => {
                        let n = buf.len();
                        line.extend_from_slice(buf);
                        reader.consume(n);
                    }
                    Err(e) => {
                        skip(&mut report, line_number, SkipReason::UnreadableInput, e.to_string());
                        break;
                    }
                }
            }
            if !line.is_empty() {
                parse_values(&line, line_number, &mut |result, at| match result {
                    Ok(value) => handle(value, at, &mut report),
                    Err((reason, detail)) => skip(&mut report, at, reason, detail),
                });
            }
        }
    }
    report
}

type ParseResult = Result<Value, (SkipReason, String)>;

/// Every JSON value in `bytes` (lines or documents); after a bad one, resume at the next line.
fn parse_values(bytes: &[u8], first_line: u64, out: &mut dyn FnMut(ParseResult, u64)) {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(e) => {
            let line = first_line + memchr::memchr_iter(b'\n', &bytes[..e.valid_up_to()]).count() as u64;
            out(Err((SkipReason::InvalidUtf8, e.to_string())), line);
            String::from_utf8_lossy(bytes)
        }
    };
    let mut position = 0;
    let line_at =
        |pos: usize| first_line + memchr::memchr_iter(b'\n', &text.as_bytes()[..pos]).count() as u64;
    while position < text.len() {
        let rest = &text[position..];
        let skipped = rest.len() - rest.trim_start().len();
        position += skipped;
        if position >= text.len() {
            break;
        }
        let mut values = serde_json::Deserializer::from_str(&text[position..]).into_iter::<Value>();
        match values.next() {
            Some(Ok(value)) => {
                out(Ok(value), line_at(position));
                position += values.byte_offset();
            }
            Some(Err(e)) => {
                let reason = if e.is_eof() { SkipReason::Truncated } else { SkipReason::Malformed };
                out(Err((reason, e.to_string())), line_at(position));
                position = memchr::memchr(b'\n', &text.as_bytes()[position..])
                    .map_or(text.len(), |i| position + i + 1);
            }
            None => break,
        }
    }
}

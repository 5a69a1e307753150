//! Reading runtime-event files and running the runtime rules over them.

use std::io::{BufRead, Read};

use kir_audit::{Input, ScanOptions, ScanReport, Skip, SkipReason, input::open, scan::size_text};
use serde_json::Value;

use super::{RuntimeEvent, normalise};
use crate::{
    detection::{FieldCompiler, Record},
    finding::{Finding, Grouped, Grouping, Hit},
    rule::{Rule, RuleMeta},
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
                    attempt: false,
                    code: None,
                    responder: false,
                });
            }
        }
    }

    /// Where the hits of [`RuntimeDetector::check`] go to become findings.
    pub fn grouping(&self) -> Grouping {
        let rules = self.rules.iter().map(|r| Grouped { threshold: r.threshold, denied: r.meta.denied });
        Grouping::new(rules.collect(), false)
    }

    pub fn findings(&self, grouping: Grouping) -> Vec<Finding> {
        let metas: Vec<&RuleMeta> = self.rules().collect();
        let mut found = grouping.findings(&metas);
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

/// Read every input: JSON lines, or concatenated (pretty-printed) JSON documents; gzip and
/// zstd like audit logs. Each event goes to `sink`; bad records are counted in the report, and
/// so are records over `options.max_record_bytes`, which are not kept in memory.
pub fn read_events(
    inputs: &[Input],
    options: &ScanOptions,
    sink: &mut dyn FnMut(RuntimeEvent),
) -> ScanReport {
    let mut report = ScanReport { inputs: inputs.len(), ..ScanReport::default() };
    for input in inputs {
        let name = input.display();
        let skip = |report: &mut ScanReport, line: u64, reason: SkipReason, detail: String| {
            *report.skipped.entry(reason).or_default() += 1;
            if report.examples.len() < options.examples {
                report.examples.push(Skip { input: name.clone(), line, reason, detail });
            }
        };
        let reader = match open(input) {
            Ok(reader) => reader,
            Err(e) => {
                skip(&mut report, 0, SkipReason::UnreadableInput, e.to_string());
                continue;
            }
        };
        let mut values = Values::new(reader, options);
        for (line, item) in values.by_ref() {
            match item {
                Item::Value(value) => match normalise(&value) {
                    Some(event) => {
                        report.events += 1;
                        *report.formats.entry(event.source.name().to_string()).or_default() += 1;
                        sink(event);
                    }
                    None => skip(
                        &mut report,
                        line,
                        SkipReason::UnknownEvent,
                        "no rule/priority (Falco), process_* (Tetragon) or eventName/name (Tracee)".into(),
                    ),
                },
                Item::Skip(reason, detail) => skip(&mut report, line, reason, detail),
                Item::Failed(e) => {
                    skip(&mut report, line, SkipReason::UnreadableInput, format!("reading stopped: {e}"));
                    break;
                }
            }
        }
        report.bytes += values.bytes;
    }
    report
}

/// What reading a stream of JSON values gives, at a line.
enum Item {
    Value(Value),
    /// A bad or over-long record; reading goes on after it.
    Skip(SkipReason, String),
    /// The stream broke (a corrupt gzip member): nothing more can be read.
    Failed(std::io::Error),
}

/// The JSON values of one stream, with the line each starts on, in bounded memory: the
/// buffer holds at most one record (up to the limit) and a read's worth of bytes. Each byte
/// is read once and its newlines counted once, so reading is linear in the input.
struct Values {
    reader: Box<dyn BufRead + Send>,
    buffer: Vec<u8>,
    /// Start of the part of `buffer` not consumed yet.
    at: usize,
    /// `buffer[at..searched]` holds no newline.
    searched: usize,
    line: LineCounter,
    eof: bool,
    read_bytes: usize,
    max_record: usize,
    /// Bytes read from the stream (decompressed).
    bytes: u64,
}

impl Iterator for Values {
    /// A value or a skipped record, and the line it starts on.
    type Item = (u64, Item);

    fn next(&mut self) -> Option<(u64, Item)> {
        match self.next_item() {
            Ok(item) => item,
            Err(e) => Some((self.line.line, Item::Failed(e))),
        }
    }
}

/// Line numbers, counted over each byte once as the reader moves on.
struct LineCounter {
    line: u64,
    /// Bytes counted, to check in tests that each is counted once.
    #[cfg(test)]
    counted: u64,
}

impl LineCounter {
    fn advance(&mut self, bytes: &[u8]) {
        self.line += memchr::memchr_iter(b'\n', bytes).count() as u64;
        #[cfg(test)]
        {
            self.counted += bytes.len() as u64;
        }
    }
}

impl Values {
    fn new(reader: Box<dyn BufRead + Send>, options: &ScanOptions) -> Values {
        Values {
            reader,
            buffer: Vec::new(),
            at: 0,
            searched: 0,
            line: LineCounter {
                line: 1,
                #[cfg(test)]
                counted: 0,
            },
            eof: false,
            read_bytes: options.block_bytes.max(1),
            max_record: options.max_record_bytes,
            bytes: 0,
        }
    }

    fn next_item(&mut self) -> std::io::Result<Option<(u64, Item)>> {
        loop {
            let blank = self.buffer[self.at..].iter().take_while(|b| b.is_ascii_whitespace()).count();
            self.consume(blank);
            if self.at == self.buffer.len() {
                if self.fill(self.read_bytes)? {
                    continue;
                }
                return Ok(None);
            }
            let line = self.line.line;
            // Have the whole line, so that a JSON line is parsed once.
            let Some(line_end) = self.line_end()? else {
                self.skip_line()?;
                let detail = format!("longer than {}", size_text(self.max_record));
                return Ok(Some((line, Item::Skip(SkipReason::TooLong, detail))));
            };
            let mut values =
                serde_json::Deserializer::from_slice(&self.buffer[self.at..]).into_iter::<Value>();
            match values.next() {
                Some(Ok(value)) => {
                    let length = values.byte_offset();
                    self.consume(length);
                    return Ok(Some((line, Item::Value(value))));
                }
                Some(Err(e)) if e.is_eof() && !self.eof => {
                    // A document over several lines: read on, doubling what is buffered, so
                    // that parsing it again from its start costs at most twice its size, but
                    // never more than one byte past the limit.
                    let unparsed = self.buffer.len() - self.at;
                    if unparsed > self.max_record {
                        self.skip_document()?;
                        let detail = format!("longer than {}", size_text(self.max_record));
                        return Ok(Some((line, Item::Skip(SkipReason::DocumentTooLarge, detail))));
                    }
                    self.fill(unparsed.max(self.read_bytes).min(self.max_record + 1 - unparsed))?;
                }
                Some(Err(e)) => {
                    let reason = if std::str::from_utf8(&self.buffer[self.at..line_end]).is_err() {
                        SkipReason::InvalidUtf8
                    } else if e.is_eof() {
                        SkipReason::Truncated
                    } else {
                        SkipReason::Malformed
                    };
                    self.skip_line()?;
                    return Ok(Some((line, Item::Skip(reason, e.to_string()))));
                }
                None => return Ok(None),
            }
        }
    }

    /// The end of the line at `at` (its newline, or the end of the input), reading as needed;
    /// `None` when the line is longer than the record limit.
    fn line_end(&mut self) -> std::io::Result<Option<usize>> {
        loop {
            let from = self.searched.max(self.at);
            if let Some(i) = memchr::memchr(b'\n', &self.buffer[from..]) {
                return Ok(Some(from + i));
            }
            self.searched = self.buffer.len();
            if self.buffer.len() - self.at > self.max_record {
                return Ok(None);
            }
            if !self.fill(self.read_bytes)? {
                return Ok(Some(self.buffer.len()));
            }
        }
    }

    /// Drop the rest of the line at `at`, newline included, without keeping it.
    fn skip_line(&mut self) -> std::io::Result<()> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buffer[self.at..]) {
                self.consume(i + 1);
                return Ok(());
            }
            self.consume(self.buffer.len() - self.at);
            if !self.fill(self.read_bytes)? {
                return Ok(());
            }
        }
    }

    /// Drop a multi-line document too long to read: its lines up to the next line that opens
    /// a value at its first column, as the next document or JSON line does (pretty printers
    /// indent everything inside a document).
    fn skip_document(&mut self) -> std::io::Result<()> {
        loop {
            self.skip_line()?;
            if self.at == self.buffer.len() && !self.fill(self.read_bytes)? {
                return Ok(());
            }
            if matches!(self.buffer[self.at], b'{' | b'[') {
                return Ok(());
            }
        }
    }

    fn consume(&mut self, length: usize) {
        self.line.advance(&self.buffer[self.at..self.at + length]);
        self.at += length;
    }

    /// Read up to `want` more bytes; false at the end of the input. Consumed bytes are dropped
    /// first once they are at least half the buffer, so each byte is moved at most once more.
    fn fill(&mut self, want: usize) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.at > 0 && self.at >= self.buffer.len() / 2 {
            self.buffer.drain(..self.at);
            self.searched = self.searched.saturating_sub(self.at);
            self.at = 0;
        }
        let before = self.buffer.len();
        let result = (&mut self.reader).take(want as u64).read_to_end(&mut self.buffer);
        let read = self.buffer.len() - before;
        self.bytes += read as u64;
        // A broken stream ends the input as its end would.
        self.eof = read == 0 || result.is_err();
        result.map(|_| read > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn falco(i: usize) -> String {
        format!(
            r#"{{"rule":"Terminal shell in container","priority":"Notice","time":"2026-11-27T10:00:00.{i:09}Z","output_fields":{{"proc.name":"bash","k8s.ns.name":"prod","k8s.pod.name":"web-{i}"}}}}"#
        )
    }

    /// Each record's line and what it was (`event`, or the skip reason).
    fn read(bytes: Vec<u8>, options: &ScanOptions) -> (Vec<(u64, String)>, Values) {
        let mut values = Values::new(Box::new(std::io::Cursor::new(bytes)), options);
        let mut seen = Vec::new();
        for (line, item) in values.by_ref() {
            let what = match item {
                Item::Value(value) => match normalise(&value) {
                    Some(_) => "event".to_string(),
                    None => "other".to_string(),
                },
                Item::Skip(reason, _) => reason.describe().to_string(),
                Item::Failed(e) => panic!("{e}"),
            };
            seen.push((line, what));
        }
        (seen, values)
    }

    /// A large input in small reads: every record has its right line, a huge line and a huge
    /// document are skipped with theirs without being held whole, and each byte has its
    /// newlines counted once (counting from the start for every record was quadratic).
    #[test]
    fn records_keep_their_lines_in_linear_work_and_bounded_memory() {
        let options = ScanOptions { max_record_bytes: 64 << 10, block_bytes: 4 << 10, examples: 5 };
        let mut text = String::new();
        let mut expected = Vec::new();
        let mut line = 1;
        for i in 0..20_000 {
            match i {
                5_000 => {
                    text.push_str(&format!("{{\"pad\":\"{}\"}}\n", "x".repeat(1 << 20)));
                    expected.push((line, "line too long".to_string()));
                    line += 1;
                }
                10_000 => {
                    let items: Vec<Value> =
                        (0..2_000).map(|_| serde_json::from_str(&falco(i)).unwrap()).collect();
                    let pretty = serde_json::to_string_pretty(&items).unwrap();
                    text.push_str(&pretty);
                    text.push('\n');
                    expected.push((line, "multi-line JSON document too large".to_string()));
                    line += pretty.matches('\n').count() as u64 + 1;
                }
                15_000 => {
                    text.push_str("{\"rule\": \"cut off\n");
                    expected.push((line, "malformed JSON".to_string()));
                    line += 1;
                }
                _ if i % 1_000 == 1 => {
                    let pretty =
                        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&falco(i)).unwrap())
                            .unwrap();
                    text.push_str(&pretty);
                    text.push('\n');
                    expected.push((line, "event".to_string()));
                    line += pretty.matches('\n').count() as u64 + 1;
                    continue;
                }
                _ => {}
            }
            text.push_str(&falco(i));
            text.push('\n');
            expected.push((line, "event".to_string()));
            line += 1;
        }
        let length = text.len() as u64;
        let (seen, values) = read(text.into_bytes(), &options);
        assert_eq!(seen.len(), expected.len());
        for (got, want) in seen.iter().zip(&expected) {
            assert_eq!(got, want);
        }
        assert_eq!(values.line.counted, length, "every byte counted once");
        assert_eq!(values.bytes, length);
        let bound = 2 * (options.max_record_bytes + options.block_bytes);
        assert!(values.buffer.capacity() <= bound, "{} bytes buffered", values.buffer.capacity());
    }

    #[test]
    fn bad_records_are_told_apart_and_reading_resumes_on_the_next_line() {
        let (one, two) = (falco(1), falco(2));
        let lines: [&[u8]; 7] = [
            one.as_bytes(),
            b"{\"x\":\"\0\"}",
            b"\"\xff\"",
            b"[1,2",
            b"{\"hello\":1}",
            two.as_bytes(),
            b"{\"rule\":\"x\",\"priority\":",
        ];
        let (seen, _) = read(lines.join(&b'\n'), &ScanOptions::default());
        let what: Vec<(u64, &str)> = seen.iter().map(|(l, w)| (*l, w.as_str())).collect();
        assert_eq!(
            what,
            [
                (1, "event"),
                (2, "malformed JSON"),
                (3, "invalid UTF-8"),
                (4, "malformed JSON"),
                (5, "other"),
                (6, "event"),
                (7, "truncated JSON")
            ]
        );
    }

    proptest::proptest! {
        /// Whatever the bytes and however small the reads and the limit, reading ends, and
        /// every byte has been consumed and counted exactly once.
        #[test]
        fn any_bytes_are_read_through_once(
            bytes in proptest::collection::vec(proptest::sample::select(b"{}[]\":,1a \n\xff".to_vec()), 0..400),
            limit in 1usize..64,
            read in 1usize..16,
        ) {
            let length = bytes.len() as u64;
            let newlines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
            let options = ScanOptions { max_record_bytes: limit, block_bytes: read, examples: 5 };
            let mut values = Values::new(Box::new(std::io::Cursor::new(bytes)), &options);
            values.by_ref().for_each(drop);
            proptest::prop_assert_eq!(values.line.counted, length);
            proptest::prop_assert_eq!(values.line.line, 1 + newlines);
        }
    }
}

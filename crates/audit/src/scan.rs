//! The scanner: every input, cut into blocks of whole lines, blocks decoded on all cores,
//! results handed back in input order.
//!
//! Plain files are read on all cores, each core reading its own block at its offset (`pread`)
//! and decoding the lines that start in it; compressed inputs and standard input are read block
//! by block while the previous blocks are being decoded. Memory stays bounded by (blocks in
//! flight × block size) whatever the input size. Files are never memory-mapped: a log
//! truncated while it is read (logrotate's `copytruncate`) would kill a reader of a mapping
//! with SIGBUS, while `pread` just returns fewer bytes, and the cut is reported. A processor may
//! name a literal that every interesting record contains: the scanner then jumps from one
//! occurrence to the next (memchr's SIMD search) and decodes only the lines around them,
//! which is how a search for one user runs at the speed of `grep -F`.

use std::{
    cell::RefCell,
    collections::BTreeMap,
    fs::File,
    io::{self, BufRead, Read},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use memchr::memmem::Finder;
use rayon::prelude::*;
use serde::Serialize;

use crate::{
    envelope::{Format, decode},
    event::Event,
    input::{Compression, Input, open_stream, sniff},
};

/// What to do with each event. One `Output` is made per block and handed back in input order.
pub trait Processor: Sync {
    type Output: Send;

    fn output(&self) -> Self::Output;

    /// A byte string every event this processor cares about contains in its record, if there
    /// is one. Records without it are not decoded at all (and so not checked for errors).
    fn literal(&self) -> Option<&[u8]> {
        None
    }

    /// One decoded event; `raw` is its own JSON text when it has one (not for converted GKE
    /// entries).
    fn event(&self, event: &Event<'_>, raw: Option<&str>, format: Format, out: &mut Self::Output);
}

#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Records longer than this are skipped (and counted): a bound on memory per line.
    pub max_record_bytes: usize,
    /// Work unit for one core.
    pub block_bytes: usize,
    /// How many skipped records to report with their position.
    pub examples: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        // kube-apiserver caps one event at 100 KiB by default and webhook batches at 10 MiB;
        // 64 MiB leaves room for EventList lines of any sane producer.
        ScanOptions { max_record_bytes: 64 << 20, block_bytes: 8 << 20, examples: 5 }
    }
}

/// Why a record was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    InvalidUtf8,
    Truncated,
    Malformed,
    NotAuditEvent,
    /// JSON, but not an event of any runtime sensor kir reads (`kir detect runtime`).
    UnknownEvent,
    TooLong,
    DocumentTooLarge,
    UnreadableInput,
    /// The input got shorter while it was read (rotated with `copytruncate`): the rest is gone.
    InputCut,
    /// Not a skip: the event was read, but lacks fields (reported apart from skips).
    MissingFields,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::InvalidUtf8 => "invalid UTF-8",
            SkipReason::Truncated => "truncated JSON",
            SkipReason::Malformed => "malformed JSON",
            SkipReason::NotAuditEvent => "not an audit event",
            SkipReason::UnknownEvent => "not a Falco, Tracee or Tetragon event",
            SkipReason::TooLong => "line too long",
            SkipReason::DocumentTooLarge => "multi-line JSON document too large",
            SkipReason::UnreadableInput => "unreadable input",
            SkipReason::InputCut => "input cut while read",
            SkipReason::MissingFields => "event without some fields (read anyway)",
        }
    }
}

/// One skipped record, where it was and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub input: String,
    /// 1-based line number of the record's first line (0 when the input could not be read).
    pub line: u64,
    pub reason: SkipReason,
    pub detail: String,
}

/// What a scan read and what it had to skip.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    pub inputs: usize,
    pub bytes: u64,
    pub events: u64,
    /// Lines read and passed over undecoded because they lack the processor's literal, so no
    /// event in them can match: read all the same.
    pub passed_over: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// The first few skipped records, in input order.
    pub examples: Vec<Skip>,
    pub formats: BTreeMap<String, u64>,
    /// Events read although they lack a field every audit event should have, by field.
    pub missing_fields: BTreeMap<&'static str, u64>,
    /// The first few of those events (`reason` is [`SkipReason::MissingFields`]).
    pub incomplete_examples: Vec<Skip>,
}

impl ScanReport {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Events decoded and lines passed over: what was read, whatever a literal let the scan skip
    /// decoding.
    pub fn read(&self) -> u64 {
        self.events + self.passed_over
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The consumer of results failed (for example stdout closed): stop reading.
    #[error("writing results: {0}")]
    Output(#[source] io::Error),
}

/// Progress callback: bytes of input consumed so far (compressed bytes for compressed input).
pub type Progress<'p> = &'p (dyn Fn(u64) + Sync);

/// Read every input, decode every record, and hand each event to `processor`; `emit` receives
/// the per-block outputs in input order.
pub fn scan<P: Processor>(
    inputs: &[Input],
    options: &ScanOptions,
    processor: &P,
    progress: Progress<'_>,
    emit: &mut dyn FnMut(P::Output) -> io::Result<()>,
) -> Result<ScanReport, ScanError> {
    let finder = processor.literal().filter(|l| !l.is_empty()).map(Finder::new);
    let mut scanner = Scanner {
        options,
        processor,
        finder: finder.as_ref(),
        report: ScanReport { inputs: inputs.len(), ..ScanReport::default() },
        done_before: 0,
        progress,
    };
    for input in inputs {
        scanner.input(input, emit)?;
    }
    Ok(scanner.report)
}

struct Scanner<'s, P: Processor> {
    options: &'s ScanOptions,
    processor: &'s P,
    finder: Option<&'s Finder<'s>>,
    report: ScanReport,
    /// Bytes of the inputs finished before the current one, for progress.
    done_before: u64,
    progress: Progress<'s>,
}

/// What decoding one block produced.
struct BlockResult<O> {
    output: O,
    events: u64,
    /// Lines the literal search passed over (see [`ScanReport::passed_over`]).
    passed_over: u64,
    skipped: BTreeMap<SkipReason, u64>,
    /// Position, reason, detail. The position is the byte offset within the block while it is
    /// decoded, then ([`BlockResult::locate`]) the line within the block counted from 0.
    examples: Vec<(usize, SkipReason, String)>,
    formats: BTreeMap<Format, u64>,
    missing_fields: BTreeMap<&'static str, u64>,
    /// Position (as for `examples`) and the missing fields of the first incomplete events.
    incomplete: Vec<(usize, String)>,
}

impl<O> BlockResult<O> {
    /// Turn the byte offsets of the examples into line numbers within `data`, while the block's
    /// bytes are still at hand.
    fn locate(&mut self, data: &[u8]) {
        let line = |offset: &mut usize| {
            *offset = memchr::memchr_iter(b'\n', &data[..(*offset).min(data.len())]).count();
        };
        self.examples.iter_mut().for_each(|(offset, _, _)| line(offset));
        self.incomplete.iter_mut().for_each(|(offset, _)| line(offset));
    }
}

/// Lines of `data` that hold something: the count of records a literal search passed over.
fn lines_in(data: &[u8]) -> u64 {
    let mut count = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', data) {
        count += u64::from(!data[start..end].iter().all(u8::is_ascii_whitespace));
        start = end + 1;
    }
    count + u64::from(!data[start..].iter().all(u8::is_ascii_whitespace))
}

/// Reading a file in parallel pays off once it is bigger than a few blocks' worth of reading
/// (or than two blocks, when blocks are tiny: tests and fuzzing use them to reach every
/// boundary case).
const PARALLEL_AT_LEAST: u64 = 1 << 20;

/// Blocks of a file read at offsets are small enough to stay in a core's cache between being
/// copied in and being searched: the copy out of the page cache then costs little more than
/// reading a mapping would.
const PIECE_BYTES: usize = 1 << 20;

/// How much of a file's start tells its compression and whether it is one JSON document.
const SNIFF_BYTES: usize = 64 << 10;

thread_local! {
    /// Each core's block buffer, kept from block to block: no allocation and no zeroing per
    /// block once it has grown to the block size.
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What reading and decoding one block of a file produced.
struct Piece<O> {
    result: BlockResult<O>,
    /// Lines that start in the block: where the next block's line numbers begin.
    lines: u64,
    /// Bytes of the block that were there to read.
    bytes: u64,
    /// The file ended before its size at the start of the scan: it was cut there.
    cut_at: Option<u64>,
    failed: Option<io::Error>,
}

/// Read `buf.len()` bytes at `offset`, or fewer where the file ends.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    use std::os::unix::fs::FileExt;
    #[cfg(windows)]
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        #[cfg(unix)]
        let n = file.read_at(&mut buf[done..], offset + done as u64);
        #[cfg(windows)]
        let n = file.seek_read(&mut buf[done..], offset + done as u64);
        match n {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl<P: Processor> Scanner<'_, P> {
    fn input(
        &mut self,
        input: &Input,
        emit: &mut dyn FnMut(P::Output) -> io::Result<()>,
    ) -> Result<(), ScanError> {
        let name = input.display();
        let size = input.size().unwrap_or(0);
        let outcome = match input {
            Input::File(path) if size >= PARALLEL_AT_LEAST.min(2 * self.options.block_bytes as u64) => {
                self.positioned(path, &name, emit)
            }
            Input::Unusable { why, .. } => Err(Failure::Input(why.clone())),
            _ => self.streamed(input, &name, emit),
        };
        match outcome {
            Ok(()) => {}
            Err(Failure::Output(e)) => return Err(ScanError::Output(e)),
            Err(Failure::Input(detail)) => self.skip(&name, 0, SkipReason::UnreadableInput, detail),
        }
        self.done_before += size;
        (self.progress)(self.done_before);
        Ok(())
    }

    /// A plain file read in parallel, block by block at their offsets.
    fn positioned(
        &mut self,
        path: &std::path::Path,
        name: &str,
        emit: &mut dyn FnMut(P::Output) -> io::Result<()>,
    ) -> Result<(), Failure> {
        let file = File::open(path).map_err(|e| Failure::Input(e.to_string()))?;
        // The size now bounds the scan: lines appended while it runs are left for the next one.
        let size = file.metadata().map_err(|e| Failure::Input(e.to_string()))?.len();
        let mut start = vec![0; SNIFF_BYTES];
        let sniffed = read_full_at(&file, &mut start, 0).map_err(|e| Failure::Input(e.to_string()))?;
        let start = &start[..sniffed];
        if sniff(start).map_err(|e| Failure::Input(e.to_string()))? != Compression::None || is_document(start)
        {
            return self.streamed(&Input::File(path.to_path_buf()), name, emit);
        }
        let block = self.options.block_bytes.clamp(1, PIECE_BYTES) as u64;
        let blocks: Vec<(u64, u64)> =
            (0..size.div_ceil(block)).map(|i| (i * block, ((i + 1) * block).min(size))).collect();
        let window = rayon::current_num_threads().max(1) * 8;
        let mut line = 1;
        for group in blocks.chunks(window) {
            let pieces: Vec<Piece<P::Output>> =
                group.par_iter().map(|&(from, to)| self.piece(&file, from, to, size)).collect();
            let mut stop = None;
            for piece in pieces {
                self.report.bytes += piece.bytes;
                self.merge(piece.result, name, line, emit)?;
                line += piece.lines;
                if let Some(e) = piece.failed {
                    stop = Some((SkipReason::UnreadableInput, format!("reading stopped: {e}")));
                    break;
                }
                if let Some(at) = piece.cut_at {
                    let detail = format!(
                        "the file shrank from {size} to {at} bytes while it was read (rotated with copytruncate?); \
                         read up to there"
                    );
                    stop = Some((SkipReason::InputCut, detail));
                    break;
                }
            }
            if let Some((reason, detail)) = stop {
                self.skip(name, line, reason, detail);
                return Ok(());
            }
            (self.progress)(self.done_before + group.last().map_or(0, |b| b.1));
        }
        Ok(())
    }

    /// Read and decode the lines of `file` that start in `[from, to)`; the last of them may end
    /// after `to`, up to the record limit. Runs on any core.
    fn piece(&self, file: &File, from: u64, to: u64, size: u64) -> Piece<P::Output> {
        BUFFER.with_borrow_mut(|buf| {
            let piece = self.read_piece(buf, file, from, to, size);
            // A line near the record limit grew this core's buffer: give the memory back.
            let keep = self.options.block_bytes.min(PIECE_BYTES) + 1 + (64 << 10);
            if buf.len() > keep * 2 {
                buf.truncate(keep);
                buf.shrink_to(keep);
            }
            piece
        })
    }

    fn read_piece(&self, buf: &mut Vec<u8>, file: &File, from: u64, to: u64, size: u64) -> Piece<P::Output> {
        let mut piece = Piece { result: self.empty_result(), lines: 0, bytes: 0, cut_at: None, failed: None };
        // One byte before the block tells whether a line starts at its first byte.
        let base = from.saturating_sub(1);
        let want = (to - base) as usize;
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let mut len = match read_full_at(file, &mut buf[..want], base) {
            Ok(len) => len,
            Err(e) => {
                piece.failed = Some(e);
                return piece;
            }
        };
        piece.bytes = (base + len as u64).saturating_sub(from);
        if len < want {
            piece.cut_at = Some(base + len as u64);
        }
        let start = if from == 0 {
            0
        } else {
            match memchr::memchr(b'\n', &buf[..len]) {
                Some(i) => i + 1,
                None => return piece,
            }
        };
        if start >= want {
            // A line that started in an earlier block covers this one whole.
            return piece;
        }
        let mut end = len;
        let mut too_long = false;
        if len == want && buf[len - 1] != b'\n' {
            // The last line goes on after the block: read on to its end.
            let line_start = memchr::memrchr(b'\n', &buf[start..len]).map_or(start, |i| start + i + 1);
            end = loop {
                if len - line_start > self.options.max_record_bytes {
                    too_long = true;
                    break line_start;
                }
                let left = size.saturating_sub(base + len as u64);
                if left == 0 {
                    // The file's last line, without a newline.
                    break len;
                }
                let step = ((len - line_start).max(64 << 10) as u64).min(left) as usize;
                buf.resize(len + step, 0);
                let got = match read_full_at(file, &mut buf[len..len + step], base + len as u64) {
                    Ok(got) => got,
                    Err(e) => {
                        piece.failed = Some(e);
                        break len;
                    }
                };
                let found = memchr::memchr(b'\n', &buf[len..len + got]);
                len += got;
                if got < step {
                    piece.cut_at = Some(base + len as u64);
                }
                match found {
                    Some(i) => break len - got + i + 1,
                    None if got < step => break len,
                    None => {}
                }
            };
        }
        let data = &buf[start..end];
        piece.result = self.block(data);
        piece.lines = memchr::memchr_iter(b'\n', data).count() as u64;
        if too_long {
            let detail = format!("longer than {}", size_text(self.options.max_record_bytes));
            let line = piece.lines as usize;
            push_example(&mut piece.result, self.options.examples, line, SkipReason::TooLong, detail);
            // Its newline lies ahead, where the next block starts reading.
            piece.lines += 1;
        }
        piece
    }

    fn streamed(
        &mut self,
        input: &Input,
        name: &str,
        emit: &mut dyn FnMut(P::Output) -> io::Result<()>,
    ) -> Result<(), Failure> {
        let consumed = Arc::new(AtomicU64::new(0));
        let mut reader = open_stream(input, consumed.clone())
            .map_err(|e| Failure::Input(e.to_string()))?
            .map_err(|e| Failure::Input(e.to_string()))?;
        let start = reader.fill_buf().map_err(|e| Failure::Input(e.to_string()))?;
        if is_document(start) {
            let mut text = Vec::new();
            let limit = self.options.max_record_bytes as u64;
            let mut reader = reader;
            (&mut reader)
                .take(limit + 1)
                .read_to_end(&mut text)
                .map_err(|e| Failure::Input(e.to_string()))?;
            self.report.bytes += text.len() as u64;
            if text.len() as u64 > limit {
                // The rest is skipped unread into memory, but still counted: the report says
                // how much input there was.
                let rest =
                    io::copy(&mut reader, &mut io::sink()).map_err(|e| Failure::Input(e.to_string()))?;
                self.report.bytes += rest;
                self.document_too_large(name);
                return Ok(());
            }
            return self.document(&text, name, emit);
        }
        let mut lines = LineBlocks {
            reader,
            carry: Vec::new(),
            block_bytes: self.options.block_bytes,
            max_line: self.options.max_record_bytes,
            line: 1,
            too_long: Vec::new(),
            failed: None,
        };
        let window = rayon::current_num_threads().max(1) * 2;
        let mut pending = lines.next_window(window);
        while !pending.is_empty() {
            // Decode this window while the next one is read (and decompressed).
            let (results, next) = rayon::join(
                || pending.par_iter().map(|b| self.block(&b.data)).collect::<Vec<_>>(),
                || lines.next_window(window),
            );
            for (block, result) in pending.iter().zip(results) {
                self.report.bytes += block.data.len() as u64;
                self.merge(result, name, block.first_line, emit)?;
            }
            self.too_long(name, &mut lines.too_long);
            (self.progress)(self.done_before + consumed.load(Ordering::Relaxed));
            pending = next;
        }
        // Lines over the limit found by the last read, which brought no block to decode (a
        // huge last line without a newline).
        self.too_long(name, &mut lines.too_long);
        if let Some(error) = lines.failed.take() {
            self.skip(name, lines.line, SkipReason::UnreadableInput, format!("reading stopped: {error}"));
        }
        Ok(())
    }

    fn too_long(&mut self, name: &str, lines: &mut Vec<u64>) {
        for line in lines.drain(..) {
            let detail = format!("longer than {}", size_text(self.options.max_record_bytes));
            self.skip(name, line, SkipReason::TooLong, detail);
        }
    }

    /// A whole multi-line document (pretty-printed Event, EventList or array): a stream of JSON
    /// values, decoded one after another.
    fn document(
        &mut self,
        data: &[u8],
        name: &str,
        emit: &mut dyn FnMut(P::Output) -> io::Result<()>,
    ) -> Result<(), Failure> {
        let text = match std::str::from_utf8(data) {
            Ok(text) => text,
            Err(e) => {
                let line = 1 + memchr::memchr_iter(b'\n', &data[..e.valid_up_to()]).count() as u64;
                self.skip(name, line, SkipReason::InvalidUtf8, e.to_string());
                return Ok(());
            }
        };
        let mut result = self.empty_result();
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<&serde_json::value::RawValue>();
        loop {
            let offset = values.byte_offset();
            match values.next() {
                None => break,
                Some(Ok(value)) => self.record(value.get(), offset, &mut result),
                Some(Err(e)) => {
                    let reason = if e.is_eof() { SkipReason::Truncated } else { SkipReason::Malformed };
                    push_example(&mut result, self.options.examples, offset, reason, e.to_string());
                    break;
                }
            }
        }
        result.locate(data);
        self.merge(result, name, 1, emit)
    }

    fn empty_result(&self) -> BlockResult<P::Output> {
        BlockResult {
            output: self.processor.output(),
            events: 0,
            passed_over: 0,
            skipped: BTreeMap::new(),
            examples: Vec::new(),
            formats: BTreeMap::new(),
            missing_fields: BTreeMap::new(),
            incomplete: Vec::new(),
        }
    }

    /// Decode the lines of one block. Runs on any core.
    fn block(&self, data: &[u8]) -> BlockResult<P::Output> {
        let mut result = self.empty_result();
        match self.finder {
            Some(finder) => {
                let mut pos = 0;
                while pos < data.len() {
                    let Some(hit) = finder.find(&data[pos..]) else {
                        result.passed_over += lines_in(&data[pos..]);
                        break;
                    };
                    let hit = pos + hit;
                    let start = memchr::memrchr(b'\n', &data[pos..hit]).map_or(pos, |i| pos + i + 1);
                    let end = memchr::memchr(b'\n', &data[hit..]).map_or(data.len(), |i| hit + i);
                    result.passed_over += lines_in(&data[pos..start]);
                    self.line(data, start, end, &mut result);
                    pos = end + 1;
                }
            }
            None => {
                let mut start = 0;
                for end in memchr::memchr_iter(b'\n', data) {
                    self.line(data, start, end, &mut result);
                    start = end + 1;
                }
                if start < data.len() {
                    self.line(data, start, data.len(), &mut result);
                }
            }
        }
        result.locate(data);
        result
    }

    fn line(&self, data: &[u8], start: usize, end: usize, result: &mut BlockResult<P::Output>) {
        let mut line = &data[start..end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if line.len() > self.options.max_record_bytes {
            let detail = format!(
                "{} bytes, over the limit of {}",
                line.len(),
                size_text(self.options.max_record_bytes)
            );
            push_example(result, self.options.examples, start, SkipReason::TooLong, detail);
            return;
        }
        match std::str::from_utf8(line) {
            Ok(text) => self.record(text, start, result),
            Err(e) => {
                let detail = format!("{e}");
                push_example(result, self.options.examples, start, SkipReason::InvalidUtf8, detail);
            }
        }
    }

    fn record(&self, text: &str, offset: usize, result: &mut BlockResult<P::Output>) {
        let processor = self.processor;
        let output = &mut result.output;
        let formats = &mut result.formats;
        let missing_fields = &mut result.missing_fields;
        let incomplete = &mut result.incomplete;
        let keep = self.options.examples;
        let decoded = decode(text, &mut |event, raw, format| {
            *formats.entry(format).or_default() += 1;
            let missing = missing_fields_of(event);
            if !missing.is_empty() {
                for field in &missing {
                    *missing_fields.entry(*field).or_default() += 1;
                }
                if incomplete.len() < keep {
                    incomplete.push((offset, missing.join(", ")));
                }
            }
            processor.event(event, raw, format, output);
        });
        match decoded {
            Ok(decoded) => {
                result.events += decoded.events as u64;
                for (reason, count) in decoded.skipped {
                    *result.skipped.entry(reason).or_default() += count;
                }
                for skip in decoded.examples {
                    if result.examples.len() < keep {
                        // The item's own line where it is text of the record (pretty-printed
                        // batches), else the record's.
                        let at = offset + skip.offset.unwrap_or(0);
                        let detail = format!("item {}: {}", skip.item, skip.error.detail());
                        result.examples.push((at, skip.error.reason(), detail));
                    }
                }
            }
            Err(error) => push_example(result, keep, offset, error.reason(), error.detail()),
        }
    }

    /// Add a block's located result to the report; `first_line` is the block's first line.
    fn merge(
        &mut self,
        result: BlockResult<P::Output>,
        name: &str,
        first_line: u64,
        emit: &mut dyn FnMut(P::Output) -> io::Result<()>,
    ) -> Result<(), Failure> {
        let line_at = |line: usize| first_line + line as u64;
        self.report.events += result.events;
        self.report.passed_over += result.passed_over;
        for (reason, count) in result.skipped {
            *self.report.skipped.entry(reason).or_default() += count;
        }
        for (format, count) in result.formats {
            let key = serde_json::to_value(format).ok().and_then(|v| v.as_str().map(str::to_string));
            *self.report.formats.entry(key.unwrap_or_default()).or_default() += count;
        }
        for (offset, reason, detail) in result.examples {
            if self.report.examples.len() < self.options.examples {
                self.report.examples.push(Skip {
                    input: name.to_string(),
                    line: line_at(offset),
                    reason,
                    detail,
                });
            }
        }
        for (field, count) in result.missing_fields {
            *self.report.missing_fields.entry(field).or_default() += count;
        }
        for (offset, fields) in result.incomplete {
            if self.report.incomplete_examples.len() < self.options.examples {
                self.report.incomplete_examples.push(Skip {
                    input: name.to_string(),
                    line: line_at(offset),
                    reason: SkipReason::MissingFields,
                    detail: format!("no {fields}"),
                });
            }
        }
        emit(result.output).map_err(Failure::Output)
    }

    fn document_too_large(&mut self, name: &str) {
        let detail = format!(
            "a multi-line JSON document over {}: convert it to JSON lines (jq -c '.items[]')",
            size_text(self.options.max_record_bytes)
        );
        self.skip(name, 1, SkipReason::DocumentTooLarge, detail);
    }

    fn skip(&mut self, name: &str, line: u64, reason: SkipReason, detail: String) {
        *self.report.skipped.entry(reason).or_default() += 1;
        if self.report.examples.len() < self.options.examples {
            self.report.examples.push(Skip { input: name.to_string(), line, reason, detail });
        }
    }
}

enum Failure {
    Input(String),
    Output(io::Error),
}

/// A record size limit as people write it: `64 MiB`, `4 KiB`, `1000 bytes`.
pub fn size_text(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// The fields every audit event should have and this one lacks.
fn missing_fields_of(event: &Event<'_>) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if event.audit_id.is_empty() {
        missing.push("auditID");
    }
    if event.verb.is_empty() {
        missing.push("verb");
    }
    if event.user.username.is_empty() {
        missing.push("user.username");
    }
    if event.time_text().is_empty() {
        missing.push("stageTimestamp");
    }
    missing
}

fn push_example<O>(
    result: &mut BlockResult<O>,
    keep: usize,
    offset: usize,
    reason: SkipReason,
    detail: String,
) {
    *result.skipped.entry(reason).or_default() += 1;
    if result.examples.len() < keep {
        result.examples.push((offset, reason, detail));
    }
}

/// A multi-line JSON document rather than JSON lines: starts with `[`, or its first line is a
/// lone `{` (pretty-printed output of kubectl, jq or a webhook capture).
fn is_document(start: &[u8]) -> bool {
    let first = start.iter().position(|b| !b.is_ascii_whitespace());
    let Some(first) = first else { return false };
    if start[first] == b'[' {
        return true;
    }
    let rest = &start[first..];
    let line_end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    rest[..line_end].trim_ascii() == b"{"
}

struct OwnedBlock {
    data: Vec<u8>,
    first_line: u64,
}

/// Reads whole-line blocks from a stream; lines over the limit are dropped and remembered.
struct LineBlocks {
    reader: Box<dyn BufRead + Send>,
    carry: Vec<u8>,
    block_bytes: usize,
    max_line: usize,
    /// Line number of the first line of the next block.
    line: u64,
    too_long: Vec<u64>,
    failed: Option<io::Error>,
}

impl LineBlocks {
    fn next_window(&mut self, count: usize) -> Vec<OwnedBlock> {
        let mut blocks = Vec::with_capacity(count);
        while blocks.len() < count {
            match self.next_block() {
                Some(block) => blocks.push(block),
                None => break,
            }
        }
        blocks
    }

    fn next_block(&mut self) -> Option<OwnedBlock> {
        if self.failed.is_some() {
            return None;
        }
        let mut data = std::mem::take(&mut self.carry);
        data.reserve(self.block_bytes);
        loop {
            let before = data.len();
            let want = self.block_bytes.saturating_sub(before).max(64 << 10);
            match (&mut self.reader).take(want as u64).read_to_end(&mut data) {
                Ok(_) => {}
                Err(e) => {
                    self.failed = Some(e);
                    break;
                }
            }
            let eof = data.len() == before;
            if eof {
                break;
            }
            if data.len() < self.block_bytes {
                continue;
            }
            match memchr::memrchr(b'\n', &data) {
                Some(last) => {
                    self.carry = data.split_off(last + 1);
                    break;
                }
                None if data.len() > self.max_line => {
                    // One line bigger than the limit: drop it up to its end.
                    self.too_long.push(self.line);
                    if let Err(e) = skip_line(&mut self.reader) {
                        self.failed = Some(e);
                    }
                    self.line += 1;
                    data.clear();
                }
                None => continue,
            }
        }
        if data.is_empty() {
            return None;
        }
        let first_line = self.line;
        self.line += memchr::memchr_iter(b'\n', &data).count() as u64;
        Some(OwnedBlock { data, first_line })
    }
}

/// Consume up to and including the next newline without keeping the bytes.
fn skip_line(reader: &mut Box<dyn BufRead + Send>) -> io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = memchr::memchr(b'\n', buf) {
            reader.consume(i + 1);
            return Ok(());
        }
        let n = buf.len();
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size_text(64 << 20), "64 MiB");
        assert_eq!(size_text(4096), "4 KiB");
        assert_eq!(size_text(1000), "1000 bytes");
    }

    #[test]
    fn documents_are_told_from_json_lines() {
        assert!(is_document(b"  [\n{}]"));
        assert!(is_document(b"{\n  \"kind\": \"EventList\""));
        assert!(!is_document(b"{\"kind\":\"Event\"}\n"));
        assert!(!is_document(b""));
    }
}

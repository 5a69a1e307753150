//! The scanner over real files: compression, envelopes, bad records, block boundaries, and
//! properties that must hold for any input.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use kir_audit::{Event, Format, Input, Processor, ScanOptions, ScanReport, SkipReason, expand, scan};
use proptest::prelude::*;

/// Collects the audit IDs of events whose user contains `needle`, optionally via the literal.
struct Collect {
    needle: Option<String>,
    use_literal: bool,
}

impl Processor for Collect {
    type Output = Vec<String>;
    fn output(&self) -> Vec<String> {
        Vec::new()
    }
    fn literal(&self) -> Option<&[u8]> {
        self.needle.as_deref().filter(|_| self.use_literal).map(str::as_bytes)
    }
    fn event(&self, event: &Event<'_>, _raw: Option<&str>, _format: Format, out: &mut Vec<String>) {
        if self.needle.as_deref().is_none_or(|n| event.user.username.contains(n)) {
            out.push(event.audit_id.to_string());
        }
    }
}

fn run(inputs: &[Input], options: &ScanOptions, processor: &Collect) -> (Vec<String>, ScanReport) {
    let ids = Mutex::new(Vec::new());
    let report = scan(inputs, options, processor, &|_| {}, &mut |out| {
        ids.lock().unwrap().extend(out);
        Ok(())
    })
    .unwrap();
    (ids.into_inner().unwrap(), report)
}

fn all(inputs: &[Input]) -> (Vec<String>, ScanReport) {
    run(inputs, &ScanOptions::default(), &Collect { needle: None, use_literal: false })
}

fn event_line(id: usize, user: &str) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"id-{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ns/pods?limit=500\u0026watch=1","verb":"get","user":{{"username":"{user}","groups":["system:authenticated"]}},"sourceIPs":["10.0.0.{}"],"objectRef":{{"resource":"pods","namespace":"ns"}},"responseStatus":{{"code":200}},"stageTimestamp":"2026-11-27T10:00:00Z"}}"#,
        id % 250
    )
}

fn write(path: &Path, bytes: &[u8]) -> Input {
    std::fs::write(path, bytes).unwrap();
    Input::File(path.to_path_buf())
}

#[test]
fn plain_gzip_and_zstd_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..1000).map(|i| event_line(i, "alice") + "\n").collect();
    let plain = write(&dir.path().join("a.log"), text.as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    // Named .log on purpose: compression is told by content.
    let gzip = write(&dir.path().join("b.log"), &gz.finish().unwrap());
    let zst = write(&dir.path().join("c"), &zstd::encode_all(text.as_bytes(), 1).unwrap());
    let expected: Vec<String> = (0..1000).map(|i| format!("id-{i}")).collect();
    for input in [plain, gzip, zst] {
        let (ids, report) = all(std::slice::from_ref(&input));
        assert_eq!(ids, expected, "{input:?}");
        assert_eq!(report.skipped_total(), 0);
    }
}

#[test]
fn large_files_are_read_in_parallel_blocks_and_kept_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let text: String =
        (0..20_000).map(|i| event_line(i, if i % 7 == 0 { "mallory" } else { "alice" }) + "\n").collect();
    assert!(text.len() > 1 << 20, "big enough to be read in parallel");
    let input = write(&dir.path().join("big.log"), text.as_bytes());
    let options = ScanOptions { block_bytes: 64 << 10, ..ScanOptions::default() };
    let (ids, _) = run(std::slice::from_ref(&input), &options, &Collect { needle: None, use_literal: false });
    assert_eq!(ids.len(), 20_000);
    assert!(ids.iter().enumerate().all(|(i, id)| *id == format!("id-{i}")), "input order kept");
    let slow = Collect { needle: Some("mallory".into()), use_literal: false };
    let fast = Collect { needle: Some("mallory".into()), use_literal: true };
    let (a, _) = run(std::slice::from_ref(&input), &options, &slow);
    let (b, _) = run(std::slice::from_ref(&input), &options, &fast);
    assert_eq!(a.len(), 20_000 / 7 + 1);
    assert_eq!(a, b, "the literal pre-filter changes speed, not results");
}

#[test]
fn bad_records_are_counted_with_their_line_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let good = event_line(1, "alice");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(format!("{good}\n").as_bytes());
    bytes.extend_from_slice(b"{\"auditID\":\"cut\",\"verb\":\"ge\n"); // line 2: truncated
    bytes.extend_from_slice(b"\n"); // line 3: blank, ignored
    bytes.extend_from_slice(b"{\"auditID\":\"x\",\"user\":{\"username\":\"\xff\xfe\"}}\n"); // line 4: bad UTF-8
    bytes.extend_from_slice(b"this is not json\n"); // line 5
    bytes.extend_from_slice(b"{\"hello\":\"world\"}\n"); // line 6: JSON, not audit
    bytes.extend_from_slice(format!("{}\n", "x".repeat(3000)).as_bytes()); // line 7: too long
    bytes.extend_from_slice(event_line(2, "bob").as_bytes()); // line 8, no final newline
    let input = write(&dir.path().join("bad.log"), &bytes);
    let options = ScanOptions { max_record_bytes: 2048, ..ScanOptions::default() };
    let (ids, report) =
        run(std::slice::from_ref(&input), &options, &Collect { needle: None, use_literal: false });
    assert_eq!(ids, ["id-1", "id-2"]);
    let where_why: Vec<(u64, SkipReason)> = report.examples.iter().map(|s| (s.line, s.reason)).collect();
    assert_eq!(
        where_why,
        [
            (2, SkipReason::Truncated),
            (4, SkipReason::InvalidUtf8),
            (5, SkipReason::Malformed),
            (6, SkipReason::NotAuditEvent),
            (7, SkipReason::TooLong),
        ]
    );
    assert!(report.examples.iter().all(|s| s.input.ends_with("bad.log")));
    assert_eq!(report.skipped_total(), 5);

    // The same through a stream (gzip), where lines are cut into blocks while reading.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    let input = write(&dir.path().join("bad.gz"), &gz.finish().unwrap());
    let (ids, streamed) =
        run(std::slice::from_ref(&input), &options, &Collect { needle: None, use_literal: false });
    assert_eq!(ids, ["id-1", "id-2"]);
    let lines: Vec<u64> = streamed.examples.iter().map(|s| s.line).collect();
    assert_eq!(lines, [2, 4, 5, 6, 7]);
}

#[test]
fn pretty_printed_documents_and_event_lists_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let list = serde_json::json!({
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "items": [
            serde_json::from_str::<serde_json::Value>(&event_line(1, "a")).unwrap(),
            serde_json::from_str::<serde_json::Value>(&event_line(2, "b")).unwrap(),
        ]
    });
    let pretty = serde_json::to_string_pretty(&list).unwrap();
    let two = format!("{pretty}\n{pretty}\n");
    let input = write(&dir.path().join("batch.json"), two.as_bytes());
    let (ids, report) = all(&[input]);
    assert_eq!(ids, ["id-1", "id-2", "id-1", "id-2"]);
    assert_eq!(report.formats["event-list"], 4);
}

#[test]
fn unreadable_and_unsupported_inputs_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let xz = write(&dir.path().join("a.xz"), &[0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2]);
    let good = write(&dir.path().join("b.log"), event_line(9, "x").as_bytes());
    let corrupt = write(&dir.path().join("c.gz"), &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]);
    let (ids, report) = all(&[xz, good, corrupt]);
    assert_eq!(ids, ["id-9"]);
    assert_eq!(report.skipped[&SkipReason::UnreadableInput], 2);
    assert!(report.examples[0].detail.contains("xz"), "{:?}", report.examples);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the bytes, the scanner neither panics nor loses count of what it saw.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let dir = tempfile::tempdir().unwrap();
        let input = write(&dir.path().join("fuzz"), &bytes);
        let options = ScanOptions { block_bytes: 97, max_record_bytes: 512, ..ScanOptions::default() };
        let (_, report) = run(&[input], &options, &Collect { needle: None, use_literal: false });
        prop_assert!(report.examples.len() <= options.examples);
    }

    /// Mangled audit lines: every good line is found, whatever surrounds it, and block size
    /// and the literal pre-filter do not change the result.
    #[test]
    fn good_lines_survive_any_neighbours(
        junk in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20),
        cut in 0usize..400,
        block in 50usize..5000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for (i, j) in junk.iter().enumerate() {
            let line = event_line(i, if i % 2 == 0 { "target" } else { "other" });
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
            if i % 2 == 0 {
                expected.push(format!("id-{i}"));
            }
            let mut junk_line: Vec<u8> = j.iter().copied().filter(|b| *b != b'\n').collect();
            junk_line.extend_from_slice(&line.as_bytes()[..cut.min(line.len())]);
            // A junk line must not be a complete event by chance; the cut copy never is.
            if !junk_line.is_empty() && junk_line.len() < line.len() {
                bytes.extend_from_slice(&junk_line);
                bytes.push(b'\n');
            }
        }
        let input = write(&dir.path().join("mixed"), &bytes);
        let options = ScanOptions { block_bytes: block, ..ScanOptions::default() };
        let plain = run(std::slice::from_ref(&input), &options, &Collect { needle: Some("target".into()), use_literal: false }).0;
        let fast = run(std::slice::from_ref(&input), &options, &Collect { needle: Some("target".into()), use_literal: true }).0;
        prop_assert_eq!(&plain, &expected);
        prop_assert_eq!(&fast, &expected);
    }
}

#[test]
fn a_line_longer_than_the_limit_in_a_stream_is_dropped_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    text.push_str(&(event_line(1, "a") + "\n"));
    text.push_str(&format!("{{\"auditID\":\"huge\",\"pad\":\"{}\"}}\n", "x".repeat(50_000)));
    text.push_str(&(event_line(2, "b") + "\n"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    let input = write(&dir.path().join("huge.gz"), &gz.finish().unwrap());
    let options = ScanOptions { block_bytes: 1024, max_record_bytes: 4096, ..ScanOptions::default() };
    let (ids, report) = run(&[input], &options, &Collect { needle: None, use_literal: false });
    assert_eq!(ids, ["id-1", "id-2"]);
    assert_eq!(report.skipped[&SkipReason::TooLong], 1);
    assert_eq!(report.examples[0].line, 2);
}

#[test]
fn events_missing_fields_are_read_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n{}\n",
        event_line(1, "a"),
        r#"{"auditID":"no-verb","requestURI":"/api","user":{"username":"u"},"stageTimestamp":"2026-11-27T10:00:00Z"}"#
    );
    let input = write(&dir.path().join("partial.log"), text.as_bytes());
    let (ids, report) = all(&[input]);
    assert_eq!(ids, ["id-1", "no-verb"], "read anyway");
    assert_eq!(report.skipped_total(), 0);
    assert_eq!(report.missing_fields["verb"], 1);
    assert_eq!(report.incomplete_examples[0].line, 2);
    assert_eq!(report.incomplete_examples[0].detail, "no verb");
}

#[test]
fn a_bad_item_of_a_batch_is_skipped_alone_with_its_line_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let item = |i| serde_json::from_str::<serde_json::Value>(&event_line(i, "a")).unwrap();
    let list = serde_json::json!({"kind": "EventList", "items": [item(1), {"foo": 1}, item(3)]});
    // As a JSON line (line 2), and pretty-printed, where the bad item has a line of its own.
    let text = format!("{}\n{list}\n", event_line(0, "a"));
    let input = write(&dir.path().join("batch.log"), text.as_bytes());
    let (ids, report) = all(&[input]);
    assert_eq!(ids, ["id-0", "id-1", "id-3"], "the items after the bad one are read");
    assert_eq!(report.skipped_total(), 1);
    let skip = &report.examples[0];
    assert_eq!((skip.line, skip.reason), (2, SkipReason::NotAuditEvent));
    assert!(skip.detail.starts_with("item 1: "), "{}", skip.detail);

    let pretty = serde_json::to_string_pretty(&list).unwrap();
    // `"foo"` is on the line after the item's opening brace.
    let line = pretty[..pretty.find("\"foo\"").unwrap()].matches('\n').count() as u64;
    let input = write(&dir.path().join("batch.json"), pretty.as_bytes());
    let (ids, report) = all(&[input]);
    assert_eq!(ids, ["id-1", "id-3"]);
    assert_eq!(report.examples[0].line, line, "the line of the item's opening brace");
}

#[test]
fn a_document_over_the_limit_is_skipped_from_a_big_file_as_from_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let items: Vec<serde_json::Value> =
        (0..3000).map(|i| serde_json::from_str(&event_line(i, "a")).unwrap()).collect();
    let pretty =
        serde_json::to_string_pretty(&serde_json::json!({"kind": "EventList", "items": items})).unwrap();
    assert!(pretty.len() > 1 << 20, "big enough to be read in parallel");
    let plain = write(&dir.path().join("big.json"), pretty.as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(pretty.as_bytes()).unwrap();
    let streamed = write(&dir.path().join("big.json.gz"), &gz.finish().unwrap());
    let collect = Collect { needle: None, use_literal: false };
    let small = ScanOptions { max_record_bytes: 1 << 20, ..ScanOptions::default() };
    for input in [&plain, &streamed] {
        let (ids, report) = run(std::slice::from_ref(input), &small, &collect);
        assert!(ids.is_empty(), "{input:?}");
        assert_eq!(report.skipped[&SkipReason::DocumentTooLarge], 1, "{input:?}");
        assert_eq!(report.examples[0].line, 1);
        assert!(report.examples[0].detail.contains("over 1 MiB"), "{}", report.examples[0].detail);
        let (ids, report) = run(std::slice::from_ref(input), &ScanOptions::default(), &collect);
        assert_eq!((ids.len(), report.skipped_total()), (3000, 0), "{input:?}: within the limit");
    }
}

/// Truncates its file to `keep` bytes when it sees the first event, as logrotate's
/// `copytruncate` does to a log being read.
struct TruncateWhileRead {
    path: PathBuf,
    keep: u64,
    done: AtomicBool,
}

impl Processor for TruncateWhileRead {
    type Output = usize;
    fn output(&self) -> usize {
        0
    }
    fn event(&self, _event: &Event<'_>, _raw: Option<&str>, _format: Format, out: &mut usize) {
        if !self.done.swap(true, Ordering::SeqCst) {
            std::fs::OpenOptions::new().write(true).open(&self.path).unwrap().set_len(self.keep).unwrap();
        }
        *out += 1;
    }
}

/// A mapped file cut under the reader kills it with SIGBUS; read at offsets, the cut is a
/// short read, reported with where reading stopped.
#[test]
fn a_file_cut_while_it_is_read_is_reported_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..20_000).map(|i| event_line(i, "alice") + "\n").collect();
    let path = dir.path().join("audit.log");
    let input = write(&path, text.as_bytes());
    let keep = 100_000;
    let processor = TruncateWhileRead { path: path.clone(), keep, done: AtomicBool::new(false) };
    let options = ScanOptions { block_bytes: 64 << 10, ..ScanOptions::default() };
    let events = Mutex::new(0);
    let report = scan(&[input], &options, &processor, &|_| {}, &mut |n| {
        *events.lock().unwrap() += n;
        Ok(())
    })
    .unwrap();
    assert_eq!(report.skipped[&SkipReason::InputCut], 1, "{:?}", report.examples);
    let cut = report.examples.iter().find(|s| s.reason == SkipReason::InputCut).unwrap();
    assert!(cut.detail.contains(&format!("shrank from {} to", text.len())), "{}", cut.detail);
    let events = events.into_inner().unwrap();
    assert!(events < 20_000, "what was cut off is not read: {events}");
    assert_eq!(report.events, events as u64);
}

/// A last line over the limit and without a newline: reported the same whether the bytes come
/// from a plain file (read in parallel or streamed), gzip or zstd. Alone in its input, a stream
/// used to drop it in silence (it was found by a read that brought no block to decode).
#[test]
fn a_huge_last_line_is_reported_by_every_input_path() {
    let dir = tempfile::tempdir().unwrap();
    let huge = format!("{{\"auditID\":\"huge\",\"pad\":\"{}", "x".repeat(50_000));
    for (first, text) in [(None, huge.clone()), (Some("id-1"), format!("{}\n{huge}", event_line(1, "a")))] {
        let line = if first.is_some() { 2 } else { 1 };
        let plain = write(&dir.path().join("huge.log"), text.as_bytes());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let gzip = write(&dir.path().join("huge.gz"), &gz.finish().unwrap());
        let zst = write(&dir.path().join("huge.zst"), &zstd::encode_all(text.as_bytes(), 1).unwrap());
        // Small blocks read the plain file in parallel; big ones stream it.
        for block_bytes in [1024, 1 << 20] {
            let options = ScanOptions { block_bytes, max_record_bytes: 4096, ..ScanOptions::default() };
            for input in [&plain, &gzip, &zst] {
                let (ids, report) =
                    run(std::slice::from_ref(input), &options, &Collect { needle: None, use_literal: false });
                assert_eq!(ids, first.into_iter().collect::<Vec<_>>(), "{input:?}");
                let where_why: Vec<(u64, SkipReason)> =
                    report.examples.iter().map(|s| (s.line, s.reason)).collect();
                assert_eq!(where_why, [(line, SkipReason::TooLong)], "{input:?}, blocks of {block_bytes}");
            }
        }
    }
}

/// Pipes, sockets, broken or looping links and links to directories inside an input folder
/// are named in the report, never opened (a pipe would block the scan) and never dropped.
#[cfg(unix)]
#[test]
fn odd_entries_of_a_folder_are_reported_and_never_block() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("logs");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("a.log"), event_line(1, "a") + "\n").unwrap();
    std::fs::write(root.join("sub/b.log"), event_line(2, "b") + "\n").unwrap();
    let status = std::process::Command::new("mkfifo").arg(root.join("fifo")).status().unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling")).unwrap();
    std::os::unix::fs::symlink(root.join("loop-b"), root.join("loop-a")).unwrap();
    std::os::unix::fs::symlink(root.join("loop-a"), root.join("loop-b")).unwrap();
    std::os::unix::fs::symlink(root.join("sub"), root.join("to-dir")).unwrap();
    std::os::unix::fs::symlink(root.join("a.log"), root.join("to-file")).unwrap();

    let inputs = expand(std::slice::from_ref(&root)).unwrap();
    let seen: Vec<(String, Option<&str>)> = inputs
        .iter()
        .map(|i| {
            let name = i.display().strip_prefix(&format!("{}/", root.display())).unwrap().to_string();
            match i {
                Input::Unusable { why, .. } => (name, Some(why.as_str())),
                _ => (name, None),
            }
        })
        .collect();
    let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a.log", "dangling", "fifo", "loop-a", "loop-b", "sub/b.log", "to-dir", "to-file"]);
    let why = |name: &str| seen.iter().find(|(n, _)| n == name).unwrap().1.unwrap_or_default().to_string();
    assert!(why("dangling").contains("dangling symbolic link"), "{}", why("dangling"));
    assert!(why("fifo").contains("named pipe"), "{}", why("fifo"));
    assert!(why("loop-a").contains("cannot be followed"), "{}", why("loop-a"));
    assert!(why("to-dir").contains("link to a directory"), "{}", why("to-dir"));
    assert_eq!(why("to-file"), "", "a link to a file is read");

    let (ids, report) = all(&inputs);
    assert_eq!(ids, ["id-1", "id-2", "id-1"]);
    assert_eq!(report.skipped[&SkipReason::UnreadableInput], 5);
    assert_eq!(report.examples.len(), 5);
    assert!(report.examples.iter().all(|s| s.line == 0), "{:?}", report.examples);
}

/// One line of a generated log for the comparison below.
#[derive(Debug, Clone)]
enum Line {
    Event,
    Crlf,
    Junk(Vec<u8>),
    Long(usize),
    Blank,
}

fn line_strategy() -> impl Strategy<Value = Line> {
    prop_oneof![
        6 => Just(Line::Event),
        1 => Just(Line::Crlf),
        2 => proptest::collection::vec(any::<u8>(), 0..120).prop_map(Line::Junk),
        1 => (600usize..3000).prop_map(Line::Long),
        1 => Just(Line::Blank),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// A file read in parallel at offsets finds the same events and reports the same skipped
    /// lines as the same bytes streamed, whatever the block size and wherever lines cross
    /// block boundaries.
    #[test]
    fn reading_at_offsets_agrees_with_streaming(
        lines in proptest::collection::vec(line_strategy(), 1..60),
        block in 40usize..700,
        final_newline in any::<bool>(),
    ) {
        let mut bytes = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            match line {
                Line::Event => bytes.extend_from_slice(event_line(i, "u").as_bytes()),
                Line::Crlf => bytes.extend_from_slice((event_line(i, "u") + "\r").as_bytes()),
                Line::Junk(junk) => bytes.extend(junk.iter().filter(|b| **b != b'\n')),
                Line::Long(n) => bytes.extend(std::iter::repeat_n(b'x', *n)),
                Line::Blank => {}
            }
            if i + 1 < lines.len() || final_newline {
                bytes.push(b'\n');
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let plain = write(&dir.path().join("plain"), &bytes);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        let gzip = write(&dir.path().join("gzip"), &gz.finish().unwrap());
        let options = ScanOptions { block_bytes: block, max_record_bytes: 512, examples: 1000 };
        let collect = Collect { needle: None, use_literal: false };
        let (ids, report) = run(&[plain], &options, &collect);
        let (streamed_ids, streamed) = run(&[gzip], &options, &collect);
        prop_assert_eq!(ids, streamed_ids);
        prop_assert_eq!(&report.skipped, &streamed.skipped);
        let located = |r: &ScanReport| {
            let mut v: Vec<(u64, SkipReason)> = r.examples.iter().map(|s| (s.line, s.reason)).collect();
            v.sort();
            v
        };
        prop_assert_eq!(located(&report), located(&streamed));
        prop_assert_eq!(report.bytes, bytes.len() as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The literal pre-filter decodes fewer lines but reads them all: the count of what was read
    /// is the same with it as without it, plain or compressed, whatever the block size.
    #[test]
    fn a_literal_search_counts_every_line_it_read(
        users in proptest::collection::vec(any::<bool>(), 0..60),
        blank_every in 2usize..10,
        block in 50usize..4000,
        gzip in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for (i, target) in users.iter().enumerate() {
            text.push_str(&event_line(i, if *target { "target" } else { "other" }));
            text.push('\n');
            if i % blank_every == 0 {
                text.push_str("  \n");
            }
        }
        let input = if gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(text.as_bytes()).unwrap();
            write(&dir.path().join("log.gz"), &gz.finish().unwrap())
        } else {
            write(&dir.path().join("log"), text.as_bytes())
        };
        let options = ScanOptions { block_bytes: block, ..ScanOptions::default() };
        let search = |use_literal| {
            run(std::slice::from_ref(&input), &options, &Collect { needle: Some("target".into()), use_literal }).1
        };
        let (plain, fast) = (search(false), search(true));
        prop_assert_eq!(plain.read(), users.len() as u64);
        prop_assert_eq!(fast.read(), users.len() as u64);
        prop_assert_eq!(fast.events, users.iter().filter(|t| **t).count() as u64);
    }
}

//! The whole reader on archives built in memory: a complete checkpoint, then truncated, forged
//! and oversized ones, and properties over arbitrary bytes and planted needles.

use std::net::SocketAddr;

use proptest::prelude::*;

use crate::testing::{
    self, ARGV, HEAP, Message, PAGE, SECRET, SECRET_AT, STACK, image, sample, sample_archive, tar,
};
use crate::{
    ChangeKind, CheckpointError, FileKind, Hit, Limits, grep, grep_at, grep_with_limits, inspect, inspect_at,
    inspect_with_limits,
};

/// Reading at offsets (a file) finds what streaming finds, and fails where streaming fails.
fn read_both_ways(archive: &[u8], needle: &[u8]) -> Result<(), TestCaseError> {
    let limits = Limits::default();
    let (streamed, at) = (inspect(archive), inspect_at(archive, archive.len() as u64, &limits));
    match (&streamed, &at) {
        (Ok(streamed), Ok(at)) => prop_assert_eq!(streamed, at),
        (streamed, at) => prop_assert_eq!(streamed.is_err(), at.is_err(), "{:?} / {:?}", streamed, at),
    }
    let (streamed, at) = (grep(archive, needle), grep_at(archive, archive.len() as u64, needle, &limits));
    match (&streamed, &at) {
        (Ok(streamed), Ok(at)) => prop_assert_eq!(streamed, at),
        (streamed, at) => prop_assert_eq!(streamed.is_err(), at.is_err(), "{:?} / {:?}", streamed, at),
    }
    Ok(())
}

fn archive_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    tar(files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())))
}

fn sample_with(name: &str, bytes: Vec<u8>) -> Vec<u8> {
    let mut files = sample();
    files.insert(name.to_string(), bytes);
    tar(files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())))
}

#[test]
fn a_complete_checkpoint_reads_back() {
    let inventory = inspect(sample_archive().as_slice()).unwrap();
    let container = &inventory.container;
    assert_eq!(container.engine.as_deref(), Some("containerd"));
    assert_eq!(container.name.as_deref(), Some("canary"));
    assert_eq!(container.pod.as_deref(), Some("victim-0"));
    assert_eq!(container.namespace.as_deref(), Some("prod"));
    assert_eq!(container.image.as_deref(), Some("kir-testbed/canary:1"));
    assert_eq!(container.created.as_deref(), Some("2026-12-07T00:00:00Z"));
    assert_eq!(inventory.criu_image_version, Some(2));
    assert_eq!(inventory.dump_stats.and_then(|stats| stats.frozen_time_us), Some(1500));
    assert_eq!(inventory.archive.images_not_read, 1);
    assert_eq!(inventory.archive.pages_bytes, 4 * PAGE as u64);

    let tree: Vec<_> = inventory.processes.iter().map(|process| (process.pid, process.ppid)).collect();
    assert_eq!(tree, vec![(1, 0), (7, 1)]);
    let main = &inventory.processes[0];
    assert_eq!(main.comm.as_deref(), Some("canary"));
    assert_eq!(main.exe.as_deref(), Some("/bin/canary"));
    assert_eq!((main.cwd.as_deref(), main.root.as_deref()), (Some("/srv"), Some("/")));
    assert_eq!(
        main.argv,
        Some(vec!["/bin/canary".to_string(), "--serve".to_string(), String::new(), "x y".to_string()])
    );
    // Control characters stay data.
    assert_eq!(inventory.processes[1].comm.as_deref(), Some("\x1b[31mworker"));
    assert_eq!(inventory.processes[1].threads, vec![7, 8]);
    assert_eq!(inventory.processes[1].argv, None);

    let files: Vec<_> = main.files.iter().map(|open| (open.fd, open.file.clone())).collect();
    assert_eq!(
        files,
        vec![
            (0, FileKind::Pipe { pipe_id: 4242 }),
            (3, FileKind::Regular { path: "/tmp/kir-dropped".to_string(), flags: 2, position: 5 }),
            (
                4,
                FileKind::Inet {
                    protocol: "tcp".to_string(),
                    state: Some("LISTEN".to_string()),
                    local: Some("127.0.0.1:8080".parse::<SocketAddr>().unwrap()),
                    remote: None,
                }
            ),
            (
                5,
                FileKind::Unix {
                    socket_type: "stream".to_string(),
                    state: Some("ESTABLISHED".to_string()),
                    name: Some("@kir\x07".to_string()),
                    inode: 77,
                    peer: 78,
                }
            ),
            (6, FileKind::Other { kind: "eventfd".to_string() }),
            (
                7,
                FileKind::Unix {
                    socket_type: "stream".to_string(),
                    state: Some("LISTEN".to_string()),
                    name: Some("/run/kir.sock".to_string()),
                    inode: 79,
                    peer: 0,
                }
            ),
            (9, FileKind::Missing { id: 404 }),
        ]
    );
    assert_eq!(inventory.processes[1].files, main.files, "the two share a file table");

    let memory = &main.memory;
    assert_eq!(memory.page_size, Some(4096));
    assert_eq!(memory.pages_dumped, 4);
    let maps: Vec<_> = memory
        .mappings
        .iter()
        .map(|mapping| {
            (
                mapping.start,
                mapping.perms.as_str(),
                mapping.kind,
                mapping.path.as_deref(),
                mapping.pages_dumped,
            )
        })
        .collect();
    assert_eq!(
        maps,
        vec![
            (0x40_0000, "r-xp", "file", Some("/bin/canary"), 0),
            (HEAP, "rw-p", "heap", None, 2),
            (STACK, "rw-p", "stack", None, 2),
        ]
    );

    let changes = &inventory.changed_files;
    assert!(changes.rootfs_diff_present);
    let layer: Vec<_> =
        changes.rootfs_diff.iter().map(|change| (change.path.as_str(), change.kind)).collect();
    assert_eq!(
        layer,
        vec![
            ("tmp/kir-dropped", ChangeKind::File),
            ("etc/passwd", ChangeKind::Deleted),
            ("var/", ChangeKind::Replaced)
        ]
    );
    assert_eq!(changes.rootfs_diff_total, 3);
    assert_eq!(changes.deleted, vec!["/etc/shadow"]);
    assert!(changes.problems.is_empty(), "{:?}", changes.problems);
    assert!(inventory.notes.is_empty(), "{:?}", inventory.notes);
}

#[test]
fn grep_finds_a_secret_across_a_page_boundary_and_counts_every_hit() {
    let report = grep(sample_archive().as_slice(), SECRET).unwrap();
    assert_eq!(report.hits, vec![Hit { pid: 1, address: SECRET_AT }]);
    assert_eq!(report.total, 1);
    assert_eq!(report.bytes_searched, 4 * PAGE as u64);

    let report = grep(sample_archive().as_slice(), b"\0\0\0\0").unwrap();
    let limits = Limits { max_hits: 3, ..Limits::default() };
    let capped = grep_with_limits(sample_archive().as_slice(), b"\0\0\0\0", &limits).unwrap();
    assert_eq!(capped.hits.len(), 3);
    assert_eq!(capped.total, report.total);
    assert!(report.total > 16_000);
}

#[test]
fn grep_does_not_join_ranges_that_are_not_next_to_each_other() {
    // The heap's last byte and the stack's first are next to each other in the pages image
    // only: a needle across them is not in memory.
    let mut files = sample();
    let pages = files.get_mut("checkpoint/pages-1.img").unwrap();
    pages[2 * PAGE - 2..2 * PAGE + 2].copy_from_slice(b"JOIN");
    let archive = tar(files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())));
    assert_eq!(grep(archive.as_slice(), b"JOIN").unwrap().total, 0);
    assert_eq!(grep(archive.as_slice(), b"IN").unwrap().hits, vec![Hit { pid: 1, address: STACK }]);
}

#[test]
fn pages_before_their_pagemap_are_refused_by_grep_and_noted_by_inspect() {
    let files = sample();
    let mut ordered: Vec<(String, Vec<u8>)> = files.into_iter().collect();
    let pages = ordered.iter().position(|(name, _)| name == "checkpoint/pages-1.img").unwrap();
    let entry = ordered.remove(pages);
    ordered.insert(0, entry);
    let archive = archive_of(&ordered);
    assert!(matches!(
        grep(archive.as_slice(), SECRET),
        Err(CheckpointError::PagesBeforePagemap { name }) if name == "checkpoint/pages-1.img"
    ));
    let inventory = inspect(archive.as_slice()).unwrap();
    assert_eq!(inventory.processes[0].argv, None);
    assert!(inventory.notes.iter().any(|note| note.contains("pages-1.img")), "{:?}", inventory.notes);
}

#[test]
fn a_truncated_archive_is_a_typed_error() {
    let archive = sample_archive();
    for cut in [100, 512, 1000, archive.len() / 2, archive.len() - 1500] {
        let inspected = inspect(&archive[..cut]);
        assert!(
            matches!(inspected, Err(CheckpointError::Read { .. } | CheckpointError::Malformed { .. })),
            "cut at {cut}: {inspected:?}"
        );
        let searched = grep(&archive[..cut], SECRET);
        assert!(searched.is_err() || cut >= archive.len() - 1500, "cut at {cut}: {searched:?}");
        read_both_ways(&archive[..cut], SECRET).unwrap();
    }
}

#[test]
fn reading_at_offsets_passes_over_the_pages_inspect_does_not_need() {
    struct Counted<'a> {
        bytes: &'a [u8],
        read: std::cell::Cell<u64>,
    }
    impl crate::ReadAt for Counted<'_> {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
            let count = self.bytes.read_at(buf, offset)?;
            self.read.set(self.read.get() + count as u64);
            Ok(count)
        }
    }
    // A large heap below the stack that holds the arguments.
    let mut files = sample();
    let heap_pages = 256;
    files.insert(
        "checkpoint/pagemap-1.img".to_string(),
        testing::pagemap(1, &[(HEAP, heap_pages), (STACK, 1)]),
    );
    let mut pages = vec![0u8; (heap_pages as usize + 1) * PAGE];
    let arguments_at = heap_pages as usize * PAGE;
    pages[arguments_at..arguments_at + ARGV.len()].copy_from_slice(ARGV);
    files.insert("checkpoint/pages-1.img".to_string(), pages);
    let mm = Message::new().varint(8, STACK).varint(9, STACK + ARGV.len() as u64);
    files.insert("checkpoint/mm-1.img".to_string(), image(crate::image::ImageKind::Mm, vec![mm]));
    let archive = tar(files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())));
    let counted = Counted { bytes: &archive, read: std::cell::Cell::new(0) };
    let inventory = inspect_at(&counted, archive.len() as u64, &Limits::default()).unwrap();
    assert_eq!(inventory, inspect(archive.as_slice()).unwrap());
    assert_eq!(inventory.processes[0].argv.as_ref().map(Vec::len), Some(4));
    let heap_bytes = (heap_pages as usize * PAGE) as u64;
    assert!(
        counted.read.get() < archive.len() as u64 - heap_bytes,
        "{} of {} bytes read",
        counted.read.get(),
        archive.len()
    );
}

#[test]
fn forged_images_are_typed_errors() {
    let bad_magic =
        sample_with("checkpoint/core-1.img", image(crate::image::ImageKind::Mm, vec![Message::new()]));
    assert!(matches!(
        inspect(bad_magic.as_slice()),
        Err(CheckpointError::BadMagic { name, expected: "core", .. }) if name == "checkpoint/core-1.img"
    ));

    let mut short = image(crate::image::ImageKind::Files, vec![Message::new().varint(1, 1).varint(2, 1)]);
    short.truncate(short.len() - 1);
    assert!(matches!(
        inspect(sample_with("checkpoint/files.img", short).as_slice()),
        Err(CheckpointError::Malformed { .. })
    ));

    let huge_length = {
        let mut bytes = image(crate::image::ImageKind::Pstree, vec![]);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes
    };
    assert!(matches!(
        inspect(sample_with("checkpoint/pstree.img", huge_length).as_slice()),
        Err(CheckpointError::Malformed { .. })
    ));

    let wrong_size = sample_with("checkpoint/pages-1.img", vec![0; 3 * PAGE + 1]);
    assert!(matches!(grep(wrong_size.as_slice(), SECRET), Err(CheckpointError::Malformed { .. })));
    let inventory = inspect(wrong_size.as_slice()).unwrap();
    assert_eq!(inventory.processes[0].argv, None);

    let twice = sample_with("checkpoint/pagemap-7.img", testing::pagemap(1, &[]));
    assert!(matches!(grep(twice.as_slice(), SECRET), Err(CheckpointError::Malformed { .. })));
}

#[test]
fn duplicate_entries_links_and_non_checkpoints() {
    let mut ordered: Vec<(String, Vec<u8>)> = sample().into_iter().collect();
    ordered.push(("checkpoint/pstree.img".to_string(), Vec::new()));
    assert!(matches!(
        inspect(archive_of(&ordered).as_slice()),
        Err(CheckpointError::DuplicateEntry { name }) if name == "checkpoint/pstree.img"
    ));

    // A symlink named like an image is never followed, only noted.
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in sample() {
        if name == "checkpoint/files.img" {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, &name, "/etc/shadow").unwrap();
        } else {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            builder.append_data(&mut header, &name, bytes.as_slice()).unwrap();
        }
    }
    let inventory = inspect(builder.into_inner().unwrap().as_slice()).unwrap();
    assert!(inventory.notes.iter().any(|note| note.contains("Symlink")), "{:?}", inventory.notes);

    let unrelated = tar([("README", &b"hello"[..])]);
    assert!(matches!(inspect(unrelated.as_slice()), Err(CheckpointError::NotACheckpoint)));
    assert!(matches!(grep(unrelated.as_slice(), b"x"), Err(CheckpointError::NotACheckpoint)));
    assert!(matches!(grep(sample_archive().as_slice(), b""), Err(CheckpointError::EmptyNeedle)));
}

#[test]
fn caps_hold() {
    let archive = sample_archive();
    let small = Limits { max_archive_bytes: 2048, ..Limits::default() };
    assert!(matches!(
        inspect_with_limits(archive.as_slice(), &small),
        Err(CheckpointError::TooLarge { limit: 2048 })
    ));
    let few = Limits { max_entries: 3, ..Limits::default() };
    assert!(matches!(
        inspect_with_limits(archive.as_slice(), &few),
        Err(CheckpointError::TooManyEntries { limit: 3 })
    ));
    let tight = Limits { max_image_bytes: 64, ..Limits::default() };
    assert!(matches!(
        inspect_with_limits(archive.as_slice(), &tight),
        Err(CheckpointError::EntryTooLarge { .. })
    ));
    let few_records = Limits { max_records: 20, ..Limits::default() };
    assert!(matches!(
        inspect_with_limits(archive.as_slice(), &few_records),
        Err(CheckpointError::TooManyRecords { what: "records", .. })
    ));
    let pages_cut = Limits { max_archive_bytes: archive.len() as u64 - 3000, ..Limits::default() };
    assert!(matches!(
        grep_with_limits(archive.as_slice(), SECRET, &pages_cut),
        Err(CheckpointError::TooLarge { .. })
    ));
    let one = Limits { max_processes: 1, ..Limits::default() };
    assert!(matches!(
        inspect_with_limits(archive.as_slice(), &one),
        Err(CheckpointError::TooManyProcesses { limit: 1 })
    ));
    let short_text = Limits { max_text: 4, max_argv_bytes: 8, ..Limits::default() };
    let inventory = inspect_with_limits(archive.as_slice(), &short_text).unwrap();
    assert_eq!(inventory.processes[0].comm.as_deref(), Some("cana…"));
    assert_eq!(inventory.processes[0].argv, Some(vec!["/bin…".to_string()]));
    let needle = vec![b'a'; 5000];
    assert!(matches!(
        grep(archive.as_slice(), &needle),
        Err(CheckpointError::NeedleTooLong { length: 5000, .. })
    ));
}

#[test]
fn long_names_and_pax_records_are_read_capped() {
    let long = format!("{}/file", "d".repeat(300));
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    // The tar crate writes a GNU long-name record for a name over 100 bytes.
    builder.append_data(&mut header, &long, &b"x"[..]).unwrap();
    let layer = builder.into_inner().unwrap();
    let inventory = inspect(sample_with("rootfs-diff.tar", layer.clone()).as_slice()).unwrap();
    assert_eq!(inventory.changed_files.rootfs_diff[0].path, long);

    let limits = Limits { max_text: 64, ..Limits::default() };
    let inventory = inspect_with_limits(sample_with("rootfs-diff.tar", layer).as_slice(), &limits).unwrap();
    assert_eq!(inventory.changed_files.rootfs_diff[0].path, format!("{}…", &long[..64]));

    let too_long = format!("{}/file", "d".repeat(5000));
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    builder.append_data(&mut header, &too_long, &b"x"[..]).unwrap();
    let inventory =
        inspect(sample_with("rootfs-diff.tar", builder.into_inner().unwrap()).as_slice()).unwrap();
    assert!(inventory.changed_files.rootfs_diff.is_empty());
    assert!(
        inventory.changed_files.problems[0].contains("extended header"),
        "{:?}",
        inventory.changed_files.problems
    );

    // A PAX size that differs from the header's would move the next header: refused.
    let mut archive = Vec::new();
    let records = b"12 size=999\n";
    let mut pax = tar::Header::new_ustar();
    pax.set_entry_type(tar::EntryType::XHeader);
    pax.set_path("pax").unwrap();
    pax.set_size(records.len() as u64);
    pax.set_cksum();
    archive.extend_from_slice(pax.as_bytes());
    archive.extend_from_slice(records);
    archive.resize(1024, 0);
    archive.extend_from_slice(&sample_archive());
    assert!(
        matches!(inspect(archive.as_slice()), Err(CheckpointError::Malformed { reason, .. }) if reason.contains("PAX size"))
    );
}

#[test]
fn a_broken_writable_layer_keeps_what_was_listed() {
    let layer = tar([("a", &b"1"[..]), ("b", &b"2"[..])]);
    let cut = testing::gzip(&layer[..1024 + 100]);
    let inventory = inspect(sample_with("rootfs-diff.tar", cut).as_slice()).unwrap();
    let changes = &inventory.changed_files;
    assert_eq!(changes.rootfs_diff.iter().map(|change| change.path.as_str()).collect::<Vec<_>>(), vec!["a"]);
    assert_eq!(changes.problems.len(), 1);
    let inventory = inspect(sample_with("deleted.files", b"{".to_vec()).as_slice()).unwrap();
    assert!(inventory.changed_files.problems[0].contains("deleted.files"));
}

#[test]
fn a_pax_path_names_the_entry() {
    // Go's tar writer, which containerd and CRI-O use, names long paths in a PAX record.
    let mut archive = Vec::new();
    let records = b"30 path=checkpoint/pstree.img\n";
    let mut pax = tar::Header::new_ustar();
    pax.set_entry_type(tar::EntryType::XHeader);
    pax.set_path("PaxHeaders/x").unwrap();
    pax.set_size(records.len() as u64);
    pax.set_cksum();
    archive.extend_from_slice(pax.as_bytes());
    archive.extend_from_slice(records);
    archive.resize(1024, 0);
    let pstree = image(crate::image::ImageKind::Pstree, vec![Message::new().varint(1, 42)]);
    let mut header = tar::Header::new_ustar();
    header.set_path("short-name").unwrap();
    header.set_size(pstree.len() as u64);
    header.set_cksum();
    archive.extend_from_slice(header.as_bytes());
    archive.extend_from_slice(&pstree);
    archive.resize(1024 + 512 + 512, 0);
    archive.extend_from_slice(&[0; 1024]);
    let inventory = inspect(archive.as_slice()).unwrap();
    assert_eq!(inventory.processes.iter().map(|process| process.pid).collect::<Vec<_>>(), vec![42]);
}

/// Hands out at most `step` bytes a read, as a pipe or a socket may.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let count = buf.len().min(self.step).min(self.bytes.len());
        buf[..count].copy_from_slice(&self.bytes[..count]);
        self.bytes = &self.bytes[count..];
        Ok(count)
    }
}

/// A checkpoint of one process whose memory is `runs` (address, bytes), for the properties.
fn one_process(runs: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let ranges: Vec<(u64, u64)> =
        runs.iter().map(|(vaddr, bytes)| (*vaddr, (bytes.len() / PAGE) as u64)).collect();
    let pages: Vec<u8> = runs.iter().flat_map(|(_, bytes)| bytes.iter().copied()).collect();
    let pstree = image(crate::image::ImageKind::Pstree, vec![Message::new().varint(1, 1)]);
    archive_of(&[
        ("checkpoint/pagemap-1.img".to_string(), testing::pagemap(1, &ranges)),
        ("checkpoint/pages-1.img".to_string(), pages),
        ("checkpoint/pstree.img".to_string(), pstree),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = inspect(bytes.as_slice());
        let _ = grep(bytes.as_slice(), b"x");
        read_both_ways(&bytes, b"x")?;
    }

    #[test]
    fn how_the_stream_is_split_changes_nothing(step in 1usize..5000) {
        let archive = sample_archive();
        let whole = inspect(archive.as_slice()).unwrap();
        let trickled = inspect(Trickle { bytes: &archive, step }).unwrap();
        prop_assert_eq!(whole, trickled);
        let whole = grep(archive.as_slice(), SECRET).unwrap();
        let trickled = grep(Trickle { bytes: &archive, step }, SECRET).unwrap();
        prop_assert_eq!(whole, trickled);
    }

    #[test]
    fn mangled_archives_never_panic(at in 0usize..1_000_000, value in any::<u8>(), cut in 0usize..1_000_000) {
        let mut archive = sample_archive();
        let at = at % archive.len();
        archive[at] = value;
        let cut = cut % (archive.len() + 1);
        let _ = inspect(&archive[..cut]);
        let _ = grep(&archive[..cut], SECRET);
        read_both_ways(&archive[..cut], SECRET)?;
    }

    #[test]
    fn mangled_images_never_panic(name_index in 0usize..64, at in 0usize..10_000, value in any::<u8>()) {
        let mut files = sample();
        let names: Vec<String> = files.keys().cloned().collect();
        let name = &names[name_index % names.len()];
        let bytes = files.get_mut(name).unwrap();
        if !bytes.is_empty() {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        let archive = tar(files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())));
        let _ = inspect(archive.as_slice());
        let _ = grep(archive.as_slice(), SECRET);
        read_both_ways(&archive, SECRET)?;
    }

    #[test]
    fn a_planted_needle_is_found_wherever_it_lies(
        needle in proptest::collection::vec(1u8..=255, 1..64),
        pages in 1usize..4,
        offset in 0usize..(4 * PAGE),
        gap in 0u64..3,
    ) {
        // Two ranges: the first `pages` pages long, the second right after it in memory (gap 0)
        // or not. The needle is planted in the first so that it may run into the second.
        let total = pages * PAGE;
        let offset = offset % total;
        let mut first = vec![0u8; total];
        let mut second = vec![0u8; PAGE];
        let fits = offset + needle.len() <= total;
        for (index, &byte) in needle.iter().enumerate() {
            match offset + index {
                at if at < total => first[at] = byte,
                at => second[at - total] = byte,
            }
        }
        let base = 0x10_0000u64;
        let second_at = base + total as u64 + gap * PAGE as u64;
        let archive = one_process(&[(base, first), (second_at, second)]);
        let report = grep(archive.as_slice(), &needle).unwrap();
        read_both_ways(&archive, &needle)?;
        if fits || gap == 0 {
            prop_assert_eq!(report.total, 1);
            prop_assert_eq!(report.hits, vec![Hit { pid: 1, address: base + offset as u64 }]);
        } else {
            prop_assert_eq!(report.total, 0);
        }
    }
}

#[test]
fn arguments_are_read_back_when_they_straddle_two_ranges() {
    // The argument area starts in one pagemap range and ends in the next, adjacent one.
    let mut files = sample();
    files.insert(
        "checkpoint/pagemap-1.img".to_string(),
        testing::pagemap(1, &[(HEAP, 2), (STACK, 1), (STACK + PAGE as u64, 1)]),
    );
    let mut pages = vec![0u8; 4 * PAGE];
    let start = 3 * PAGE - 5;
    pages[start..start + ARGV.len()].copy_from_slice(ARGV);
    files.insert("checkpoint/pages-1.img".to_string(), pages);
    let mm = Message::new()
        .varint(8, STACK + PAGE as u64 - 5)
        .varint(9, STACK + PAGE as u64 - 5 + ARGV.len() as u64);
    files.insert("checkpoint/mm-1.img".to_string(), image(crate::image::ImageKind::Mm, vec![mm]));
    let archive = tar(files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())));
    let inventory = inspect(archive.as_slice()).unwrap();
    assert_eq!(inventory.processes[0].argv.as_ref().map(Vec::len), Some(4));
}

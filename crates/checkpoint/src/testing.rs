//! A small encoder for tests: protobuf messages, CRIU images and checkpoint archives, built in
//! memory the way CRIU and the runtimes write them (or, for forged cases, not).

use std::collections::BTreeMap;
use std::io::Write;

use crate::image::ImageKind;

pub(crate) const PAGE: usize = 4096;

/// A protobuf message being written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Message(Vec<u8>);

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

impl Message {
    pub(crate) fn new() -> Self {
        Message::default()
    }

    pub(crate) fn varint(mut self, field: u32, value: u64) -> Self {
        put_varint(&mut self.0, u64::from(field) << 3);
        put_varint(&mut self.0, value);
        self
    }

    pub(crate) fn bytes(mut self, field: u32, bytes: &[u8]) -> Self {
        put_varint(&mut self.0, (u64::from(field) << 3) | 2);
        put_varint(&mut self.0, bytes.len() as u64);
        self.0.extend_from_slice(bytes);
        self
    }

    pub(crate) fn message(self, field: u32, message: Message) -> Self {
        self.bytes(field, &message.0)
    }
}

/// A CRIU image: its magic, then each entry with its size.
pub(crate) fn image(kind: ImageKind, entries: Vec<Message>) -> Vec<u8> {
    let mut out = Vec::new();
    for word in kind.magic() {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for entry in entries {
        out.extend_from_slice(&(entry.0.len() as u32).to_le_bytes());
        out.extend_from_slice(&entry.0);
    }
    out
}

/// A tar archive of `files`, in the order given.
pub(crate) fn tar<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, bytes).unwrap();
    }
    builder.into_inner().unwrap()
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A pagemap: the pages image id, then `(vaddr, pages)` ranges all present, their length
/// written as CRIU 4.1 does (field 2) for even ranges and as CRIU 4.2 does (field 5, field 2
/// left at 0) for odd ones.
pub(crate) fn pagemap(pages_id: u32, ranges: &[(u64, u64)]) -> Vec<u8> {
    let mut entries = vec![Message::new().varint(1, u64::from(pages_id))];
    for (index, &(vaddr, pages)) in ranges.iter().enumerate() {
        let entry = Message::new().varint(1, vaddr);
        let entry = if index % 2 == 0 { entry.varint(2, pages) } else { entry.varint(2, 0).varint(5, pages) };
        entries.push(entry.varint(4, 4));
    }
    image(ImageKind::Pagemap, entries)
}

/// A memory mapping of `mm.img`.
pub(crate) fn vma(start: u64, end: u64, prot: u64, status: u64, shmid: u64) -> Message {
    Message::new()
        .varint(1, start)
        .varint(2, end)
        .varint(3, 0)
        .varint(4, shmid)
        .varint(5, prot)
        .varint(6, 2)
        .varint(7, status)
}

/// Where the sample process's memory is.
pub(crate) const HEAP: u64 = 0x5555_0000_0000;
pub(crate) const STACK: u64 = 0x7ffc_0000_0000;
/// Where its arguments start, inside its stack's second page.
pub(crate) const ARGS: u64 = STACK + PAGE as u64 + 100;
pub(crate) const ARGV: &[u8] = b"/bin/canary\0--serve\0\0x y\0";
/// A secret planted across the boundary between the heap's two pages.
pub(crate) const SECRET: &[u8] = b"YRANAC-DESREVER";
pub(crate) const SECRET_AT: u64 = HEAP + PAGE as u64 - 6;

/// A small but complete containerd checkpoint: two processes (1 and 7, sharing a file
/// table), open files of every kind kir reads, memory with arguments and a secret, a writable
/// layer and a deleted-files list. Files by name; [`tar`] them in name order as the runtime
/// does, or in another to forge.
pub(crate) fn sample() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut put = |name: &str, bytes: Vec<u8>| {
        files.insert(name.to_string(), bytes);
    };
    put(
        "config.dump",
        br#"{"id":"0123456789abcdef","name":"canary","rootfsImageName":"kir-testbed/canary:1","rootfsImageRef":"kir-testbed/canary@sha256:aa","runtime":"io.containerd.runc.v2","createdTime":"2026-12-07T00:00:00Z","checkpointedAt":"2026-12-07T01:00:00Z"}"#.to_vec(),
    );
    put(
        "spec.dump",
        br#"{"process":{"args":["/bin/canary"]},"annotations":{"io.kubernetes.cri.container-name":"canary","io.kubernetes.cri.sandbox-name":"victim-0","io.kubernetes.cri.sandbox-namespace":"prod"}}"#.to_vec(),
    );
    put("deleted.files", br#"["/etc/shadow"]"#.to_vec());
    let layer =
        tar([("tmp/kir-dropped", &b"x"[..]), ("etc/.wh.passwd", &b""[..]), ("var/.wh..wh..opq", &b""[..])]);
    put("rootfs-diff.tar", gzip(&layer));
    put(
        "stats-dump",
        image(ImageKind::Stats, vec![Message::new().message(1, Message::new().varint(2, 1500).varint(7, 4))]),
    );
    put("checkpoint/inventory.img", image(ImageKind::Inventory, vec![Message::new().varint(1, 2)]));
    put("checkpoint/cgroup.img", image(ImageKind::Inventory, vec![]));
    put(
        "checkpoint/pstree.img",
        image(
            ImageKind::Pstree,
            vec![
                Message::new().varint(1, 1).varint(2, 0).varint(3, 1).varint(4, 1).varint(5, 1),
                Message::new().varint(1, 7).varint(2, 1).varint(3, 1).varint(4, 1).bytes(5, &[7, 8]),
            ],
        ),
    );
    for (pid, comm) in [(1u64, &b"canary"[..]), (7, &b"\x1b[31mworker"[..])] {
        let core = Message::new().varint(1, 1).message(3, Message::new().varint(1, 1).bytes(6, comm));
        put(&format!("checkpoint/core-{pid}.img"), image(ImageKind::Core, vec![core]));
        put(
            &format!("checkpoint/ids-{pid}.img"),
            image(ImageKind::Ids, vec![Message::new().varint(1, 1).varint(2, 1)]),
        );
        put(
            &format!("checkpoint/fs-{pid}.img"),
            image(ImageKind::Fs, vec![Message::new().varint(1, 7).varint(2, 8)]),
        );
    }
    let mm = Message::new()
        .varint(8, ARGS)
        .varint(9, ARGS + ARGV.len() as u64)
        .varint(12, 5)
        .message(14, vma(0x40_0000, 0x40_1000, 5, 1 | (1 << 6), 5))
        .message(14, vma(HEAP, HEAP + 3 * PAGE as u64, 3, 1 | (1 << 5), 0))
        .message(14, vma(STACK, STACK + 2 * PAGE as u64, 3, 1 | (1 << 1), 0));
    put("checkpoint/mm-1.img", image(ImageKind::Mm, vec![mm]));
    put("checkpoint/mm-7.img", image(ImageKind::Mm, vec![Message::new().varint(8, 0).varint(9, 0)]));
    // The heap's first two pages, then (not next to them in memory) the stack's two.
    put("checkpoint/pagemap-1.img", pagemap(1, &[(HEAP, 2), (STACK, 2)]));
    let mut pages = vec![0u8; 4 * PAGE];
    let secret_offset = (SECRET_AT - HEAP) as usize;
    pages[secret_offset..secret_offset + SECRET.len()].copy_from_slice(SECRET);
    let args_offset = 2 * PAGE + (ARGS - STACK) as usize;
    pages[args_offset..args_offset + ARGV.len()].copy_from_slice(ARGV);
    put("checkpoint/pages-1.img", pages);
    put("checkpoint/pagemap-7.img", pagemap(2, &[]));
    put("checkpoint/pages-2.img", Vec::new());
    let localhost = u64::from(u32::from_le_bytes([127, 0, 0, 1]));
    let inet = Message::new()
        .varint(1, 2)
        .varint(2, 99)
        .varint(3, 2)
        .varint(4, 1)
        .varint(5, 6)
        .varint(6, 10)
        .varint(7, 8080)
        .varint(8, 0)
        .varint(11, localhost)
        .varint(12, 0);
    let listening =
        Message::new().varint(1, 9).varint(2, 79).varint(3, 1).varint(4, 10).bytes(11, b"/run/kir.sock\0");
    let unix = Message::new()
        .varint(1, 3)
        .varint(2, 77)
        .varint(3, 1)
        .varint(4, 1)
        .varint(8, 78)
        .bytes(11, b"\0kir\x07");
    let file_entries = vec![
        Message::new()
            .varint(1, 1)
            .varint(2, 1)
            .message(3, Message::new().varint(1, 1).varint(2, 2).varint(3, 5).bytes(6, b"/tmp/kir-dropped")),
        Message::new().varint(1, 4).varint(2, 2).message(4, inet),
        Message::new().varint(1, 5).varint(2, 3).message(16, unix),
        Message::new().varint(1, 5).varint(2, 9).message(16, listening),
        Message::new().varint(1, 2).varint(2, 4).message(18, Message::new().varint(1, 4).varint(2, 4242)),
        Message::new()
            .varint(1, 1)
            .varint(2, 5)
            .message(3, Message::new().varint(1, 5).bytes(6, b"/bin/canary")),
        Message::new().varint(1, 6).varint(2, 6),
        Message::new().varint(1, 1).varint(2, 7).message(3, Message::new().varint(1, 7).bytes(6, b"/srv")),
        Message::new().varint(1, 1).varint(2, 8).message(3, Message::new().varint(1, 8).bytes(6, b"/")),
    ];
    put("checkpoint/files.img", image(ImageKind::Files, file_entries));
    let fd = |fd: u64, id: u64, fd_type: u64| {
        Message::new().varint(1, id).varint(2, 0).varint(3, fd_type).varint(4, fd)
    };
    put(
        "checkpoint/fdinfo-1.img",
        image(
            ImageKind::Fdinfo,
            vec![fd(0, 4, 2), fd(3, 1, 1), fd(4, 2, 4), fd(5, 3, 5), fd(6, 6, 6), fd(7, 9, 5), fd(9, 404, 1)],
        ),
    );
    files
}

/// The sample's files tarred in name order.
pub(crate) fn sample_archive() -> Vec<u8> {
    let files = sample();
    tar(files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())))
}

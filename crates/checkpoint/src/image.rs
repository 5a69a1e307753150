//! CRIU image files: a magic number (after the common one, for all but the inventory), then
//! entries, each a 4-byte little-endian size and a protobuf message of that size. Only the
//! messages and fields kir reports are decoded, from the `.proto` files in CRIU's `images/`.

use crate::text::lossy;
use crate::wire::{Fields, Value, WireError, push_uint32s};

/// Precedes the kind's own magic in every image but the inventory.
const COMMON_MAGIC: u32 = 0x5456_4319;
/// Precedes the kind's own magic in service files such as `stats-dump`.
const SERVICE_MAGIC: u32 = 0x5510_5940;

/// The images kir decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageKind {
    Inventory,
    Pstree,
    Core,
    Ids,
    Mm,
    Pagemap,
    Files,
    Fdinfo,
    Fs,
    Stats,
}

impl ImageKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            ImageKind::Inventory => "inventory",
            ImageKind::Pstree => "pstree",
            ImageKind::Core => "core",
            ImageKind::Ids => "ids",
            ImageKind::Mm => "mm",
            ImageKind::Pagemap => "pagemap",
            ImageKind::Files => "files",
            ImageKind::Fdinfo => "fdinfo",
            ImageKind::Fs => "fs",
            ImageKind::Stats => "stats",
        }
    }

    /// The words the image starts with.
    pub(crate) fn magic(self) -> &'static [u32] {
        match self {
            ImageKind::Inventory => &[0x5831_3116],
            ImageKind::Pstree => &[COMMON_MAGIC, 0x5027_3030],
            ImageKind::Core => &[COMMON_MAGIC, 0x5505_3847],
            ImageKind::Ids => &[COMMON_MAGIC, 0x5443_2030],
            ImageKind::Mm => &[COMMON_MAGIC, 0x5749_2820],
            ImageKind::Pagemap => &[COMMON_MAGIC, 0x5608_4025],
            ImageKind::Files => &[COMMON_MAGIC, 0x5630_3138],
            ImageKind::Fdinfo => &[COMMON_MAGIC, 0x5621_3732],
            ImageKind::Fs => &[COMMON_MAGIC, 0x5140_3912],
            ImageKind::Stats => &[SERVICE_MAGIC, 0x5709_3306],
        }
    }
}

/// Why an image's bytes are not what its name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageError {
    Magic {
        found: u32,
    },
    Truncated,
    Wire(WireError),
    /// A required field is missing, or the message says something impossible.
    Invalid(&'static str),
    TooMany(&'static str),
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageError::Magic { found } => write!(f, "unexpected magic {found:#010x}"),
            ImageError::Truncated => f.write_str("truncated: an entry runs past the end of the image"),
            ImageError::Wire(error) => error.fmt(f),
            ImageError::Invalid(what) => f.write_str(what),
            ImageError::TooMany(what) => write!(f, "more {what} than kir reads"),
        }
    }
}

impl From<WireError> for ImageError {
    fn from(error: WireError) -> Self {
        ImageError::Wire(error)
    }
}

/// Records left to decode, across all images: each entry, process, thread and mapping costs
/// one, so that what the images decode to stays in proportion to a real checkpoint whatever
/// their bytes say.
#[derive(Debug)]
pub(crate) struct Budget(usize);

impl Budget {
    pub(crate) fn new(records: usize) -> Self {
        Budget(records)
    }

    fn take(&mut self, records: usize) -> Result<(), ImageError> {
        self.0 = self.0.checked_sub(records).ok_or(ImageError::TooMany("records"))?;
        Ok(())
    }

    fn left(&self) -> usize {
        self.0
    }
}

/// The entries of an image of `kind`, after checking its magic: each one costs a record of
/// `budget`, so that an image of empty entries cannot make the list outgrow it.
pub(crate) fn entries<'i>(
    kind: ImageKind,
    image: &'i [u8],
    budget: &mut Budget,
) -> Result<Vec<&'i [u8]>, ImageError> {
    let mut rest = after_magic(kind, image)?;
    let mut entries = Vec::new();
    while let Some(entry) = next_entry(&mut rest)? {
        budget.take(1)?;
        entries.push(entry);
    }
    Ok(entries)
}

fn after_magic(kind: ImageKind, image: &[u8]) -> Result<&[u8], ImageError> {
    let mut rest = image;
    for &expected in kind.magic() {
        let word = take_u32(&mut rest).ok_or(ImageError::Truncated)?;
        if word != expected {
            return Err(ImageError::Magic { found: word });
        }
    }
    Ok(rest)
}

/// The entry at the front of `rest`, if any: its 4-byte size, then that many bytes.
fn next_entry<'i>(rest: &mut &'i [u8]) -> Result<Option<&'i [u8]>, ImageError> {
    if rest.is_empty() {
        return Ok(None);
    }
    let size = take_u32(rest).ok_or(ImageError::Truncated)?;
    let size = usize::try_from(size).map_err(|_| ImageError::Truncated)?;
    if size > rest.len() {
        return Err(ImageError::Truncated);
    }
    let (entry, after) = rest.split_at(size);
    *rest = after;
    Ok(Some(entry))
}

fn take_u32(rest: &mut &[u8]) -> Option<u32> {
    let (word, after) = rest.split_first_chunk::<4>()?;
    *rest = after;
    Some(u32::from_le_bytes(*word))
}

/// The entry of a single-entry image; anything after it is not read.
fn only_entry(kind: ImageKind, image: &[u8]) -> Result<&[u8], ImageError> {
    let mut rest = after_magic(kind, image)?;
    next_entry(&mut rest)?.ok_or(ImageError::Invalid("the image holds no entry"))
}

/// `pstree.img`: one entry per process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PstreeEntry {
    pub(crate) pid: u32,
    pub(crate) ppid: u32,
    pub(crate) pgid: u32,
    pub(crate) sid: u32,
    pub(crate) threads: Vec<u32>,
}

pub(crate) fn pstree(
    image: &[u8],
    max_processes: usize,
    budget: &mut Budget,
) -> Result<Vec<PstreeEntry>, ImageError> {
    let entries = entries(ImageKind::Pstree, image, budget)?;
    if entries.len() > max_processes {
        return Err(ImageError::TooMany("processes"));
    }
    entries
        .into_iter()
        .map(|entry| {
            let (mut pid, mut ppid, mut pgid, mut sid, mut threads) = (None, 0, 0, 0, Vec::new());
            for field in Fields::new(entry) {
                match field? {
                    (1, value) => pid = value.uint32(),
                    (2, value) => ppid = value.uint32().unwrap_or(0),
                    (3, value) => pgid = value.uint32().unwrap_or(0),
                    (4, value) => sid = value.uint32().unwrap_or(0),
                    (5, value) => {
                        let before = threads.len();
                        push_uint32s(value, &mut threads, before + budget.left())
                            .map_err(|_| ImageError::TooMany("records"))?;
                        budget.take(threads.len() - before)?;
                    }
                    _ => {}
                }
            }
            let pid = pid.ok_or(ImageError::Invalid("a process without a pid"))?;
            Ok(PstreeEntry { pid, ppid, pgid, sid, threads })
        })
        .collect()
}

/// What `core-PID.img` says of a task: its command name, and (in newer images) the id of its
/// file table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Core {
    pub(crate) comm: Option<String>,
    pub(crate) files_id: Option<u32>,
}

pub(crate) fn core(image: &[u8], max_text: usize) -> Result<Core, ImageError> {
    let mut core = Core::default();
    for field in Fields::new(only_entry(ImageKind::Core, image)?) {
        match field? {
            // task_core_entry tc = 3; its comm = 6.
            (3, value) => {
                for field in Fields::new(value.bytes().unwrap_or_default()) {
                    if let (6, value) = field? {
                        core.comm = value.bytes().map(|comm| lossy(comm, max_text));
                    }
                }
            }
            // task_kobj_ids_entry ids = 4.
            (4, value) => core.files_id = files_id(value.bytes().unwrap_or_default())?,
            _ => {}
        }
    }
    Ok(core)
}

/// `files_id` (field 2) of a `task_kobj_ids_entry`: names the task's `fdinfo-N.img`.
fn files_id(message: &[u8]) -> Result<Option<u32>, ImageError> {
    let mut id = None;
    for field in Fields::new(message) {
        if let (2, value) = field? {
            id = value.uint32();
        }
    }
    Ok(id)
}

/// `ids-PID.img`: the task's kernel object ids.
pub(crate) fn ids(image: &[u8]) -> Result<Option<u32>, ImageError> {
    files_id(only_entry(ImageKind::Ids, image)?)
}

/// A mapping from `mm-PID.img`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vma {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) prot: u32,
    pub(crate) flags: u32,
    pub(crate) status: u32,
    pub(crate) shmid: u64,
}

/// What `mm-PID.img` says: where the arguments are, the executable's file id, the mappings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Mm {
    pub(crate) arg_start: u64,
    pub(crate) arg_end: u64,
    pub(crate) exe_file_id: Option<u32>,
    pub(crate) vmas: Vec<Vma>,
}

pub(crate) fn mm(image: &[u8], budget: &mut Budget) -> Result<Mm, ImageError> {
    let mut mm = Mm::default();
    for field in Fields::new(only_entry(ImageKind::Mm, image)?) {
        match field? {
            (8, value) => mm.arg_start = value.varint().unwrap_or(0),
            (9, value) => mm.arg_end = value.varint().unwrap_or(0),
            (12, value) => mm.exe_file_id = value.uint32(),
            (14, value) => {
                budget.take(1)?;
                mm.vmas.push(vma(value.bytes().unwrap_or_default())?);
            }
            _ => {}
        }
    }
    Ok(mm)
}

fn vma(message: &[u8]) -> Result<Vma, ImageError> {
    let mut vma = Vma { start: 0, end: 0, prot: 0, flags: 0, status: 0, shmid: 0 };
    for field in Fields::new(message) {
        match field? {
            (1, value) => vma.start = value.varint().unwrap_or(0),
            (2, value) => vma.end = value.varint().unwrap_or(0),
            (4, value) => vma.shmid = value.varint().unwrap_or(0),
            (5, value) => vma.prot = value.uint32().unwrap_or(0),
            (6, value) => vma.flags = value.uint32().unwrap_or(0),
            (7, value) => vma.status = value.uint32().unwrap_or(0),
            _ => {}
        }
    }
    if vma.end < vma.start {
        return Err(ImageError::Invalid("a mapping that ends before it starts"));
    }
    Ok(vma)
}

/// Pages of a pagemap entry that are stored in the parent (pre-dump) image, not this one.
const PE_PARENT: u32 = 1;
/// Pages stored in the pages image this pagemap names.
const PE_PRESENT: u32 = 4;

/// A range of pages from `pagemap-PID.img`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PagemapEntry {
    pub(crate) vaddr: u64,
    pub(crate) pages: u64,
    /// Whether the pages are in this checkpoint's pages image (rather than a parent's, or
    /// left to be fetched lazily).
    pub(crate) present: bool,
}

/// `pagemap-PID.img`: which `pages-N.img` holds the task's pages, and the ranges in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pagemap {
    pub(crate) pages_id: u32,
    pub(crate) entries: Vec<PagemapEntry>,
}

pub(crate) fn pagemap(image: &[u8], budget: &mut Budget) -> Result<Pagemap, ImageError> {
    let entries = entries(ImageKind::Pagemap, image, budget)?;
    let (head, ranges) = entries.split_first().ok_or(ImageError::Invalid("the pagemap has no head"))?;
    let mut pages_id = None;
    for field in Fields::new(head) {
        if let (1, value) = field? {
            pages_id = value.uint32();
        }
    }
    let pages_id = pages_id.ok_or(ImageError::Invalid("the pagemap head names no pages image"))?;
    let entries = ranges
        .iter()
        .map(|range| {
            let (mut vaddr, mut compat_pages, mut pages, mut in_parent, mut flags) =
                (None, None, None, false, None);
            for field in Fields::new(range) {
                match field? {
                    (1, value) => vaddr = value.varint(),
                    (2, value) => compat_pages = value.uint32().map(u64::from),
                    (3, value) => in_parent = value.varint().is_some_and(|flag| flag != 0),
                    (4, value) => flags = value.uint32(),
                    // CRIU 4.2 counts pages in a 64-bit field 5 and leaves field 2 at 0.
                    (5, value) => pages = value.varint(),
                    _ => {}
                }
            }
            let (Some(vaddr), Some(pages)) = (vaddr, pages.or(compat_pages)) else {
                return Err(ImageError::Invalid("a page range without its address or length"));
            };
            // Images from before the flags field mark only pages kept in the parent.
            let present = match flags {
                Some(flags) => flags & PE_PRESENT != 0 && flags & PE_PARENT == 0,
                None => !in_parent,
            };
            Ok(PagemapEntry { vaddr, pages, present })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Pagemap { pages_id, entries })
}

/// What an open file description is, from `files.img`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileRecord {
    Regular { path: String, flags: u32, pos: u64, size: Option<u64> },
    Pipe { pipe_id: u32 },
    Fifo { pipe_id: u32, path_id: Option<u32> },
    Inet(InetRecord),
    Unix(UnixRecord),
    Other { kind: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InetRecord {
    pub(crate) family: u32,
    pub(crate) socket_type: u32,
    pub(crate) protocol: u32,
    pub(crate) state: u32,
    pub(crate) src_port: u32,
    pub(crate) dst_port: u32,
    pub(crate) src_addr: Vec<u32>,
    pub(crate) dst_addr: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnixRecord {
    pub(crate) ino: u32,
    pub(crate) socket_type: u32,
    pub(crate) state: u32,
    pub(crate) peer: u32,
    pub(crate) name: Vec<u8>,
}

/// The name of a file type in CRIU's `fd_types` enum.
pub(crate) fn fd_type_name(fd_type: u32) -> &'static str {
    match fd_type {
        1 => "regular",
        2 => "pipe",
        3 => "fifo",
        4 => "inet-socket",
        5 => "unix-socket",
        6 => "eventfd",
        7 => "eventpoll",
        8 => "inotify",
        9 => "signalfd",
        10 => "packet-socket",
        11 => "tty",
        12 => "fanotify",
        13 => "netlink-socket",
        14 => "namespace",
        15 => "tun",
        16 => "external",
        17 => "timerfd",
        18 => "memfd",
        _ => "unknown",
    }
}

/// `files.img`: every open file description, by id.
pub(crate) fn files(
    image: &[u8],
    max_text: usize,
    budget: &mut Budget,
) -> Result<Vec<(u32, FileRecord)>, ImageError> {
    entries(ImageKind::Files, image, budget)?
        .into_iter()
        .map(|entry| {
            let (mut fd_type, mut id, mut record) = (None, None, None);
            for field in Fields::new(entry) {
                let (number, value) = field?;
                let body = value.bytes().unwrap_or_default();
                match number {
                    1 => fd_type = value.uint32(),
                    2 => id = value.uint32(),
                    3 => record = Some(regular(body, max_text)?),
                    4 => record = Some(FileRecord::Inet(inet(body)?)),
                    16 => record = Some(FileRecord::Unix(unix(body, max_text)?)),
                    17 => record = Some(fifo(body)?),
                    18 => record = Some(pipe(body)?),
                    _ => {}
                }
            }
            let (Some(fd_type), Some(id)) = (fd_type, id) else {
                return Err(ImageError::Invalid("a file without its type or id"));
            };
            let record = match record {
                Some(record) if record_type(&record) == Some(fd_type) => record,
                _ => FileRecord::Other { kind: fd_type_name(fd_type) },
            };
            Ok((id, record))
        })
        .collect()
}

/// The `fd_types` value a decoded record belongs to; a file whose type names another record
/// than the one it carries is reported by its type alone.
fn record_type(record: &FileRecord) -> Option<u32> {
    match record {
        FileRecord::Regular { .. } => Some(1),
        FileRecord::Pipe { .. } => Some(2),
        FileRecord::Fifo { .. } => Some(3),
        FileRecord::Inet(_) => Some(4),
        FileRecord::Unix(_) => Some(5),
        FileRecord::Other { .. } => None,
    }
}

fn regular(message: &[u8], max_text: usize) -> Result<FileRecord, ImageError> {
    let (mut path, mut flags, mut pos, mut size) = (String::new(), 0, 0, None);
    for field in Fields::new(message) {
        match field? {
            (2, value) => flags = value.uint32().unwrap_or(0),
            (3, value) => pos = value.varint().unwrap_or(0),
            (6, value) => path = lossy(value.bytes().unwrap_or_default(), max_text),
            (8, value) => size = value.varint(),
            _ => {}
        }
    }
    Ok(FileRecord::Regular { path, flags, pos, size })
}

fn inet(message: &[u8]) -> Result<InetRecord, ImageError> {
    let mut record = InetRecord {
        family: 0,
        socket_type: 0,
        protocol: 0,
        state: 0,
        src_port: 0,
        dst_port: 0,
        src_addr: Vec::new(),
        dst_addr: Vec::new(),
    };
    for field in Fields::new(message) {
        match field? {
            (3, value) => record.family = value.uint32().unwrap_or(0),
            (4, value) => record.socket_type = value.uint32().unwrap_or(0),
            (5, value) => record.protocol = value.uint32().unwrap_or(0),
            (6, value) => record.state = value.uint32().unwrap_or(0),
            (7, value) => record.src_port = value.uint32().unwrap_or(0),
            (8, value) => record.dst_port = value.uint32().unwrap_or(0),
            // An address is one word (IPv4) or four (IPv6).
            (11, value) => push_uint32s(value, &mut record.src_addr, 4)?,
            (12, value) => push_uint32s(value, &mut record.dst_addr, 4)?,
            _ => {}
        }
    }
    Ok(record)
}

fn unix(message: &[u8], max_text: usize) -> Result<UnixRecord, ImageError> {
    let mut record = UnixRecord { ino: 0, socket_type: 0, state: 0, peer: 0, name: Vec::new() };
    for field in Fields::new(message) {
        match field? {
            (2, value) => record.ino = value.uint32().unwrap_or(0),
            (3, value) => record.socket_type = value.uint32().unwrap_or(0),
            (4, value) => record.state = value.uint32().unwrap_or(0),
            (8, value) => record.peer = value.uint32().unwrap_or(0),
            (11, value) => {
                let name = value.bytes().unwrap_or_default();
                record.name = name[..name.len().min(max_text)].to_vec();
            }
            _ => {}
        }
    }
    Ok(record)
}

fn pipe(message: &[u8]) -> Result<FileRecord, ImageError> {
    let mut pipe_id = 0;
    for field in Fields::new(message) {
        if let (2, value) = field? {
            pipe_id = value.uint32().unwrap_or(0);
        }
    }
    Ok(FileRecord::Pipe { pipe_id })
}

fn fifo(message: &[u8]) -> Result<FileRecord, ImageError> {
    let (mut pipe_id, mut path_id) = (0, None);
    for field in Fields::new(message) {
        match field? {
            (2, value) => pipe_id = value.uint32().unwrap_or(0),
            (3, value) => path_id = value.uint32(),
            _ => {}
        }
    }
    Ok(FileRecord::Fifo { pipe_id, path_id })
}

/// An entry of `fdinfo-N.img`: descriptor number and the file description it refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fdinfo {
    pub(crate) fd: u32,
    pub(crate) id: u32,
    pub(crate) fd_type: u32,
}

pub(crate) fn fdinfo(image: &[u8], budget: &mut Budget) -> Result<Vec<Fdinfo>, ImageError> {
    entries(ImageKind::Fdinfo, image, budget)?
        .into_iter()
        .map(|entry| {
            let (mut id, mut fd_type, mut fd) = (None, 0, None);
            for field in Fields::new(entry) {
                match field? {
                    (1, value) => id = value.uint32(),
                    (3, value) => fd_type = value.uint32().unwrap_or(0),
                    (4, value) => fd = value.uint32(),
                    _ => {}
                }
            }
            match (fd, id) {
                (Some(fd), Some(id)) => Ok(Fdinfo { fd, id, fd_type }),
                _ => Err(ImageError::Invalid("a descriptor without its number or file id")),
            }
        })
        .collect()
}

/// `fs-PID.img`: the file ids of the task's working and root directories.
pub(crate) fn fs(image: &[u8]) -> Result<(Option<u32>, Option<u32>), ImageError> {
    let (mut cwd, mut root) = (None, None);
    for field in Fields::new(only_entry(ImageKind::Fs, image)?) {
        match field? {
            (1, value) => cwd = value.uint32(),
            (2, value) => root = value.uint32(),
            _ => {}
        }
    }
    Ok((cwd, root))
}

/// `inventory.img`: the image format version.
pub(crate) fn inventory(image: &[u8]) -> Result<Option<u32>, ImageError> {
    let mut version = None;
    for field in Fields::new(only_entry(ImageKind::Inventory, image)?) {
        if let (1, value) = field? {
            version = value.uint32();
        }
    }
    Ok(version)
}

/// What `stats-dump` says of the dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DumpStats {
    /// How long the container's processes were frozen, in microseconds.
    pub frozen_time_us: Option<u64>,
    pub pages_scanned: Option<u64>,
    pub pages_written: Option<u64>,
}

pub(crate) fn stats(image: &[u8]) -> Result<DumpStats, ImageError> {
    let mut stats = DumpStats::default();
    for field in Fields::new(only_entry(ImageKind::Stats, image)?) {
        if let (1, Value::Bytes(dump)) = field? {
            for field in Fields::new(dump) {
                match field? {
                    (2, value) => stats.frozen_time_us = value.varint(),
                    (5, value) => stats.pages_scanned = value.varint(),
                    (7, value) => stats.pages_written = value.varint(),
                    _ => {}
                }
            }
        }
    }
    Ok(stats)
}

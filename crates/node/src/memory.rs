//! The memory of a container's processes, read from /proc/PID/mem while their cgroups are
//! frozen, in a framed stream.
//!
//! # The stream
//!
//! It starts with the line `KIRMEM 1\n`. Then come frames, each a header line of JSON (a
//! [`FrameHeader`]: `pid`, the mapping's `start`, `end`, `perms`, `offset`, `path`, and the
//! `address` and `length` of the bytes that follow), a newline, and exactly `length` bytes of
//! memory from `address`. A mapping is cut into frames of at most [`FRAME_BYTES`]; a part that
//! could not be read has no frame, so the frames of a mapping may leave gaps. [`MemoryFrames`]
//! reads such a stream back.
//!
//! # The environment
//!
//! A process's environment strings lie at the top of its stack, where the kernel put them. As
//! the inventory redacts them, so by default does the dump: the bytes between the process's
//! `env_start` and `env_end` (from /proc/PID/stat) are written as zeros, and the range is listed
//! in [`MemoryDump::environment_blanked`]. When that range cannot be read, the process's
//! `[stack]` is not dumped at all. Copies a process made itself (into its heap) stay.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::freeze::{FreezerRoots, Freezing, freeze};
use crate::parse::{Mapping, environment_range, parse_maps};
use crate::process::Pid;
use crate::read::read_capped;

pub const MAGIC: &[u8] = b"KIRMEM 1\n";

/// The most bytes one frame holds (and the collector buffers).
pub const FRAME_BYTES: usize = 1024 * 1024;

/// Longest header line [`MemoryFrames`] accepts.
const MAX_HEADER_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct MemoryCaps {
    /// Bytes of one mapping; the rest of it is not read.
    pub max_mapping_bytes: u64,
    pub max_total_bytes: u64,
    /// Mappings read, over all processes.
    pub max_mappings: usize,
}

impl Default for MemoryCaps {
    fn default() -> MemoryCaps {
        MemoryCaps {
            max_mapping_bytes: 1024 * 1024 * 1024,
            max_total_bytes: 8 * 1024 * 1024 * 1024,
            max_mappings: 65_536,
        }
    }
}

#[derive(Debug, Clone)]
pub struct MemoryOptions {
    pub caps: MemoryCaps,
    pub freezer: FreezerRoots,
    /// Read the memory although the cgroups could not be frozen (the pages may change while
    /// read). Without it, a failure to freeze ends the dump before anything is read.
    pub read_unfrozen: bool,
    /// How long a cgroup may take to report itself frozen.
    pub freeze_timeout: Duration,
    /// Write each process's environment block as zeros (see the module documentation).
    pub blank_environment: bool,
}

impl Default for MemoryOptions {
    fn default() -> MemoryOptions {
        MemoryOptions {
            caps: MemoryCaps::default(),
            freezer: FreezerRoots::default(),
            read_unfrozen: false,
            freeze_timeout: Duration::from_secs(10),
            blank_environment: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameHeader {
    pub pid: Pid,
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub offset: u64,
    pub path: Option<String>,
    pub address: u64,
    pub length: u64,
}

/// What [`dump_memory`] read, left out and how the processes were held still.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryDump {
    pub freezing: Freezing,
    /// Cgroups that could not be thawed (empty when all is well).
    pub thaw_failures: Vec<String>,
    pub mappings: Vec<MappingRead>,
    pub skipped: Vec<SkippedMapping>,
    pub bytes_written: u64,
    pub processes_gone: Vec<Pid>,
    /// Processes whose memory could not be opened, and why.
    pub processes_unreadable: Vec<String>,
    /// The environment blocks written as zeros.
    pub environment_blanked: Vec<BlankedRange>,
    /// Mappings were left out: `max_mappings` or `max_total_bytes` was reached.
    pub capped: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MappingRead {
    pub pid: Pid,
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub path: Option<String>,
    pub bytes_read: u64,
    /// Why not all of it was read.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlankedRange {
    pub pid: Pid,
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SkippedMapping {
    pub pid: Pid,
    pub start: u64,
    pub end: u64,
    pub perms: String,
    pub path: Option<String>,
    pub reason: &'static str,
}

/// The readable private mappings of `pids`, written to `out` as described in the module
/// documentation, with the processes' cgroups frozen meanwhile and thawed before this returns
/// (or unwinds). Fails before reading if freezing fails and `read_unfrozen` is not set, or when
/// `out` fails.
pub fn dump_memory(
    proc_root: &Path,
    pids: &[Pid],
    mut out: impl Write,
    options: &MemoryOptions,
) -> Result<MemoryDump> {
    if pids.is_empty() {
        return Err(Error::NoProcesses);
    }
    let (frozen, freezing) = match freeze(proc_root, pids, &options.freezer, options.freeze_timeout) {
        Ok(frozen) => {
            let freezing = Freezing::Frozen { cgroups: frozen.names() };
            (Some(frozen), freezing)
        }
        Err(reason) if options.read_unfrozen => (None, Freezing::NotFrozen { reason, read_anyway: true }),
        Err(reason) => return Err(Error::FreezeImpossible { reason }),
    };
    let mut dump = MemoryDump {
        freezing,
        thaw_failures: Vec::new(),
        mappings: Vec::new(),
        skipped: Vec::new(),
        bytes_written: 0,
        processes_gone: Vec::new(),
        processes_unreadable: Vec::new(),
        environment_blanked: Vec::new(),
        capped: false,
    };
    let written = write_all_processes(proc_root, pids, &mut out, options, &mut dump);
    if let Some(frozen) = frozen {
        dump.thaw_failures = frozen.thaw();
    }
    written.map_err(|e| Error::io("writing the memory", e))?;
    Ok(dump)
}

fn write_all_processes(
    proc_root: &Path,
    pids: &[Pid],
    out: &mut impl Write,
    options: &MemoryOptions,
    dump: &mut MemoryDump,
) -> io::Result<()> {
    let caps = &options.caps;
    out.write_all(MAGIC)?;
    let mut buffer = vec![0u8; FRAME_BYTES];
    for &pid in pids {
        let dir = proc_root.join(pid.to_string());
        let (Ok(maps), Ok(mem)) =
            (read_capped(&dir.join("maps"), 64 * 1024 * 1024), File::open(dir.join("mem")))
        else {
            dump.processes_gone.push(pid);
            continue;
        };
        let blank = if options.blank_environment {
            let range = read_capped(&dir.join("stat"), 64 * 1024)
                .ok()
                .and_then(|stat| environment_range(&stat.bytes));
            if let Some((start, end)) = range {
                dump.environment_blanked.push(BlankedRange { pid, start, end });
            }
            Blank::Range(range)
        } else {
            Blank::Nothing
        };
        for mapping in parse_maps(&maps.bytes) {
            if let Some(reason) = reason_to_skip(&mapping) {
                dump.skipped.push(skipped(pid, &mapping, reason));
                continue;
            }
            if blank == Blank::Range(None) && mapping.path.as_deref() == Some("[stack]") {
                dump.skipped.push(skipped(pid, &mapping, "holds the environment, whose bounds are unknown"));
                continue;
            }
            if dump.mappings.len() >= caps.max_mappings || dump.bytes_written >= caps.max_total_bytes {
                dump.capped = true;
                dump.skipped.push(skipped(pid, &mapping, "over the dump's caps"));
                continue;
            }
            let read = write_mapping(pid, &mapping, &mem, out, caps, dump.bytes_written, blank, &mut buffer)?;
            dump.bytes_written += read.bytes_read;
            dump.mappings.push(read);
        }
    }
    out.flush()
}

/// What of a process's memory is written as zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blank {
    Nothing,
    /// The environment block, if its bounds are known.
    Range(Option<(u64, u64)>),
}

impl Blank {
    /// Zero what of `bytes`, read from `address`, lies in the blanked range.
    fn apply(self, address: u64, bytes: &mut [u8]) {
        let Blank::Range(Some((start, end))) = self else { return };
        let from = start.max(address);
        let to = end.min(address + bytes.len() as u64);
        if from < to {
            bytes[(from - address) as usize..(to - address) as usize].fill(0);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_mapping(
    pid: Pid,
    mapping: &Mapping,
    mem: &File,
    out: &mut impl Write,
    caps: &MemoryCaps,
    written_before: u64,
    blank: Blank,
    buffer: &mut [u8],
) -> io::Result<MappingRead> {
    let room = caps.max_total_bytes.saturating_sub(written_before);
    let length = mapping.len().min(caps.max_mapping_bytes).min(room);
    let mut read = MappingRead {
        pid,
        start: mapping.start,
        end: mapping.end,
        perms: mapping.perms.clone(),
        path: mapping.path.clone(),
        bytes_read: 0,
        problem: (length < mapping.len()).then(|| format!("capped at {length} bytes")),
    };
    while read.bytes_read < length {
        let address = mapping.start + read.bytes_read;
        let want = (length - read.bytes_read).min(buffer.len() as u64) as usize;
        let got = match mem.read_at(&mut buffer[..want], address) {
            Ok(0) => {
                read.problem = Some(format!("nothing readable at {address:#x}"));
                break;
            }
            Ok(got) => {
                blank.apply(address, &mut buffer[..got]);
                got
            }
            Err(error) => {
                read.problem = Some(format!("unreadable at {address:#x}: {error}"));
                break;
            }
        };
        let header = FrameHeader {
            pid,
            start: mapping.start,
            end: mapping.end,
            perms: mapping.perms.clone(),
            offset: mapping.offset,
            path: mapping.path.clone(),
            address,
            length: got as u64,
        };
        let mut line = serde_json::to_vec(&header).map_err(io::Error::other)?;
        line.push(b'\n');
        out.write_all(&line)?;
        out.write_all(&buffer[..got])?;
        read.bytes_read += got as u64;
    }
    Ok(read)
}

/// Why a mapping is not read: only readable, private memory is, and never a device's.
fn reason_to_skip(mapping: &Mapping) -> Option<&'static str> {
    let path = mapping.path.as_deref().unwrap_or_default();
    if !mapping.readable() {
        Some("not readable")
    } else if !mapping.private() {
        Some("shared")
    } else if path.starts_with("[vvar") || path == "[vsyscall]" {
        Some("kernel page")
    } else if path.starts_with("/dev/") && !path.starts_with("/dev/zero") && !path.starts_with("/dev/shm/") {
        Some("device mapping")
    } else {
        None
    }
}

fn skipped(pid: Pid, mapping: &Mapping, reason: &'static str) -> SkippedMapping {
    SkippedMapping {
        pid,
        start: mapping.start,
        end: mapping.end,
        perms: mapping.perms.clone(),
        path: mapping.path.clone(),
        reason,
    }
}

/// The frames of a stream [`dump_memory`] wrote, read as hostile input: a header line longer
/// than 64 KiB, a frame longer than [`FRAME_BYTES`] or a stream cut short is an error.
pub struct MemoryFrames<R> {
    reader: R,
    started: bool,
}

impl<R: BufRead> MemoryFrames<R> {
    pub fn new(reader: R) -> MemoryFrames<R> {
        MemoryFrames { reader, started: false }
    }

    fn next_frame(&mut self) -> io::Result<Option<(FrameHeader, Vec<u8>)>> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        if !self.started {
            let mut magic = vec![0u8; MAGIC.len()];
            self.reader.read_exact(&mut magic)?;
            if magic != MAGIC {
                return Err(invalid("not a kir memory dump".into()));
            }
            self.started = true;
        }
        let mut line = Vec::new();
        (&mut self.reader).take(MAX_HEADER_BYTES as u64).read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Ok(None);
        }
        if line.pop() != Some(b'\n') {
            return Err(invalid("a frame header cut short or too long".into()));
        }
        let header: FrameHeader =
            serde_json::from_slice(&line).map_err(|e| invalid(format!("a frame header: {e}")))?;
        if header.length > FRAME_BYTES as u64 {
            return Err(invalid(format!("a frame of {} bytes, more than a frame holds", header.length)));
        }
        let mut bytes = vec![0u8; header.length as usize];
        self.reader.read_exact(&mut bytes)?;
        Ok(Some((header, bytes)))
    }
}

impl<R: BufRead> Iterator for MemoryFrames<R> {
    type Item = io::Result<(FrameHeader, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_maps;

    fn mapping(line: &str) -> Mapping {
        parse_maps(line.as_bytes()).remove(0)
    }

    #[test]
    fn only_readable_private_non_device_memory_is_read() {
        assert_eq!(reason_to_skip(&mapping("1000-2000 rw-p 0 00:00 0 [heap]")), None);
        assert_eq!(reason_to_skip(&mapping("1000-2000 r-xp 0 08:01 7 /usr/bin/sleep")), None);
        assert_eq!(reason_to_skip(&mapping("1000-2000 rw-p 0 00:01 7 /dev/zero (deleted)")), None);
        assert_eq!(reason_to_skip(&mapping("1000-2000 ---p 0 00:00 0")), Some("not readable"));
        assert_eq!(reason_to_skip(&mapping("1000-2000 rw-s 0 00:01 7 /memfd:x")), Some("shared"));
        assert_eq!(reason_to_skip(&mapping("1000-2000 r--p 0 00:00 0 [vvar]")), Some("kernel page"));
        assert_eq!(reason_to_skip(&mapping("1000-2000 r--p 0 00:00 0 [vvar_vclock]")), Some("kernel page"));
        assert_eq!(reason_to_skip(&mapping("1000-2000 rw-p 0 00:06 9 /dev/mem")), Some("device mapping"));
    }

    #[test]
    fn only_the_environment_block_is_blanked() {
        let mut bytes = *b"argv\0ENV=secret\0after";
        Blank::Range(Some((0x1005, 0x1010))).apply(0x1000, &mut bytes);
        assert_eq!(&bytes, b"argv\0\0\0\0\0\0\0\0\0\0\0\0after");
        let mut outside = *b"untouched";
        Blank::Range(Some((0x2000, 0x3000))).apply(0x1000, &mut outside);
        Blank::Range(Some((0x0, 0x1000))).apply(0x1000, &mut outside);
        Blank::Range(None).apply(0x1000, &mut outside);
        Blank::Nothing.apply(0x1000, &mut outside);
        assert_eq!(&outside, b"untouched");
        let mut straddling = *b"abcd";
        Blank::Range(Some((0xffe, 0x1002))).apply(0x1000, &mut straddling);
        assert_eq!(&straddling, b"\0\0cd");
    }

    fn frame(header: &FrameHeader, bytes: &[u8]) -> Vec<u8> {
        let mut out = serde_json::to_vec(header).unwrap();
        out.push(b'\n');
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn frames_are_read_back_and_broken_streams_refused() {
        let header = FrameHeader {
            pid: 7,
            start: 0x1000,
            end: 0x3000,
            perms: "rw-p".into(),
            offset: 0,
            path: Some("[heap]".into()),
            address: 0x1000,
            length: 3,
        };
        let mut stream = MAGIC.to_vec();
        stream.extend(frame(&header, b"abc"));
        stream.extend(frame(&FrameHeader { address: 0x2000, length: 0, ..header.clone() }, b""));
        let frames: Vec<_> = MemoryFrames::new(&stream[..]).collect::<io::Result<_>>().unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0], (header.clone(), b"abc".to_vec()));

        let cut = &stream[..stream.len() - 60];
        assert!(MemoryFrames::new(cut).any(|f| f.is_err()), "a stream cut short");
        assert!(MemoryFrames::new(&b"KIRMEM 2\n"[..]).next().unwrap().is_err(), "another version");
        let mut huge = MAGIC.to_vec();
        huge.extend(frame(&FrameHeader { length: u64::MAX, ..header.clone() }, b""));
        assert!(MemoryFrames::new(&huge[..]).next().unwrap().is_err(), "a frame longer than allowed");
        let mut endless = MAGIC.to_vec();
        endless.extend(std::iter::repeat_n(b'{', MAX_HEADER_BYTES + 10));
        assert!(MemoryFrames::new(&endless[..]).next().unwrap().is_err(), "a header line without end");
        assert!(MemoryFrames::new(MAGIC).next().is_none(), "an empty dump");
    }
}

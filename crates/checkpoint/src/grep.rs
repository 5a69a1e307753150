//! `grep`: a byte string searched for in the checkpoint's memory pages, reported by process and
//! virtual address.
//!
//! Each `pages-N.img` streams past in chunks, placed in memory by the pagemap that names it
//! (which the runtimes write first). The last `needle - 1` bytes of a chunk are carried into
//! the next only while the memory is contiguous, so a string that spans two pages of one range
//! is found and one that spans two unrelated ranges is not. Memory stays at one chunk plus
//! the pagemaps, whatever the checkpoint's size.

use std::collections::HashMap;
use std::io::Read;

use memchr::memmem::Finder;
use serde::Serialize;

use crate::Limits;
use crate::error::CheckpointError;
use crate::image::{self, ImageKind, Pagemap};
use crate::layout::Item;
use crate::pages::{self, Run};
use crate::stream::{Gate, image_error, malformed, truncated, walk_archive, walk_archive_at};
use crate::tarball::Member;
use crate::tarball::ReadAt;

/// Bytes read from a pages image at a time.
const CHUNK: usize = 1 << 20;

/// Where the needle starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    pub pid: u32,
    pub address: u64,
}

/// What a search found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrepReport {
    /// The first [`Limits::max_hits`] occurrences, in archive order (ascending addresses
    /// within a range).
    pub hits: Vec<Hit>,
    /// Every occurrence, overlapping ones included.
    pub total: u64,
    /// Bytes of memory searched.
    pub bytes_searched: u64,
    /// What was not searched, and why.
    pub notes: Vec<String>,
}

/// Searches the memory pages for `needle` within [`Limits::default`].
pub fn grep(reader: impl Read, needle: &[u8]) -> Result<GrepReport, CheckpointError> {
    grep_with_limits(reader, needle, &Limits::default())
}

/// Searches the memory pages for `needle` within `limits`.
pub fn grep_with_limits(
    reader: impl Read,
    needle: &[u8],
    limits: &Limits,
) -> Result<GrepReport, CheckpointError> {
    let mut search = Search::new(needle, limits)?;
    walk_archive(reader, limits, |member| search.visit(member))?;
    search.finish()
}

/// Searches the memory pages of the checkpoint archive that is the `length` bytes of
/// `source` within `limits`, as [`grep_with_limits`] does.
pub fn grep_at(
    source: &(impl ReadAt + ?Sized),
    length: u64,
    needle: &[u8],
    limits: &Limits,
) -> Result<GrepReport, CheckpointError> {
    let mut search = Search::new(needle, limits)?;
    walk_archive_at(source, length, limits, |member| search.visit(member))?;
    search.finish()
}

struct Search<'l, 'n> {
    gate: Gate<'l>,
    finder: Finder<'n>,
    /// Pagemaps by the id of the pages image they name, with their pid.
    pagemaps: HashMap<u32, (u32, Pagemap)>,
    /// Pages images met, by id, with their names, and whether they were searched.
    searched_pages: HashMap<u32, (String, bool)>,
    report: GrepReport,
    chunk: Vec<u8>,
    carry: Vec<u8>,
}

impl<'l, 'n> Search<'l, 'n> {
    fn new(needle: &'n [u8], limits: &'l Limits) -> Result<Self, CheckpointError> {
        if needle.is_empty() {
            return Err(CheckpointError::EmptyNeedle);
        }
        if needle.len() > limits.max_needle {
            return Err(CheckpointError::NeedleTooLong { length: needle.len(), limit: limits.max_needle });
        }
        Ok(Search {
            gate: Gate::new(limits),
            finder: Finder::new(needle),
            pagemaps: HashMap::new(),
            searched_pages: HashMap::new(),
            report: GrepReport::default(),
            chunk: Vec::new(),
            carry: Vec::new(),
        })
    }

    fn visit(&mut self, mut member: Member<'_>) -> Result<(), CheckpointError> {
        match self.gate.admit(&member)? {
            Some(Item::Pagemap(pid)) => {
                let bytes = self.gate.read_small(&mut member)?;
                let pagemap = image::pagemap(&bytes, &mut self.gate.budget)
                    .map_err(|error| image_error(member.name, ImageKind::Pagemap.label(), error))?;
                if let Some((other, _)) = self.pagemaps.get(&pagemap.pages_id) {
                    return Err(malformed(
                        member.name,
                        format!("names pages-{}.img, which pagemap-{other}.img names too", pagemap.pages_id),
                    ));
                }
                self.pagemaps.insert(pagemap.pages_id, (pid, pagemap));
            }
            Some(Item::ShmemPagemap) => {
                self.gate.notes.push(format!("{}: shared memory pages are not searched", member.name));
            }
            Some(Item::Pages(id)) => {
                let searched = match self.pagemaps.get(&id) {
                    Some((pid, pagemap)) => {
                        let layout = pages::layout(pagemap, member.size)
                            .map_err(|error| malformed(member.name, error.to_string()))?;
                        let pid = *pid;
                        self.search(pid, &layout.runs, member.data).map_err(|()| truncated(member.name))?;
                        true
                    }
                    None => false,
                };
                self.searched_pages.insert(id, (member.name.to_string(), searched));
            }
            _ => {}
        }
        Ok(())
    }

    /// Searches one pages image, streaming.
    fn search(&mut self, pid: u32, runs: &[Run], data: &mut dyn Read) -> Result<(), ()> {
        let keep = self.finder.needle().len() - 1;
        self.chunk.resize(CHUNK, 0);
        for run in runs {
            // Bytes before this run are not next to it in memory.
            self.carry.clear();
            let mut vaddr = run.vaddr;
            let run_end = run.vaddr + run.bytes;
            while vaddr < run_end {
                let take = (run_end - vaddr).min(CHUNK as u64) as usize;
                data.read_exact(&mut self.chunk[..take]).map_err(|_| ())?;
                self.scan(pid, vaddr, take);
                // The carry for the next chunk: the last `keep` bytes of carry and chunk.
                if take >= keep {
                    self.carry.clear();
                    self.carry.extend_from_slice(&self.chunk[take - keep..take]);
                } else {
                    self.carry.extend_from_slice(&self.chunk[..take]);
                    let excess = self.carry.len().saturating_sub(keep);
                    self.carry.drain(..excess);
                }
                vaddr += take as u64;
                self.report.bytes_searched += take as u64;
            }
        }
        Ok(())
    }

    /// Finds the needle in the chunk just read (`take` bytes at `vaddr`) and in the seam
    /// between the carry and it: every start address, overlapping occurrences included.
    fn scan(&mut self, pid: u32, vaddr: u64, take: usize) {
        let needle_len = self.finder.needle().len();
        if !self.carry.is_empty() {
            let mut seam = self.carry.clone();
            seam.extend_from_slice(&self.chunk[..take.min(needle_len - 1)]);
            let seam_start = vaddr - self.carry.len() as u64;
            // Only starts inside the carry: the others lie wholly in the chunk.
            for start in occurrences(&self.finder, &seam).take_while(|&start| start < self.carry.len()) {
                record(
                    &mut self.report,
                    self.gate.limits.max_hits,
                    Hit { pid, address: seam_start + start as u64 },
                );
            }
        }
        for start in occurrences(&self.finder, &self.chunk[..take]) {
            record(&mut self.report, self.gate.limits.max_hits, Hit { pid, address: vaddr + start as u64 });
        }
    }

    fn finish(mut self) -> Result<GrepReport, CheckpointError> {
        let mut unsearched: Vec<_> =
            self.searched_pages.iter().filter(|(_, (_, searched))| !searched).collect();
        unsearched.sort();
        for (id, (name, _)) in unsearched {
            if self.pagemaps.contains_key(id) {
                return Err(CheckpointError::PagesBeforePagemap { name: name.clone() });
            }
            self.gate.notes.push(format!("{name}: no pagemap names it; not searched"));
        }
        if self.pagemaps.is_empty() && !self.gate.checkpoint_seen {
            return Err(CheckpointError::NotACheckpoint);
        }
        self.report.notes = self.gate.notes.finish();
        Ok(self.report)
    }
}

/// Every start of the needle in `haystack`, overlapping ones included.
fn occurrences<'h>(finder: &'h Finder<'_>, haystack: &'h [u8]) -> impl Iterator<Item = usize> + 'h {
    let mut from = 0;
    std::iter::from_fn(move || {
        let start = from + finder.find(haystack.get(from..)?)?;
        from = start + 1;
        Some(start)
    })
}

fn record(report: &mut GrepReport, max_hits: usize, hit: Hit) {
    report.total += 1;
    if report.hits.len() < max_hits {
        report.hits.push(hit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurrences_overlap() {
        let finder = Finder::new(b"aa");
        assert_eq!(occurrences(&finder, b"aaab aa").collect::<Vec<_>>(), vec![0, 1, 5]);
        assert_eq!(occurrences(&finder, b"").count(), 0);
    }
}

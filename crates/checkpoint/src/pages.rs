//! Where the bytes of `pages-N.img` sit in a process's memory. The pages image holds, back to
//! back and in pagemap order, the pages of every pagemap range marked present; ranges kept in
//! a parent checkpoint or left for lazy restore have none there.

use crate::image::Pagemap;

/// Page sizes a pages image may be written with (x86-64 and most arm64: 4 KiB).
const PAGE_SIZES: [u64; 3] = [4096, 16384, 65536];

/// Bytes of the pages image that are contiguous in memory too, starting at `vaddr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) vaddr: u64,
    pub(crate) bytes: u64,
}

/// How a pages image lines up with its pagemap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) page_size: u64,
    pub(crate) runs: Vec<Run>,
}

/// Why a pages image does not line up with its pagemap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LayoutError {
    /// The file's size is not the present pages times any page size.
    Size { file_bytes: u64, present_pages: u64 },
    /// A range that runs past the end of the address space.
    Overflow,
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutError::Size { file_bytes, present_pages } => write!(
                f,
                "{file_bytes} bytes, where its pagemap says it holds {present_pages} pages (of 4, 16 \
                 or 64 KiB): truncated or forged"
            ),
            LayoutError::Overflow => f.write_str("its pagemap has a range past the end of the address space"),
        }
    }
}

/// The runs of a pages image of `file_bytes` bytes, mapped by `pagemap`.
pub(crate) fn layout(pagemap: &Pagemap, file_bytes: u64) -> Result<Layout, LayoutError> {
    let present_pages = pagemap
        .entries
        .iter()
        .filter(|entry| entry.present)
        .try_fold(0u64, |sum, entry| sum.checked_add(entry.pages))
        .ok_or(LayoutError::Overflow)?;
    let page_size = if present_pages == 0 && file_bytes == 0 {
        PAGE_SIZES[0]
    } else {
        *PAGE_SIZES
            .iter()
            .find(|&&size| present_pages.checked_mul(size) == Some(file_bytes))
            .ok_or(LayoutError::Size { file_bytes, present_pages })?
    };
    let mut runs: Vec<Run> = Vec::new();
    for entry in pagemap.entries.iter().filter(|entry| entry.present && entry.pages > 0) {
        let bytes = entry.pages.checked_mul(page_size).ok_or(LayoutError::Overflow)?;
        entry.vaddr.checked_add(bytes).ok_or(LayoutError::Overflow)?;
        match runs.last_mut() {
            Some(last) if last.vaddr + last.bytes == entry.vaddr => last.bytes += bytes,
            _ => runs.push(Run { vaddr: entry.vaddr, bytes }),
        }
    }
    Ok(Layout { page_size, runs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::PagemapEntry;

    fn range(vaddr: u64, pages: u64, present: bool) -> PagemapEntry {
        PagemapEntry { vaddr, pages, present }
    }

    #[test]
    fn adjacent_present_ranges_merge_and_absent_ones_take_no_bytes() {
        let pagemap = Pagemap {
            pages_id: 1,
            entries: vec![
                range(0x1000, 2, true),
                range(0x3000, 1, true),
                range(0x4000, 5, false),
                range(0x9000, 1, true),
            ],
        };
        let layout = layout(&pagemap, 4 * 4096).unwrap();
        assert_eq!(layout.page_size, 4096);
        assert_eq!(
            layout.runs,
            vec![Run { vaddr: 0x1000, bytes: 3 * 4096 }, Run { vaddr: 0x9000, bytes: 4096 }]
        );
    }

    #[test]
    fn a_size_that_fits_no_page_size_is_refused() {
        let pagemap = Pagemap { pages_id: 1, entries: vec![range(0, 2, true)] };
        assert_eq!(layout(&pagemap, 2 * 65536).unwrap().page_size, 65536);
        assert_eq!(layout(&pagemap, 8191), Err(LayoutError::Size { file_bytes: 8191, present_pages: 2 }));
        let wrapping = Pagemap { pages_id: 1, entries: vec![range(u64::MAX - 4095, 2, true)] };
        assert_eq!(layout(&wrapping, 8192), Err(LayoutError::Overflow));
    }
}

//! Which archive entries kir reads, by exact name: the layout containerd and CRI-O write.

/// The CRIU images' folder in the archive.
const IMAGES_DIR: &str = "checkpoint/";

/// An entry kir reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item {
    ConfigDump,
    SpecDump,
    DeletedFiles,
    RootfsDiff,
    Stats,
    Inventory,
    Pstree,
    Files,
    Core(u32),
    Ids(u32),
    Mm(u32),
    Pagemap(u32),
    ShmemPagemap,
    Pages(u32),
    Fdinfo(u32),
    Fs(u32),
    /// Another CRIU image: counted, not read.
    OtherImage,
}

/// What `name` (already normalised) is, or `None` for an entry kir does not read.
pub(crate) fn classify(name: &str) -> Option<Item> {
    match name {
        "config.dump" => return Some(Item::ConfigDump),
        "spec.dump" => return Some(Item::SpecDump),
        "deleted.files" => return Some(Item::DeletedFiles),
        "rootfs-diff.tar" => return Some(Item::RootfsDiff),
        // containerd copies CRIU's statistics next to the images; CRIU writes them among them.
        "stats-dump" | "checkpoint/stats-dump" => return Some(Item::Stats),
        _ => {}
    }
    let image = name.strip_prefix(IMAGES_DIR)?;
    if image.is_empty() || image.contains('/') {
        return None;
    }
    let item = match image {
        "inventory.img" => Item::Inventory,
        "pstree.img" => Item::Pstree,
        "files.img" => Item::Files,
        _ => {
            let numbered = |prefix: &str| numbered(image, prefix);
            if let Some(pid) = numbered("core-") {
                Item::Core(pid)
            } else if let Some(pid) = numbered("ids-") {
                Item::Ids(pid)
            } else if let Some(pid) = numbered("mm-") {
                Item::Mm(pid)
            } else if let Some(pid) = numbered("pagemap-") {
                Item::Pagemap(pid)
            } else if numbered("pagemap-shmem-").is_some() {
                Item::ShmemPagemap
            } else if let Some(id) = numbered("pages-") {
                Item::Pages(id)
            } else if let Some(id) = numbered("fdinfo-") {
                Item::Fdinfo(id)
            } else if let Some(pid) = numbered("fs-") {
                Item::Fs(pid)
            } else {
                Item::OtherImage
            }
        }
    };
    Some(item)
}

/// The number in `PREFIXnumber.img`: decimal digits only, as CRIU writes them.
fn numbered(image: &str, prefix: &str) -> Option<u32> {
    let digits = image.strip_prefix(prefix)?.strip_suffix(".img")?;
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_exactly() {
        assert_eq!(classify("checkpoint/pages-1.img"), Some(Item::Pages(1)));
        assert_eq!(classify("checkpoint/pagemap-42.img"), Some(Item::Pagemap(42)));
        assert_eq!(classify("checkpoint/pagemap-shmem-7.img"), Some(Item::ShmemPagemap));
        assert_eq!(classify("checkpoint/core-+1.img"), Some(Item::OtherImage));
        assert_eq!(classify("checkpoint/core-99999999999.img"), Some(Item::OtherImage));
        assert_eq!(classify("checkpoint/sub/core-1.img"), None);
        assert_eq!(classify("checkpoint/"), None);
        assert_eq!(classify("x/config.dump"), None);
        assert_eq!(classify("config.dump"), Some(Item::ConfigDump));
    }
}

//! Text from the archive kept as data: lossy UTF-8, cut to a cap (on a character boundary),
//! never interpreted. Control characters stay as they are; whoever prints them escapes them.

/// Marks text that was cut.
pub const CUT_MARK: char = '…';

/// `bytes` as text, at most `cap` bytes of it, with [`CUT_MARK`] appended when cut.
pub(crate) fn lossy(bytes: &[u8], cap: usize) -> String {
    let cut = bytes.len() > cap;
    let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(cap)]).into_owned();
    if cut {
        // A replacement character from a split sequence may have pushed it past the cap.
        let mut end = text.len().min(cap);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push(CUT_MARK);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_lossy_and_cut_on_a_character_boundary() {
        assert_eq!(lossy(b"abc", 3), "abc");
        assert_eq!(lossy(b"abcd", 3), "abc…");
        assert_eq!(lossy(b"a\xffb", 9), "a\u{fffd}b");
        assert_eq!(lossy("é".as_bytes(), 1), "…");
        assert_eq!(lossy(b"\x1b[31m", 9), "\x1b[31m");
    }
}

//! Parsers of the /proc files the collector reads. Every input is hostile (the suspect names its
//! processes, files and sockets), so they take bytes, never panic, keep what they can read and
//! skip what they cannot.

mod cgroup;
mod maps;
mod mountinfo;
mod net;
mod stat;
mod status;

pub use cgroup::{CgroupLine, names_container, parse_cgroup};
pub use maps::{Mapping, parse_maps};
pub use mountinfo::{Mount, overlay_upper_dir, parse_mountinfo};
pub use net::{InetProtocol, InetSocket, UnixSocket, parse_inet_table, parse_unix_table};
pub use stat::environment_range;
pub use status::{Status, parse_status};

/// The lines of `bytes` (the last one without its newline), empty ones included.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.split(|b| *b == b'\n').filter(|_| !bytes.is_empty())
}

/// Fields separated by runs of blanks.
fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| *b == b' ' || *b == b'\t').filter(|f| !f.is_empty())
}

/// Text for the record: bytes that are not UTF-8 become U+FFFD, visibly.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn number<T: std::str::FromStr>(bytes: &[u8]) -> Option<T> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn hex<T: num::Hex>(bytes: &[u8]) -> Option<T> {
    T::from_hex(std::str::from_utf8(bytes).ok()?)
}

mod num {
    /// Integers /proc prints in hexadecimal.
    pub trait Hex: Sized {
        fn from_hex(text: &str) -> Option<Self>;
    }
    macro_rules! hex {
        ($($t:ty),*) => {$(
            impl Hex for $t {
                fn from_hex(text: &str) -> Option<Self> {
                    // from_str_radix accepts a sign, which /proc never prints.
                    if text.starts_with(['+', '-']) { return None; }
                    <$t>::from_str_radix(text, 16).ok()
                }
            }
        )*};
    }
    hex!(u8, u16, u32, u64);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn lines_keep_empty_ones_but_not_a_trailing_newline() {
        assert_eq!(lines(b"a\n\nb\n").collect::<Vec<_>>(), vec![&b"a"[..], b"", b"b"]);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n").count(), 0);
    }

    #[test]
    fn hex_numbers_refuse_signs_and_overflow() {
        assert_eq!(hex::<u16>(b"0277"), Some(0x277));
        assert_eq!(hex::<u16>(b"+277"), None);
        assert_eq!(hex::<u8>(b"100"), None);
    }

    proptest! {
        #[test]
        fn no_parser_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let _ = parse_cgroup(&bytes);
            let _ = names_container(&String::from_utf8_lossy(&bytes), "abc");
            let mounts = parse_mountinfo(&bytes);
            let _ = overlay_upper_dir(&mounts);
            let _ = parse_maps(&bytes);
            let _ = parse_status(&bytes);
            let _ = environment_range(&bytes);
            for protocol in [InetProtocol::Tcp, InetProtocol::Tcp6, InetProtocol::Udp, InetProtocol::Udp6] {
                let _ = parse_inet_table(protocol, &bytes);
            }
            let _ = parse_unix_table(&bytes);
        }

        #[test]
        fn no_parser_panics_on_lines_made_of_proc_like_pieces(
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just(&b" "[..]), Just(&b":"[..]), Just(&b"\n"[..]), Just(&b"-"[..]), Just(&b"\\"[..]),
                    Just(&b"0A"[..]), Just(&b"0100007F:0050"[..]), Just(&b"upperdir=/u"[..]),
                    Just(&b"overlay"[..]), Just(&b"/"[..]), Just(&b"rw-p"[..]), Just(&b"\xff"[..]),
                    Just(&b"\\04"[..]), Just(&b"0::"[..]), Just(&b"00000000000000000000000000000000"[..]),
                ],
                0..200,
            )
        ) {
            let bytes = pieces.concat();
            let _ = parse_cgroup(&bytes);
            let _ = overlay_upper_dir(&parse_mountinfo(&bytes));
            let _ = parse_maps(&bytes);
            let _ = parse_status(&bytes);
            let _ = environment_range(&bytes);
            let _ = parse_inet_table(InetProtocol::Tcp6, &bytes);
            let _ = parse_inet_table(InetProtocol::Udp, &bytes);
            let _ = parse_unix_table(&bytes);
        }
    }
}

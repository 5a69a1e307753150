//! /proc/PID/net/{tcp,tcp6,udp,udp6} and /proc/PID/net/unix: the sockets of a network
//! namespace, keyed by inode (the `socket:[inode]` a process's descriptors point to).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Serialize;

use super::{fields, hex, lines, number, text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InetProtocol {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
}

impl InetProtocol {
    pub const ALL: [InetProtocol; 4] =
        [InetProtocol::Tcp, InetProtocol::Tcp6, InetProtocol::Udp, InetProtocol::Udp6];

    /// The file under /proc/PID/net.
    pub fn table(self) -> &'static str {
        match self {
            InetProtocol::Tcp => "tcp",
            InetProtocol::Tcp6 => "tcp6",
            InetProtocol::Udp => "udp",
            InetProtocol::Udp6 => "udp6",
        }
    }

    fn is_tcp(self) -> bool {
        matches!(self, InetProtocol::Tcp | InetProtocol::Tcp6)
    }

    fn is_v6(self) -> bool {
        matches!(self, InetProtocol::Tcp6 | InetProtocol::Udp6)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InetSocket {
    pub protocol: InetProtocol,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: &'static str,
    pub uid: u32,
    pub inode: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnixSocket {
    /// stream, dgram or seqpacket.
    pub kind: &'static str,
    pub state: &'static str,
    pub listening: bool,
    /// The bound path; `@name` for an abstract socket; none when unbound.
    pub path: Option<String>,
    pub inode: u64,
}

/// Rows of one table; the header line and rows that do not parse are skipped.
pub fn parse_inet_table(protocol: InetProtocol, bytes: &[u8]) -> Vec<InetSocket> {
    lines(bytes).filter_map(|line| parse_inet_line(protocol, line)).collect()
}

fn parse_inet_line(protocol: InetProtocol, line: &[u8]) -> Option<InetSocket> {
    // sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ...
    let mut parts = fields(line);
    parts.next().filter(|slot| slot.ends_with(b":"))?;
    let local = endpoint(protocol, parts.next()?)?;
    let remote = endpoint(protocol, parts.next()?)?;
    let code: u8 = hex(parts.next()?)?;
    let uid = number(parts.nth(3)?)?;
    let inode = number(parts.nth(1)?)?;
    let state = if protocol.is_tcp() { tcp_state(code) } else { udp_state(code) };
    Some(InetSocket { protocol, local, remote, state, uid, inode })
}

/// `ADDRESS:PORT` in hexadecimal; the address as the kernel's 32-bit words in host byte order.
fn endpoint(protocol: InetProtocol, field: &[u8]) -> Option<SocketAddr> {
    let colon = memchr::memchr(b':', field)?;
    let (address, port) = (&field[..colon], &field[colon + 1..]);
    let port = hex(port)?;
    let words: Option<Vec<u32>> = address.chunks(8).map(hex).collect();
    let words = words?;
    let ip = match (protocol.is_v6(), words.as_slice(), address.len()) {
        (false, [word], 8) => IpAddr::V4(Ipv4Addr::from(word.to_ne_bytes())),
        (true, [a, b, c, d], 32) => {
            let mut octets = [0u8; 16];
            for (chunk, word) in octets.chunks_mut(4).zip([a, b, c, d]) {
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn tcp_state(code: u8) -> &'static str {
    match code {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT1",
        0x05 => "FIN_WAIT2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        0x0C => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// UDP reuses TCP's codes: 01 once connected, 07 otherwise.
fn udp_state(code: u8) -> &'static str {
    match code {
        0x01 => "CONNECTED",
        0x07 => "UNCONNECTED",
        _ => "UNKNOWN",
    }
}

pub fn parse_unix_table(bytes: &[u8]) -> Vec<UnixSocket> {
    lines(bytes).filter_map(parse_unix_line).collect()
}

/// `Num: RefCount Protocol Flags Type St Inode [Path]`.
fn parse_unix_line(line: &[u8]) -> Option<UnixSocket> {
    let mut parts = fields(line);
    parts.next().filter(|slot| slot.ends_with(b":"))?;
    let _refcount = parts.next()?;
    let _protocol = parts.next()?;
    let flags: u32 = hex(parts.next()?)?;
    let kind: u16 = hex(parts.next()?)?;
    let state: u8 = hex(parts.next()?)?;
    let inode = number(parts.next()?)?;
    // The path is the rest of the line: a bound name may hold blanks.
    let path = rest_after_fields(line, 7);
    let kind = match kind {
        1 => "stream",
        2 => "dgram",
        5 => "seqpacket",
        _ => "unknown",
    };
    let state = match state {
        1 => "UNCONNECTED",
        2 => "CONNECTING",
        3 => "CONNECTED",
        4 => "DISCONNECTING",
        _ => "UNKNOWN",
    };
    // __SO_ACCEPTCON: the socket listens.
    let listening = flags & 0x0001_0000 != 0;
    Some(UnixSocket { kind, state, listening, path, inode })
}

fn rest_after_fields(line: &[u8], count: usize) -> Option<String> {
    let mut rest = line;
    for _ in 0..count {
        rest = rest.trim_ascii_start();
        let end = rest.iter().position(|b| *b == b' ' || *b == b'\t').unwrap_or(rest.len());
        rest = &rest[end..];
    }
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    (!rest.is_empty()).then(|| text(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &[u8] = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 31338 1 0000000000000000 20 4 30 10 -1\n";

    #[test]
    fn tcp_rows_decode_addresses_ports_states_and_inodes() {
        let sockets = parse_inet_table(InetProtocol::Tcp, TCP);
        assert_eq!(sockets.len(), 2);
        assert_eq!(sockets[0].local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(sockets[0].remote, "0.0.0.0:0".parse().unwrap());
        assert_eq!(sockets[0].state, "LISTEN");
        assert_eq!(sockets[0].uid, 1000);
        assert_eq!(sockets[0].inode, 31337);
        assert_eq!(sockets[1].remote, "127.0.0.1:50000".parse().unwrap());
        assert_eq!(sockets[1].state, "ESTABLISHED");
    }

    #[test]
    fn ipv6_words_are_in_host_order() {
        let row = b"   0: 00000000000000000000000001000000:0050 0000000000000000FFFF00000100007F:0051 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 0\n";
        let sockets = parse_inet_table(InetProtocol::Udp6, row);
        assert_eq!(sockets[0].local, "[::1]:80".parse().unwrap());
        assert_eq!(sockets[0].remote, "[::ffff:127.0.0.1]:81".parse().unwrap());
        assert_eq!(sockets[0].state, "UNCONNECTED");
        assert!(parse_inet_table(InetProtocol::Tcp, row).is_empty(), "a v6 address in a v4 table");
    }

    #[test]
    fn hostile_inet_rows_are_skipped() {
        let long = format!("   0: 0100007F:1F90 00000000:0000 0A {}\n", "0".repeat(100_000));
        let mut input = b"0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1\n\
            0 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1\n\
            0: 0100007F:10000 00000000:0000 0A 0:0 0:0 0 0 0 1\n\
            0: -100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1\n\
            0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0\n\
            0: 0100007\xff:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1\n"
            .to_vec();
        input.extend_from_slice(long.as_bytes());
        let sockets = parse_inet_table(InetProtocol::Tcp, &input);
        assert_eq!(sockets.len(), 1, "only the first row is whole: {sockets:?}");
        assert_eq!(sockets[0].inode, 1);
    }

    #[test]
    fn unix_rows_keep_paths_with_blanks_and_abstract_names() {
        let sockets = parse_unix_table(
            b"Num       RefCount Protocol Flags    Type St Inode Path\n\
              0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/my app.sock\n\
              0000000000000000: 00000003 00000000 00000000 0001 03 4243\n\
              0000000000000000: 00000002 00000000 00000000 0002 01 4244 @abstract\n\
              0000000000000000: 00000002 00000000 00000000 0005 01 4245 /\xff\n",
        );
        assert_eq!(sockets.len(), 4);
        assert!(sockets[0].listening);
        assert_eq!(sockets[0].kind, "stream");
        assert_eq!(sockets[0].path.as_deref(), Some("/run/my app.sock"));
        assert_eq!(sockets[1].state, "CONNECTED");
        assert_eq!(sockets[1].path, None);
        assert_eq!(sockets[2].kind, "dgram");
        assert_eq!(sockets[2].path.as_deref(), Some("@abstract"));
        assert_eq!(sockets[3].kind, "seqpacket");
        assert_eq!(sockets[3].path.as_deref(), Some("/\u{fffd}"));
    }

    #[test]
    fn hostile_unix_rows_are_skipped() {
        let long = format!("0: 2 0 0 1 1 7 /{}\n", "p".repeat(100_000));
        let mut input = b"0: 2 0 0 1 1\n0: 2 0 zz 1 1 5\n0 2 0 0 1 1 5\n".to_vec();
        input.extend_from_slice(long.as_bytes());
        let sockets = parse_unix_table(&input);
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].path.as_ref().map(String::len), Some(100_001));
    }
}

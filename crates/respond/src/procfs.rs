//! Parsers for what a container's `/proc` says about its processes and sockets.
//!
//! The input comes from a possibly compromised container: it is hostile. The parsers never
//! panic, cap what they keep, and treat anything malformed as "skip this line".

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use serde::Serialize;

/// One socket from `/proc/net/{tcp,tcp6,udp,udp6}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Socket {
    pub protocol: &'static str,
    pub local_address: IpAddr,
    pub local_port: u16,
    pub remote_address: IpAddr,
    pub remote_port: u16,
    pub state: &'static str,
    pub uid: u32,
    pub inode: u64,
}

impl Socket {
    /// Listening TCP sockets and unconnected UDP sockets have no peer.
    pub fn has_peer(&self) -> bool {
        !self.remote_address.is_unspecified() || self.remote_port != 0
    }
}

/// Which of the four `/proc/net` tables a text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketTable {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
}

impl SocketTable {
    pub const ALL: [SocketTable; 4] =
        [SocketTable::Tcp, SocketTable::Tcp6, SocketTable::Udp, SocketTable::Udp6];

    pub fn path(self) -> &'static str {
        match self {
            SocketTable::Tcp => "/proc/net/tcp",
            SocketTable::Tcp6 => "/proc/net/tcp6",
            SocketTable::Udp => "/proc/net/udp",
            SocketTable::Udp6 => "/proc/net/udp6",
        }
    }

    fn protocol(self) -> &'static str {
        match self {
            SocketTable::Tcp => "tcp",
            SocketTable::Tcp6 => "tcp6",
            SocketTable::Udp => "udp",
            SocketTable::Udp6 => "udp6",
        }
    }

    fn is_tcp(self) -> bool {
        matches!(self, SocketTable::Tcp | SocketTable::Tcp6)
    }
}

/// At most this many sockets are kept from one table: a container cannot make kir hold more.
pub const MAX_SOCKETS: usize = 100_000;

/// Parse one `/proc/net` table. Malformed lines are skipped.
pub fn parse_sockets(table: SocketTable, text: &str) -> Vec<Socket> {
    text.lines().skip(1).filter_map(|line| parse_socket_line(table, line)).take(MAX_SOCKETS).collect()
}

fn parse_socket_line(table: SocketTable, line: &str) -> Option<Socket> {
    let mut fields = line.split_whitespace();
    fields.next()?; // "sl:"
    let (local_address, local_port) = parse_endpoint(fields.next()?)?;
    let (remote_address, remote_port) = parse_endpoint(fields.next()?)?;
    let state_code = u8::from_str_radix(fields.next()?, 16).ok()?;
    let mut rest = fields.skip(3); // tx:rx queue, tr:tm->when, retrnsmt
    let uid = rest.next()?.parse().ok()?;
    let inode = rest.nth(1)?.parse().ok()?; // after timeout
    let state = if table.is_tcp() { tcp_state(state_code) } else { udp_state(state_code) };
    Some(Socket {
        protocol: table.protocol(),
        local_address,
        local_port,
        remote_address,
        remote_port,
        state,
        uid,
        inode,
    })
}

/// `0100007F:1F90` is 127.0.0.1:8080: the address is the kernel's in-memory layout (each
/// 32-bit word in host byte order, little endian on every platform kir supports), the port is
/// big-endian hex.
fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let address = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(address, 16).ok()?.swap_bytes())),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in address.as_bytes().chunks(8).enumerate() {
                let word = u32::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((address, port))
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
        _ => "UNKNOWN",
    }
}

fn udp_state(code: u8) -> &'static str {
    match code {
        0x01 => "ESTABLISHED",
        0x07 => "UNCONNECTED",
        _ => "UNKNOWN",
    }
}

/// One process, from `/proc/<pid>/{status,cmdline,exe,fd}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// The real uid, and the user name when the container's /etc/passwd names it.
    pub uid: Option<u32>,
    pub user: Option<String>,
    /// The kernel's short name (`comm`, at most 15 bytes, set by the process itself).
    pub name: String,
    pub cmdline: Vec<String>,
    pub exe: Option<String>,
    /// Inodes of the sockets the process holds open, to attribute connections to it.
    pub socket_inodes: Vec<u64>,
}

/// At most this many processes and this many arguments per process are kept.
pub const MAX_PROCESSES: usize = 20_000;
const MAX_ARGS: usize = 256;
const MAX_ARG_LEN: usize = 4096;

/// The shell script kir runs in the container to list processes without writing anything.
/// Sections are framed by a marker containing `nonce`, so a process cannot forge records by
/// putting separators in its command line (it would have to guess the nonce).
pub fn process_script(nonce: &str) -> String {
    format!(
        "m='--kir-{nonce}'; printf '%s self %s\\n' \"$m\" \"$$\"; \
         for d in /proc/[0-9]*; do \
         [ -r \"$d/status\" ] || continue; \
         printf '\\n%s pid %s\\n' \"$m\" \"${{d#/proc/}}\"; cat \"$d/status\" 2>/dev/null; \
         printf '\\n%s cmdline\\n' \"$m\"; cat \"$d/cmdline\" 2>/dev/null; \
         printf '\\n%s exe\\n' \"$m\"; readlink \"$d/exe\" 2>/dev/null; \
         printf '\\n%s fd\\n' \"$m\"; for f in \"$d\"/fd/*; do readlink \"$f\" 2>/dev/null; done; \
         done; printf '\\n%s passwd\\n' \"$m\"; cat /etc/passwd 2>/dev/null; printf '\\n%s end\\n' \"$m\""
    )
}

/// What the process script printed, parsed. `self_pid` is the collecting shell, excluded
/// together with its children (the `cat` and `readlink` it ran).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessListing {
    pub processes: Vec<Process>,
    pub self_pid: Option<u32>,
    /// True when the end marker was seen: the listing was not cut short.
    pub complete: bool,
}

pub fn parse_process_listing(nonce: &str, bytes: &[u8]) -> ProcessListing {
    let marker = format!("--kir-{nonce} ");
    let text = String::from_utf8_lossy(bytes);
    let mut listing = ProcessListing::default();
    let mut users: BTreeMap<u32, String> = BTreeMap::new();
    let mut current: Option<Process> = None;
    let mut section = "";
    let mut body = String::new();

    let finish_section =
        |process: &mut Option<Process>, section: &str, body: &str, users: &mut BTreeMap<u32, String>| match (
            section,
            process.as_mut(),
        ) {
            ("status", Some(p)) => apply_status(p, body),
            ("cmdline", Some(p)) => p.cmdline = split_cmdline(body),
            ("exe", Some(p)) => p.exe = body.lines().next().filter(|l| !l.is_empty()).map(str::to_string),
            ("fd", Some(p)) => p.socket_inodes = socket_inodes(body),
            ("passwd", _) => *users = parse_passwd(body),
            _ => {}
        };

    for piece in text.split_inclusive('\n') {
        let line = piece.trim_end_matches('\n');
        if let Some(header) = line.strip_prefix(&marker) {
            finish_section(&mut current, section, &body, &mut users);
            body.clear();
            let (kind, value) = header.split_once(' ').unwrap_or((header, ""));
            match kind {
                "self" => {
                    listing.self_pid = value.trim().parse().ok();
                    section = "";
                }
                "pid" => {
                    if let Some(done) = current.take() {
                        push_process(&mut listing, done);
                    }
                    current = value.trim().parse().ok().map(|pid| Process { pid, ..Default::default() });
                    section = "status";
                }
                "cmdline" => section = "cmdline",
                "exe" => section = "exe",
                "fd" => section = "fd",
                "passwd" => {
                    if let Some(done) = current.take() {
                        push_process(&mut listing, done);
                    }
                    section = "passwd";
                }
                "end" => {
                    listing.complete = true;
                    section = "";
                }
                _ => section = "",
            }
        } else if !section.is_empty() && body.len() < 1 << 20 {
            body.push_str(piece);
        }
    }
    finish_section(&mut current, section, &body, &mut users);
    if let Some(done) = current.take() {
        push_process(&mut listing, done);
    }
    let self_pid = listing.self_pid;
    listing.processes.retain(|p| Some(p.pid) != self_pid && (self_pid.is_none() || Some(p.ppid) != self_pid));
    for process in &mut listing.processes {
        process.user = process.uid.and_then(|uid| users.get(&uid).cloned());
    }
    listing
}

fn push_process(listing: &mut ProcessListing, process: Process) {
    if listing.processes.len() < MAX_PROCESSES {
        listing.processes.push(process);
    }
}

fn apply_status(process: &mut Process, status: &str) {
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match key {
            "Name" => process.name = value.chars().take(64).collect(),
            "PPid" => process.ppid = value.parse().unwrap_or(0),
            "Uid" => process.uid = value.split_whitespace().next().and_then(|u| u.parse().ok()),
            _ => {}
        }
    }
}

/// `/proc/<pid>/cmdline` is NUL-separated; the framing newline kir adds after it is not part
/// of the command line.
fn split_cmdline(body: &str) -> Vec<String> {
    let body = body.strip_suffix('\n').unwrap_or(body);
    body.split('\0')
        .filter(|arg| !arg.is_empty())
        .take(MAX_ARGS)
        .map(|arg| arg.chars().take(MAX_ARG_LEN).collect())
        .collect()
}

fn socket_inodes(body: &str) -> Vec<u64> {
    body.lines()
        .filter_map(|l| l.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok())
        .take(4096)
        .collect()
}

fn parse_passwd(body: &str) -> BTreeMap<u32, String> {
    body.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            Some((uid, name.chars().take(64).collect()))
        })
        .take(10_000)
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41742 1 0000000000000000 100 0 0 10 0
   1: 0B00000A:C350 2D4C2B8E:0D05 01 00000000:00000000 00:00000000 00000000  1000        0 51234 1 0000000000000000 20 4 30 10 -1
   2: garbage line
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000B00000A:A000 00000000000000000000000000000000:0000 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn tcp_tables_decode_addresses_ports_and_states() {
        let sockets = parse_sockets(SocketTable::Tcp, TCP);
        assert_eq!(sockets.len(), 2);
        assert_eq!(sockets[0].local_address, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(sockets[0].local_port, 8080);
        assert_eq!(sockets[0].state, "LISTEN");
        assert!(!sockets[0].has_peer());
        assert_eq!(sockets[1].local_address, "10.0.0.11".parse::<IpAddr>().unwrap());
        assert_eq!(sockets[1].remote_address, "142.43.76.45".parse::<IpAddr>().unwrap());
        assert_eq!(sockets[1].remote_port, 3333);
        assert_eq!(sockets[1].state, "ESTABLISHED");
        assert_eq!(sockets[1].uid, 1000);
        assert_eq!(sockets[1].inode, 51234);

        let sockets6 = parse_sockets(SocketTable::Tcp6, TCP6);
        assert_eq!(sockets6[0].local_address, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(sockets6[0].local_port, 80);
        assert_eq!(sockets6[1].local_address, "::ffff:10.0.0.11".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn udp_states_have_their_own_names() {
        let udp = "header\n 0: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 77 2 0 0\n";
        let sockets = parse_sockets(SocketTable::Udp, udp);
        assert_eq!(sockets[0].state, "UNCONNECTED");
        assert_eq!(sockets[0].protocol, "udp");
    }

    fn listing(nonce: &str) -> Vec<u8> {
        let m = format!("--kir-{nonce}");
        let mut out = Vec::new();
        out.extend(format!("{m} self 40\n").as_bytes());
        out.extend(format!("\n{m} pid 1\nName:\tnginx\nPPid:\t0\nUid:\t0\t0\t0\t0\n").as_bytes());
        out.extend(format!("\n{m} cmdline\n").as_bytes());
        out.extend(b"nginx: master\0-g\0daemon off;\0");
        out.extend(format!("\n{m} exe\n/usr/sbin/nginx\n").as_bytes());
        out.extend(format!("\n{m} fd\n/dev/null\nsocket:[51234]\npipe:[9]\n").as_bytes());
        out.extend(format!("\n{m} pid 7\nName:\txmrig\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\n").as_bytes());
        // A hostile command line that tries to forge a record with a guessed marker.
        out.extend(format!("\n{m} cmdline\n").as_bytes());
        out.extend(b"./xmrig\0\n--kir-guess pid 99\n\0-o\0pool:3333\0");
        out.extend(format!("\n{m} exe\n/tmp/.x/xmrig\n").as_bytes());
        out.extend(format!("\n{m} fd\n").as_bytes());
        out.extend(format!("\n{m} pid 40\nName:\tsh\nPPid:\t0\nUid:\t0\n").as_bytes());
        out.extend(format!("\n{m} pid 41\nName:\tcat\nPPid:\t40\nUid:\t0\n").as_bytes());
        out.extend(
            format!("\n{m} passwd\nroot:x:0:0:root:/root:/bin/sh\nminer:x:1000:1000::/home:/bin/sh\n")
                .as_bytes(),
        );
        out.extend(format!("\n{m} end\n").as_bytes());
        out
    }

    #[test]
    fn process_listing_is_parsed_and_excludes_the_collector() {
        let parsed = parse_process_listing("n0nce", &listing("n0nce"));
        assert!(parsed.complete);
        assert_eq!(parsed.self_pid, Some(40));
        let pids: Vec<u32> = parsed.processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, [1, 7], "the collecting shell (40) and its child (41) are excluded");
        let nginx = &parsed.processes[0];
        assert_eq!(nginx.name, "nginx");
        assert_eq!(nginx.cmdline, ["nginx: master", "-g", "daemon off;"]);
        assert_eq!(nginx.exe.as_deref(), Some("/usr/sbin/nginx"));
        assert_eq!(nginx.socket_inodes, [51234]);
        assert_eq!(nginx.user.as_deref(), Some("root"));
        let miner = &parsed.processes[1];
        assert_eq!(miner.ppid, 1);
        assert_eq!(miner.user.as_deref(), Some("miner"));
        assert_eq!(miner.cmdline, ["./xmrig", "\n--kir-guess pid 99\n", "-o", "pool:3333"]);
    }

    #[test]
    fn a_listing_cut_short_is_not_complete() {
        let full = listing("abc");
        let parsed = parse_process_listing("abc", &full[..full.len() / 2]);
        assert!(!parsed.complete);
        assert!(!parsed.processes.is_empty());
    }

    #[test]
    fn the_script_frames_with_the_nonce() {
        let script = process_script("f00d");
        assert!(script.contains("--kir-f00d"));
        assert!(script.contains("/proc/[0-9]*"));
        let redirects: Vec<&str> = script.match_indices('>').map(|(i, _)| &script[i - 1..i + 10]).collect();
        assert!(redirects.iter().all(|r| *r == "2>/dev/null"), "writes nothing but stdout: {redirects:?}");
    }

    proptest! {
        #[test]
        fn hostile_socket_tables_never_panic(text in ".{0,2000}") {
            for table in SocketTable::ALL {
                let _ = parse_sockets(table, &text);
            }
        }

        #[test]
        fn hostile_process_listings_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4000), cut in 0usize..4000) {
            let _ = parse_process_listing("x", &bytes);
            let good = listing("x");
            let cut = cut.min(good.len());
            let mut mixed = good[..cut].to_vec();
            mixed.extend(&bytes);
            let _ = parse_process_listing("x", &mixed);
        }
    }
}

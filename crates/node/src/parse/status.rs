//! /proc/PID/status: `Key:\tvalue` lines.

use serde::Serialize;

use super::{fields, lines, number, text};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    pub name: Option<String>,
    pub state: Option<String>,
    pub ppid: Option<u32>,
    /// Real, effective, saved and filesystem IDs, as the kernel lists them.
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
}

pub fn parse_status(bytes: &[u8]) -> Status {
    let mut status = Status::default();
    for line in lines(bytes) {
        let Some(colon) = memchr::memchr(b':', line) else { continue };
        let (key, value) = (&line[..colon], &line[colon + 1..]);
        let trimmed = value.strip_prefix(b"\t").unwrap_or(value);
        match key {
            // The kernel escapes newlines and backslashes in the name: one line, as given.
            b"Name" if status.name.is_none() => status.name = Some(text(trimmed)),
            b"State" if status.state.is_none() => status.state = Some(text(trimmed)),
            b"PPid" if status.ppid.is_none() => status.ppid = number(trimmed),
            b"Uid" if status.uids.is_empty() => status.uids = ids(trimmed),
            b"Gid" if status.gids.is_empty() => status.gids = ids(trimmed),
            _ => {}
        }
    }
    status
}

fn ids(value: &[u8]) -> Vec<u32> {
    fields(value).take(4).map_while(number).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_parent_and_ids_are_read() {
        let status = parse_status(
            b"Name:\tnginx: worker\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t7\nPPid:\t1\nUid:\t101\t101\t101\t101\nGid:\t0\t0\t0\t0\n",
        );
        assert_eq!(status.name.as_deref(), Some("nginx: worker"));
        assert_eq!(status.state.as_deref(), Some("S (sleeping)"));
        assert_eq!(status.ppid, Some(1));
        assert_eq!(status.uids, [101; 4]);
        assert_eq!(status.gids, [0; 4]);
    }

    #[test]
    fn hostile_status_keeps_what_it_can() {
        let long = "x".repeat(70_000);
        let input = format!("Name:\t{long}\nPPid:\tnot-a-number\nUid:\t1\t2\tzz\t4\nGid\nName:\tsecond\n");
        let status = parse_status(input.as_bytes());
        assert_eq!(status.name.as_deref(), Some(long.as_str()), "the first Name counts");
        assert_eq!(status.ppid, None);
        assert_eq!(status.uids, [1, 2]);
        assert!(status.gids.is_empty());
        assert_eq!(parse_status(b"Name:\t\xffevil\n").name.as_deref(), Some("\u{fffd}evil"));
        assert_eq!(parse_status(b""), Status::default());
    }
}

//! /proc/PID/stat: one line of fields, the second (the command name, in parentheses) free text.

use super::{fields, number};

/// Where the process's environment strings lie in its memory (`env_start`, `env_end`: fields 50
/// and 51), when the line has them and they make a range.
pub fn environment_range(stat: &[u8]) -> Option<(u64, u64)> {
    // The name may hold `)` and blanks: the fields that follow start after the last `)`.
    let after_name = &stat[memchr::memrchr(b')', stat)? + 1..];
    // Field 3 (the state) is the first after the name.
    let mut rest = fields(after_name).skip(50 - 3);
    let start: u64 = number(rest.next()?)?;
    let end: u64 = number(rest.next()?.trim_ascii_end())?;
    (start <= end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, env_start: &str, env_end: &str) -> Vec<u8> {
        let middle: Vec<String> = (4..50).map(|n| n.to_string()).collect();
        format!("123 ({name}) S {} {env_start} {env_end} 0\n", middle.join(" ")).into_bytes()
    }

    #[test]
    fn the_environment_range_is_found_after_the_name() {
        assert_eq!(environment_range(&line("sleep", "140737", "140800")), Some((140737, 140800)));
        assert_eq!(environment_range(&line("a) S 1 2 (b", "10", "20")), Some((10, 20)), "a hostile name");
    }

    #[test]
    fn a_short_or_broken_line_has_no_range() {
        assert_eq!(environment_range(b"123 (sleep) S 1 2 3\n"), None);
        assert_eq!(environment_range(b"123 sleep S"), None);
        assert_eq!(environment_range(&line("x", "20", "10")), None, "end before start");
        assert_eq!(environment_range(&line("x", "-1", "10")), None);
        assert_eq!(environment_range(&line("\u{fffd}", "1", "x")), None);
        assert_eq!(environment_range(b""), None);
        let long = format!("1 ({}) S", "x".repeat(100_000));
        assert_eq!(environment_range(long.as_bytes()), None);
    }
}

//! Exit codes: a documented contract for scripts (see docs/exit-codes.md).

/// The command did what was asked.
pub const SUCCESS: u8 = 0;
/// The command failed (cluster unreachable, API error, bad input file, ...).
pub const FAILURE: u8 = 1;
/// The command line was wrong (unknown flag, missing argument, invalid value).
pub const USAGE: u8 = 2;
/// `detect` found something (findings are on stdout).
pub const FOUND: u8 = 3;
/// The command completed, but some input records were skipped (malformed, truncated, not
/// UTF-8, too long, unreadable); stderr says how many, why, and where the first ones are.
/// For `detect`, 3 wins: findings are reported whether or not records were skipped.
pub const SKIPPED: u8 = 4;
/// Evidence is incomplete: some of it could not be collected for a reason that may pass (the
/// API server could not be reached, a stream was cut, a permission is missing), and `respond
/// --replace` kept the suspect for it. Running the same command again with the same case
/// collects what is missing; stderr names it.
pub const INCOMPLETE: u8 = 5;
/// `isolate` and `respond`: the pod is isolated, but the clean replacement its controller should
/// start did not run within `--replacement-timeout`; stderr says why (scheduling, image pull,
/// quota). 1 and 5 win over it.
pub const NOT_REPLACED: u8 = 6;

/// The status of a command that acted on several pods: the one that needs the most attention
/// (1 over 5 over 6 over 0, as for a single pod).
pub fn worst(codes: impl IntoIterator<Item = u8>) -> u8 {
    let rank = |code: u8| match code {
        SUCCESS => 0,
        NOT_REPLACED => 1,
        INCOMPLETE => 2,
        _ => 3,
    };
    codes.into_iter().max_by_key(|&code| rank(code)).unwrap_or(SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_status_of_several_pods_wins() {
        assert_eq!(worst([SUCCESS, NOT_REPLACED, SUCCESS]), NOT_REPLACED);
        assert_eq!(worst([NOT_REPLACED, INCOMPLETE]), INCOMPLETE);
        assert_eq!(worst([INCOMPLETE, FAILURE, NOT_REPLACED]), FAILURE);
        assert_eq!(worst([]), SUCCESS);
    }
}

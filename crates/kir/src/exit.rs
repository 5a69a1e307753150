//! Exit codes: a documented contract for scripts (see docs/exit-codes.md).

/// The command did what was asked.
pub const SUCCESS: u8 = 0;
/// The command failed (cluster unreachable, API error, bad input file, ...).
pub const FAILURE: u8 = 1;
/// The command line was wrong (unknown flag, missing argument, invalid value).
pub const USAGE: u8 = 2;

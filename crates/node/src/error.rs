use std::path::PathBuf;

use crate::Pid;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a collection could not be done at all. What goes wrong with one process, file or region
/// is not an error: it is recorded in the result ("problems", "skipped") and collection goes on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("process {pid} is gone")]
    ProcessGone { pid: Pid },

    #[error("process {pid}'s root file system is not an overlay mount with an upper directory")]
    NoUpperDirectory { pid: Pid },

    #[error("{path}: cannot be opened as a directory without following a link: {source}")]
    UpperDirectory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the processes could not be frozen ({reason}); nothing was read (reading unfrozen was not allowed)"
    )]
    FreezeImpossible { reason: String },

    #[error("no processes given")]
    NoProcesses,
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { what: what.into(), source }
    }
}

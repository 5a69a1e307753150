//! Where audit records come from: files, directories (recursively) and standard input, each
//! plain, gzip or zstd, told apart by their first bytes rather than by their names.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, Read},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

/// One input named on the command line or found in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
    /// An entry of a directory that is not read, and why: a named pipe (opening it could block
    /// the scan forever), a socket or device, a dangling symbolic link or one that loops, a
    /// link to a directory, a subdirectory that cannot be listed. Reported like an unreadable
    /// file, never passed over in silence.
    Unusable {
        path: PathBuf,
        why: String,
    },
}

impl Input {
    /// How the input is named in messages.
    pub fn display(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(path) | Input::Unusable { path, .. } => path.display().to_string(),
        }
    }

    /// Size on disk, when known (standard input has none).
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::Stdin | Input::Unusable { .. } => None,
            Input::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: no such file or directory (give audit log files, directories or - for stdin)")]
    Missing { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("no input given: name audit log files or directories, or - for standard input")]
    Empty,
    #[error("- (standard input) is given more than once")]
    StdinTwice,
}

/// Expand the command line's inputs: directories recursively, in name order so that rotated
/// logs read in a stable order; hidden files (dot files) in directories are left out.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<Input>, InputError> {
    if paths.is_empty() {
        return Err(InputError::Empty);
    }
    let mut inputs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            if inputs.contains(&Input::Stdin) {
                return Err(InputError::StdinTwice);
            }
            inputs.push(Input::Stdin);
            continue;
        }
        let metadata = std::fs::metadata(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => InputError::Missing { path: path.clone() },
            _ => InputError::Unreadable { path: path.clone(), source },
        })?;
        if metadata.is_dir() {
            walk(path, &mut inputs)?;
        } else {
            inputs.push(Input::File(path.clone()));
        }
    }
    Ok(inputs)
}

fn walk(dir: &Path, inputs: &mut Vec<Input>) -> Result<(), InputError> {
    let unreadable = |source| InputError::Unreadable { path: dir.to_path_buf(), source };
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).map_err(unreadable)?.collect::<Result<Vec<_>, _>>().map_err(unreadable)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let unusable = |why: String| Input::Unusable { path: entry.path(), why };
        let file_type = match entry.file_type() {
            Ok(file_type) => file_type,
            Err(e) => {
                inputs.push(unusable(format!("cannot tell what it is: {e}")));
                continue;
            }
        };
        if file_type.is_dir() {
            if let Err(InputError::Unreadable { source, .. }) = walk(&path, inputs) {
                inputs.push(unusable(format!("directory that cannot be listed: {source}")));
            }
        } else if file_type.is_symlink() {
            // Followed to files only: a link to a directory can loop back to an ancestor.
            match std::fs::metadata(&path) {
                Ok(target) if target.is_file() => inputs.push(Input::File(path)),
                Ok(target) if target.is_dir() => inputs.push(unusable(
                    "symbolic link to a directory, not followed (name the directory itself to read it)"
                        .into(),
                )),
                Ok(target) => {
                    inputs.push(unusable(format!("symbolic link to a {}", kind(&target.file_type()))))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let target =
                        std::fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_default();
                    inputs.push(unusable(format!("dangling symbolic link (to {target:?})")));
                }
                Err(e) => inputs.push(unusable(format!("symbolic link that cannot be followed: {e}"))),
            }
        } else if file_type.is_file() {
            inputs.push(Input::File(path));
        } else {
            inputs.push(unusable(kind(&file_type)));
        }
    }
    Ok(())
}

/// What a directory entry that is neither a file nor a directory is, and why it is not read.
#[cfg(unix)]
fn kind(file_type: &std::fs::FileType) -> String {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "named pipe (FIFO), not read: opening it would wait for a writer".into()
    } else if file_type.is_socket() {
        "socket, not a file".into()
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "device, not a file".into()
    } else {
        "not a regular file".into()
    }
}

#[cfg(not(unix))]
fn kind(_: &std::fs::FileType) -> String {
    "not a regular file".into()
}

/// How an input's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, thiserror::Error)]
#[error("{name} compression is not supported: decompress it first (e.g. {tool} -dc FILE | kir ... -)")]
pub struct UnsupportedCompression {
    pub name: &'static str,
    pub tool: &'static str,
}

/// Tell the encoding from the magic bytes at the start.
pub fn sniff(start: &[u8]) -> Result<Compression, UnsupportedCompression> {
    if start.starts_with(&[0x1f, 0x8b]) {
        Ok(Compression::Gzip)
    } else if start.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Compression::Zstd)
    } else if start.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Err(UnsupportedCompression { name: "xz", tool: "xz" })
    } else if start.starts_with(b"BZh") {
        Err(UnsupportedCompression { name: "bzip2", tool: "bzip2" })
    } else {
        Ok(Compression::None)
    }
}

/// Counts the bytes read from the underlying file, for progress on compressed inputs.
pub(crate) struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A decompressed byte stream of one input, for readers of other line formats (runtime events).
pub fn open(input: &Input) -> io::Result<Box<dyn BufRead + Send>> {
    open_stream(input, Arc::new(AtomicU64::new(0)))?
        .map_err(|unsupported| io::Error::new(io::ErrorKind::InvalidData, unsupported.to_string()))
}

/// A decompressed byte stream of one input.
pub(crate) fn open_stream(
    input: &Input,
    count: Arc<AtomicU64>,
) -> io::Result<Result<Box<dyn BufRead + Send>, UnsupportedCompression>> {
    let raw: Box<dyn Read + Send> = match input {
        Input::Stdin => Box::new(io::stdin()),
        Input::File(path) => Box::new(File::open(path)?),
        Input::Unusable { why, .. } => return Err(io::Error::other(why.clone())),
    };
    let mut buffered = BufReader::with_capacity(1 << 20, Counting { inner: raw, count });
    let start = buffered.fill_buf()?;
    let reader: Box<dyn BufRead + Send> = match sniff(start) {
        Err(unsupported) => return Ok(Err(unsupported)),
        Ok(Compression::None) => Box::new(buffered),
        Ok(Compression::Gzip) => {
            Box::new(BufReader::with_capacity(1 << 20, flate2::bufread::MultiGzDecoder::new(buffered)))
        }
        Ok(Compression::Zstd) => {
            Box::new(BufReader::with_capacity(1 << 20, zstd::Decoder::with_buffer(buffered)?))
        }
    };
    Ok(Ok(reader))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_expand_recursively_in_name_order_without_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/c")).unwrap();
        for name in ["b/c/3.log", "a.log", "b/2.log", ".hidden"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let names: Vec<String> = expand(&[dir.path().to_path_buf()])
            .unwrap()
            .iter()
            .map(|i| i.display().strip_prefix(&dir.path().display().to_string()).unwrap().to_string())
            .collect();
        assert_eq!(names, ["/a.log", "/b/2.log", "/b/c/3.log"]);
    }

    #[test]
    fn missing_inputs_and_double_stdin_are_named() {
        let error = expand(&[PathBuf::from("/no/such/audit.log")]).unwrap_err();
        assert!(error.to_string().contains("/no/such/audit.log"), "{error}");
        assert!(matches!(expand(&[]), Err(InputError::Empty)));
        assert!(matches!(expand(&["-".into(), "-".into()]), Err(InputError::StdinTwice)));
    }

    #[test]
    fn compression_is_told_by_magic_bytes() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8]).unwrap(), Compression::Gzip);
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd]).unwrap(), Compression::Zstd);
        assert_eq!(sniff(b"{\"kind\"").unwrap(), Compression::None);
        assert!(sniff(b"BZh91AY").unwrap_err().to_string().contains("bzip2"));
    }
}

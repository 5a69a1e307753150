//! The journal key: a per-user secret that authenticates the journal lines kir writes.
//!
//! The hash chain of a journal has no key, so anyone who can write a case folder can append a
//! line that chains. A MAC under a key that lives outside the case folder (by default
//! `~/.config/kir/journal.key`) tells the lines this user's kir wrote from everything else.
//! The key is 32 random bytes, created on first use (mode 0600, in a 0700 folder), and named by
//! a short public id that does not reveal it.

use std::{
    fs::{self, DirBuilder, File, OpenOptions},
    io::{self, Read, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::{
    Error, Result,
    error::io_error,
    fsutil::{random_hex, sync_dir},
    hash::to_hex,
};

/// The environment variable naming the key file, overriding the default location.
pub const JOURNAL_KEY_ENV: &str = "KIR_JOURNAL_KEY";
const KEY_BYTES: usize = 32;
/// Separates the key id's hash from any other hash of the key.
const ID_DOMAIN: &[u8] = b"kir journal key id v1\0";
/// Hex digits of the key id.
pub(crate) const KEY_ID_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// A journal key, loaded from its file. Its [`Debug`](std::fmt::Debug) shows the id only.
#[derive(Clone)]
pub struct JournalKey {
    secret: [u8; KEY_BYTES],
    id: String,
    path: PathBuf,
}

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalKey").field("id", &self.id).field("path", &self.path).finish_non_exhaustive()
    }
}

impl JournalKey {
    /// The user's journal key: the file `KIR_JOURNAL_KEY` names, else
    /// `$XDG_CONFIG_HOME/kir/journal.key`, else `~/.config/kir/journal.key`; created there when
    /// missing.
    pub fn from_environment() -> Result<JournalKey> {
        JournalKey::load_or_create(JournalKey::environment_path()?)
    }

    /// The user's journal key if its file exists; never creates one (verification on a machine
    /// without a key must leave none behind).
    pub fn find() -> Result<Option<JournalKey>> {
        let path = JournalKey::environment_path()?;
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            _ => JournalKey::load(path).map(Some),
        }
    }

    /// Where [`from_environment`](JournalKey::from_environment) looks for the key.
    pub fn environment_path() -> Result<PathBuf> {
        let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
        if let Some(path) = set(JOURNAL_KEY_ENV) {
            return Ok(path);
        }
        // The XDG base directory specification ignores a relative XDG_CONFIG_HOME.
        if let Some(config) = set("XDG_CONFIG_HOME").filter(|path| path.is_absolute()) {
            return Ok(config.join("kir").join("journal.key"));
        }
        match set("HOME") {
            Some(home) => Ok(home.join(".config").join("kir").join("journal.key")),
            None => Err(Error::Key {
                path: PathBuf::from("~/.config/kir/journal.key"),
                detail: format!(
                    "none of {JOURNAL_KEY_ENV}, XDG_CONFIG_HOME and HOME is set, so kir cannot find its journal key: set {JOURNAL_KEY_ENV} to the key's file"
                ),
            }),
        }
    }

    /// Load the key at `path`, which must be 32 bytes that only its owner can read.
    pub fn load(path: impl AsRef<Path>) -> Result<JournalKey> {
        let path = path.as_ref();
        let key_error = |detail: String| Error::Key { path: path.to_path_buf(), detail };
        let file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => key_error(format!(
                "no journal key there; point {JOURNAL_KEY_ENV} at an existing key file, or leave it unset to use your own"
            )),
            _ => io_error("read", path)(e),
        })?;
        let meta = file.metadata().map_err(io_error("inspect", path))?;
        if !meta.is_file() {
            return Err(key_error("not a regular file; a journal key is a file of 32 bytes".into()));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_error(format!(
                "others can read or change it (mode {mode:04o}); whoever reads the key can forge your journal lines. Run `chmod 600 {}`, and make a new key (remove the file) if others may have read it",
                path.display()
            )));
        }
        if meta.len() != KEY_BYTES as u64 {
            return Err(key_error(format!(
                "{} bytes, but a journal key is {KEY_BYTES}: restore the key file, or remove it so kir makes a new one (lines written with the old key will no longer authenticate)",
                meta.len()
            )));
        }
        let mut secret = [0u8; KEY_BYTES];
        (&file).read_exact(&mut secret).map_err(io_error("read", path))?;
        Ok(JournalKey::from_secret(secret, path.to_path_buf()))
    }

    /// Load the key at `path`, or create it there when there is none. Two processes creating it
    /// at once end up with the same key: each writes a private file and links it into place
    /// without replacing anything, then reads what is in place.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<JournalKey> {
        let path = path.as_ref();
        // Whether the file exists is asked once: a process that found none creates one (the link
        // keeps a key another process put in place meanwhile) and then reads what is there.
        if fs::symlink_metadata(path).is_err() {
            create_key_file(path)?;
        }
        JournalKey::load(path)
    }

    /// The key's public id: 16 hex digits that name it without revealing it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The file the key was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn from_secret(secret: [u8; KEY_BYTES], path: PathBuf) -> JournalKey {
        let mut hasher = Sha256::new();
        hasher.update(ID_DOMAIN);
        hasher.update(secret);
        let id = to_hex(&hasher.finalize())[..KEY_ID_LEN].to_string();
        JournalKey { secret, id, path }
    }

    /// A key from fixed bytes, for tests that need several keys without files.
    #[cfg(test)]
    pub(crate) fn for_tests(byte: u8) -> JournalKey {
        JournalKey::from_secret([byte; KEY_BYTES], PathBuf::from(format!("test-key-{byte}")))
    }

    fn hmac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.secret).expect("HMAC takes a key of any length")
    }

    /// HMAC-SHA256 of `bytes`, as lowercase hex.
    pub(crate) fn mac(&self, bytes: &[u8]) -> String {
        let mut mac = self.hmac();
        mac.update(bytes);
        to_hex(&mac.finalize().into_bytes())
    }

    /// Whether `mac_hex` is the MAC of `bytes` under this key (compared in constant time).
    pub(crate) fn verifies(&self, bytes: &[u8], mac_hex: &str) -> bool {
        let Some(tag) = from_hex(mac_hex) else { return false };
        let mut mac = self.hmac();
        mac.update(bytes);
        mac.verify_slice(&tag).is_ok()
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes().chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

/// Write a new key at `path`, unless one appears there first.
fn create_key_file(path: &Path) -> Result<()> {
    let key_error = |detail: String| Error::Key { path: path.to_path_buf(), detail };
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&folder)
        .map_err(io_error("create folder", &folder))?;
    let mut secret = [0u8; KEY_BYTES];
    // Unlike names, a key must never fall back to a guessable source.
    getrandom::fill(&mut secret)
        .map_err(|e| key_error(format!("the system has no source of random bytes to make a key: {e}")))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = folder.join(format!(".{name}.{}.tmp", random_hex(8)));
    let written = (|| -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
        file.write_all(&secret)?;
        file.sync_all()?;
        // A link, unlike a rename, never replaces a key another process put in place meanwhile.
        match fs::hard_link(&temporary, path) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    })();
    let _ = fs::remove_file(&temporary);
    written.map_err(io_error("create", path))?;
    sync_dir(&folder).map_err(io_error("sync", &folder))
}

#[cfg(test)]
mod tests {
    use std::{sync::Barrier, thread};

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_missing_key_is_created_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/kir/journal.key");
        let key = JournalKey::load_or_create(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap().len(), 32);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(key.id().len(), 16);
        assert!(key.id().bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!format!("{key:?}").contains(&to_hex(&fs::read(&path).unwrap())), "Debug hides the secret");
        let again = JournalKey::load_or_create(&path).unwrap();
        assert_eq!(again.id(), key.id());
        assert_eq!(again.mac(b"line"), key.mac(b"line"));
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temporary file is left");
    }

    #[test]
    fn processes_racing_to_create_the_key_all_get_the_same_one() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("kir/journal.key");
            let barrier = Barrier::new(8);
            let ids: Vec<String> = thread::scope(|scope| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            JournalKey::load_or_create(&path).unwrap().id().to_string()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
            assert_eq!(JournalKey::load(&path).unwrap().id(), ids[0]);
        }
    }

    #[test]
    fn a_key_others_can_read_or_of_the_wrong_size_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.key");
        JournalKey::load_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let error = JournalKey::load(&path).unwrap_err().to_string();
        assert!(error.contains("journal.key") && error.contains("chmod 600"), "{error}");
        assert!(JournalKey::load_or_create(&path).is_err(), "an unsafe key is not replaced either");

        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, b"short").unwrap();
        let error = JournalKey::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("journal.key") && error.contains("5 bytes") && error.contains("32"),
            "{error}"
        );

        let error = JournalKey::load(dir.path().join("absent")).unwrap_err().to_string();
        assert!(error.contains("absent") && error.contains(JOURNAL_KEY_ENV), "{error}");
    }

    #[test]
    fn ids_name_keys_and_macs_check_bytes() {
        let (one, two) = (JournalKey::for_tests(1), JournalKey::for_tests(2));
        assert_ne!(one.id(), two.id());
        assert_eq!(one.id(), JournalKey::for_tests(1).id());
        let mac = one.mac(b"line");
        assert_eq!(mac.len(), 64);
        assert!(one.verifies(b"line", &mac));
        assert!(!one.verifies(b"lime", &mac));
        assert!(!two.verifies(b"line", &mac));
        assert!(!one.verifies(b"line", "zz"));
        assert!(!one.verifies(b"line", &mac[..62]));
    }
}

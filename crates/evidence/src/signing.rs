//! Signing the manifest with minisign (Ed25519) keys, so that `minisign -V` can check it too.
//!
//! The manifest names the journal's last entry and its hash, and every artifact's hash, so one
//! signature over `manifest.json` covers the whole case.

use std::{
    fs::{self, OpenOptions},
    io::{Cursor, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox, SignatureBox};

use crate::{Error, Result, error::io_error};

/// A minisign secret key, ready to sign.
pub struct SigningKey {
    secret: SecretKey,
    key_id: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Load a minisign secret key file. A password-protected key needs `password`; an
    /// unprotected one ignores it.
    pub fn from_file(path: &Path, password: Option<&str>) -> Result<SigningKey> {
        let key_error = |detail: String| Error::Key { path: path.to_path_buf(), detail };
        let text = fs::read_to_string(path).map_err(io_error("read", path))?;
        let unprotected = SecretKey::from_unencrypted_box(
            SecretKeyBox::from_string(&text)
                .map_err(|e| key_error(format!("not a minisign secret key: {e}")))?,
        );
        let secret = match (unprotected, password) {
            (Ok(secret), _) => secret,
            (Err(_), Some(password)) => {
                let sealed = SecretKeyBox::from_string(&text).map_err(|e| key_error(e.to_string()))?;
                SecretKey::from_box(sealed, Some(password.to_string()))
                    .map_err(|e| key_error(format!("cannot open the key with the given password: {e}")))?
            }
            (Err(e), None) => {
                return Err(key_error(format!(
                    "cannot open it without a password ({e}): it is protected by one, or it is not a usable minisign secret key"
                )));
            }
        };
        let key_id = key_id(secret.keynum());
        Ok(SigningKey { secret, key_id })
    }

    /// minisign's key ID: 16 upper-case hex digits.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// A minisign public key.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    public: PublicKey,
    key_id: String,
}

impl VerifyingKey {
    /// Load a minisign public key file (`untrusted comment:` line and base64 key).
    pub fn from_file(path: &Path) -> Result<VerifyingKey> {
        let text = fs::read_to_string(path).map_err(io_error("read", path))?;
        let public = PublicKeyBox::from_string(&text).and_then(PublicKey::from_box).map_err(|e| {
            Error::Key { path: path.to_path_buf(), detail: format!("not a minisign public key: {e}") }
        })?;
        let key_id = key_id(public.keynum());
        Ok(VerifyingKey { public, key_id })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// The files `generate_keys` wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratedKeys {
    pub secret_key: PathBuf,
    pub public_key: PathBuf,
    pub key_id: String,
    /// Whether the secret key is protected by a password.
    pub protected: bool,
}

/// Write a new key pair as `PREFIX.key` (secret, mode 0600) and `PREFIX.pub`, in minisign's
/// format. Without a password the secret key is stored unprotected. Never overwrites.
pub fn generate_keys(prefix: &Path, password: Option<&str>) -> Result<GeneratedKeys> {
    let with_extension = |extension: &str| {
        let mut name = prefix.as_os_str().to_owned();
        name.push(extension);
        PathBuf::from(name)
    };
    let secret_path = with_extension(".key");
    let public_path = with_extension(".pub");
    let key_error = |path: &Path, detail: String| Error::Key { path: path.to_path_buf(), detail };
    for path in [&secret_path, &public_path] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(key_error(
                path,
                "already exists: kir never overwrites a key; choose another prefix, or move the old pair away".into(),
            ));
        }
    }
    let pair = match password {
        Some(password) => KeyPair::generate_encrypted_keypair(Some(password.to_string())),
        None => KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(|e| key_error(&secret_path, format!("cannot generate a key pair: {e}")))?;
    let secret_text = pair
        .sk
        .to_box(Some("kir case signing key"))
        .map_err(|e| key_error(&secret_path, e.to_string()))?
        .into_string();
    let public_text = pair.pk.to_box().map_err(|e| key_error(&public_path, e.to_string()))?.into_string();

    write_key_file(&secret_path, &secret_text, 0o600)?;
    if let Err(error) = write_key_file(&public_path, &public_text, 0o644) {
        let _ = fs::remove_file(&secret_path);
        return Err(error);
    }
    Ok(GeneratedKeys {
        secret_key: secret_path,
        public_key: public_path,
        key_id: key_id(pair.pk.keynum()),
        protected: password.is_some(),
    })
}

fn write_key_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_error("create", path))?;
    file.write_all(text.as_bytes()).map_err(io_error("write", path))?;
    file.sync_all().map_err(io_error("sync", path))
}

/// A `.minisig` file for `manifest`. The trusted comment (signed too) names the case.
pub(crate) fn sign(key: &SigningKey, manifest: &[u8], case_id: &str, head_seq: u64) -> Result<Vec<u8>> {
    let trusted = format!("kir case {case_id}, manifest of journal entries 1 to {head_seq}");
    let signature = minisign::sign(
        None,
        &key.secret,
        Cursor::new(manifest),
        Some(&trusted),
        Some("kir case manifest signature"),
    )
    .map_err(|e| Error::Sign { path: PathBuf::from(crate::layout::MANIFEST_FILE), detail: e.to_string() })?;
    Ok(signature.into_string().into_bytes())
}

/// Check a `.minisig` file against `manifest`; the error says why it does not verify.
pub(crate) fn check_signature(key: &VerifyingKey, manifest: &[u8], signature: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(signature).map_err(|_| "the signature file is not text".to_string())?;
    let signature = SignatureBox::from_string(text).map_err(|e| format!("not a minisign signature: {e}"))?;
    minisign::verify(&key.public, &signature, Cursor::new(manifest), true, false, false)
        .map_err(|e| e.to_string())
}

fn key_id(keynum: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&keynum[..8]);
    format!("{:016X}", u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify_and_a_wrong_key_fails() {
        let dir = tempfile::tempdir().unwrap();
        let first = generate_keys(&dir.path().join("first"), None).unwrap();
        let second = generate_keys(&dir.path().join("second"), None).unwrap();
        assert!(!first.protected);
        let mode = fs::metadata(&first.secret_key).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);

        let signing = SigningKey::from_file(&first.secret_key, None).unwrap();
        assert_eq!(signing.key_id(), first.key_id);
        let signature = sign(&signing, b"manifest bytes", "case-1", 3).unwrap();
        let right = VerifyingKey::from_file(&first.public_key).unwrap();
        let wrong = VerifyingKey::from_file(&second.public_key).unwrap();
        assert_eq!(check_signature(&right, b"manifest bytes", &signature), Ok(()));
        assert!(check_signature(&right, b"manifest bytez", &signature).is_err());
        assert!(check_signature(&wrong, b"manifest bytes", &signature).is_err());
        assert!(check_signature(&right, b"manifest bytes", b"garbage").is_err());
    }

    #[test]
    fn keys_are_never_overwritten_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("k");
        generate_keys(&prefix, None).unwrap();
        let error = generate_keys(&prefix, None).unwrap_err().to_string();
        assert!(error.contains("k.key"), "{error}");

        let junk = dir.path().join("junk.pub");
        fs::write(&junk, "hello").unwrap();
        let error = VerifyingKey::from_file(&junk).unwrap_err().to_string();
        assert!(error.contains("junk.pub") && error.contains("not a minisign public key"), "{error}");
        let error = SigningKey::from_file(&junk, None).unwrap_err().to_string();
        assert!(error.contains("junk.pub"), "{error}");
    }

    #[test]
    fn a_password_protected_key_needs_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let keys = generate_keys(&dir.path().join("p"), Some("correct horse")).unwrap();
        assert!(keys.protected);
        let error = SigningKey::from_file(&keys.secret_key, None).unwrap_err().to_string();
        assert!(error.contains("password"), "{error}");
        assert!(SigningKey::from_file(&keys.secret_key, Some("wrong")).is_err());
        let key = SigningKey::from_file(&keys.secret_key, Some("correct horse")).unwrap();
        let signature = sign(&key, b"m", "c", 1).unwrap();
        let public = VerifyingKey::from_file(&keys.public_key).unwrap();
        assert_eq!(check_signature(&public, b"m", &signature), Ok(()));
    }
}

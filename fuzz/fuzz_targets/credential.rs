//! Any bytes as a leaked credential (`kir creds show`): as a certificate file and as a pasted
//! token, a description or an error, never a panic; a bootstrap token's secret half never comes
//! back.
#![no_main]

use kir_credential::{TokenKind, inspect_certificate, inspect_token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = inspect_certificate(data) {
        assert_eq!(info.credential_id, format!("X509SHA256={}", info.fingerprint));
        serde_json::to_string(&info).unwrap();
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(info) = inspect_token(text) {
        let _ = (info.notes(), info.username(), info.groups(), info.credential_id());
        let json = serde_json::to_string(&info).unwrap();
        if let TokenKind::Bootstrap { token_id } = &info.kind {
            let secret = text.rsplit('.').next().unwrap().trim();
            assert!(!json.contains(secret), "the secret of bootstrap token {token_id} is shown");
        }
    }
});

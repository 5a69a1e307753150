//! What a leaked Kubernetes credential is, from its bytes alone: who it authenticates as, and
//! what it takes to make it stop working. No I/O, no network, no API server: `kir creds show`
//! reads the input and asks the cluster (TokenReview, the objects named here) on its own.
//!
//! The input is hostile (a token pasted from a CI log, a file from an attacker's laptop): sizes
//! are capped ([`MAX_TOKEN_BYTES`], [`MAX_CERTIFICATE_BYTES`]), nothing panics, and nothing
//! returned or displayed holds the secret: a token is named by its SHA-256 [`fingerprint`].
//! Signatures are not checked: whether a token is accepted is the API server's answer.
//!
//! How each kind of credential dies:
//!
//! - [`TokenKind::LegacyServiceAccount`]: the token of a `kubernetes.io/service-account-token`
//!   Secret. It never expires; it dies when that Secret, or its service account, is deleted.
//! - [`TokenKind::BoundServiceAccount`]: a TokenRequest token (projected into pods, or made by
//!   `kubectl create token`). It dies at its expiry, when its service account is deleted or
//!   recreated, and, when bound to an object (a pod, a Secret, a node), when that object is
//!   deleted. Tokens that admission injected into pods may carry an expiry extended to a year,
//!   with `warnafter` saying when it would have expired.
//! - [`TokenKind::Bootstrap`]: a node-joining token; it dies when its Secret
//!   `kube-system/bootstrap-token-<id>` is deleted or its expiration passes.
//! - [`TokenKind::OtherJwt`]: a JWT from another issuer (OIDC): it dies at its expiry or at the
//!   issuer; the cluster can only stop trusting that issuer.
//! - [`TokenKind::Opaque`]: anything else, e.g. a static token file entry (it dies only when
//!   the API server restarts without it) or a token a webhook authenticates.
//! - A client certificate ([`inspect_certificate`]) cannot be revoked: it works until its
//!   `notAfter`, unless the cluster's client CA is replaced. RBAC bindings are the only lever
//!   short of that, and none exists for the group `system:masters`.

mod certificate;
mod error;
mod token;

pub use certificate::{CertificateInfo, MAX_CERTIFICATE_BYTES, inspect_certificate};
pub use error::{Error, JwtPart};
pub use token::{BoundObject, Claims, JwtHeader, MAX_TOKEN_BYTES, TokenInfo, TokenKind, inspect_token};

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`, lower-case hex: how a secret is named without being shown.
pub fn fingerprint(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn fingerprint_is_lower_case_sha256_hex() {
        assert_eq!(fingerprint(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(fingerprint(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}

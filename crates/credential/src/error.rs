use std::fmt;

use crate::{MAX_CERTIFICATE_BYTES, MAX_TOKEN_BYTES};

/// Why an input could not be read as a credential. Messages say which input, what is wrong and
/// what to do; none repeats the input's bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error(
        "too large for a token: {size} bytes, at most {MAX_TOKEN_BYTES} (a service-account token is \
         about 1 KiB): give the token alone, not the log or file around it"
    )]
    TokenTooLarge { size: usize },
    #[error("no token: the input is empty or only whitespace")]
    EmptyToken,
    #[error(
        "not one token: whitespace or a control character at byte {offset}; give the token alone, \
         without a header name, quotes or line breaks"
    )]
    TokenHasSeparator { offset: usize },
    #[error("not a JWT: {} dot-separated {}, expected 3{}", .parts, plural(*.parts, "part"), parts_hint(*.parts))]
    JwtParts { parts: usize },
    #[error("the token's {part} is not base64url: the token is damaged or cut short; copy it again whole")]
    NotBase64 { part: JwtPart },
    #[error("the token's {part} is not JSON ({detail}): the token is damaged or not a JWT")]
    NotJson { part: JwtPart, detail: String },
    #[error("the token's {part} is JSON but not an object: not a JWT")]
    NotJsonObject { part: JwtPart },
    #[error(
        "the token's claim \"{claim}\" is not {expected}: the token is malformed and no API server accepts it"
    )]
    BadClaim { claim: String, expected: &'static str },
    #[error(
        "the token has Kubernetes service-account claims but no \"{claim}\": the API server rejects \
         it (altered, or not issued by Kubernetes)"
    )]
    MissingClaim { claim: String },

    #[error(
        "too large for a certificate file: {size} bytes, at most {MAX_CERTIFICATE_BYTES}: give the \
         client certificate alone (PEM or DER)"
    )]
    CertificateTooLarge { size: usize },
    #[error(
        "not a certificate: neither PEM (no \"-----BEGIN\" line) nor DER (no ASN.1 SEQUENCE at the \
         start); give the client certificate, e.g. a kubeconfig's client-certificate-data decoded"
    )]
    NotCertificate,
    #[error(
        "base64 of a PEM file (as in a kubeconfig's client-certificate-data): decode it first, e.g. \
         with base64 -d"
    )]
    Base64OfPem,
    #[error("not a PEM certificate: found a {found} block{}", found_hint(.found))]
    PemWithoutCertificate { found: String },
    #[error("a malformed PEM file: {reason}")]
    PemMalformed { reason: &'static str },
    #[error("the PEM CERTIFICATE block is not base64: the file is damaged or cut short")]
    PemNotBase64,
    #[error("not an X.509 certificate ({detail}): the DER is damaged, or is another kind of object")]
    CertificateDer { detail: String },
    #[error(
        "the certificate's {extension} extension is malformed ({detail}): the API server's x509 \
         parser rejects such a certificate"
    )]
    CertificateExtension { extension: &'static str, detail: String },
}

/// The part of a JWT an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtPart {
    Header,
    Payload,
}

impl fmt::Display for JwtPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwtPart::Header => "header",
            JwtPart::Payload => "payload",
        })
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 { noun.to_string() } else { format!("{noun}s") }
}

fn parts_hint(parts: usize) -> &'static str {
    match parts {
        0..=2 => " (the token is cut short: copy it again whole)",
        5 => " (an encrypted JWT, JWE, which only its recipient can read)",
        _ => "",
    }
}

fn found_hint(label: &str) -> &'static str {
    if label.contains("PRIVATE KEY") {
        " (a key alone does not say whom it authenticates as: give the certificate that goes with \
         it, e.g. the kubeconfig's client-certificate-data)"
    } else if label.contains("CERTIFICATE REQUEST") {
        " (a CSR is not a credential: the certificate issued for it is in the \
         CertificateSigningRequest's status.certificate)"
    } else {
        ""
    }
}

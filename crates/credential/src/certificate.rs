//! Client certificates: whom the API server takes one for (k8s.io/apiserver's x509
//! authenticator: user = subject CN, groups = subject O) and its audit credential id.

use std::{borrow::Cow, fmt::Write as _};

use base64::{
    Engine,
    alphabet::STANDARD,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use jiff::Timestamp;
use serde::Serialize;
use x509_cert::{
    Certificate,
    der::{
        Any, Decode,
        asn1::Ia5StringRef,
        oid::db::{rfc4519, rfc5280},
    },
    ext::pkix::{BasicConstraints, ExtendedKeyUsage, name::DirectoryString},
    name::Name,
    time::Time,
};

use crate::{Error, fingerprint};

/// The largest certificate file read: a client certificate with its chain is a few KiB.
pub const MAX_CERTIFICATE_BYTES: usize = 1024 * 1024;

const PEM_BEGIN: &[u8] = b"-----BEGIN ";
const PEM_DASHES: &[u8] = b"-----";
/// "-----BEGIN" in base64, as a kubeconfig's client-certificate-data starts.
const BASE64_PEM_BEGIN: &[u8] = b"LS0tLS1CRUdJTi";

/// Base64 as PEM bodies use it; missing padding and loose trailing bits are tolerated, as Go's
/// decoder (and so kubectl) tolerates the latter.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// What a client certificate is and whom it authenticates as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateInfo {
    /// SHA-256 of the certificate's DER, lower-case hex.
    pub fingerprint: String,
    /// `X509SHA256=<fingerprint>`: what the API server writes into audit events as
    /// `user.extra["authentication.kubernetes.io/credential-id"]`.
    pub credential_id: String,
    /// The subject's common name (the last one, as Go reads it); empty when there is none.
    pub user: String,
    /// The subject's organization values, in order.
    pub groups: Vec<String>,
    /// The issuer's distinguished name (RFC 4514).
    pub issuer: String,
    /// The serial number, upper-case hex as `openssl x509 -serial` prints it.
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// Facts worth saying: above all, what it takes to make it stop working.
    pub notes: Vec<String>,
}

/// Reads a client certificate: PEM (the first CERTIFICATE block is the client certificate;
/// other blocks, such as its chain or its key, may come with it) or DER.
pub fn inspect_certificate(bytes: &[u8]) -> Result<CertificateInfo, Error> {
    if bytes.len() > MAX_CERTIFICATE_BYTES {
        return Err(Error::CertificateTooLarge { size: bytes.len() });
    }
    let (der, companions) = if find(bytes, PEM_BEGIN).is_some() {
        let (der, companions) = certificate_from_pem(bytes)?;
        (Cow::Owned(der), companions)
    } else if bytes.first() == Some(&0x30) {
        // 0x30 opens an ASN.1 SEQUENCE, as every DER certificate does.
        (Cow::Borrowed(bytes), Companions::default())
    } else if bytes.trim_ascii_start().starts_with(BASE64_PEM_BEGIN) {
        return Err(Error::Base64OfPem);
    } else {
        return Err(Error::NotCertificate);
    };
    let certificate =
        Certificate::from_der(&der).map_err(|error| Error::CertificateDer { detail: error.to_string() })?;
    let tbs = certificate.tbs_certificate();
    let (user, groups) = user_and_groups(tbs.subject());
    let (not_before, _) = timestamp(&tbs.validity().not_before);
    let (not_after, not_after_clamped) = timestamp(&tbs.validity().not_after);
    let is_ca = tbs
        .get_extension::<BasicConstraints>()
        .map_err(|error| malformed_extension("basic constraints", error))?
        .is_some_and(|(_, constraints)| constraints.ca);
    // The API server verifies client certificates for client authentication; without the
    // extension, any use is allowed.
    let allows_client_auth = tbs
        .get_extension::<ExtendedKeyUsage>()
        .map_err(|error| malformed_extension("extended key usage", error))?
        .is_none_or(|(_, usages)| {
            usages.0.iter().any(|usage| {
                *usage == rfc5280::ID_KP_CLIENT_AUTH || *usage == rfc5280::ANY_EXTENDED_KEY_USAGE
            })
        });

    let fingerprint = fingerprint(&der);
    let facts =
        Facts { user: &user, groups: &groups, not_after, not_after_clamped, is_ca, allows_client_auth };
    Ok(CertificateInfo {
        credential_id: format!("X509SHA256={fingerprint}"),
        fingerprint,
        notes: notes(&facts, &companions),
        issuer: distinguished_name(tbs.issuer()),
        serial: serial_hex(tbs.serial_number().as_bytes()),
        user,
        groups,
        not_before,
        not_after,
    })
}

/// What else a PEM file held beside the client certificate.
#[derive(Default)]
struct Companions {
    more_certificates: usize,
    private_key: bool,
}

struct PemBlock<'a> {
    label: &'a str,
    body: &'a [u8],
}

/// The DER of the first CERTIFICATE block. The framing is read here rather than by a strict
/// RFC 7468 decoder because files in the wild (and openssl, and Go) wrap base64 at any width.
fn certificate_from_pem(bytes: &[u8]) -> Result<(Vec<u8>, Companions), Error> {
    let blocks = pem_blocks(bytes)?;
    let Some(index) = blocks.iter().position(|block| block.label == "CERTIFICATE") else {
        return Err(match blocks.first() {
            Some(block) => Error::PemWithoutCertificate { found: block.label.to_string() },
            None => Error::NotCertificate,
        });
    };
    let base64: Vec<u8> =
        blocks[index].body.iter().copied().filter(|byte| !byte.is_ascii_whitespace()).collect();
    let der = BASE64.decode(base64).map_err(|_| Error::PemNotBase64)?;
    let companions = Companions {
        more_certificates: blocks.iter().filter(|block| block.label == "CERTIFICATE").count() - 1,
        private_key: blocks.iter().any(|block| block.label.ends_with("PRIVATE KEY")),
    };
    Ok((der, companions))
}

/// Every `-----BEGIN X-----` … `-----END X-----` block, text outside them ignored.
fn pem_blocks(bytes: &[u8]) -> Result<Vec<PemBlock<'_>>, Error> {
    let mut blocks = Vec::new();
    let mut rest = bytes;
    while let Some(start) = find(rest, PEM_BEGIN) {
        let after_begin = &rest[start + PEM_BEGIN.len()..];
        let label_end = find(after_begin, PEM_DASHES)
            .ok_or(Error::PemMalformed { reason: "a \"-----BEGIN\" line does not end in \"-----\"" })?;
        let label =
            std::str::from_utf8(&after_begin[..label_end])
                .ok()
                .filter(|label| is_pem_label(label))
                .ok_or(Error::PemMalformed { reason: "a block's label is not letters, digits and spaces" })?;
        let after_label = &after_begin[label_end + PEM_DASHES.len()..];
        let end_line = format!("-----END {label}-----");
        let body_end = find(after_label, end_line.as_bytes()).ok_or(Error::PemMalformed {
            reason: "a block has no \"-----END\" line matching its \"-----BEGIN\" line (is the file cut short?)",
        })?;
        blocks.push(PemBlock { label, body: &after_label[..body_end] });
        rest = &after_label[body_end + end_line.len()..];
    }
    Ok(blocks)
}

/// Labels are short upper-case words ("CERTIFICATE", "EC PRIVATE KEY"); anything else in an
/// error message would repeat arbitrary input.
fn is_pem_label(label: &str) -> bool {
    (1..=64).contains(&label.len()) && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b' ')
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The user and groups of a subject as Go's x509 reads a name: the last common name, and
/// every organization in order; values that are not text are skipped.
fn user_and_groups(subject: &Name) -> (String, Vec<String>) {
    let mut user = String::new();
    let mut groups = Vec::new();
    for attribute in subject.iter() {
        let Some(text) = attribute_text(&attribute.value) else { continue };
        if attribute.oid == rfc4519::COMMON_NAME {
            user = text;
        } else if attribute.oid == rfc4519::ORGANIZATION_NAME {
            groups.push(text);
        }
    }
    (user, groups)
}

/// A name attribute's text, for the string types Go's x509 reads.
fn attribute_text(value: &Any) -> Option<String> {
    if let Ok(text) = DirectoryString::try_from(value) {
        return Some(text.value().into_owned());
    }
    Ia5StringRef::try_from(value).ok().map(|text| text.as_str().to_string())
}

fn distinguished_name(name: &Name) -> String {
    // A name's Display fails on an attribute it cannot re-encode, and to_string would panic on
    // that; write! returns the error, and the OIDs alone are still worth showing.
    let mut text = String::new();
    match write!(text, "{name}") {
        Ok(()) => text,
        Err(_) => name.iter().map(|attribute| attribute.oid.to_string()).collect::<Vec<_>>().join(","),
    }
}

fn serial_hex(bytes: &[u8]) -> String {
    let significant = match bytes.iter().position(|&byte| byte != 0) {
        Some(first) => &bytes[first..],
        None => return "0".to_string(),
    };
    significant.iter().map(|byte| format!("{byte:02X}")).collect()
}

/// The time, and whether it lay beyond what jiff represents (late on 9999-12-31, RFC 5280's
/// "no expiration" value) and was clamped to the latest time it does.
fn timestamp(time: &Time) -> (Timestamp, bool) {
    let seconds = i64::try_from(time.to_unix_duration().as_secs()).ok();
    match seconds.and_then(|seconds| Timestamp::from_second(seconds).ok()) {
        Some(timestamp) => (timestamp, false),
        None => (Timestamp::MAX, true),
    }
}

fn malformed_extension(extension: &'static str, error: x509_cert::der::Error) -> Error {
    Error::CertificateExtension { extension, detail: error.to_string() }
}

/// What the notes are made from.
struct Facts<'a> {
    user: &'a str,
    groups: &'a [String],
    not_after: Timestamp,
    not_after_clamped: bool,
    is_ca: bool,
    allows_client_auth: bool,
}

fn notes(facts: &Facts<'_>, companions: &Companions) -> Vec<String> {
    let mut notes = Vec::new();
    let Facts { user, groups, not_after, .. } = facts;
    notes.push(format!(
        "a client certificate cannot be revoked (the API server checks no revocation list): it works \
         until {not_after} unless the cluster's client CA is replaced"
    ));
    if facts.not_after_clamped {
        notes.push(
            "its notAfter is late on 9999-12-31, RFC 5280's \"no expiration\": it never expires".to_string(),
        );
    }
    if user.is_empty() {
        notes.push("no subject common name: the API server does not authenticate it as anyone".to_string());
    } else if groups.iter().any(|group| group == "system:masters") {
        notes.push(
            "group system:masters bypasses RBAC and every other authorizer: no binding can be removed \
             to contain it; only replacing the client CA stops it"
                .to_string(),
        );
    } else {
        notes.push(format!(
            "short of replacing the client CA, only removing the RBAC bindings of user {user} and of its \
             groups takes its permissions away (it still authenticates)"
        ));
    }
    if let Some(node) = user.strip_prefix("system:node:") {
        notes.push(format!(
            "a kubelet's certificate: the Node authorizer limits it to what node {node} and its pods \
             need; a rotated kubelet certificate leaves this one valid"
        ));
    }
    if !facts.allows_client_auth {
        notes.push(
            "its extended key usage does not allow client authentication: the API server refuses it as \
             a client certificate"
                .to_string(),
        );
    }
    if facts.is_ca {
        notes.push(
            "a CA certificate: if its private key leaked too, whoever has it can issue certificates for \
             any user and group this CA is trusted for; only replacing the CA stops that"
                .to_string(),
        );
    }
    if companions.private_key {
        notes.push("the file also holds a private key: if it is this certificate's, the file alone is a working credential".to_string());
    }
    if companions.more_certificates > 0 {
        notes.push(format!(
            "{} more certificate(s) follow it (its chain); the first one is described",
            companions.more_certificates
        ));
    }
    notes
}

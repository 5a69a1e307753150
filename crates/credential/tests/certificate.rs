//! Client certificates made by openssl at test time (scripts/test installs it), read back and
//! compared with what openssl says of them; and the inputs that are not one.

use std::{path::PathBuf, process::Command, sync::OnceLock};

use base64::{Engine, engine::general_purpose::STANDARD};
use jiff::{Timestamp, fmt::strtime, tz::TimeZone};
use kir_credential::{Error, MAX_CERTIFICATE_BYTES, inspect_certificate};
use proptest::prelude::*;
use tempfile::TempDir;

/// A directory to make keys and certificates in.
struct Openssl {
    dir: TempDir,
}

impl Openssl {
    fn new() -> Self {
        Openssl { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `openssl <command>`; no argument here has a space in it.
    fn run(&self, command: &str) -> String {
        let args: Vec<&str> = command.split_whitespace().collect();
        let output = Command::new("openssl")
            .args(&args)
            .current_dir(self.dir.path())
            .output()
            .expect("these tests need openssl on PATH (scripts/test installs it)");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// A self-signed P-256 certificate `<name>.pem` (key `<name>.key`), valid for a day.
    fn self_signed(&self, name: &str, subject: &str, extensions: &[&str]) -> Vec<u8> {
        let mut command = format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj {subject} -days 1 \
             -keyout {name}.key -out {name}.pem"
        );
        for extension in extensions {
            command += &format!(" -addext {extension}");
        }
        self.run(&command);
        self.read(&format!("{name}.pem"))
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// `field` ("serial", "startdate", …) as `openssl x509` prints it, without its name.
    fn field(&self, pem: &str, field: &str) -> String {
        let out = self.run(&format!("x509 -in {pem} -noout -{field}"));
        out.trim().split_once('=').unwrap().1.to_string()
    }

    /// A time as every openssl version prints it: "Dec  7 05:44:41 2026 GMT".
    fn time(&self, pem: &str, field: &str) -> Timestamp {
        let text = self.field(pem, field);
        let words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(words.last(), Some(&"GMT"), "{text}");
        let time = strtime::parse("%b %d %H:%M:%S %Y", words[..words.len() - 1].join(" ")).unwrap();
        time.to_datetime().unwrap().to_zoned(TimeZone::UTC).unwrap().timestamp()
    }

    /// The certificate as DER, written to `<pem>.der` by `openssl x509 -outform der`.
    fn der(&self, pem: &str) -> Vec<u8> {
        self.run(&format!("x509 -in {pem} -outform der -out {pem}.der"));
        self.read(&format!("{pem}.der"))
    }

    /// `openssl x509 -outform der | sha256sum`, with openssl's own digest.
    fn der_sha256(&self, pem: &str) -> String {
        self.der(pem);
        self.run(&format!("dgst -sha256 -r {pem}.der")).split_whitespace().next().unwrap().to_string()
    }
}

/// The PEM's base64 body rewrapped at `width` columns (0: one line), as other tools write it.
fn rewrapped(pem: &[u8], width: usize) -> Vec<u8> {
    let text = String::from_utf8(pem.to_vec()).unwrap();
    let body: String = text.lines().filter(|line| !line.starts_with("-----")).collect();
    let lines: Vec<String> = match width {
        0 => vec![body],
        _ => body.as_bytes().chunks(width).map(|chunk| String::from_utf8(chunk.to_vec()).unwrap()).collect(),
    };
    format!("-----BEGIN CERTIFICATE-----\r\n{}\r\n-----END CERTIFICATE-----\r\n", lines.join("\r\n"))
        .into_bytes()
}

#[test]
fn system_masters_certificate_read_as_the_api_server_reads_it() {
    let openssl = Openssl::new();
    let pem = openssl.self_signed("alice", "/O=system:masters/O=dev/CN=alice", &[]);
    let info = inspect_certificate(&pem).unwrap();

    assert_eq!(info.fingerprint, openssl.der_sha256("alice.pem"));
    assert_eq!(info.credential_id, format!("X509SHA256={}", info.fingerprint));
    assert_eq!(info.user, "alice");
    assert_eq!(info.groups, ["system:masters", "dev"]);
    assert_eq!(info.issuer, "CN=alice,O=dev,O=system:masters");
    assert_eq!(info.serial, openssl.field("alice.pem", "serial"));
    assert_eq!(info.not_before, openssl.time("alice.pem", "startdate"));
    assert_eq!(info.not_after, openssl.time("alice.pem", "enddate"));
    let notes = info.notes.join("\n");
    assert!(notes.contains("cannot be revoked"), "{notes}");
    assert!(notes.contains(&format!("until {}", info.not_after)), "{notes}");
    assert!(notes.contains("system:masters bypasses RBAC"), "{notes}");
    assert!(!notes.contains("also holds a private key"), "{notes}");

    // The same certificate as DER, and as PEM wrapped at other widths, is the same credential.
    assert_eq!(inspect_certificate(&openssl.der("alice.pem")).unwrap(), info);
    for width in [76, 0] {
        assert_eq!(inspect_certificate(&rewrapped(&pem, width)).unwrap(), info, "wrapped at {width}");
    }

    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["credentialId"], info.credential_id);
    assert_eq!(json["notAfter"], info.not_after.to_string());
}

#[test]
fn kubelet_certificate_from_a_ca_with_its_chain_and_key() {
    let openssl = Openssl::new();
    // Valid for a century: a notAfter past 2049 is a GeneralizedTime.
    openssl.run(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=kir-test-ca -days 36500 \
         -keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE",
    );
    openssl.run(
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
         -subj /O=system:nodes/CN=system:node:worker-1 -keyout node.key -out node.csr",
    );
    std::fs::write(openssl.path("client.ext"), "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
        .unwrap();
    openssl.run(
        "x509 -req -in node.csr -CA ca.pem -CAkey ca.key -set_serial 255 -days 1 -extfile client.ext -out node.pem",
    );

    let node = inspect_certificate(&openssl.read("node.pem")).unwrap();
    assert_eq!(node.user, "system:node:worker-1");
    assert_eq!(node.groups, ["system:nodes"]);
    assert_eq!(node.issuer, "CN=kir-test-ca");
    assert_eq!(node.serial, "FF");
    assert_eq!(node.serial, openssl.field("node.pem", "serial"));
    let notes = node.notes.join("\n");
    assert!(notes.contains("a kubelet's certificate"), "{notes}");
    assert!(notes.contains("RBAC bindings of user system:node:worker-1"), "{notes}");
    assert!(!notes.contains("CA certificate"), "{notes}");
    assert!(!notes.contains("client authentication"), "{notes}");

    let ca = inspect_certificate(&openssl.read("ca.pem")).unwrap();
    assert_eq!(ca.not_after, openssl.time("ca.pem", "enddate"));
    assert!(ca.not_after > "2120-01-01T00:00:00Z".parse().unwrap());
    assert!(ca.notes.join("\n").contains("a CA certificate"), "{:?}", ca.notes);

    // A key first, then the client certificate and its chain: the first CERTIFICATE is the one.
    let bundle = [openssl.read("node.key"), openssl.read("node.pem"), openssl.read("ca.pem")].concat();
    let bundled = inspect_certificate(&bundle).unwrap();
    assert_eq!(bundled.fingerprint, node.fingerprint);
    let notes = bundled.notes.join("\n");
    assert!(notes.contains("also holds a private key"), "{notes}");
    assert!(notes.contains("1 more certificate(s)"), "{notes}");
}

#[test]
fn certificate_valid_until_the_last_day_of_9999_never_expires() {
    let openssl = Openssl::new();
    let today = Timestamp::now().to_zoned(TimeZone::UTC).date();
    let days = today.until(jiff::civil::date(9999, 12, 31)).unwrap().get_days();
    openssl.run(&format!(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=forever -days {days} \
         -keyout forever.key -out forever.pem"
    ));
    let info = inspect_certificate(&openssl.read("forever.pem")).unwrap();
    assert_eq!(info.not_after, Timestamp::MAX, "beyond jiff's range, clamped");
    assert!(info.notes.join("\n").contains("it never expires"), "{:?}", info.notes);
}

#[test]
fn server_certificate_and_nameless_certificate_are_said_to_authenticate_no_one() {
    let openssl = Openssl::new();
    let server = openssl.self_signed("web", "/CN=web", &["extendedKeyUsage=serverAuth"]);
    let notes = inspect_certificate(&server).unwrap().notes.join("\n");
    assert!(notes.contains("does not allow client authentication"), "{notes}");

    let nameless = inspect_certificate(&openssl.self_signed("anon", "/O=dev", &[])).unwrap();
    assert_eq!(nameless.user, "");
    assert_eq!(nameless.groups, ["dev"]);
    assert!(nameless.notes.join("\n").contains("no subject common name"), "{:?}", nameless.notes);
}

#[test]
fn keys_requests_and_garbage_are_not_certificates() {
    let openssl = Openssl::new();
    openssl.run("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem");
    openssl.run("req -new -key key.pem -subj /CN=mallory -out request.pem");
    let pem = openssl.self_signed("alice", "/CN=alice", &[]);

    let key = inspect_certificate(&openssl.read("key.pem")).unwrap_err();
    assert_eq!(key, Error::PemWithoutCertificate { found: "PRIVATE KEY".into() });
    assert!(key.to_string().starts_with("not a PEM certificate: found a PRIVATE KEY block ("), "{key}");
    let request = inspect_certificate(&openssl.read("request.pem")).unwrap_err();
    assert_eq!(request, Error::PemWithoutCertificate { found: "CERTIFICATE REQUEST".into() });
    assert!(request.to_string().contains("status.certificate"), "{request}");

    let der = openssl.der("alice.pem");
    let cut_pem = &pem[..pem.len() / 2];
    let mut bad_base64 = pem.clone();
    let middle = bad_base64.len() / 2;
    bad_base64[middle] = b'*';
    let base64_of_pem = STANDARD.encode(&pem).into_bytes();
    let cases: Vec<(Vec<u8>, Error)> = vec![
        (b"hello world".to_vec(), Error::NotCertificate),
        (Vec::new(), Error::NotCertificate),
        (base64_of_pem, Error::Base64OfPem),
        (
            cut_pem.to_vec(),
            Error::PemMalformed {
                reason: "a block has no \"-----END\" line matching its \"-----BEGIN\" line (is the file cut short?)",
            },
        ),
        (
            b"-----BEGIN CERTIFICATE\nMIIB".to_vec(),
            Error::PemMalformed { reason: "a \"-----BEGIN\" line does not end in \"-----\"" },
        ),
        (
            b"-----BEGIN \x1b[31m-----\n-----END \x1b[31m-----".to_vec(),
            Error::PemMalformed { reason: "a block's label is not letters, digits and spaces" },
        ),
        (bad_base64, Error::PemNotBase64),
        (vec![0; MAX_CERTIFICATE_BYTES + 1], Error::CertificateTooLarge { size: MAX_CERTIFICATE_BYTES + 1 }),
    ];
    for (input, expected) in cases {
        assert_eq!(inspect_certificate(&input), Err(expected), "{}", String::from_utf8_lossy(&input));
    }
    for broken_der in
        [&der[..der.len() - 1], &[der.as_slice(), b"trailing"].concat()[..], &[0x30, 0x03, 1, 2, 3]]
    {
        let error = inspect_certificate(broken_der).unwrap_err();
        assert!(matches!(error, Error::CertificateDer { .. }), "{error:?}");
        assert!(error.to_string().starts_with("not an X.509 certificate ("), "{error}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A real certificate with bytes changed or cut: an answer or an error, never a panic.
    #[test]
    fn damaged_certificates_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        as_pem in any::<bool>(),
    ) {
        let original = if as_pem { sample_pem() } else { sample_der() };
        let mut bytes = original.to_vec();
        for (index, byte) in edits {
            let position = index.index(bytes.len());
            bytes[position] = byte;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let _ = inspect_certificate(&bytes);
    }
}

fn sample_pem() -> &'static [u8] {
    &SAMPLE.get_or_init(make_sample).0
}

fn sample_der() -> &'static [u8] {
    &SAMPLE.get_or_init(make_sample).1
}

/// One certificate, as PEM and as DER, for every case of the property.
static SAMPLE: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();

fn make_sample() -> (Vec<u8>, Vec<u8>) {
    let openssl = Openssl::new();
    let pem = openssl.self_signed("sample", "/O=system:masters/CN=sample", &["extendedKeyUsage=clientAuth"]);
    (pem, openssl.der("sample.pem"))
}

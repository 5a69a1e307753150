//! `kir case`: folders, journal display, verification of folders and archives, signing.
//! No cluster is needed: cases are written through the kir-evidence library, as `kir capture`
//! and the other collecting commands do.

use std::{
    fs,
    io::Write,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use kir_evidence::{Case, CaseInfo, JournalKey, JournalRecord};
use serde_json::json;

use crate::util::{Run, kir, run};

/// The journal key of the responder who wrote the fixture, beside (not in) the case folder.
fn key_file(parent: &Path) -> PathBuf {
    parent.join("alice.key")
}

/// A case like a short response leaves: artifacts, a capped one, a gap, an action.
fn fixture(parent: &Path) -> Case {
    let mut info = CaseInfo::new("miner in prod/web");
    info.cluster = Some("https://127.0.0.1:6443".into());
    info.context = Some("testbed".into());
    info.responder = Some("alice".into());
    let key = JournalKey::load_or_create(key_file(parent)).unwrap();
    let case = Case::create_with_key(parent.join("case"), info, key).unwrap();
    case.store_bytes(
        "pods/prod/web-1/pod.json",
        "GET /api/v1/namespaces/prod/pods/web-1",
        b"{\"kind\":\"Pod\"}\n",
    )
    .unwrap();
    case.store_bytes(
        "pods/prod/web-1/logs/app.log",
        "GET /api/v1/namespaces/prod/pods/web-1/log?container=app&timestamps=true",
        b"2026-01-01T00:00:00Z started\n2026-01-01T00:00:01Z connecting to pool.minexmr.com:4444\n",
    )
    .unwrap();
    let mut capped = case
        .artifact("pods/prod/web-1/snapshot/etc.tar", "exec tar -C /etc -cf - .")
        .unwrap()
        .limit(8)
        .note("collected by the container's own binaries");
    std::io::Write::write_all(&mut capped, b"0123456789").unwrap();
    capped.finish().unwrap();
    case.not_collected("pods/prod/web-1/snapshot/ps.txt", "exec ps", "no ps binary in the image").unwrap();
    case.record(
        JournalRecord::new("alice", "isolate")
            .target("pod prod/web-1")
            .parameters(json!({"policy": "kir-quarantine-web-1"}))
            .result("NetworkPolicy prod/kir-quarantine-web-1 created")
            .undo(json!({"delete": "networkpolicies/prod/kir-quarantine-web-1"})),
    )
    .unwrap();
    case
}

fn verify(path: &Path, extra: &[&str]) -> Run {
    run(kir().args(["case", "verify"]).arg(path).args(extra))
}

fn flip_byte(path: &Path, index: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[index] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

/// `kir` with a journal key of its own in `dir`, so that tests never touch the user's key.
fn kir_keyed(dir: &Path) -> std::process::Command {
    let mut command = kir();
    command.env("KIR_JOURNAL_KEY", dir.join("journal.key"));
    command
}

#[test]
fn open_creates_a_case_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("inc-42");
    let opened = run(kir_keyed(dir.path())
        .args(["case", "open", "leaked token", "--dir"])
        .arg(&target)
        .args(["-o", "json"]))
    .success()
    .json();
    assert_eq!(PathBuf::from(opened["path"].as_str().unwrap()), target);
    assert!(opened["id"].as_str().unwrap().len() > 15);
    let case: serde_json::Value =
        serde_json::from_slice(&fs::read(target.join("case.json")).unwrap()).unwrap();
    assert_eq!(case["title"], "leaked token");
    assert_eq!(case["id"], opened["id"]);
    assert_eq!(case["kirVersion"], env!("CARGO_PKG_VERSION"));
    verify(&target, &[]).success();

    // Without --dir: ./cases/<id>, and the table output is the path alone, for $(...).
    let out = run(kir_keyed(dir.path()).args(["case", "open", "second"]).current_dir(dir.path())).success();
    let path = PathBuf::from(out.stdout.trim());
    assert_eq!(path.parent().unwrap(), dir.path().join("cases"));
    assert!(path.join("journal.jsonl").is_file());

    // KIR_CASE names the folder when --dir is not given.
    let from_env = dir.path().join("from-env");
    run(kir_keyed(dir.path()).args(["case", "open", "third"]).env("KIR_CASE", &from_env)).success();
    assert!(from_env.join("case.json").is_file());
}

#[test]
fn open_refuses_a_used_folder_and_an_empty_name() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("file"), "x").unwrap();
    let out = run(kir_keyed(keys.path()).args(["case", "open", "x", "--dir"]).arg(dir.path()));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not empty"), "{}", out.stderr);
    let out = run(kir_keyed(keys.path()).args(["case", "open", "x"]).env("KIR_CASE", dir.path()));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("KIR_CASE") && out.stderr.contains("--dir"), "{}", out.stderr);
    let out = run(kir_keyed(keys.path()).args(["case", "open", " ", "--dir"]).arg(dir.path().join("new")));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("name is empty"), "{}", out.stderr);
}

#[test]
fn an_intact_case_verifies_and_reports_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture(dir.path());
    let out = verify(case.path(), &[]).success();
    assert!(out.stdout.contains(": intact"), "{}", out.stdout);
    let report = verify(case.path(), &["-o", "json"]).success().json();
    assert_eq!(report["intact"], true);
    assert_eq!(report["journalEntries"], 6);
    assert_eq!(report["artifacts"], 3);
    assert_eq!(report["signature"]["status"], "absent");
    // --case / KIR_CASE stand in for the folder argument.
    run(kir().args(["case", "verify", "--case"]).arg(case.path())).success();
    run(kir().args(["case", "verify"]).env("KIR_CASE", case.path())).success();
}

#[test]
fn any_changed_byte_missing_or_extra_file_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let mut tampered = 0;
    let mut check = |what: &str, file: &str, tamper: &dyn Fn(&Path)| {
        let scratch = dir.path().join(format!("t{tampered}"));
        tampered += 1;
        let case = fixture(&scratch);
        tamper(case.path());
        let out = verify(case.path(), &[]);
        assert_eq!(out.code, 1, "{what} went unnoticed:\n{}", out.stdout);
        assert!(out.stdout.contains("NOT INTACT") && out.stdout.contains(file), "{what}:\n{}", out.stdout);
        let report = verify(case.path(), &["-o", "json"]).json();
        assert_eq!(report["intact"], false);
        assert!(report["problems"].as_array().unwrap().iter().any(|p| p["file"] == file), "{what}: {report}");
    };
    check("a byte of an artifact", "evidence/pods/prod/web-1/logs/app.log", &|case| {
        flip_byte(&case.join("evidence/pods/prod/web-1/logs/app.log"), 40)
    });
    check("a byte of case.json", "case.json", &|case| flip_byte(&case.join("case.json"), 30));
    check("a byte of manifest.json", "manifest.json", &|case| flip_byte(&case.join("manifest.json"), 100));
    check("whitespace in manifest.json", "manifest.json", &|case| {
        let path = case.join("manifest.json");
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replacen("  ", "   ", 1)).unwrap();
    });
    let journal_lines = {
        let scratch = tempfile::tempdir().unwrap();
        fs::read_to_string(fixture(scratch.path()).path().join("journal.jsonl")).unwrap().lines().count()
    };
    for line in 0..journal_lines {
        check(&format!("a byte of journal line {}", line + 1), "journal.jsonl", &|case| {
            let path = case.join("journal.jsonl");
            let text = fs::read_to_string(&path).unwrap();
            let start: usize = text.lines().take(line).map(|l| l.len() + 1).sum();
            flip_byte(&path, start + 20);
        });
    }
    check("a missing artifact", "evidence/pods/prod/web-1/pod.json", &|case| {
        fs::remove_file(case.join("evidence/pods/prod/web-1/pod.json")).unwrap()
    });
    check("an extra evidence file", "evidence/pods/prod/web-1/extra.txt", &|case| {
        fs::write(case.join("evidence/pods/prod/web-1/extra.txt"), "planted").unwrap()
    });
    check("an extra file beside the journal", "notes.md", &|case| {
        fs::write(case.join("notes.md"), "x").unwrap()
    });
}

#[test]
fn exported_archives_verify_and_tampering_fails() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture(dir.path());
    let archive = dir.path().join("inc.tar.zst");
    let summary =
        run(kir().args(["case", "export"]).arg(case.path()).arg("--to").arg(&archive).args(["-o", "json"]))
            .success()
            .json();
    assert_eq!(summary["artifacts"], 3);
    assert_eq!(summary["journalEntries"], 6);
    let out = verify(&archive, &[]).success();
    assert!(out.stdout.contains("archive"), "{}", out.stdout);

    // Never overwritten.
    let out = run(kir().args(["case", "export"]).arg(case.path()).arg("--to").arg(&archive));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);

    let bytes = fs::read(&archive).unwrap();
    for index in [bytes.len() / 4, bytes.len() / 2, bytes.len() - 2] {
        let copy = dir.path().join(format!("tampered-{index}.tar.zst"));
        let mut changed = bytes.clone();
        changed[index] ^= 0x10;
        fs::write(&copy, changed).unwrap();
        assert_eq!(verify(&copy, &[]).code, 1, "a changed byte at {index} went unnoticed");
    }
}

#[test]
fn signed_exports_verify_with_the_right_public_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture(dir.path());
    let signer = dir.path().join("signer");
    let other = dir.path().join("other");
    let out = run(kir().args(["case", "keygen"]).arg(&signer).env_remove("KIR_SIGN_PASSWORD")).success();
    assert!(out.stderr.contains("not protected by a password"), "{}", out.stderr);
    run(kir().args(["case", "keygen"]).arg(&other)).success();
    let again = run(kir().args(["case", "keygen"]).arg(&other));
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("other.key: already exists: kir never overwrites a key")
            && again.stderr.matches("exists").count() == 1,
        "said plainly, once: {}",
        again.stderr
    );

    let archive = dir.path().join("signed.tar.zst");
    run(kir()
        .args(["case", "export"])
        .arg(case.path())
        .arg("--to")
        .arg(&archive)
        .arg("--sign-key")
        .arg(signer.with_extension("key")))
    .success();
    let out = verify(&archive, &["--pubkey", signer.with_extension("pub").to_str().unwrap()]).success();
    assert!(out.stdout.contains("valid, key"), "{}", out.stdout);
    let out = verify(&archive, &["--pubkey", other.with_extension("pub").to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("INVALID"), "{}", out.stdout);
    let out = verify(&archive, &[]).success();
    assert!(out.stdout.contains("not checked"), "{}", out.stdout);
    // A public key for an unsigned case is a failure, not a silent pass.
    assert_eq!(verify(case.path(), &["--pubkey", signer.with_extension("pub").to_str().unwrap()]).code, 1);
}

#[test]
fn a_password_protected_key_signs_with_kir_sign_password() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture(dir.path());
    let key = dir.path().join("protected");
    let out = run(kir().args(["case", "keygen"]).arg(&key).env("KIR_SIGN_PASSWORD", "s3cret")).success();
    assert!(!out.stderr.contains("not protected"), "{}", out.stderr);
    let export = |to: &str| {
        let mut command = kir();
        command.args(["case", "export"]).arg(case.path()).arg("--to").arg(dir.path().join(to));
        command.arg("--sign-key").arg(key.with_extension("key"));
        command
    };
    let out = run(&mut export("none.tar.zst"));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("KIR_SIGN_PASSWORD"), "{}", out.stderr);
    run(export("signed.tar.zst").env("KIR_SIGN_PASSWORD", "s3cret")).success();
    verify(&dir.path().join("signed.tar.zst"), &["--pubkey", key.with_extension("pub").to_str().unwrap()])
        .success();
}

#[test]
fn usage_errors_exit_2_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(kir().args(["case", "verify"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("KIR_CASE"), "{}", out.stderr);
    let out = run(kir().args(["case", "show"]).arg(dir.path().join("nope")));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    let out = run(kir().args(["case", "verify", "x", "--pubkey"]).arg(dir.path().join("missing.pub")));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--pubkey"), "{}", out.stderr);
    // -o is the output format everywhere; the archive is named with --to.
    let out = run(kir().args(["case", "export", "x", "-o", "out.tar.zst"]));
    assert_eq!(out.code, 2);
    let out = run(kir().args(["case", "export", "x"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--to"), "{}", out.stderr);
    let out = run(kir().args(["case", "verify"]).arg(dir.path()));
    assert_eq!(out.code, 1, "a folder that is not a case fails verification");
    assert!(out.stdout.contains("case.json") && out.stdout.contains("missing"), "{}", out.stdout);
}

#[test]
fn show_prints_the_journal_as_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture(dir.path());
    let out = run(kir().args(["case", "show"]).arg(case.path())).success();
    let mut text = out.stdout.replace(case.id(), "[id]");
    for entry in case.entries().unwrap() {
        text = text.replace(&entry.time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(), "[time]");
    }
    insta::assert_snapshot!("case_show_table", text);
}

#[test]
fn show_as_json_lists_every_entry_and_fails_on_a_broken_journal() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture(dir.path());
    let reading = run(kir().args(["case", "show", "-o", "json"]).arg(case.path())).success().json();
    let entries = reading["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 6);
    assert_eq!(entries[5]["action"], "isolate");
    assert_eq!(entries[5]["undo"]["delete"], "networkpolicies/prod/kir-quarantine-web-1");
    assert_eq!(entries[5]["prevHash"], entries[4]["hash"]);
    assert_eq!(reading["case"]["title"], "miner in prod/web");

    let journal = case.path().join("journal.jsonl");
    let text = fs::read_to_string(&journal).unwrap();
    fs::write(&journal, text.replace("kir-quarantine-web-1 created", "nothing happened")).unwrap();
    let out = run(kir().args(["case", "show"]).arg(case.path()));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("line 6") && out.stderr.contains("not intact"), "{}", out.stderr);
}

/// `kir case verify` run by the responder whose journal key is `key`.
fn verify_with_key(path: &Path, key: &Path, extra: &[&str]) -> Run {
    run(kir().args(["case", "verify"]).arg(path).args(extra).env("KIR_JOURNAL_KEY", key))
}

/// Append a line that chains but that kir did not write, as anyone who can write the folder can.
fn append_forged_line(case: &Path) {
    let journal = case.join("journal.jsonl");
    let text = fs::read_to_string(&journal).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let body = format!(
        r#"{{"seq":{},"time":"2026-01-01T00:00:00Z","actor":"alice","action":"isolate","target":"namespace victim","parameters":null,"result":null,"undo":{{"op":"delete","kind":"Namespace","name":"victim"}},"prevHash":"{}""#,
        last["seq"].as_u64().unwrap() + 1,
        last["hash"].as_str().unwrap()
    );
    let hash = sha256_hex(body.as_bytes());
    let mut file = fs::OpenOptions::new().append(true).open(&journal).unwrap();
    writeln!(file, r#"{body},"hash":"{hash}"}}"#).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn verify_says_what_the_case_proves_and_who_wrote_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture(dir.path());
    let key_id = JournalKey::load(key_file(dir.path())).unwrap().id().to_string();
    let out = verify_with_key(case.path(), &key_file(dir.path()), &[]).success();
    assert!(out.stdout.contains(&format!("{key_id} (yours): 6 lines")), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("6 of 6 lines by your journal key {key_id}")), "{}", out.stdout);
    for words in [
        "unchanged relative to each other",
        "anyone who can write the case folder can rewrite all of it consistently",
        "your kir wrote them all",
        "not signed: nothing proves whose manifest it is",
    ] {
        assert!(out.stdout.contains(words), "{words:?} not in\n{}", out.stdout);
    }
    let report = verify_with_key(case.path(), &key_file(dir.path()), &["-o", "json"]).success().json();
    assert_eq!(report["authentication"]["keys"], json!([{"keyId": key_id, "lines": 6}]));
    assert_eq!(report["authentication"]["authenticatedLines"], 6);
    assert_eq!(report["authentication"]["yourKeyId"], key_id);

    // Another responder's key checks nothing of these lines, and says so.
    let other = dir.path().join("bob.key");
    JournalKey::load_or_create(&other).unwrap();
    let out = verify_with_key(case.path(), &other, &[]).success();
    assert!(out.stdout.contains("0 of 6 lines by your journal key"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("{key_id}: 6 lines")), "{}", out.stdout);
}

#[test]
fn a_forged_journal_line_is_named_though_the_chain_holds() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture(dir.path());
    append_forged_line(case.path());
    // The chain and the manifest cannot tell: the case is intact ...
    let out = verify_with_key(case.path(), &key_file(dir.path()), &[]).success();
    // ... but the line is not one the responder's kir wrote.
    assert!(out.stdout.contains("6 of 7 lines by your journal key"), "{}", out.stdout);
    assert!(out.stdout.contains("no MAC: 1 line (first: line 7)"), "{}", out.stdout);
    assert!(out.stdout.contains("unauthenticated") && out.stdout.contains("line 7"), "{}", out.stdout);
    assert!(out.stdout.contains("the other 1 line prove nothing"), "{}", out.stdout);
}

#[test]
fn verify_without_a_journal_key_creates_none() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture(dir.path());
    let home = dir.path().join("home");
    fs::create_dir(&home).unwrap();
    let out = run(kir()
        .args(["case", "verify"])
        .arg(case.path())
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("KIR_JOURNAL_KEY"))
    .success();
    assert!(out.stdout.contains("not checked: no journal key on this machine"), "{}", out.stdout);
    assert!(out.stdout.contains("no journal line was authenticated"), "{}", out.stdout);
    assert_eq!(fs::read_dir(&home).unwrap().count(), 0, "verification left a key behind");
}

#[test]
fn case_open_makes_the_journal_key_on_first_use_and_refuses_one_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir(&home).unwrap();
    let open = |name: &str| {
        let mut command = kir();
        command.args(["case", "open", "x", "--dir"]).arg(dir.path().join(name));
        command.env("HOME", &home).env_remove("XDG_CONFIG_HOME").env_remove("KIR_JOURNAL_KEY");
        run(&mut command)
    };
    open("first").success();
    let key = home.join(".config/kir/journal.key");
    assert_eq!(fs::read(&key).unwrap().len(), 32);
    assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::metadata(key.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    let id = JournalKey::load(&key).unwrap().id().to_string();
    let journal = fs::read_to_string(dir.path().join("first/journal.jsonl")).unwrap();
    assert!(journal.contains(&format!("\"keyId\":\"{id}\"")), "{journal}");

    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = open("second");
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("journal.key") && out.stderr.contains("chmod 600"), "{}", out.stderr);
    assert!(!dir.path().join("second").exists());
}

#[test]
fn names_from_a_hostile_case_are_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture(dir.path());
    fs::write(case.path().join("notes\u{1b}]0;pwned\u{7}.txt"), "x").unwrap();
    let out = verify(case.path(), &[]);
    assert_eq!(out.code, 1);
    assert!(!out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'), "{:?}", out.stdout);
    assert!(out.stdout.contains("notes\\u{1b}]0;pwned\\u{7}.txt"), "{}", out.stdout);
}

#[test]
fn a_huge_sparse_journal_is_refused_by_show_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture(dir.path());
    let journal = case.path().join("journal.jsonl");
    // Sparse: 4 GiB on paper, nothing on disk; read whole it would take 4 GiB of memory.
    fs::File::options().write(true).open(&journal).unwrap().set_len(4 << 30).unwrap();
    let out = verify(case.path(), &[]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("4294967296 bytes") && out.stdout.contains("not read"), "{}", out.stdout);
    let out = run(kir().args(["case", "show"]).arg(case.path()));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("journal.jsonl is 4294967296 bytes"), "{}", out.stderr);
}

/// Characters a terminal acts on (an OSC retitle, a C1 CSI, DEL) or that reorder text.
const HOSTILE: &str = "x\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}txt\u{7f}";

fn assert_no_raw_controls(what: &str, text: &str) {
    let raw = text.chars().find(|&c| {
        (c.is_control() && !matches!(c, '\n' | '\t'))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    });
    assert!(raw.is_none(), "{what} carries {raw:?} raw:\n{text:?}");
}

#[test]
fn hostile_journal_fields_reach_no_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    let mut info = CaseInfo::new(format!("title {HOSTILE}"));
    info.responder = Some(format!("mallory {HOSTILE}"));
    info.context = Some(HOSTILE.into());
    let key = JournalKey::load_or_create(key_file(dir.path())).unwrap();
    let case = Case::create_with_key(dir.path().join("case"), info, key).unwrap();
    case.record(
        JournalRecord::new(format!("actor {HOSTILE}"), format!("action.{HOSTILE}"))
            .target(format!("pod/{HOSTILE}"))
            .parameters(json!({HOSTILE: HOSTILE}))
            .result(HOSTILE),
    )
    .unwrap();
    case.store_bytes(&format!("pods/ns/{}/log.txt", "web\u{202e}gol"), &format!("GET {HOSTILE}"), b"x")
        .unwrap();
    drop(case);
    let path = dir.path().join("case");
    for format in ["table", "json", "yaml"] {
        let shown = run(kir()
            .env("KIR_JOURNAL_KEY", key_file(dir.path()))
            .args(["case", "show", "-o", format])
            .arg(&path));
        assert_eq!(shown.code, 0, "{}", shown.stderr);
        assert_no_raw_controls(&format!("case show -o {format}"), &shown.stdout);
        assert_no_raw_controls(&format!("case show -o {format} (stderr)"), &shown.stderr);
        if format == "json" {
            // Escaped, not dropped: the JSON still says exactly what the journal says.
            assert!(
                shown.stdout.contains(r"\u001b]0;pwned\u0007\u009b31m\u202etxt\u007f"),
                "{}",
                shown.stdout
            );
        }
    }
    for format in ["table", "json"] {
        let verified = verify(&path, &["-o", format]);
        assert_no_raw_controls(&format!("case verify -o {format}"), &verified.stdout);
        assert_no_raw_controls(&format!("case verify -o {format} (stderr)"), &verified.stderr);
    }
    let archive = dir.path().join("case.tar.zst");
    run(kir().args(["case", "export"]).arg(&path).arg("--to").arg(&archive)).success();
    let verified = verify(&archive, &[]);
    assert_no_raw_controls("case verify ARCHIVE", &verified.stdout);
}

//! `kir case`: folders, journal display, verification of folders and archives, signing.
//! No cluster is needed: cases are written through the kir-evidence library, as `kir capture`
//! and the other collecting commands do.

use std::{
    fs,
    path::{Path, PathBuf},
};

use kir_evidence::{Case, CaseInfo, JournalRecord};
use serde_json::json;

use crate::util::{Run, kir, run};

/// A case like a short response leaves: artifacts, a capped one, a gap, an action.
fn fixture(parent: &Path) -> Case {
    let mut info = CaseInfo::new("miner in prod/web");
    info.cluster = Some("https://127.0.0.1:6443".into());
    info.context = Some("testbed".into());
    info.responder = Some("alice".into());
    let case = Case::create(parent.join("case"), info).unwrap();
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

#[test]
fn open_creates_a_case_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("inc-42");
    let opened = run(kir().args(["case", "open", "leaked token", "--dir"]).arg(&target).args(["-o", "json"]))
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
    let out = run(kir().args(["case", "open", "second"]).current_dir(dir.path())).success();
    let path = PathBuf::from(out.stdout.trim());
    assert_eq!(path.parent().unwrap(), dir.path().join("cases"));
    assert!(path.join("journal.jsonl").is_file());

    // KIR_CASE names the folder when --dir is not given.
    let from_env = dir.path().join("from-env");
    run(kir().args(["case", "open", "third"]).env("KIR_CASE", &from_env)).success();
    assert!(from_env.join("case.json").is_file());
}

#[test]
fn open_refuses_a_used_folder_and_an_empty_name() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("file"), "x").unwrap();
    let out = run(kir().args(["case", "open", "x", "--dir"]).arg(dir.path()));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not empty"), "{}", out.stderr);
    let out = run(kir().args(["case", "open", "x"]).env("KIR_CASE", dir.path()));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("KIR_CASE") && out.stderr.contains("--dir"), "{}", out.stderr);
    let out = run(kir().args(["case", "open", " ", "--dir"]).arg(dir.path().join("new")));
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

//! The README's walkthrough runs as written: its shell blocks, in order, in one shell, against
//! the testbed. Every command must succeed but the ones the README says exit otherwise.

use std::path::Path;

use crate::{
    scene::plain_cluster,
    testbed::{repo_root, testbed},
};

/// The ```sh blocks of `markdown`, in order.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_written() {
    let _plain = plain_cluster().await;
    let tb = testbed();
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let walkthrough = &readme
        [readme.find("## A five-minute walkthrough").unwrap()..readme.find("## Documentation").unwrap()];
    let blocks = shell_blocks(walkthrough);
    assert!(blocks.len() >= 8, "the walkthrough's blocks: {blocks:?}");

    // The README speaks of the default testbed, run from the repository after a release build;
    // here it is this run's testbed, this run's kir, and a namespace and binding of its own.
    let state = tb.kubeconfig.parent().unwrap();
    let cache = std::process::Command::new("bash")
        .arg("-c")
        .arg("source testbed/lib.sh && echo \"$BIN\"")
        .current_dir(root)
        .output()
        .unwrap();
    let bin = String::from_utf8(cache.stdout).unwrap().trim().to_string();
    let kir_dir = Path::new(env!("CARGO_BIN_EXE_kir")).parent().unwrap();
    // Unique across runs on one testbed (process ids come back).
    let id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        % 1_000_000_000;
    let ns = format!("readme-{id}");
    let script: String = blocks
        .join("\n")
        .replace("~/.cache/kir/testbed/state/default", &state.display().to_string())
        .replace("~/.cache/kir/testbed/v1.36.3/bin", &bin)
        .replace("$PWD/target/release", &kir_dir.display().to_string())
        .replace("testbed/push-image", &root.join("testbed/push-image").display().to_string())
        .replace("clusterrolebinding backdoor", &format!("clusterrolebinding backdoor-{id}"))
        .replace("shop", &ns)
        .replace(" lab", &format!(" {ns}-lab"));
    let dir = tempfile::tempdir().unwrap();
    // Every command's failure is written down, not fatal: the README documents some exits.
    let harness = format!(
        "shopt -s expand_aliases\ntrap 'echo \"$? $BASH_COMMAND\" >> {failures}' ERR\n{script}",
        failures = dir.path().join("failures").display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&harness)
        .current_dir(dir.path())
        .env("KIR_TESTBED_STATE", state)
        .env_remove("KIR_CASE")
        .env("NO_COLOR", "1")
        .env("KIR_JOURNAL_KEY", dir.path().join("journal.key"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failures = std::fs::read_to_string(dir.path().join("failures")).unwrap_or_default();

    let kubectl = format!("{bin}/kubectl");
    let _ = std::process::Command::new(&kubectl)
        .args([
            "--kubeconfig",
            &tb.kubeconfig.display().to_string(),
            "delete",
            "namespace",
            &ns,
            "--wait=false",
        ])
        .output();
    let _ = std::process::Command::new(&kubectl)
        .args(["--kubeconfig", &tb.kubeconfig.display().to_string(), "delete", "clusterrolebinding"])
        .arg(format!("backdoor-{id}"))
        .output();

    let unexpected: Vec<&str> =
        failures.lines().filter(|l| !(l.starts_with("3 ") && l.contains("kir detect audit"))).collect();
    assert!(
        unexpected.is_empty(),
        "commands of the README failed:\n{}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        unexpected.join("\n")
    );
    assert!(failures.contains("kir detect audit"), "detect finds the README's intruder (exit 3): {failures}");
    assert!(stdout.contains("drill") && stdout.contains("passed"), "the drill passes:\n{stdout}");
}

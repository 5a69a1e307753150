//! Running the built `kir` binary and reading what it printed.

use std::{
    path::Path,
    process::{Command, Output},
};

/// The binary cargo built for this test run.
pub fn kir() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kir"));
    // Tests must not pick up the developer's own cluster or colour settings.
    command.env_remove("KUBECONFIG").env_remove("KIR_CASE").env_remove("COLUMNS").env("NO_COLOR", "1");
    // One journal key for the tests, not the developer's own.
    command.env(
        "KIR_JOURNAL_KEY",
        std::env::temp_dir().join(format!("kir-tests-{}", std::process::id())).join("journal.key"),
    );
    command
}

/// `kir` with `--kubeconfig` pointing at `kubeconfig`.
pub fn kir_with(kubeconfig: &Path) -> Command {
    let mut command = kir();
    command.arg("--kubeconfig").arg(kubeconfig);
    command
}

/// What a finished command gave back.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

pub fn run(command: &mut Command) -> Run {
    let Output { status, stdout, stderr } = command.output().expect("the kir binary runs");
    Run {
        code: status.code().expect("kir exited normally, not by a signal"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

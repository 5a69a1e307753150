use crate::util::{kir, run};

#[test]
fn usage_errors_exit_2_and_name_the_input() {
    let out = run(kir().args(["--request-timeout", "ten", "doctor"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--request-timeout"), "{}", out.stderr);

    let out = run(kir().args(["doctor", "--no-such-flag"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--no-such-flag"), "{}", out.stderr);

    let out = run(kir().args(["-n", "Bad_Namespace", "doctor"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("Bad_Namespace"), "{}", out.stderr);

    let out = run(kir().args(["-o", "xml", "doctor"]));
    assert_eq!(out.code, 2);
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef kir"), ("fish", "complete -c kir")] {
        let out = run(kir().args(["completion", shell])).success();
        assert!(out.stdout.contains(marker), "{shell}: {}", &out.stdout[..200.min(out.stdout.len())]);
        assert!(out.stdout.contains("doctor"), "{shell} completion lists subcommands");
    }
}

#[test]
fn as_a_kubectl_plugin_it_calls_itself_kubectl_ir() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-ir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kir"), &plugin).unwrap();
    let mut command = std::process::Command::new(&plugin);
    command.arg("--help").env("NO_COLOR", "1");
    let out = run(&mut command).success();
    assert!(out.stdout.contains("Usage: kubectl ir"), "{}", out.stdout);
}

#[test]
fn the_version_is_printed_for_people_scripts_and_the_kubectl_plugin() {
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(run(kir().arg("version")).success().stdout.trim(), format!("kir {version}"));
    assert_eq!(run(kir().args(["version", "-o", "json"])).success().json()["version"], version);
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-ir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kir"), &plugin).unwrap();
    let out = run(std::process::Command::new(&plugin).arg("version")).success();
    assert!(out.stdout.contains(version), "{}", out.stdout);
}

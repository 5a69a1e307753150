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

/// `COMPLETE=fish kir -- kir ...` as the shell calls it while completing: the words so far,
/// then the word being completed.
fn complete(kubeconfig: &std::path::Path, dir: &std::path::Path, words: &[&str]) -> Vec<String> {
    let out = run(kir()
        .env("COMPLETE", "fish")
        .env("KUBECONFIG", kubeconfig)
        .current_dir(dir)
        .arg("--")
        .arg("kir")
        .args(words));
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout.lines().map(|l| l.split('\t').next().unwrap_or_default().to_string()).collect()
}

/// Completion knows the cluster: namespaces, pods as NS/NAME, and case folders; without a
/// reachable cluster it offers nothing, quietly.
#[tokio::test]
async fn completion_offers_the_clusters_namespaces_pods_and_cases() {
    use crate::{
        scene::{container, create_deployment, deployment, running_pods},
        testbed::testbed,
    };
    let tb = testbed();
    let client = tb.client().await;
    let ns = tb.namespace("complete").await;
    create_deployment(&client, &ns, &deployment("web", 1, vec![container("web", "nginx:1.27")])).await;
    let pod = running_pods(&client, &ns, "app=web", 1).await[0].metadata.name.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let namespaces = complete(&tb.kubeconfig, dir.path(), &["capture", "pod", "-n", &ns[..ns.len() - 1]]);
    assert!(namespaces.contains(&ns), "{namespaces:?}");
    let by_namespace = complete(&tb.kubeconfig, dir.path(), &["capture", "pod", &ns]);
    assert!(by_namespace.contains(&format!("{ns}/")), "{by_namespace:?}");
    let pods = complete(&tb.kubeconfig, dir.path(), &["respond", "compromised-pod", &format!("{ns}/")]);
    assert_eq!(pods, [format!("{ns}/{pod}")]);

    std::fs::create_dir_all(dir.path().join("cases/INC-7")).unwrap();
    std::fs::write(dir.path().join("cases/INC-7/journal.jsonl"), "").unwrap();
    let cases = complete(&tb.kubeconfig, dir.path(), &["undo", "cases/"]);
    assert_eq!(cases, ["cases/INC-7"]);
    let cases = complete(&tb.kubeconfig, dir.path(), &["capture", "pod", "x", "--case", "cases/I"]);
    assert_eq!(cases, ["cases/INC-7"]);

    let started = std::time::Instant::now();
    let nowhere = complete(&dir.path().join("no-kubeconfig"), dir.path(), &["capture", "pod", "w"]);
    assert!(nowhere.is_empty(), "{nowhere:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "quick when there is no cluster");
}

/// Tables fit the width they are given (the terminal's, or COLUMNS), wrapping long cells; `-o
/// wide` prints them whole, and so does a pipe with no COLUMNS.
#[test]
fn tables_fit_the_terminal_and_wide_prints_them_whole() {
    let tb = crate::testbed::testbed();
    let widest = |columns: Option<&str>, wide: bool| {
        let mut command = crate::util::kir_with(&tb.kubeconfig);
        command.arg("doctor");
        if wide {
            command.args(["-o", "wide"]);
        }
        if let Some(columns) = columns {
            command.env("COLUMNS", columns);
        }
        let out = run(&mut command);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout.lines().map(|l| l.chars().count()).max().unwrap()
    };
    let whole = widest(None, false);
    assert!(whole > 100, "the doctor table has long rows: {whole}");
    assert!(widest(Some("72"), false) <= 72);
    assert_eq!(widest(Some("72"), true), whole, "-o wide never wraps");
}

//! Every command kir suggests is one that parses: the detection rules' responses, filled as a
//! finding fills them, and every `kir ...` that kir's sources print in backquotes or
//! parentheses. A suggestion that names a command that does not exist, or leaves out a required
//! argument, fails here instead of in a responder's terminal.

use std::path::{Path, PathBuf};

use clap::Parser;
use kir_detect::{builtin, rule::Fill, rule::fill_response};

use crate::cli::Cli;

/// Split a suggestion as a POSIX shell would (plain words, single and double quotes and `\'`
/// are all kir prints).
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut double = None;
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if !quoted => {
                word.extend(chars.next());
                in_word = true;
            }
            '\'' if double.is_none() => {
                quoted = !quoted;
                in_word = true;
            }
            '"' if !quoted => {
                double = if double.is_some() { None } else { Some(()) };
                in_word = true;
            }
            c if c.is_whitespace() && !quoted && double.is_none() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn parses(suggestion: &str) -> Result<(), clap::Error> {
    Cli::try_parse_from(shell_words(suggestion)).map(|_| ())
}

/// The non-test part of every Rust source of the workspace's crates.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("crates"), &mut files);
    files
        .into_iter()
        .filter(|f| !f.ends_with("suggestions.rs") && !f.components().any(|c| c.as_os_str() == "tests"))
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            // Comments name commands in prose; what kir prints is in its string literals.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: Vec<&str> = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
            let code = code.join("\n").replace("\\\"", "\"");
            (f, code)
        })
        .collect()
}

#[test]
fn every_rule_response_is_a_command_kir_parses() {
    let logs = ["/var/log/kubernetes/audit/audit.log".to_string()];
    let fill = Fill { user: "system:serviceaccount:shop:web", namespace: "shop", name: "web-1", logs: &logs };
    let runtime = builtin::runtime_rules().into_iter().map(|r| r.meta.response);
    let audit = builtin::audit_rules().into_iter().map(|r| r.meta.response);
    let mut failures = Vec::new();
    for template in audit.chain(runtime) {
        let suggestion = fill_response(&template, &fill);
        if let Err(e) = parses(&suggestion) {
            failures.push(format!("{suggestion}\n{e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_kir_command_the_sources_print_parses() {
    let command = regex::Regex::new(r"(?:`(kir [^`]+)`|\((kir [^()]+)\))").unwrap();
    let subcommands: Vec<String> = {
        use clap::CommandFactory;
        Cli::command().get_subcommands().map(|s| s.get_name().to_string()).collect()
    };
    let placeholder = regex::Regex::new(r"\{[^}]*\}").unwrap();
    let continuation = regex::Regex::new(r"\\\n\s*").unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (file, code) in sources() {
        // Joined as the compiler joins `\` continuations of string literals.
        let code = continuation.replace_all(&code, "");
        for found in command.captures_iter(&code) {
            let text = found.get(1).or_else(|| found.get(2)).unwrap().as_str();
            let first = text.split_whitespace().nth(1).unwrap_or_default();
            if !subcommands.iter().any(|s| s == first) {
                continue;
            }
            let suggestion = placeholder.replace_all(text, "x");
            checked += 1;
            // Help texts name commands in prose ("reverse `kir isolate`"): the command must
            // exist; everything else kir prints must run as it stands.
            let prose = file.ends_with("cli.rs");
            match parses(&suggestion) {
                Ok(()) => {}
                Err(e)
                    if prose
                        && matches!(
                            e.kind(),
                            clap::error::ErrorKind::MissingRequiredArgument
                                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                        ) => {}
                Err(e) => failures.push(format!(
                    "{}: {text}\n{}",
                    file.display(),
                    e.render().to_string().lines().next().unwrap_or_default()
                )),
            }
        }
    }
    assert!(checked > 10, "the scan found the suggestions ({checked})");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn suggestions_split_as_a_shell_splits_them() {
    assert_eq!(
        shell_words("kir audit timeline 'my logs/a.log' --user 'o'\\''brien'"),
        ["kir", "audit", "timeline", "my logs/a.log", "--user", "o'brien"]
    );
}

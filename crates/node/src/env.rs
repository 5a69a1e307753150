//! A process's environment, redacted the way kir redacts evidence: every value is replaced by
//! its size (`<redacted by kir: N bytes>`, the form kir-cluster's `redact_metadata` gives
//! annotation values), except the values of a short list of variables that describe rather than
//! hold data. kir-cluster is not reused: it depends on the Kubernetes client, which a collector
//! on the node must not.

use serde::Serialize;

use crate::parse::text;

/// Variables whose values are kept: they name the process's surroundings, not its secrets.
pub const KEPT_VARIABLES: &[&str] = &[
    "PATH",
    "HOME",
    "HOSTNAME",
    "PWD",
    "SHELL",
    "TERM",
    "USER",
    "LANG",
    "LC_ALL",
    "TZ",
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "KUBERNETES_SERVICE_PORT_HTTPS",
    "KUBERNETES_PORT",
    "KUBERNETES_PORT_443_TCP",
    "KUBERNETES_PORT_443_TCP_ADDR",
    "KUBERNETES_PORT_443_TCP_PORT",
    "KUBERNETES_PORT_443_TCP_PROTO",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentVariable {
    /// Empty for an entry without `=` (a process may overwrite its environment with anything):
    /// such an entry is redacted whole.
    pub name: String,
    pub value: String,
}

/// The NUL-separated entries of /proc/PID/environ, redacted.
pub fn redact_environment(environ: &[u8]) -> Vec<EnvironmentVariable> {
    environ
        .split(|b| *b == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match memchr::memchr(b'=', entry) {
            Some(equals) => {
                let (name, value) = (text(&entry[..equals]), &entry[equals + 1..]);
                let value =
                    if KEPT_VARIABLES.contains(&name.as_str()) { text(value) } else { redacted(value.len()) };
                EnvironmentVariable { name, value }
            }
            None => EnvironmentVariable { name: String::new(), value: redacted(entry.len()) },
        })
        .collect()
}

fn redacted(size: usize) -> String {
    format!("<redacted by kir: {size} bytes>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_replaced_by_their_size_except_descriptive_ones() {
        let environment = redact_environment(b"PATH=/usr/bin\0DB_PASSWORD=hunter2\0EMPTY=\0A=b=c\0");
        let pairs: Vec<(&str, &str)> =
            environment.iter().map(|v| (v.name.as_str(), v.value.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("PATH", "/usr/bin"),
                ("DB_PASSWORD", "<redacted by kir: 7 bytes>"),
                ("EMPTY", "<redacted by kir: 0 bytes>"),
                ("A", "<redacted by kir: 3 bytes>"),
            ]
        );
    }

    #[test]
    fn entries_without_a_name_and_odd_bytes_leak_nothing() {
        let environment =
            redact_environment(b"\0\0secret-without-name\0\xffNAME=\xfe\xfd\0path=/lowercase/is/not/PATH");
        assert_eq!(environment.len(), 3);
        assert_eq!(environment[0].name, "");
        assert_eq!(environment[0].value, "<redacted by kir: 19 bytes>");
        assert_eq!(environment[1].name, "\u{fffd}NAME");
        assert_eq!(environment[1].value, "<redacted by kir: 2 bytes>");
        assert_eq!(environment[2].value, "<redacted by kir: 22 bytes>", "names are matched exactly");
    }
}

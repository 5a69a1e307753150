//! Errors that say what was attempted, against which server, and what to do about it.

use std::fmt;

use serde::Serialize;

use crate::Target;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a server could not be used at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectFailure {
    /// Nothing listens at the address.
    Refused,
    /// The TLS handshake failed (unknown CA, wrong name, expired certificate).
    Tls,
    /// The server answered 401: the credentials are not accepted.
    Unauthorized,
    /// No answer in time.
    Timeout,
    /// The host name did not resolve.
    Dns,
    /// Anything else on the way to the server.
    Other,
}

impl ConnectFailure {
    fn summary(self) -> &'static str {
        match self {
            ConnectFailure::Refused => "connection refused",
            ConnectFailure::Tls => "TLS handshake failed",
            ConnectFailure::Unauthorized => "unauthorized (401)",
            ConnectFailure::Timeout => "timed out",
            ConnectFailure::Dns => "host name not resolved",
            ConnectFailure::Other => "request failed",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            ConnectFailure::Refused => {
                "nothing listens at that address: is the API server running, and is the server URL in the kubeconfig right?"
            }
            ConnectFailure::Tls => {
                "the server's certificate was not accepted: check certificate-authority-data and the server name in the kubeconfig"
            }
            ConnectFailure::Unauthorized => {
                "the server rejected the credentials: the token or client certificate may have expired or been revoked"
            }
            ConnectFailure::Timeout => {
                "no answer in time: check VPN, firewall and proxy settings, or raise --request-timeout"
            }
            ConnectFailure::Dns => "the server's host name does not resolve: check the server URL and DNS",
            ConnectFailure::Other => "see the detail above",
        }
    }
}

/// Errors of cluster access. Every variant names what was being done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig could not be read, parsed or resolved.
    #[error("cannot use kubeconfig {source_name}: {detail}")]
    Config { source_name: String, detail: String },

    /// There is no kubeconfig and kir is not running in a pod.
    #[error(
        "no kubeconfig found (checked --kubeconfig, KUBECONFIG and ~/.kube/config) and not running in a cluster: {detail}"
    )]
    NoConfig { detail: String },

    /// The API server could not be reached or refused the credentials.
    #[error("{}", unreachable_message(target, *failure, detail))]
    Unreachable { target: Box<Target>, failure: ConnectFailure, detail: String },

    /// The server said no (403); `what` names the permission that was missing.
    #[error("{what}: forbidden: {message}")]
    Forbidden { what: String, message: String },

    /// The object does not exist (404).
    #[error("{what}: not found")]
    NotFound { what: String },

    /// Any other answer from the API server.
    #[error("{what}: {message} (HTTP {code})")]
    Api { what: String, code: u16, message: String },

    /// A failure that is neither a connection problem nor an API answer.
    #[error("{what}: {detail}")]
    Other { what: String, detail: String },
}

impl Error {
    /// The connection failure, when this error means the server is unusable.
    pub fn connect_failure(&self) -> Option<ConnectFailure> {
        match self {
            Error::Unreachable { failure, .. } => Some(*failure),
            _ => None,
        }
    }

    /// HTTP status of an API answer, when there was one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Error::Forbidden { .. } => Some(403),
            Error::NotFound { .. } => Some(404),
            Error::Api { code, .. } => Some(*code),
            Error::Unreachable { failure: ConnectFailure::Unauthorized, .. } => Some(401),
            _ => None,
        }
    }
}

fn unreachable_message(target: &Target, failure: ConnectFailure, detail: &str) -> String {
    let mut text = String::new();
    use fmt::Write as _;
    let _ = writeln!(text, "cannot use the Kubernetes API server: {}", failure.summary());
    let _ = writeln!(text, "  server:     {}", target.server);
    let _ = writeln!(text, "  context:    {}", target.context.as_deref().unwrap_or("<none>"));
    let _ = writeln!(text, "  kubeconfig: {}", target.kubeconfig_display());
    let _ = writeln!(text, "  detail:     {detail}");
    let _ = write!(text, "  hint:       {}", failure.hint());
    text
}

/// Turn a kube error into ours, deciding whether the server answered or could not be used.
pub(crate) fn classify(target: &Target, what: String, error: kube::Error) -> Error {
    match error {
        kube::Error::Api(status) => {
            let message = status.message.clone();
            match status.code {
                401 => Error::Unreachable {
                    target: Box::new(target.clone()),
                    failure: ConnectFailure::Unauthorized,
                    detail: format!("{what}: {message}"),
                },
                403 => Error::Forbidden { what, message },
                404 => Error::NotFound { what },
                code => Error::Api { what, code, message },
            }
        }
        other => {
            let chain = error_chain(&other);
            match transport_failure(&other, &chain) {
                Some(failure) => {
                    Error::Unreachable { target: Box::new(target.clone()), failure, detail: chain }
                }
                None => Error::Other { what, detail: chain },
            }
        }
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// Decide from the error chain whether the server was never reached, and why. Transport
/// errors nest several layers deep (tower, hyper, rustls, io), so look at every layer.
fn transport_failure(error: &(dyn std::error::Error + 'static), chain: &str) -> Option<ConnectFailure> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Some(ConnectFailure::Refused),
                std::io::ErrorKind::TimedOut => return Some(ConnectFailure::Timeout),
                _ => {}
            }
        }
        current = e.source();
    }
    let lower = chain.to_lowercase();
    let failure = if lower.contains("connection refused") {
        ConnectFailure::Refused
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        ConnectFailure::Tls
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        ConnectFailure::Dns
    } else if lower.contains("timed out")
        || lower.contains("deadline has elapsed")
        || lower.contains("elapsed")
    {
        ConnectFailure::Timeout
    } else if lower.contains("connect") || lower.contains("hyper") || lower.contains("service error") {
        ConnectFailure::Other
    } else {
        return None;
    };
    Some(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            kubeconfig: vec!["/tmp/kc".into()],
            context: Some("ctx".into()),
            server: "https://127.0.0.1:6443/".into(),
        }
    }

    #[test]
    fn api_statuses_are_sorted_by_meaning() {
        let status = |code: u16| {
            kube::Error::Api(Box::new(kube::core::Status::failure("nope", "Reason").with_code(code)))
        };
        assert!(matches!(classify(&target(), "list pods".into(), status(403)), Error::Forbidden { .. }));
        assert!(matches!(classify(&target(), "get pod".into(), status(404)), Error::NotFound { .. }));
        let unauthorized = classify(&target(), "get version".into(), status(401));
        assert_eq!(unauthorized.connect_failure(), Some(ConnectFailure::Unauthorized));
        assert!(matches!(classify(&target(), "x".into(), status(500)), Error::Api { code: 500, .. }));
    }

    #[test]
    fn unreachable_message_names_server_context_and_kubeconfig() {
        let error = Error::Unreachable {
            target: Box::new(target()),
            failure: ConnectFailure::Refused,
            detail: "tcp connect error".into(),
        };
        let text = error.to_string();
        for needle in ["connection refused", "https://127.0.0.1:6443/", "ctx", "/tmp/kc", "tcp connect error"]
        {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
    }
}

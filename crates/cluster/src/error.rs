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

    /// The server said no (403); `permission` names the one that was missing, as a
    /// responder would grant it, when the answer says.
    #[error("{what}: forbidden: {message}")]
    Forbidden { what: String, message: String, permission: Option<String> },

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

    /// Whether trying again shortly may succeed: the server could not be reached or answered
    /// that it is overloaded or restarting (429, 5xx), or the connection broke mid-answer.
    /// TLS, DNS and credential failures do not go away by themselves, nor do 4xx answers.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { failure, .. } => {
                matches!(failure, ConnectFailure::Refused | ConnectFailure::Timeout | ConnectFailure::Other)
            }
            Error::Api { code, .. } => matches!(code, 429 | 500 | 502 | 503 | 504),
            Error::Other { detail, .. } => {
                let detail = detail.to_lowercase();
                BROKEN_CONNECTION.iter().any(|needle| detail.contains(needle))
            }
            _ => false,
        }
    }

    /// The permission a 403 says is missing, as a responder would grant it: `create pods/exec
    /// in shop`, `get nodes (cluster-wide)`. The API server's message says it in a fixed form;
    /// when it does not, what was attempted.
    pub fn missing_permission(&self) -> Option<String> {
        match self {
            Error::Forbidden { what, permission, .. } => {
                Some(permission.clone().unwrap_or_else(|| what.clone()))
            }
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

/// What an error chain says when a connection broke after the request was sent.
const BROKEN_CONNECTION: &[&str] = &[
    "connection reset",
    "broken pipe",
    "connection closed",
    "connection aborted",
    "incomplete message",
    "unexpected eof",
    "unexpected end of file",
];

/// `... cannot VERB resource "RESOURCE" in API group "GROUP" in the namespace "NS"` (or `at the
/// cluster scope`), as the RBAC authorizer words a denial.
fn permission_in(message: &str) -> Option<String> {
    let quoted = |text: &str, prefix: &str| -> Option<String> {
        let rest = text.split_once(prefix)?.1;
        Some(rest.split('"').next()?.to_string())
    };
    let after = message.split_once(" cannot ")?.1;
    let verb = after.split_whitespace().next()?;
    let resource = quoted(after, "resource \"")?;
    let group = quoted(after, "in API group \"").unwrap_or_default();
    let resource = if group.is_empty() { resource } else { format!("{resource}.{group}") };
    Some(match quoted(after, "in the namespace \"") {
        Some(namespace) => format!("{verb} {resource} in {namespace}"),
        None => format!("{verb} {resource} (cluster-wide)"),
    })
}

/// Delays before each new try of a transiently failed request: four tries over about three
/// seconds, long enough to ride out a dropped connection or a brief overload, short enough
/// that a response does not stall on a server that is gone (a later run resumes).
const RETRY_DELAYS: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(200),
    std::time::Duration::from_millis(800),
    std::time::Duration::from_millis(2000),
];

/// Retries of one request whose failures may be transient (see [`Error::is_transient`]).
#[derive(Debug, Default)]
pub struct Retry {
    tried: usize,
}

impl Retry {
    pub fn new() -> Retry {
        Retry::default()
    }

    /// Whether to try again after `error`; waits the backoff first when so.
    pub async fn again(&mut self, error: &Error) -> bool {
        if !error.is_transient() {
            return false;
        }
        tracing::debug!("{error}");
        self.pause().await
    }

    /// Wait the next backoff before another try; `false`, at once, when the tries are used up.
    /// For failures the caller knows to be transient (a stream that broke mid-way).
    pub async fn pause(&mut self) -> bool {
        let Some(delay) = RETRY_DELAYS.get(self.tried) else { return false };
        self.tried += 1;
        tracing::debug!("trying again in {} ms", delay.as_millis());
        tokio::time::sleep(*delay).await;
        true
    }
}

/// Run `request` until it succeeds, fails for good, or the retries are used up.
pub async fn retrying<T, F, Fut>(mut request: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut retry = Retry::new();
    loop {
        match request().await {
            Err(error) if retry.again(&error).await => continue,
            outcome => return outcome,
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
                403 => Error::Forbidden { permission: permission_in(&message), what, message },
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
    fn transient_failures_are_told_from_lasting_ones() {
        let unreachable =
            |failure| Error::Unreachable { target: Box::new(target()), failure, detail: String::new() };
        assert!(unreachable(ConnectFailure::Refused).is_transient());
        assert!(unreachable(ConnectFailure::Timeout).is_transient());
        assert!(!unreachable(ConnectFailure::Tls).is_transient());
        assert!(!unreachable(ConnectFailure::Unauthorized).is_transient());
        let api = |code| Error::Api { what: "x".into(), code, message: String::new() };
        assert!(api(503).is_transient() && api(429).is_transient() && api(500).is_transient());
        assert!(!api(400).is_transient() && !api(409).is_transient());
        assert!(
            !Error::Forbidden { what: "x".into(), message: String::new(), permission: None }.is_transient()
        );
        let broken = Error::Other {
            what: "log".into(),
            detail: "error reading a body: Connection reset by peer".into(),
        };
        assert!(broken.is_transient());
        assert!(!Error::Other { what: "parse".into(), detail: "expected value".into() }.is_transient());
    }

    #[test]
    fn a_denial_names_the_missing_permission() {
        let denial = |what: &str, message: &str| {
            let status = kube::core::Status::failure(message, "Forbidden").with_code(403);
            classify(&target(), what.into(), kube::Error::Api(Box::new(status)))
        };
        let exec = denial(
            "POST exec",
            r#"pods "web-1" is forbidden: User "system:serviceaccount:ir:responder" cannot create resource "pods/exec" in API group "" in the namespace "shop""#,
        );
        assert_eq!(exec.missing_permission().as_deref(), Some("create pods/exec in shop"));
        let nodes = denial(
            "GET node",
            r#"nodes "n1" is forbidden: User "u" cannot get resource "nodes" in API group "" at the cluster scope"#,
        );
        assert_eq!(nodes.missing_permission().as_deref(), Some("get nodes (cluster-wide)"));
        let apps = denial(
            "GET rs",
            r#"replicasets.apps "w" is forbidden: User "u" cannot get resource "replicasets" in API group "apps" in the namespace "shop""#,
        );
        assert_eq!(apps.missing_permission().as_deref(), Some("get replicasets.apps in shop"));
        let odd = denial("list things", "no");
        assert_eq!(odd.missing_permission().as_deref(), Some("list things"));
        assert_eq!(Error::NotFound { what: "x".into() }.missing_permission(), None);
    }

    #[tokio::test]
    async fn retries_stop_at_lasting_failures() {
        let mut calls = 0;
        let outcome: Result<()> = retrying(|| {
            calls += 1;
            async { Err(Error::NotFound { what: "x".into() }) }
        })
        .await;
        assert!(outcome.is_err());
        assert_eq!(calls, 1, "a 404 is not tried again");
        let mut calls = 0;
        let outcome = retrying(|| {
            calls += 1;
            let fail = calls < 3;
            async move {
                if fail {
                    Err(Error::Api { what: "x".into(), code: 429, message: String::new() })
                } else {
                    Ok(7)
                }
            }
        })
        .await;
        assert_eq!((outcome.unwrap(), calls), (7, 3));
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

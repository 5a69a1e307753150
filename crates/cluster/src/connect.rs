//! Building a client from kubectl-style settings (kubeconfig, context, namespace, impersonation).

use std::{future::Future, path::PathBuf, time::Duration};

use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};
use serde::Serialize;

use crate::{
    error::{Error, Result, classify},
    objects::KindCache,
};

/// Connection settings, as a responder gives them on the command line.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// An explicit kubeconfig file; otherwise `KUBECONFIG`, then `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// The context to use instead of the kubeconfig's current context.
    pub context: Option<String>,
    /// The namespace to use instead of the context's namespace.
    pub namespace: Option<String>,
    /// `--as`: the user (or `system:serviceaccount:NS:NAME`) to impersonate.
    pub impersonate_user: Option<String>,
    /// `--as-group`: groups to impersonate.
    pub impersonate_groups: Vec<String>,
    /// How long one request may take before it counts as a timeout. Zero means no limit.
    pub request_timeout: Duration,
}

/// What kir tried to reach: named in every connection error and recorded in cases.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Target {
    /// The kubeconfig files that were read; empty for in-cluster configuration.
    pub kubeconfig: Vec<PathBuf>,
    /// The context in use; `None` for in-cluster configuration.
    pub context: Option<String>,
    /// The API server URL.
    pub server: String,
}

impl Target {
    pub(crate) fn kubeconfig_display(&self) -> String {
        if self.kubeconfig.is_empty() {
            "<in-cluster service account>".to_string()
        } else {
            self.kubeconfig.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":")
        }
    }
}

/// A connection to one API server, as one identity.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    transport: crate::transport::Transport,
    /// Kept to derive clients that act as another identity (see `Cluster::impersonating`).
    config: Config,
    target: Target,
    namespace: String,
    request_timeout: Duration,
    kinds: KindCache,
}

/// The User-Agent of every request.
pub const USER_AGENT: &str = concat!("kir/", env!("CARGO_PKG_VERSION"));

/// Connections that hang are the common failure during incidents (VPNs, firewalls), so a
/// connect attempt gets a bounded wait even when no request timeout is set.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Cluster {
    /// Resolve the options into a client. This reads files but sends no request, so it fails
    /// only for configuration problems; reachability shows on the first call.
    pub async fn connect(options: &ConnectOptions) -> Result<Cluster> {
        let (mut config, target) = load_config(options).await?;
        config.connect_timeout = Some(match options.request_timeout {
            t if t.is_zero() => CONNECT_TIMEOUT,
            t => t.min(CONNECT_TIMEOUT),
        });
        // Exec sessions may stay quiet for a long time; a read timeout would cut them, so
        // timeouts are applied per call instead (see `Cluster::call`).
        config.read_timeout = None;
        // Every request names kir in the audit log, so that what a responder did is told apart
        // from what the attacker did with the same credentials.
        config.headers.push((http::header::USER_AGENT, http::HeaderValue::from_static(USER_AGENT)));
        if let Some(user) = &options.impersonate_user {
            config.auth_info.impersonate = Some(user.clone());
        }
        if !options.impersonate_groups.is_empty() {
            config.auth_info.impersonate_groups = Some(options.impersonate_groups.clone());
        }
        let namespace = options.namespace.clone().unwrap_or_else(|| config.default_namespace.clone());
        let config_error = |e: kube::Error| Error::Config {
            source_name: target.kubeconfig_display(),
            detail: e.to_string(),
        };
        let transport = crate::transport::Transport::new(&config).map_err(config_error)?;
        let client = transport.client(&config).map_err(config_error)?;
        Ok(Cluster {
            client,
            transport,
            config,
            target,
            namespace,
            request_timeout: options.request_timeout,
            kinds: KindCache::default(),
        })
    }

    /// The same connection acting as `user` in `groups` (impersonation): what that identity
    /// may do is what the API server answers this derived client.
    pub fn impersonating(&self, user: &str, groups: &[String]) -> Result<Cluster> {
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups = Some(groups.to_vec());
        let client = self.transport.client(&config).map_err(|e| Error::Config {
            source_name: self.target.kubeconfig_display(),
            detail: e.to_string(),
        })?;
        Ok(Cluster { client, config, ..self.clone() })
    }

    /// The same API server, authenticated only by `token`: no client certificate, no
    /// impersonation, no exec plugin of the kubeconfig. What the API server lets this
    /// connection do is what the token holder could do.
    pub fn with_token(&self, token: &str) -> Result<Cluster> {
        let mut config = self.config.clone();
        config.auth_info =
            kube::config::AuthInfo { token: Some(token.to_string().into()), ..Default::default() };
        let config_error = |e: kube::Error| Error::Config {
            source_name: self.target.kubeconfig_display(),
            detail: e.to_string(),
        };
        // A pool of its own: the connections of `self` carry its client certificate.
        let transport = crate::transport::Transport::new(&config).map_err(config_error)?;
        let client = transport.client(&config).map_err(config_error)?;
        Ok(Cluster { client, transport, config, ..self.clone() })
    }

    /// The underlying kube client, for the modules of this crate.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn kinds(&self) -> &KindCache {
        &self.kinds
    }

    /// Where this connection points.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The namespace commands act in when none is named (`-n`, else the context's).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Run one API call with the request timeout, turning failures into [`Error`]s that say
    /// what was attempted and, for connection problems, where.
    pub(crate) async fn call<T>(
        &self,
        what: impl Into<String>,
        request: impl Future<Output = kube::Result<T>>,
    ) -> Result<T> {
        let what = what.into();
        let outcome = if self.request_timeout.is_zero() {
            request.await
        } else {
            match tokio::time::timeout(self.request_timeout, request).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(Error::Unreachable {
                        target: Box::new(self.target.clone()),
                        failure: crate::ConnectFailure::Timeout,
                        detail: format!("no answer within {:?} to {what}", self.request_timeout),
                    });
                }
            }
        };
        outcome.map_err(|e| classify(&self.target, what, e))
    }
}

async fn load_config(options: &ConnectOptions) -> Result<(Config, Target)> {
    let (kubeconfig, paths) = match read_kubeconfig(options)? {
        Some(found) => found,
        None => {
            let config = Config::incluster().map_err(|e| Error::NoConfig { detail: e.to_string() })?;
            let target =
                Target { kubeconfig: Vec::new(), context: None, server: config.cluster_url.to_string() };
            return Ok((config, target));
        }
    };
    let source_name = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":");
    let context = match options.context.clone().or_else(|| kubeconfig.current_context.clone()) {
        Some(context) => context,
        None => {
            return Err(Error::Config {
                source_name,
                detail: "no current-context is set and no --context was given".to_string(),
            });
        }
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        let known: Vec<&str> = kubeconfig.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(Error::Config {
            source_name,
            detail: format!(
                "context {context:?} does not exist (contexts in this kubeconfig: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ),
        });
    }
    let kube_options = KubeConfigOptions { context: Some(context.clone()), ..Default::default() };
    let config = Config::from_custom_kubeconfig(kubeconfig, &kube_options)
        .await
        .map_err(|e| Error::Config { source_name, detail: format!("context {context:?}: {e}") })?;
    let target = Target { kubeconfig: paths, context: Some(context), server: config.cluster_url.to_string() };
    Ok((config, target))
}

/// Find and parse the kubeconfig the way kubectl does: the flag, else `KUBECONFIG` (merged),
/// else `~/.kube/config`. `None` means there is none, and in-cluster configuration applies.
fn read_kubeconfig(options: &ConnectOptions) -> Result<Option<(Kubeconfig, Vec<PathBuf>)>> {
    let read = |path: &PathBuf| {
        Kubeconfig::read_from(path).map_err(|e| Error::Config {
            source_name: path.display().to_string(),
            detail: kubeconfig_error_detail(&e),
        })
    };
    if let Some(path) = &options.kubeconfig {
        return Ok(Some((read(path)?, vec![path.clone()])));
    }
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> =
            std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()).collect();
        let mut merged: Option<Kubeconfig> = None;
        for path in &paths {
            let next = read(path)?;
            merged = Some(match merged {
                None => next,
                Some(prev) => prev.merge(next).map_err(|e| Error::Config {
                    source_name: path.display().to_string(),
                    detail: e.to_string(),
                })?,
            });
        }
        if let Some(config) = merged {
            return Ok(Some((config, paths)));
        }
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(path) = home.map(|h| h.join(".kube").join("config")).filter(|p| p.exists()) {
        return Ok(Some((read(&path)?, vec![path])));
    }
    Ok(None)
}

/// kube's errors for a file say "failed to read kubeconfig" without the cause underneath;
/// the cause (missing file, YAML error with its line) is what the responder needs.
fn kubeconfig_error_detail(error: &kube::config::KubeconfigError) -> String {
    use std::error::Error as _;
    let mut detail = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !detail.contains(&text) {
            detail = format!("{detail}: {text}");
        }
        source = cause.source();
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    const TWO_CONTEXTS: &str = r#"
apiVersion: v1
kind: Config
current-context: first
clusters:
- name: one
  cluster: {server: "https://127.0.0.1:1"}
- name: two
  cluster: {server: "https://127.0.0.1:2"}
contexts:
- name: first
  context: {cluster: one, user: u, namespace: team-a}
- name: second
  context: {cluster: two, user: u}
users:
- name: u
  user: {token: abc}
"#;

    #[tokio::test]
    async fn flag_context_and_namespace_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "config", TWO_CONTEXTS);
        let options = ConnectOptions { kubeconfig: Some(path.clone()), ..Default::default() };
        let cluster = Cluster::connect(&options).await.unwrap();
        assert_eq!(cluster.namespace(), "team-a");
        assert_eq!(cluster.target().context.as_deref(), Some("first"));
        assert_eq!(cluster.target().server, "https://127.0.0.1:1/");
        assert_eq!(cluster.target().kubeconfig, vec![path.clone()]);

        let options = ConnectOptions {
            kubeconfig: Some(path),
            context: Some("second".into()),
            namespace: Some("ir".into()),
            ..Default::default()
        };
        let cluster = Cluster::connect(&options).await.unwrap();
        assert_eq!(cluster.namespace(), "ir");
        assert_eq!(cluster.target().server, "https://127.0.0.1:2/");
    }

    #[tokio::test]
    async fn unknown_context_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "config", TWO_CONTEXTS);
        let options =
            ConnectOptions { kubeconfig: Some(path), context: Some("third".into()), ..Default::default() };
        let error = Cluster::connect(&options).await.err().unwrap().to_string();
        assert!(error.contains("\"third\" does not exist"), "{error}");
        assert!(error.contains("first, second"), "{error}");
    }

    #[tokio::test]
    async fn malformed_kubeconfig_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "broken", "apiVersion: v1\nclusters: [\n  - {name: x\n");
        let options = ConnectOptions { kubeconfig: Some(path.clone()), ..Default::default() };
        let error = Cluster::connect(&options).await.err().unwrap().to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
    }

    #[tokio::test]
    async fn missing_kubeconfig_names_the_file() {
        let options =
            ConnectOptions { kubeconfig: Some("/nonexistent/kubeconfig".into()), ..Default::default() };
        let error = Cluster::connect(&options).await.err().unwrap().to_string();
        assert!(error.contains("/nonexistent/kubeconfig"), "{error}");
        assert!(error.to_lowercase().contains("no such file"), "{error}");
    }
}

/// The credential a kubeconfig user entry holds, read from the file (kir never runs an exec
/// plugin: that would run whatever the file names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeconfigCredential {
    Token(String),
    /// A client certificate, PEM.
    Certificate(Vec<u8>),
    /// Issued on demand by a program (`exec`) or an auth provider: named, not run.
    Issued(String),
}

/// The credential of user `name` in the kubeconfig `options` select.
pub fn kubeconfig_credential(options: &ConnectOptions, name: &str) -> Result<KubeconfigCredential> {
    use base64::Engine as _;
    use secrecy::ExposeSecret as _;
    let Some((config, paths)) = read_kubeconfig(options)? else {
        return Err(Error::NoConfig { detail: "no kubeconfig file was found to read the user from".into() });
    };
    let source_name = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":");
    let fail = |detail: String| Error::Config { source_name: source_name.clone(), detail };
    let known: Vec<&str> = config.auth_infos.iter().map(|a| a.name.as_str()).collect();
    let entry = config.auth_infos.iter().find(|a| a.name == name).ok_or_else(|| {
        fail(format!("no user {name:?} in the kubeconfig; its users are: {}", known.join(", ")))
    })?;
    let Some(auth) = &entry.auth_info else {
        return Err(fail(format!("user {name:?} has no credential")));
    };
    let read =
        |path: &str| std::fs::read(path).map_err(|e| fail(format!("user {name:?}: cannot read {path}: {e}")));
    if let Some(token) = &auth.token {
        return Ok(KubeconfigCredential::Token(token.expose_secret().to_string()));
    }
    if let Some(path) = &auth.token_file {
        let token = String::from_utf8(read(path)?).map_err(|_| fail(format!("{path} is not text")))?;
        return Ok(KubeconfigCredential::Token(token.trim().to_string()));
    }
    if let Some(data) = &auth.client_certificate_data {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| fail(format!("user {name:?}: client-certificate-data is not base64: {e}")))?;
        return Ok(KubeconfigCredential::Certificate(pem));
    }
    if let Some(path) = &auth.client_certificate {
        return Ok(KubeconfigCredential::Certificate(read(path)?));
    }
    if let Some(exec) = &auth.exec {
        let command = exec.command.clone().unwrap_or_default();
        return Ok(KubeconfigCredential::Issued(format!("exec plugin {command}")));
    }
    if let Some(provider) = &auth.auth_provider {
        return Ok(KubeconfigCredential::Issued(format!("auth provider {}", provider.name)));
    }
    Err(fail(format!("user {name:?} has no token, client certificate or plugin")))
}

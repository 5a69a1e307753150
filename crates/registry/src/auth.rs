//! Registry credentials and challenges, from their text alone: a docker config file (what
//! `docker login` writes, and what a `kubernetes.io/dockerconfigjson` Secret holds) and the
//! `WWW-Authenticate` header a registry answers an anonymous request with.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;

use crate::RegistryError;

/// A user name and password (or token) for one registry. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Basic {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Basic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Basic({}, <redacted>)", self.user)
    }
}

impl Basic {
    /// The `Authorization` header value.
    pub fn header(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }
}

/// The credentials of a docker config file, by registry host.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    auths: BTreeMap<String, Basic>,
}

#[derive(Deserialize)]
struct Entry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct File {
    auths: Option<BTreeMap<String, Entry>>,
}

impl DockerConfig {
    /// Reads `{"auths": {HOST: {"auth": base64(user:password)} | {"username", "password"}}}`,
    /// and the older `.dockercfg` form (the same map at the top level).
    pub fn parse(bytes: &[u8]) -> Result<DockerConfig, RegistryError> {
        let invalid = |why: String| RegistryError::Config(why);
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let entries: BTreeMap<String, Entry> = match serde_json::from_value::<File>(value.clone()) {
            Ok(File { auths: Some(auths) }) => auths,
            _ => serde_json::from_value(value).map_err(|e| invalid(format!("no \"auths\" map: {e}")))?,
        };
        let mut auths = BTreeMap::new();
        for (key, entry) in entries {
            let basic = match (entry.auth, entry.username, entry.password) {
                (Some(auth), _, _) if !auth.is_empty() => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .map_err(|_| invalid(format!("the auth of {key:?} is not base64")))?;
                    let text = String::from_utf8(decoded)
                        .map_err(|_| invalid(format!("the auth of {key:?} is not text")))?;
                    let Some((user, password)) = text.split_once(':') else {
                        return Err(invalid(format!("the auth of {key:?} is not user:password")));
                    };
                    Basic { user: user.to_string(), password: password.to_string() }
                }
                (_, Some(user), Some(password)) => Basic { user, password },
                // Credential helpers and identity tokens are not read.
                _ => continue,
            };
            auths.insert(host_of(&key), basic);
        }
        Ok(DockerConfig { auths })
    }

    /// The credentials for `registry` as kir-image names it (`docker.io` for Docker Hub).
    pub fn for_registry(&self, registry: &str) -> Option<&Basic> {
        self.auths.get(registry)
    }
}

/// The registry host a config key names: `https://index.docker.io/v1/` is Docker Hub.
fn host_of(key: &str) -> String {
    let host = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = host.split('/').next().unwrap_or(host).to_ascii_lowercase();
    if kir_image::DOCKER_HUB_ALIASES.contains(&host.as_str()) {
        kir_image::DOCKER_HUB.to_string()
    } else {
        host
    }
}

/// How a registry asks to be authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Get a token from `realm` (with the service and scope), then send it as a bearer.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

/// Reads a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"` or `Basic …`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], quoted[end + 1..].trim_start())
            }
            None => after.split_once(',').map_or((after, ""), |(v, r)| (v, r)),
        };
        params.insert(key, value.to_string());
        rest = remaining.trim_start().strip_prefix(',').unwrap_or(remaining).trim_start();
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_docker_config_gives_each_registry_its_credentials() {
        let auth = base64::engine::general_purpose::STANDARD.encode("robot:s3cret:with-colon");
        let config = DockerConfig::parse(
            format!(
                r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}},
                    "registry.example.com:5000": {{"username": "u", "password": "p"}},
                    "ghcr.io": {{"identitytoken": "x"}}}}}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        let hub = config.for_registry("docker.io").unwrap();
        assert_eq!((hub.user.as_str(), hub.password.as_str()), ("robot", "s3cret:with-colon"));
        assert_eq!(config.for_registry("registry.example.com:5000").unwrap().user, "u");
        assert!(config.for_registry("ghcr.io").is_none());
        assert!(!format!("{hub:?}").contains("s3cret"));
    }

    #[test]
    fn a_bad_docker_config_says_what_is_wrong() {
        let error = DockerConfig::parse(br#"{"auths": {"r.io": {"auth": "%%%"}}}"#).unwrap_err();
        assert!(error.to_string().contains("not base64"), "{error}");
        assert!(DockerConfig::parse(b"[]").is_err());
    }

    #[test]
    fn challenges_are_read_as_registries_send_them() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull".into()),
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="Registry""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(r#"Bearer service="x""#), None);
    }

    proptest! {
        #[test]
        fn challenges_and_configs_never_panic(text in ".*", bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_challenge(&text);
            let _ = DockerConfig::parse(&bytes);
        }
    }
}

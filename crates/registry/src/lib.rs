//! What an OCI registry says a tag points to. `kir image find nginx:1.25` finds the pods that
//! name the tag; asking the registry for the tag's digest also finds those that name the same
//! content by digest, and those running it under another tag. Only manifests' digests are
//! asked for (HEAD, or a capped GET); no image is ever pulled.

pub mod auth;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use kir_image::{Digest, ImageRef};
use serde::Deserialize;

pub use auth::{Basic, DockerConfig};
use auth::{Challenge, parse_challenge};

/// The manifest kinds kir accepts: an index (multi-platform) first, since that is what a tag
/// of a multi-platform image points to and what a runtime resolves first.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
                      application/vnd.docker.distribution.manifest.list.v2+json, \
                      application/vnd.oci.image.manifest.v1+json, \
                      application/vnd.docker.distribution.manifest.v2+json";
/// A token answer larger than this is not a token.
const TOKEN_LIMIT: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("docker config: {0}")]
    Config(String),
    #[error("{image}: the registry has no such tag (404)")]
    NotFound { image: String },
    #[error("{image}: the registry refused the credentials (or needs some): {status}")]
    Unauthorized { image: String, status: u16 },
    #[error("{image}: the registry answered {status}")]
    Status { image: String, status: u16 },
    #[error("{image}: the registry did not answer within {seconds}s")]
    Timeout { image: String, seconds: u64 },
    #[error("{image}: {detail}")]
    Transport { image: String, detail: String },
    #[error("{image}: the registry's answer is unusable: {detail}")]
    Answer { image: String, detail: String },
}

type Https = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// A client of image registries.
pub struct Registry {
    client: Https,
    timeout: Duration,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

impl Registry {
    /// `timeout` bounds each request.
    pub fn new(timeout: Duration) -> Result<Registry, RegistryError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| RegistryError::Transport {
                image: String::new(),
                detail: format!("no root certificates: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Registry { client: Client::builder(TokioExecutor::new()).build(connector), timeout })
    }

    /// The digest the registry says `image`'s tag points to now.
    pub async fn resolve(
        &self,
        image: &ImageRef,
        credentials: Option<&Basic>,
    ) -> Result<Digest, RegistryError> {
        let name = image.to_string();
        let reference = match (image.digest(), image.tag()) {
            (Some(digest), _) => return Ok(digest.clone()),
            (None, Some(tag)) => tag.to_string(),
            (None, None) => "latest".to_string(),
        };
        let url = format!("{}/v2/{}/manifests/{reference}", base_url(image.registry()), image.repository());
        let first = self.head(&name, &url, None).await?;
        let answer = match first.status() {
            StatusCode::UNAUTHORIZED => {
                let challenge = first
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                let authorization = match challenge {
                    Some(Challenge::Bearer { realm, service, scope }) => {
                        let scope =
                            scope.unwrap_or_else(|| format!("repository:{}:pull", image.repository()));
                        let token =
                            self.token(&name, &realm, service.as_deref(), &scope, credentials).await?;
                        format!("Bearer {token}")
                    }
                    Some(Challenge::Basic) => match credentials {
                        Some(basic) => basic.header(),
                        None => return Err(RegistryError::Unauthorized { image: name, status: 401 }),
                    },
                    None => return Err(RegistryError::Unauthorized { image: name, status: 401 }),
                };
                self.head(&name, &url, Some(&authorization)).await?
            }
            _ => first,
        };
        match answer.status() {
            status if status.is_success() => {
                let header = answer.headers().get("docker-content-digest").and_then(|v| v.to_str().ok());
                let Some(header) = header else {
                    return Err(RegistryError::Answer {
                        image: name,
                        detail: "no Docker-Content-Digest header".into(),
                    });
                };
                Digest::parse(header.trim())
                    .map_err(|e| RegistryError::Answer { image: name, detail: e.to_string() })
            }
            StatusCode::NOT_FOUND => Err(RegistryError::NotFound { image: name }),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(RegistryError::Unauthorized { image: name, status: answer.status().as_u16() })
            }
            status => Err(RegistryError::Status { image: name, status: status.as_u16() }),
        }
    }

    async fn head(
        &self,
        image: &str,
        url: &str,
        authorization: Option<&str>,
    ) -> Result<http::Response<hyper::body::Incoming>, RegistryError> {
        let mut request = Request::builder().method(Method::HEAD).uri(url).header(header::ACCEPT, ACCEPT);
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| RegistryError::Transport { image: image.to_string(), detail: e.to_string() })?;
        self.send(image, request).await
    }

    async fn send(
        &self,
        image: &str,
        request: Request<Empty<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, RegistryError> {
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => {
                Err(RegistryError::Transport { image: image.to_string(), detail: describe(&error) })
            }
            Err(_) => {
                Err(RegistryError::Timeout { image: image.to_string(), seconds: self.timeout.as_secs() })
            }
        }
    }

    /// A pull token from the registry's token service (with the credentials, if any).
    async fn token(
        &self,
        image: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credentials: Option<&Basic>,
    ) -> Result<String, RegistryError> {
        let mut request = Request::builder().method(Method::GET).uri(token_url(realm, service, scope));
        if let Some(basic) = credentials {
            request = request.header(header::AUTHORIZATION, basic.header());
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| RegistryError::Transport { image: image.to_string(), detail: e.to_string() })?;
        let response = self.send(image, request).await?;
        if !response.status().is_success() {
            return Err(RegistryError::Unauthorized {
                image: image.to_string(),
                status: response.status().as_u16(),
            });
        }
        let body =
            tokio::time::timeout(self.timeout, Limited::new(response.into_body(), TOKEN_LIMIT).collect())
                .await
                .map_err(|_| RegistryError::Timeout {
                    image: image.to_string(),
                    seconds: self.timeout.as_secs(),
                })?
                .map_err(|e| RegistryError::Answer {
                    image: image.to_string(),
                    detail: format!("token: {e}"),
                })?
                .to_bytes();
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| RegistryError::Answer { image: image.to_string(), detail: format!("token: {e}") })?;
        answer.token.or(answer.access_token).filter(|t| !t.is_empty()).ok_or_else(|| RegistryError::Answer {
            image: image.to_string(),
            detail: "the token answer has no token".into(),
        })
    }
}

/// Where a registry is reached. Docker Hub's API is at registry-1.docker.io; a registry on
/// the loopback address is spoken to in plain HTTP, as docker and containerd do.
fn base_url(registry: &str) -> String {
    let host = if registry == kir_image::DOCKER_HUB { "registry-1.docker.io" } else { registry };
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let loopback = name == "localhost"
        || name == "[::1]"
        || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
    format!("{}://{host}", if loopback { "http" } else { "https" })
}

/// The token service's URL for a pull of `scope`.
fn token_url(realm: &str, service: Option<&str>, scope: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("scope", scope);
    if let Some(service) = service {
        query.append_pair("service", service);
    }
    format!("{realm}?{}", query.finish())
}

/// The error and its causes in one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_plain_http_and_docker_hub_has_its_api_host() {
        assert_eq!(base_url("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(base_url("localhost"), "http://localhost");
        assert_eq!(base_url("docker.io"), "https://registry-1.docker.io");
        assert_eq!(base_url("ghcr.io"), "https://ghcr.io");
        assert_eq!(base_url("127.example.com"), "https://127.example.com");
    }

    #[test]
    fn scopes_are_encoded_for_the_query() {
        assert_eq!(
            token_url("https://auth.example/token", Some("registry example"), "repository:team/app:pull"),
            "https://auth.example/token?scope=repository%3Ateam%2Fapp%3Apull&service=registry+example"
        );
    }
}

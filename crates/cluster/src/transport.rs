//! The HTTP stack under the kube client. It is kube's own stack (base URI, retries of
//! transient failures, authentication, impersonation headers, tracing, connect/read/write
//! timeouts) with two differences:
//!
//! - Sockets are opened with `TCP_NODELAY`. Without it, the small writes of exec sessions
//!   (WebSocket frames) and of request headers wait for the server's delayed acknowledgement,
//!   which costs 40 ms at a time: a response of a few requests and three execs took a third
//!   longer (see bench/README.md).
//! - One connection pool serves every identity derived from a connection (see [`Transport`]).

use hyper_rustls::HttpsConnector;
use hyper_timeout::TimeoutConnector;
use hyper_util::{
    client::legacy::{Client as HyperClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use kube::{
    Client, Config,
    client::{Body, ClientBuilder, ConfigExt, retry::RetryPolicy},
};
use tower::{BoxError, ServiceBuilder, retry::RetryLayer};
use tower_http::trace::TraceLayer;

type Pool = HyperClient<TimeoutConnector<HttpsConnector<HttpConnector>>, Body>;

/// The connection pool of one API server, shared by every identity derived from one
/// connection: impersonation is a header per request, so asking as a service account opens
/// no connection (and no TLS handshake) of its own.
#[derive(Clone)]
pub(crate) struct Transport {
    /// `None` behind a proxy, which is kube's business (and disabled features there).
    pool: Option<Pool>,
}

impl Transport {
    pub(crate) fn new(config: &Config) -> kube::Result<Transport> {
        if config.proxy_url.is_some() {
            return Ok(Transport { pool: None });
        }
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = config.rustls_https_connector_with_connector(http)?;
        let mut connector = TimeoutConnector::new(https);
        connector.set_connect_timeout(config.connect_timeout);
        connector.set_read_timeout(config.read_timeout);
        connector.set_write_timeout(config.write_timeout);
        connector.set_reset_reader_on_write(config.reset_reader_on_write);
        Ok(Transport { pool: Some(HyperClient::builder(TokioExecutor::new()).build(connector)) })
    }

    /// A client acting with `config`'s credentials and impersonation, over the shared pool.
    pub(crate) fn client(&self, config: &Config) -> kube::Result<Client> {
        let Some(pool) = &self.pool else { return Client::try_from(config.clone()) };
        let service = ServiceBuilder::new()
            .layer(config.base_uri_layer())
            .option_layer(config.default_retry.then(|| RetryLayer::new(RetryPolicy::server_retry())))
            .option_layer(config.auth_layer()?)
            .layer(config.extra_headers_layer()?)
            .layer(TraceLayer::new_for_http())
            .map_err(BoxError::from)
            .service(pool.clone());
        Ok(ClientBuilder::new(service, config.default_namespace.clone()).build())
    }
}

//! The composed node server: `/admin-api`, `/jsonrpc`, `/ws`, `/metrics`
//! and the admin dashboard ([`dashboard`]) on one listener.
//!
//! Where to start: [`run`] builds the router (`http.rs` adds the layers every
//! request passes) and hands it to the connection loop (`listen.rs`).
//!
//! What every connection and request gets, outside the endpoints' own rules:
//! - at most [`Limits::max_connections`] HTTP connections at once; past it a
//!   new connection gets `503` with a JSON body and is closed (upgraded
//!   WebSocket connections leave this count and are capped by the WebSocket
//!   endpoint);
//! - a request's headers must arrive within [`Limits::header_read_timeout`]
//!   (an idle keep-alive connection is closed after it too), and its body
//!   within [`Limits::body_read_timeout`] (`408`), so slow senders cannot hold
//!   connections;
//! - an `x-request-id` (the caller's when printable and at most 128 bytes,
//!   or a new one) echoed on the response, carried by the request's
//!   `debug`-level tracing span with method, path and peer, and by the one
//!   log line of a request that failed on the node's side;
//! - CORS as the protocol has it, answered before any authentication; the
//!   unauthenticated dev routes refuse pages of foreign origins and, on a
//!   loopback listener, requests addressed to other host names (`403`);
//! - counts and latencies in `/metrics` (OpenMetrics text, the format
//!   Prometheus scrapes).
//!
//! When `shutdown` resolves the listener is closed, idle connections are
//! closed, WebSocket sessions get `1001 Going Away`, and [`run`] returns once
//! every in-flight request has been answered, or once
//! [`Limits::shutdown_grace`] is over (closing the connections still busy).

pub mod dashboard;
mod http;
mod listen;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use node::Node;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use server_admin::{AdminConfig, AdminState, ApiError};
use server_auth::Authenticator;
use tokio::net::TcpListener;

/// Limits on connections and requests, whatever the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// HTTP connections served at once.
    pub max_connections: usize,
    /// HTTP connections served at once from one peer address (IPv4) or
    /// IPv6 /64.
    pub max_connections_per_peer: usize,
    /// Time for a request's headers to arrive (and for an idle keep-alive
    /// connection to send its next request).
    pub header_read_timeout: Duration,
    /// Time for a request's whole body to arrive.
    pub body_read_timeout: Duration,
    /// Time a write to a connection may stay blocked because the peer does
    /// not read (a response, or a WebSocket frame); past it the connection
    /// is closed.
    pub write_timeout: Duration,
    /// WebSocket connections open at once.
    pub max_ws_connections: usize,
    /// Time in-flight requests get to finish once shutdown starts; the
    /// connections still busy after it are closed.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_peer: 512,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_ws_connections: server_ws::WsConfig::default().max_connections,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// What the server serves.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Whether the unauthenticated `/admin-api/dev/*` and `/jsonrpc/dev`
    /// routes are served.
    pub dev_routes: bool,
    /// Whether `/ws` needs credentials; when unset, only on a listener that
    /// is not loopback (a loopback node stays open, as in the seed).
    pub ws_require_auth: Option<bool>,
    /// Whether install by URL may reach loopback, private and link-local
    /// addresses.
    pub install_allow_private_hosts: bool,
    /// Whether `/metrics` is served (off: `404`).
    pub metrics: bool,
    /// Connection and request limits.
    pub limits: Limits,
    /// Replication with other nodes (`None`: contexts are not shared, and
    /// the invite and join routes answer 503).
    pub replication: Option<Arc<node::sync::Replication>>,
}

/// Serves the node on `listener` until `shutdown` resolves; in-flight requests
/// finish before it returns.
///
/// # Errors
/// When the server cannot be set up.
pub async fn run(
    listener: TcpListener,
    node: Node,
    auth: Authenticator,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut registry = Registry::with_prefix("calimero");
    registry.register(
        "build",
        "The node server's version",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    let rpc = server_jsonrpc::JsonRpcState::new(node.clone(), auth.clone())
        .with_dev_route(config.dev_routes);
    let loopback = listener.local_addr()?.ip().is_loopback();
    let admin = AdminState::new(
        node.clone(),
        auth.clone(),
        AdminConfig {
            dev_routes: config.dev_routes,
            install_allow_private_hosts: config.install_allow_private_hosts,
        },
    )
    .map_err(|ApiError { message, .. }| std::io::Error::other(message))?;
    let admin = match config.replication.clone() {
        Some(replication) => admin.with_replication(replication),
        None => admin,
    };
    let ws_require_auth = config.ws_require_auth.unwrap_or(!loopback);
    if !ws_require_auth && !loopback {
        tracing::warn!(
            "/ws is open to anyone on a non-loopback listener (ws_require_auth = false): \
             every context's events reach anonymous subscribers"
        );
    }
    let ws = server_ws::WsState::new(
        node.clone(),
        auth,
        server_ws::WsConfig {
            require_auth: ws_require_auth,
            max_connections: config.limits.max_ws_connections,
            ..server_ws::WsConfig::default()
        },
    );
    node.register_metrics(&mut registry);
    rpc.register_metrics(&mut registry);
    ws.register_metrics(&mut registry);
    let http_metrics = http::Metrics::default();
    http_metrics.register(&mut registry);
    let connection_metrics = listen::Metrics::default();
    connection_metrics.register(&mut registry);

    let mut router = server_admin::routes(admin)
        .merge(server_jsonrpc::router(rpc))
        .merge(server_ws::router(ws.clone()))
        .merge(dashboard::router());
    if config.metrics {
        router = router.merge(http::metrics_router(Arc::new(registry)));
    }
    let app = http::layers(
        server_admin::finish(router),
        &config.limits,
        http_metrics,
        loopback,
    );

    let ws_closer = ws.clone();
    let shutdown = async move {
        shutdown.await;
        ws_closer.close_all();
    };
    listen::serve(listener, app, &config.limits, connection_metrics, shutdown).await;
    // Upgraded connections left the connection loop: wait for their close
    // frames too, within the same grace.
    if tokio::time::timeout(config.limits.shutdown_grace, ws.closed())
        .await
        .is_err()
    {
        tracing::warn!("WebSocket sessions still open at the end of the shutdown grace period");
    }
    Ok(())
}

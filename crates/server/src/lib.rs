//! The composed node server: `/admin-api`, `/jsonrpc` and `/ws` on one listener.
//!
//! [`run`] serves a bound listener until a shutdown future resolves, then stops
//! accepting and lets in-flight requests finish. It serves the admin API,
//! JSON-RPC and the WebSocket; `/metrics` is still to come.

use std::future::Future;

use node::Node;
use server_admin::{AdminState, ApiError};
use server_auth::Authenticator;
use tokio::net::TcpListener;

/// What the server serves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Whether the unauthenticated `/admin-api/dev/*` routes are served.
    pub dev_routes: bool,
    /// Whether `/ws` needs credentials (default: open, as in the seed).
    pub ws_require_auth: bool,
}

/// Serves the node on `listener` until `shutdown` resolves; in-flight requests
/// finish before it returns.
///
/// # Errors
/// When the server cannot be set up or the listener fails.
pub async fn run(
    listener: TcpListener,
    node: Node,
    auth: Authenticator,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let rpc = server_jsonrpc::JsonRpcState::new(
        node.clone(),
        auth.clone(),
        server_jsonrpc::DEFAULT_MAX_IN_FLIGHT,
    );
    let admin = AdminState::new(node.clone(), auth.clone(), config.dev_routes)
        .map_err(|ApiError { message, .. }| std::io::Error::other(message))?;
    let ws = server_ws::WsState::new(
        node.clone(),
        auth.clone(),
        server_ws::WsConfig {
            require_auth: config.ws_require_auth,
            ..server_ws::WsConfig::default()
        },
    );
    let app = server_admin::finish(
        server_admin::routes(admin)
            .merge(server_jsonrpc::router(rpc))
            .merge(server_ws::router(ws)),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

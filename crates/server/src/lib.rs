//! The composed node server: `/admin-api`, `/jsonrpc` and `/ws` on one listener.
//!
//! [`run`] serves a bound listener until a shutdown future resolves, then stops
//! accepting and lets in-flight requests finish. Today it serves the admin API;
//! `/jsonrpc`, `/ws` and `/metrics` join it as their crates land.

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
    let state = AdminState::new(node, auth, config.dev_routes)
        .map_err(|ApiError { message, .. }| std::io::Error::other(message))?;
    let app = server_admin::router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

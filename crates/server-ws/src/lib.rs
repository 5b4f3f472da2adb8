//! WebSocket sessions at `/ws`: subscribe, unsubscribe and event fan-out.
//!
//! Where to start: [`router`] upgrades connections (refusing past
//! [`WsConfig::max_connections`]); `session.rs` runs one connection. A session
//! follows the node's event bus and forwards the events of the contexts it is
//! subscribed to, each with its per-context `seq`. Loss is never silent:
//! - `subscribe` with `since: {<context>: <last seq seen>}` replays what the
//!   node's event log still holds, preceded by a `Gap` event if the log no
//!   longer reaches back that far;
//! - a connection that falls behind the bus gets a `Gap` event per affected
//!   context (resubscribe with `since` to fetch what the log still holds).
//!
//! The event generation is chosen per connection: `/ws?events=seed` (default:
//! `TransactionExecuted` + `OutcomeEvent`), `current` (`StateMutation` +
//! `ExecutionEvent`) or `all`. The server pings every
//! [`WsConfig::ping_interval`] and closes a peer that did not answer the
//! previous ping. Subscriptions are open to anyone, as in the seed protocol.

mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use node::Node;
use serde::Deserialize;
use server_primitives::admin::ApiErrorResponse;
use server_primitives::ws::EventGeneration;

/// Limits of the WebSocket endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    /// Open connections at most.
    pub max_connections: usize,
    /// Contexts one connection may follow.
    pub max_subscriptions: usize,
    /// Interval of server pings; a peer that misses one is closed.
    pub ping_interval: Duration,
    /// Most events replayed for one context on `subscribe` with `since`.
    pub replay_limit: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_subscriptions: 256,
            ping_interval: Duration::from_secs(30),
            replay_limit: 10_000,
        }
    }
}

/// What the endpoint shares.
#[derive(Debug, Clone)]
pub struct WsState {
    node: Node,
    config: Arc<WsConfig>,
    connections: Arc<AtomicUsize>,
}

impl WsState {
    /// The endpoint over `node` with `config`.
    #[must_use]
    pub fn new(node: Node, config: WsConfig) -> Self {
        Self {
            node,
            config: Arc::new(config),
            connections: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// Counts an open connection while it lives.
struct Connection(Arc<AtomicUsize>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Deserialize)]
struct Params {
    events: Option<String>,
}

/// The `/ws` route.
pub fn router(state: WsState) -> Router {
    Router::new().route("/ws", get(upgrade)).with_state(state)
}

fn refuse(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(ApiErrorResponse::new(status.as_u16(), message)),
    )
        .into_response()
}

async fn upgrade(
    State(state): State<WsState>,
    Query(params): Query<Params>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let generation = match params.events.as_deref().map(str::parse::<EventGeneration>) {
        None => EventGeneration::default(),
        Some(Ok(generation)) => generation,
        Some(Err(err)) => return refuse(StatusCode::BAD_REQUEST, err.to_string()),
    };
    if state.connections.fetch_add(1, Ordering::SeqCst) >= state.config.max_connections {
        state.connections.fetch_sub(1, Ordering::SeqCst);
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "at most {} WebSocket connections are open at once",
                state.config.max_connections
            ),
        );
    }
    let connection = Connection(state.connections.clone());
    upgrade.on_upgrade(move |socket| async move {
        session::run(socket, state.node, state.config, generation).await;
        drop(connection);
    })
}

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
//! previous ping.
//!
//! Subscriptions are open to anyone unless [`WsConfig::require_auth`] (the
//! server's default on a non-loopback listener): then the upgrade request must
//! carry credentials: the auth headers or `Authorization: Bearer <access
//! token>`, or (for browsers, which cannot set headers on a WebSocket)
//! `?token=<access token>`; a context-bound key or token may then follow only
//! its own context.
//!
//! Limits: a client message larger than [`WsConfig::max_message_bytes`]
//! ends the session with `1009 Message Too Big`; a peer that does not take a
//! frame within [`WsConfig::send_timeout`] is closed with `1013 Try Again
//! Later` (reconnect and resubscribe with `since`). Replays are read from the
//! event log in bounded batches off the async threads, and each event's
//! frames are serialized once for all the sessions that receive them.
//!
//! [`WsState::close_all`] ends every session with `1001 Going Away` (the
//! server calls it on shutdown); [`WsState::register_metrics`] exposes open
//! connections, refusals, disconnects by reason, events and gaps sent.

mod frames;
mod metrics;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use node::Node;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use server_auth::{AuthError, Authenticator, Principal, Target};
use server_primitives::admin::ApiErrorResponse;
use server_primitives::ws::EventGeneration;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Bytes a session reads from its socket at a time.
const READ_BUFFER: usize = 4096;

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
    /// Largest message (and frame) a client may send, bytes.
    pub max_message_bytes: usize,
    /// Time a frame may wait for the peer to take it.
    pub send_timeout: Duration,
    /// Whether connecting needs credentials. The server sets it from the
    /// listener (open on loopback, as in the seed; required elsewhere) unless
    /// configured; the default here is open.
    pub require_auth: bool,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_subscriptions: 256,
            ping_interval: Duration::from_secs(30),
            replay_limit: 10_000,
            max_message_bytes: 64 * 1024,
            send_timeout: Duration::from_secs(10),
            require_auth: false,
        }
    }
}

/// What the endpoint shares.
#[derive(Debug, Clone)]
pub struct WsState {
    node: Node,
    auth: Authenticator,
    config: Arc<WsConfig>,
    connections: Arc<AtomicUsize>,
    metrics: Metrics,
    closing: Arc<watch::Sender<bool>>,
    frames: Arc<frames::Frames>,
}

impl WsState {
    /// The endpoint over `node` with `config`; `auth` checks credentials
    /// when the config requires them.
    #[must_use]
    pub fn new(node: Node, auth: Authenticator, config: WsConfig) -> Self {
        Self {
            node,
            auth,
            config: Arc::new(config),
            connections: Arc::new(AtomicUsize::new(0)),
            metrics: Metrics::default(),
            closing: Arc::new(watch::Sender::new(false)),
            frames: Arc::default(),
        }
    }

    /// Adds the endpoint's measurements (open connections, refusals,
    /// disconnects by reason, events and gaps sent) to `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    /// Closes every open session with `1001 Going Away` (the server is
    /// shutting down) and refuses new ones.
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once no session is open: after [`WsState::close_all`],
    /// once each has sent its close frame (or given up on it). Every
    /// session holds a receiver of the closing signal while it runs.
    pub async fn closed(&self) {
        self.closing.closed().await;
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
    token: Option<String>,
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

/// The caller, when the config requires one.
fn authenticate(
    state: &WsState,
    headers: &HeaderMap,
    token: Option<&str>,
    peer: Option<SocketAddr>,
) -> Result<Option<Principal>, AuthError> {
    if !state.config.require_auth {
        return Ok(None);
    }
    let now = state.auth.now_ms();
    let principal = match token {
        Some(token) => state.auth.authenticate_token(token, now),
        None => {
            let pairs: Vec<(&str, &[u8])> = headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes()))
                .collect();
            let target = Target {
                method: "GET",
                path: "/ws",
                from_loopback: Target::is_loopback(peer),
            };
            state.auth.authenticate(pairs.iter().copied(), target, now)
        }
    };
    principal.map(Some)
}

async fn upgrade(
    State(state): State<WsState>,
    Query(params): Query<Params>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let peer = peer.map(|Extension(ConnectInfo(peer))| peer);
    let principal = match authenticate(&state, &headers, params.token.as_deref(), peer) {
        Ok(principal) => principal,
        Err(error) => {
            tracing::debug!(%error, "WebSocket authentication failed");
            return refuse(
                StatusCode::UNAUTHORIZED,
                error.refusal(
                    "unauthorized: send the auth headers, a bearer token, or ?token=<access token>",
                ),
            );
        }
    };
    let generation = match params.events.as_deref().map(str::parse::<EventGeneration>) {
        None => EventGeneration::default(),
        Some(Ok(generation)) => generation,
        Some(Err(err)) => return refuse(StatusCode::BAD_REQUEST, err.to_string()),
    };
    if *state.closing.borrow() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is shutting down".to_owned(),
        );
    }
    if state.connections.fetch_add(1, Ordering::SeqCst) >= state.config.max_connections {
        state.connections.fetch_sub(1, Ordering::SeqCst);
        state.metrics.refused();
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "at most {} WebSocket connections are open at once",
                state.config.max_connections
            ),
        );
    }
    let connection = Connection(state.connections.clone());
    let upgrade = upgrade
        // Each read zero-fills this buffer before asking the socket for
        // more (tungstenite), and clients send only small requests: the
        // default 128 KiB made waiting for them the main cost of pushing
        // events to many subscribers.
        .read_buffer_size(READ_BUFFER)
        .max_message_size(state.config.max_message_bytes)
        .max_frame_size(state.config.max_message_bytes);
    upgrade.on_upgrade(move |socket| async move {
        state.metrics.opened();
        let start = session::Start {
            node: state.node,
            auth: state.auth,
            config: state.config,
            generation,
            principal,
            metrics: state.metrics.clone(),
            closing: state.closing.subscribe(),
            frames: state.frames,
        };
        let end = session::run(socket, start).await;
        state.metrics.ended(end);
        drop(connection);
    })
}

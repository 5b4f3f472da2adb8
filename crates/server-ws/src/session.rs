//! One WebSocket connection: requests in, subscribed events out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, close_code};
use axum::extract::ws::{Message, WebSocket};
use futures_util::SinkExt;
use node::{EventRecord, Node, NodeError};
use node_primitives::ContextId;
use server_auth::{Action, Authenticator, Principal};
use server_primitives::ws::{
    Command, ContextEvent, EventGeneration, EventPayload, ExecutionEventItem, Request, Response,
    ResponseBody, ResponseResult, SubscriptionReply, WsError,
};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::watch;

use crate::WsConfig;
use crate::frames::Frames;
use crate::metrics::{End, Metrics};

/// Event records read from the log per blocking read while replaying.
const REPLAY_BATCH: usize = 256;

/// Time the closing frame gets after a send timed out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Close code 1013 (Try Again Later): the peer read too slowly.
const TRY_AGAIN_LATER: u16 = 1013;

/// Per subscribed context, the last sequence number delivered (or skipped).
/// Looked up for every event on the bus: hashed with `foldhash` (seeded per
/// map) rather than SipHash, whose cost showed in the fan-out profile.
type Subscriptions = HashMap<ContextId, u64, foldhash::fast::RandomState>;

struct Session {
    node: Node,
    auth: Authenticator,
    principal: Option<Principal>,
    config: Arc<WsConfig>,
    generation: EventGeneration,
    subscriptions: Subscriptions,
    metrics: Metrics,
    frames: Arc<Frames>,
}

/// What answering one request asks for: frames to send, then contexts to
/// replay from the event log (`since` each).
#[derive(Default)]
struct Handled {
    frames: Vec<Message>,
    replays: Vec<(ContextId, u64)>,
}

impl From<Vec<Message>> for Handled {
    fn from(frames: Vec<Message>) -> Self {
        Self {
            frames,
            replays: Vec::new(),
        }
    }
}

/// Events taken from the bus at once when several are waiting: their
/// frames go out in one write.
const MAX_BATCH: usize = 64;

/// Sends `frame` unless the peer does not take it within `timeout`.
async fn send(socket: &mut WebSocket, frame: Message, timeout: Duration) -> Result<(), End> {
    send_all(socket, vec![frame], timeout).await
}

/// Frames written (and flushed) under one send timeout.
const FRAMES_PER_WRITE: usize = 128;

/// Sends `frames`, [`FRAMES_PER_WRITE`] per write (one write for many
/// small frames), unless the peer stops taking them: each write must go
/// within `timeout`, a bound on progress rather than on the whole batch, so
/// a slow reader of a large replay is not cut off while it keeps reading.
async fn send_all(
    socket: &mut WebSocket,
    frames: Vec<Message>,
    timeout: Duration,
) -> Result<(), End> {
    let mut frames = frames.into_iter().peekable();
    while frames.peek().is_some() {
        let write = async {
            for frame in frames.by_ref().take(FRAMES_PER_WRITE) {
                socket.feed(frame).await?;
            }
            socket.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(End::SendFailed),
            Err(_) => return Err(End::SendTimeout),
        }
    }
    Ok(())
}

fn frame(response: &Response) -> Message {
    Message::Text(
        serde_json::to_string(response)
            .expect("responses serialize")
            .into(),
    )
}

fn reply(id: Option<u64>, body: ResponseBody) -> Message {
    frame(&Response { id, body })
}

fn event(context_id: ContextId, seq: Option<u64>, payload: EventPayload) -> Message {
    reply(
        None,
        ResponseBody::Result(ResponseResult::Event(ContextEvent {
            context_id,
            seq,
            payload,
        })),
    )
}

impl Session {
    /// Whether the credentials the session was opened with still hold (an
    /// open session has none to check).
    fn credentials_hold(&self) -> bool {
        self.principal.as_ref().is_none_or(|principal| {
            self.auth
                .revalidate(principal, self.auth.now_ms())
                .inspect_err(|error| tracing::debug!(%error, "ending a WebSocket session"))
                .is_ok()
        })
    }

    /// The frames of one committed call, in the connection's generation
    /// (serialized once for all connections of that generation).
    fn events(&self, context: ContextId, record: &EventRecord) -> Arc<[Message]> {
        let frames = self.frames.get(context, record.seq, self.generation, || {
            self.make_events(context, record)
        });
        self.metrics.events_sent(frames.len());
        frames
    }

    fn make_events(&self, context: ContextId, record: &EventRecord) -> Vec<Message> {
        let items: Vec<ExecutionEventItem> = record
            .events
            .iter()
            .map(|(kind, data)| ExecutionEventItem {
                kind: kind.clone(),
                data: data.clone(),
            })
            .collect();
        let seq = Some(record.seq);
        let seed = || {
            [
                event(
                    context,
                    seq,
                    EventPayload::TransactionExecuted {
                        hash: record.transaction_hash,
                    },
                ),
                event(
                    context,
                    seq,
                    EventPayload::OutcomeEvent {
                        events: items.clone(),
                    },
                ),
            ]
        };
        let current = || {
            [
                event(
                    context,
                    seq,
                    EventPayload::StateMutation {
                        new_root: record.root_hash,
                    },
                ),
                event(
                    context,
                    seq,
                    EventPayload::ExecutionEvent {
                        events: items.clone(),
                    },
                ),
            ]
        };
        match self.generation {
            EventGeneration::Seed => seed().into(),
            EventGeneration::Current => current().into(),
            EventGeneration::All => seed().into_iter().chain(current()).collect(),
        }
    }

    /// The latest sequence number of a context (0 when it has none or is unknown).
    fn latest(&self, context: &ContextId) -> u64 {
        self.node
            .context(context)
            .ok()
            .flatten()
            .map_or(0, |record| record.last_seq)
    }

    /// Answers one text frame.
    fn handle(&mut self, text: &str) -> Handled {
        let request: Request = match serde_json::from_str(text) {
            Ok(request) => request,
            Err(err) => {
                let id = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|value| value.get("id").and_then(serde_json::Value::as_u64));
                return vec![reply(
                    id,
                    ResponseBody::Error(WsError::ParseError(err.to_string())),
                )]
                .into();
            }
        };
        match request.command {
            Command::Unsubscribe(params) => {
                for context in &params.context_ids {
                    self.subscriptions.remove(context);
                }
                vec![reply(
                    request.id,
                    ResponseBody::Result(ResponseResult::Subscription(SubscriptionReply {
                        context_ids: params.context_ids,
                    })),
                )]
                .into()
            }
            Command::Subscribe(params) => {
                let new = params
                    .context_ids
                    .iter()
                    .filter(|context| !self.subscriptions.contains_key(context))
                    .count();
                if let Some(principal) = &self.principal
                    && let Some(denied) = params
                        .context_ids
                        .iter()
                        .find(|context| principal.authorize(Action::UseContext(**context)).is_err())
                {
                    return vec![reply(
                        request.id,
                        ResponseBody::Error(WsError::Unauthorized(format!(
                            "this connection's credentials do not reach context {denied}"
                        ))),
                    )]
                    .into();
                }
                if self.subscriptions.len() + new > self.config.max_subscriptions {
                    return vec![reply(
                        request.id,
                        ResponseBody::Error(WsError::LimitExceeded(format!(
                            "a connection may follow at most {} contexts",
                            self.config.max_subscriptions
                        ))),
                    )]
                    .into();
                }
                let frames = vec![reply(
                    request.id,
                    ResponseBody::Result(ResponseResult::Subscription(SubscriptionReply {
                        context_ids: params.context_ids.clone(),
                    })),
                )];
                let mut replays = Vec::new();
                for context in params.context_ids {
                    match params.since.get(&context) {
                        Some(since) => replays.push((context, *since)),
                        None => {
                            let latest = self.latest(&context);
                            self.subscriptions.entry(context).or_insert(latest);
                        }
                    }
                }
                Handled { frames, replays }
            }
        }
    }

    /// Subscribes from `since`: sends the logged events after it (at most
    /// [`WsConfig::replay_limit`], read [`REPLAY_BATCH`] at a time through
    /// the node's blocking boundary), with a `Gap` first when the log no
    /// longer reaches back that far, or when it cannot be read.
    async fn replay(
        &mut self,
        socket: &mut WebSocket,
        context: ContextId,
        since: u64,
    ) -> Result<(), End> {
        let latest = self.latest(&context);
        let mut last = None;
        let mut replayed = 0;
        while replayed < self.config.replay_limit {
            let want = REPLAY_BATCH.min(self.config.replay_limit - replayed);
            let after = last.unwrap_or(since);
            let read = self
                .node
                .run_blocking(move |node| node.events_after(&context, after, want))
                .await;
            let records = match read {
                Ok(records) => records,
                // The records are still there: the client resumes later.
                Err(NodeError::Busy(_)) => return Err(End::Busy),
                Err(error) => {
                    tracing::debug!(%error, "replaying the event log failed");
                    if latest > after {
                        self.metrics.gap(false);
                        let gap = event(
                            context,
                            None,
                            EventPayload::Gap {
                                from_seq: after + 1,
                                to_seq: latest,
                            },
                        );
                        send(socket, gap, self.config.send_timeout).await?;
                    }
                    last = Some(latest.max(after));
                    break;
                }
            };
            if last.is_none() {
                let first_available = records
                    .first()
                    .map_or(latest.saturating_add(1), |record| record.seq);
                if first_available > since.saturating_add(1) && latest > since {
                    self.metrics.gap(false);
                    let gap = event(
                        context,
                        None,
                        EventPayload::Gap {
                            from_seq: since + 1,
                            to_seq: first_available - 1,
                        },
                    );
                    send(socket, gap, self.config.send_timeout).await?;
                }
                last = Some(since.max(first_available.saturating_sub(1).min(latest)));
            }
            let mut frames = Vec::new();
            for record in &records {
                frames.extend(self.events(context, record).iter().cloned());
            }
            send_all(socket, frames, self.config.send_timeout).await?;
            if let Some(record) = records.last() {
                last = Some(record.seq);
            }
            replayed += records.len();
            if records.len() < want {
                break;
            }
        }
        self.subscriptions.insert(context, last.unwrap_or(since));
        Ok(())
    }

    /// Frames for a bus event, if subscribed and not yet delivered.
    fn forward(&mut self, context: ContextId, record: &EventRecord) -> Vec<Message> {
        match self.subscriptions.get_mut(&context) {
            Some(last) if record.seq > *last => {
                *last = record.seq;
                self.events(context, record).to_vec()
            }
            _ => Vec::new(),
        }
    }

    /// The connection fell behind the bus: a `Gap` for every context that has
    /// events it will not receive.
    fn lagged(&mut self) -> Vec<Message> {
        let contexts: Vec<(ContextId, u64)> =
            self.subscriptions.iter().map(|(c, l)| (*c, *l)).collect();
        let mut frames = Vec::new();
        for (context, last) in contexts {
            let latest = self.latest(&context);
            if latest > last {
                self.metrics.gap(true);
                frames.push(event(
                    context,
                    None,
                    EventPayload::Gap {
                        from_seq: last + 1,
                        to_seq: latest,
                    },
                ));
                self.subscriptions.insert(context, latest);
            }
        }
        frames
    }
}

/// What a session starts with.
pub(crate) struct Start {
    pub node: Node,
    pub auth: Authenticator,
    pub config: Arc<WsConfig>,
    pub generation: EventGeneration,
    pub principal: Option<Principal>,
    pub metrics: Metrics,
    /// Turns `true` when the server shuts down.
    pub closing: watch::Receiver<bool>,
    /// Event frames shared between sessions.
    pub frames: Arc<Frames>,
}

/// Runs one connection until the peer leaves, fails to answer a ping, the
/// node's bus closes or the server shuts down; says which.
pub(crate) async fn run(mut socket: WebSocket, start: Start) -> End {
    let Start {
        node,
        auth,
        config,
        generation,
        principal,
        metrics,
        mut closing,
        frames,
    } = start;
    let mut bus = node.subscribe();
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.tick().await;
    let mut awaiting_pong = false;
    let mut session = Session {
        node,
        auth,
        principal,
        config,
        generation,
        subscriptions: Subscriptions::default(),
        metrics,
        frames,
    };
    let end = loop {
        if *closing.borrow_and_update() {
            break End::Shutdown;
        }
        let handled: Handled = tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(_))) if !session.credentials_hold() => {
                    break End::CredentialsEnded;
                }
                Some(Ok(Message::Text(text))) => session.handle(text.as_str()),
                Some(Ok(Message::Pong(_))) => {
                    awaiting_pong = false;
                    Handled::default()
                }
                Some(Err(error)) if too_large(&error) => break End::TooLarge,
                Some(Ok(Message::Close(_)) | Err(_)) | None => break End::ClientClosed,
                Some(Ok(_)) => Handled::default(),
            },
            published = bus.recv() => match published {
                Ok(published) => {
                    let mut frames = session.forward(published.context_id, &published.record);
                    // The rest of a commit batch's events are published
                    // right behind the first: let them arrive, then send
                    // every event already waiting in the same write.
                    tokio::task::yield_now().await;
                    for _ in 1..MAX_BATCH {
                        match bus.try_recv() {
                            Ok(next) => frames.extend(session.forward(next.context_id, &next.record)),
                            Err(TryRecvError::Lagged(_)) => frames.extend(session.lagged()),
                            // Closed: the next `recv` ends the session.
                            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                        }
                    }
                    frames.into()
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a WebSocket connection fell behind");
                    session.lagged().into()
                }
                Err(RecvError::Closed) => break End::BusClosed,
            },
            _ = ping.tick() => {
                if !session.credentials_hold() {
                    break End::CredentialsEnded;
                }
                if awaiting_pong {
                    tracing::debug!("closing a WebSocket peer that did not answer a ping");
                    break End::PingTimeout;
                }
                awaiting_pong = true;
                vec![Message::Ping(Vec::new().into())].into()
            }
            changed = closing.changed() => {
                if changed.is_err() {
                    break End::Shutdown;
                }
                Handled::default()
            }
        };
        if let Err(end) = deliver(&mut session, &mut socket, handled).await {
            break end;
        }
    };
    let close = match end {
        End::Shutdown => Some(CloseFrame {
            code: close_code::AWAY,
            reason: "the node is shutting down".into(),
        }),
        End::CredentialsEnded => Some(CloseFrame {
            code: close_code::POLICY,
            reason: "the credentials expired or were revoked; reconnect with new ones".into(),
        }),
        End::SendTimeout => Some(CloseFrame {
            code: TRY_AGAIN_LATER,
            reason: "events were not read in time; reconnect and resubscribe with `since`".into(),
        }),
        End::Busy => Some(CloseFrame {
            code: TRY_AGAIN_LATER,
            reason: "the node is busy; reconnect and resubscribe with `since` shortly".into(),
        }),
        End::TooLarge => Some(CloseFrame {
            code: close_code::SIZE,
            reason: format!(
                "messages are limited to {} bytes",
                session.config.max_message_bytes
            )
            .into(),
        }),
        End::SendFailed => return end,
        _ => None,
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(Message::Close(close))).await;
    end
}

/// Sends what a request, a bus event or a ping produced, then runs the
/// replays it asked for.
async fn deliver(
    session: &mut Session,
    socket: &mut WebSocket,
    handled: Handled,
) -> Result<(), End> {
    send_all(socket, handled.frames, session.config.send_timeout).await?;
    for (context, since) in handled.replays {
        session.replay(socket, context, since).await?;
    }
    Ok(())
}

/// Whether a read failed because the peer's message was over the size limit.
fn too_large(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if matches!(
            error.downcast_ref::<tungstenite::Error>(),
            Some(tungstenite::Error::Capacity(_))
        ) {
            return true;
        }
        source = error.source();
    }
    false
}

//! WebSocket at `/ws`: subscriptions to contexts and the events pushed for them.
//!
//! Requests carry a numeric (or null) `id`; replies echo it. Events are pushed as
//! `{"id": null, "result": <ContextEvent>}`, so clients tell them apart from
//! replies by `id === null` and the absence of `error`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ContextId, Hash};

/// A client frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Echoed in the reply; `null` or absent is allowed.
    #[serde(default)]
    pub id: Option<u64>,
    /// The method and its params.
    #[serde(flatten)]
    pub command: Command,
}

/// What a client asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "lowercase")]
pub enum Command {
    /// Start receiving events of these contexts.
    Subscribe(SubscribeParams),
    /// Stop receiving events of these contexts.
    Unsubscribe(UnsubscribeParams),
}

/// Params of `subscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeParams {
    /// The contexts to follow.
    pub context_ids: Vec<ContextId>,
    /// Per context, the last sequence number the client saw: the node first
    /// replays what came after it, then continues live.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub since: BTreeMap<ContextId, u64>,
}

/// Params of `unsubscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnsubscribeParams {
    /// The contexts to stop following.
    pub context_ids: Vec<ContextId>,
}

/// A server frame: a reply (`id` as sent) or a pushed event (`id: null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The request's id; always present, `null` for pushed events.
    pub id: Option<u64>,
    /// The outcome.
    #[serde(flatten)]
    pub body: ResponseBody,
}

/// A reply's or an event's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseBody {
    /// A successful reply or a pushed event.
    Result(ResponseResult),
    /// A refused request.
    Error(WsError),
}

/// What a `result` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResponseResult {
    /// A pushed event.
    Event(ContextEvent),
    /// The reply to `subscribe` / `unsubscribe`: the ids it applied to.
    Subscription(SubscriptionReply),
}

/// The reply to `subscribe` / `unsubscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionReply {
    /// The ids of the request, echoed.
    pub context_ids: Vec<ContextId>,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum WsError {
    /// The frame is not a request this server understands.
    ParseError(String),
    /// The request would pass a limit of the connection (e.g. subscriptions).
    LimitExceeded(String),
    /// The connection's credentials do not reach that context.
    Unauthorized(String),
}

/// An event of one context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextEvent {
    /// The context it happened in.
    pub context_id: ContextId,
    /// Per-context sequence number of the committed call that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// What happened.
    #[serde(flatten)]
    pub payload: EventPayload,
}

/// What happened in a context, `{"type": …, "data": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventPayload {
    /// Seed: a mutation was executed and committed.
    TransactionExecuted {
        /// The transaction's hash.
        hash: Hash,
    },
    /// Seed: a peer joined the context.
    PeerJoined {
        /// The peer's id.
        #[serde(rename = "peerId")]
        peer_id: String,
    },
    /// Seed: the events the application emitted in a call.
    OutcomeEvent {
        /// The emitted events, in order.
        events: Vec<ExecutionEventItem>,
    },
    /// Current SDKs: the context's state root changed.
    StateMutation {
        /// The new root.
        #[serde(rename = "newRoot")]
        new_root: Hash,
    },
    /// Current SDKs: the events the application emitted in a call.
    ExecutionEvent {
        /// The emitted events, in order.
        events: Vec<ExecutionEventItem>,
    },
    /// Events with sequence numbers `fromSeq..=toSeq` will not be delivered:
    /// the event log no longer holds them, or this connection fell behind.
    /// Resubscribe with `since` to fetch what the log still holds.
    Gap {
        /// First missing sequence number.
        #[serde(rename = "fromSeq")]
        from_seq: u64,
        /// Last missing sequence number.
        #[serde(rename = "toSeq")]
        to_seq: u64,
    },
}

/// One event an application emitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionEventItem {
    /// The event's kind (the variant name of the app's event enum).
    pub kind: String,
    /// The event's data (JSON bytes from SDK apps), as an array of numbers.
    pub data: Vec<u8>,
}

/// Which generation of event types a connection receives, chosen with the
/// query parameter `/ws?events=seed|current|all`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventGeneration {
    /// `TransactionExecuted` and `OutcomeEvent` (the default).
    #[default]
    Seed,
    /// `StateMutation` and `ExecutionEvent`.
    Current,
    /// Both generations.
    All,
}

/// An unknown `events=` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEventGeneration(pub String);

impl fmt::Display for UnknownEventGeneration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown event generation {:?}: expected seed, current or all",
            self.0
        )
    }
}

impl std::error::Error for UnknownEventGeneration {}

impl FromStr for EventGeneration {
    type Err = UnknownEventGeneration;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "seed" => Ok(Self::Seed),
            "current" => Ok(Self::Current),
            "all" => Ok(Self::All),
            other => Err(UnknownEventGeneration(other.to_owned())),
        }
    }
}

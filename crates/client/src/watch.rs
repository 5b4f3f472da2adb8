//! Following contexts' events over `/ws`, resumed after reconnects.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use server_primitives::ContextId;
use server_primitives::ws::{
    Command, ContextEvent, EventGeneration, EventPayload, Request, Response, ResponseBody,
    ResponseResult, SubscribeParams,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{Client, Error, ErrorKind};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a [`Watch`] follows its contexts.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Which event generation to receive (every event carries `seq`).
    pub events: EventGeneration,
    /// Resume after these sequence numbers (the last one seen per context).
    pub since: BTreeMap<ContextId, u64>,
    /// How long to keep reconnecting after the connection is lost before
    /// [`Watch::next`] gives up with the last error.
    pub give_up_after: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            events: EventGeneration::All,
            since: BTreeMap::new(),
            give_up_after: Duration::from_secs(60),
        }
    }
}

/// What [`Watch::next`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// An event of a followed context, in `seq` order, each once. Losses the
    /// node could not replay arrive as `Gap` events: never silently.
    Event(ContextEvent),
    /// The connection was lost and is back: subscribed again from the last
    /// `seq` seen, after this many attempts.
    Reconnected {
        /// Attempts it took.
        attempts: u32,
    },
}

/// A subscription to contexts' events that reconnects and resumes by `seq`.
#[derive(Debug)]
pub struct Watch {
    client: Client,
    contexts: Vec<ContextId>,
    options: WatchOptions,
    last: BTreeMap<ContextId, u64>,
    socket: Option<Socket>,
    pending: VecDeque<WatchEvent>,
}

/// First wait between reconnect attempts; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The id of the subscribe request.
const SUBSCRIBE_ID: u64 = 1;

impl Watch {
    /// Connects and subscribes to `contexts`.
    ///
    /// # Errors
    /// [`Error::Api`] when the upgrade is refused (`401`, `503`),
    /// [`Error::Ws`] when the subscription is (`Unauthorized`), or
    /// [`Error::Transport`].
    pub async fn open(
        client: Client,
        contexts: &[ContextId],
        options: WatchOptions,
    ) -> Result<Self, Error> {
        let mut watch = Self {
            client,
            contexts: contexts.to_vec(),
            last: options.since.clone(),
            options,
            socket: None,
            pending: VecDeque::new(),
        };
        watch.socket = Some(watch.subscribe().await?);
        Ok(watch)
    }

    /// The last `seq` seen of each context: where a later watch resumes.
    #[must_use]
    pub fn last_seen(&self) -> &BTreeMap<ContextId, u64> {
        &self.last
    }

    /// The next event, reconnecting (and resuming after the last `seq`
    /// seen) when the connection is lost.
    ///
    /// # Errors
    /// When the node refuses the subscription, or stays unreachable for
    /// [`WatchOptions::give_up_after`].
    pub async fn next(&mut self) -> Result<WatchEvent, Error> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let Some(socket) = self.socket.as_mut() else {
                let attempts = self.reconnect().await?;
                return Ok(WatchEvent::Reconnected { attempts });
            };
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Some(event) = self.take(text.as_str())? {
                        return Ok(event);
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => self.socket = None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// An event frame as what to yield (`None` for a duplicate or a reply).
    fn take(&mut self, text: &str) -> Result<Option<WatchEvent>, Error> {
        let response: Response = serde_json::from_str(text)
            .map_err(|err| Error::Protocol(format!("a /ws frame: {err}")))?;
        match response.body {
            ResponseBody::Error(error) => Err(Error::Ws(error)),
            ResponseBody::Result(ResponseResult::Subscription(_)) => Ok(None),
            ResponseBody::Result(ResponseResult::Event(event)) => {
                // Events of one record share its `seq` (`events=all` sends
                // both generations); a resumed subscription starts after the
                // last one seen, so only an older `seq` is a repeat.
                let seen = match (&event.payload, event.seq) {
                    (EventPayload::Gap { to_seq, .. }, _) => Some(*to_seq),
                    (_, seq) => seq,
                };
                if let Some(seq) = seen {
                    let last = self.last.entry(event.context_id).or_insert(0);
                    if seq < *last {
                        return Ok(None);
                    }
                    *last = seq;
                }
                Ok(Some(WatchEvent::Event(event)))
            }
        }
    }

    /// Connects, subscribes from the last `seq` seen, and waits for the
    /// subscription's reply (queueing events that arrive first).
    async fn subscribe(&mut self) -> Result<Socket, Error> {
        let events = match self.options.events {
            EventGeneration::Seed => "seed",
            EventGeneration::Current => "current",
            EventGeneration::All => "all",
        };
        let request = self.client.ws_request(events)?;
        let mut socket = match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => socket,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
                    .into_owned();
                return Err(Error::api(response.status().as_u16(), &body));
            }
            Err(err) => {
                return Err(Error::Transport(format!("{}/ws: {err}", self.client.url())));
            }
        };
        let subscribe = Request {
            id: Some(SUBSCRIBE_ID),
            command: Command::Subscribe(SubscribeParams {
                context_ids: self.contexts.clone(),
                since: self
                    .contexts
                    .iter()
                    .filter_map(|id| self.last.get(id).map(|seq| (*id, *seq)))
                    .collect(),
            }),
        };
        let text = serde_json::to_string(&subscribe)
            .map_err(|err| Error::Protocol(format!("encoding subscribe: {err}")))?;
        socket
            .send(Message::text(text))
            .await
            .map_err(|err| Error::Transport(format!("{}/ws: {err}", self.client.url())))?;
        loop {
            let frame = socket.next().await;
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    return Err(Error::Transport(format!(
                        "{}/ws closed before answering subscribe",
                        self.client.url()
                    )));
                }
                Some(Ok(_)) => continue,
            };
            let response: Response = serde_json::from_str(text.as_str())
                .map_err(|err| Error::Protocol(format!("a /ws frame: {err}")))?;
            match response {
                Response {
                    id: Some(SUBSCRIBE_ID),
                    body: ResponseBody::Result(ResponseResult::Subscription(_)),
                } => return Ok(socket),
                Response {
                    body: ResponseBody::Error(error),
                    ..
                } => return Err(Error::Ws(error)),
                _ => {
                    if let Some(event) = self.take(text.as_str())? {
                        self.pending.push_back(event);
                    }
                }
            }
        }
    }

    /// Reconnects with backoff until subscribed, refused, or out of time.
    async fn reconnect(&mut self) -> Result<u32, Error> {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.subscribe().await {
                Ok(socket) => {
                    self.socket = Some(socket);
                    return Ok(attempts);
                }
                Err(error)
                    if matches!(error.kind(), ErrorKind::Unreachable | ErrorKind::Busy)
                        && started.elapsed() < self.options.give_up_after =>
                {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(error) => return Err(error),
            }
        }
    }
}

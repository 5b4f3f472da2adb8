//! The connection loop: accept under a cap (in all and per peer address),
//! serve HTTP/1.1 (with upgrades) under a header-read timeout and a write
//! deadline, drain on shutdown within a grace period.

use std::collections::HashMap;
use std::future::Future;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use server_primitives::admin::ApiErrorResponse;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::Limits;

/// How long a refused connection is given to take its `503`.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// The connection's read buffer: a request head that does not fit is
/// refused with `431` before it is parsed (smaller heads are checked against
/// [`crate::http::MAX_HEADER_BYTES`] with a JSON answer).
const MAX_READ_BUFFER: usize = 64 * 1024;

/// Pause after an accept error that is not about one connection (such as
/// running out of file descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What the connection loop measures. Clones share the same values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metrics {
    open: Gauge,
    accepted: Counter,
    refused: Counter,
    header_timeouts: Counter,
}

impl Metrics {
    /// Adds these metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_connections_open",
            "HTTP connections open now (upgraded WebSocket connections leave this count)",
            self.open.clone(),
        );
        registry.register(
            "http_connections_accepted",
            "HTTP connections accepted",
            self.accepted.clone(),
        );
        registry.register(
            "http_connections_refused",
            "HTTP connections refused with 503 because the connection cap was reached",
            self.refused.clone(),
        );
        registry.register(
            "http_header_timeouts",
            "Connections closed because a request's headers did not arrive in time",
            self.header_timeouts.clone(),
        );
    }
}

/// Where the server is in its life; connections watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Accepting and serving.
    Serving,
    /// Shutting down: connections finish their in-flight request and close.
    Draining,
    /// The grace period is over: connections close now.
    Closing,
}

/// Resolves once the server has reached `phase` (or is gone).
async fn reached(watch: &mut watch::Receiver<Phase>, phase: Phase) {
    drop(watch.wait_for(|now| *now >= phase).await);
}

/// Counts an open connection while it lives.
struct Open(Gauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, lets every connection finish its in-flight request and returns
/// once all are closed, or once [`Limits::shutdown_grace`] is over, closing
/// the connections still busy.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let peers = Peers::default();
    let (phase, phases) = watch::channel(Phase::Serving);
    // Every connection task holds a receiver; `closed` resolves when all are gone.
    let (alive, alive_receiver) = watch::channel(());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .max_buf_size(MAX_READ_BUFFER)
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) if is_per_connection(&err) => continue,
                Err(err) => {
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.refused.inc();
            tokio::spawn(refuse(
                stream,
                format!(
                    "the node serves at most {} connections at once; retry shortly",
                    limits.max_connections
                ),
            ));
            continue;
        };
        let Some(peer_slot) = peers.enter(peer.ip(), limits.max_connections_per_peer) else {
            metrics.refused.inc();
            tokio::spawn(refuse(
                stream,
                format!(
                    "the node serves at most {} connections from one address at once; retry shortly",
                    limits.max_connections_per_peer
                ),
            ));
            continue;
        };
        metrics.accepted.inc();
        metrics.open.inc();
        let open = Open(metrics.open.clone());
        let header_timeouts = metrics.header_timeouts.clone();
        let connection = builder.clone();
        let app = app.clone();
        let mut phases = phases.clone();
        let alive = alive_receiver.clone();
        let write_timeout = limits.write_timeout;
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let service = service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(request.map(axum::body::Body::new))
            });
            let served = connection
                .serve_connection(
                    TokioIo::new(WriteDeadline::new(stream, write_timeout)),
                    service,
                )
                .with_upgrades();
            tokio::pin!(served);
            let result = tokio::select! {
                result = served.as_mut() => result,
                () = reached(&mut phases, Phase::Draining) => {
                    served.as_mut().graceful_shutdown();
                    tokio::select! {
                        result = served.as_mut() => result,
                        () = reached(&mut phases, Phase::Closing) => {
                            tracing::debug!(%peer, "closed a connection still busy at the end of the shutdown grace period");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(err) = result {
                if err.is_timeout() {
                    header_timeouts.inc();
                    tracing::debug!(%peer, "closed a connection whose request headers did not arrive in time");
                } else {
                    tracing::debug!(%peer, %err, "connection ended with an error");
                }
            }
            drop((permit, peer_slot, open, alive));
        });
    }
    drop(listener);
    phase.send_replace(Phase::Draining);
    drop(alive_receiver);
    if tokio::time::timeout(limits.shutdown_grace, alive.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = metrics.open.get(),
            grace_ms = limits.shutdown_grace.as_millis(),
            "closing the connections still busy at the end of the shutdown grace period"
        );
        phase.send_replace(Phase::Closing);
        alive.closed().await;
    }
}

/// Accept errors that concern one connection only: accept the next one.
fn is_per_connection(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// Answers a connection past a cap with `503` and closes it.
async fn refuse(mut stream: TcpStream, message: String) {
    let body = serde_json::to_string(&ApiErrorResponse::new(503, message)).unwrap_or_default();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Open connections per peer: an IPv4 address, or an IPv6 /64 (one host
/// usually holds a whole /64, so counting single IPv6 addresses would let it
/// open as many connections as it likes).
#[derive(Debug, Clone, Default)]
struct Peers(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// The address a peer's connections are counted under.
fn peer_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from_bits(
                v6.to_bits() & !u128::from(u64::MAX),
            )),
        },
    }
}

/// One connection of a peer, counted while it lives.
struct PeerSlot {
    peers: Peers,
    address: IpAddr,
}

impl Peers {
    /// Counts a connection from `address`, unless it has `max` open already.
    fn enter(&self, address: IpAddr, max: usize) -> Option<PeerSlot> {
        let address = peer_key(address);
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(address).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            peers: self.clone(),
            address,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// A connection whose writes must make progress: a write (or flush) that
/// stays blocked for the whole timeout, because the peer stopped reading,
/// fails, and the connection (upgraded WebSockets included) ends.
struct WriteDeadline {
    stream: TcpStream,
    timeout: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteDeadline {
    fn new(stream: TcpStream, timeout: Duration) -> Self {
        Self {
            stream,
            timeout,
            stalled: None,
        }
    }

    /// Passes a finished write through; arms (or checks) the deadline while
    /// it is pending.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        match poll {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                        ErrorKind::TimedOut,
                        "the peer did not read what was sent in time",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::{Peers, peer_key};

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn peers_are_counted_by_ipv4_address_and_ipv6_slash_64() {
        assert_eq!(peer_key(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(peer_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(
            peer_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_ne!(
            peer_key(ip("2001:db8:1:2::1")),
            peer_key(ip("2001:db8:1:3::1"))
        );
        let peers = Peers::default();
        let first = peers.enter(ip("2001:db8:1:2::1"), 2).expect("first");
        let second = peers.enter(ip("2001:db8:1:2::2"), 2).expect("second");
        assert!(
            peers.enter(ip("2001:db8:1:2::3"), 2).is_none(),
            "a third address of the same /64"
        );
        assert!(peers.enter(ip("2001:db8:1:3::1"), 2).is_some());
        drop((first, second));
        assert!(peers.enter(ip("2001:db8:1:2::3"), 2).is_some());
    }
}

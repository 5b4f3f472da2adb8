//! The HTTP load generator: keep-alive HTTP/1.1 connections at a fixed
//! concurrency. In a closed loop each connection sends its next request when
//! the previous answer is in; at a pace, requests are due at fixed times and
//! latency counts from the time a request was *due*, so a server that stalls
//! is charged for every request it delayed (no coordinated omission).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;

use crate::stats::{Summary, micros};

/// An answer, as the check sees it.
#[derive(Debug)]
pub struct Answer<'a> {
    /// The connection's index.
    pub connection: usize,
    /// The request's number on its connection.
    pub seq: u64,
    /// When the request was due.
    pub due: Instant,
    /// The HTTP status.
    pub status: StatusCode,
    /// The whole body.
    pub body: &'a [u8],
}

/// Builds request `seq` of connection `connection`.
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync>;

/// Checks an answer; `Err` counts it as an error, with the reason.
pub type Check = Arc<dyn Fn(&Answer<'_>) -> Result<(), String> + Send + Sync>;

/// How to load the server.
#[derive(Debug, Clone)]
pub struct Load {
    /// Connections, each with one request in flight at most.
    pub connections: usize,
    /// Time before the measured window (connections open, caches warm).
    pub warmup: Duration,
    /// The measured window.
    pub window: Duration,
    /// Requests per second over all connections; `None`: closed loop.
    pub pace: Option<f64>,
    /// An answer later than this is a timeout.
    pub timeout: Duration,
}

impl Load {
    /// A closed loop on `connections` connections.
    #[must_use]
    pub fn closed(connections: usize, warmup: Duration, window: Duration) -> Self {
        Self {
            connections,
            warmup,
            window,
            pace: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Opens a keep-alive HTTP/1.1 connection to `address`.
///
/// # Errors
/// When the connection or the handshake fails.
pub async fn connect(address: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("the HTTP handshake")?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends one request on `sender`; the status and the whole body.
///
/// # Errors
/// When the connection fails.
pub async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes)> {
    sender.ready().await.context("the connection")?;
    let response = sender.send_request(request).await.context("the request")?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .context("the body")?
        .to_bytes();
    Ok((status, body))
}

/// Runs `load` against `address`: what the window saw.
pub async fn run(address: SocketAddr, load: &Load, make: MakeRequest, check: Check) -> Summary {
    let start = Instant::now() + Duration::from_millis(50);
    let measured = start + load.warmup;
    let end = measured + load.window;
    let tasks: Vec<_> = (0..load.connections)
        .map(|index| {
            let (load, make, check) = (load.clone(), make.clone(), check.clone());
            tokio::spawn(async move {
                connection(address, index, &load, &make, &check, start, (measured, end)).await
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut tally = Tally::default();
    for task in tasks {
        match task.await {
            Ok((samples, part)) => {
                latencies.extend(samples);
                tally.add(part);
            }
            Err(err) => tally.error(format!("a load task failed: {err}")),
        }
    }
    let mut summary = Summary::new(latencies, load.window);
    summary.errors = tally.errors;
    summary.timeouts = tally.timeouts;
    summary.first_error = tally.first_error;
    summary
}

#[derive(Debug, Default)]
struct Tally {
    errors: u64,
    timeouts: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, why: String) {
        self.errors += 1;
        self.first_error.get_or_insert(why);
    }

    fn add(&mut self, other: Self) {
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

async fn connection(
    address: SocketAddr,
    index: usize,
    load: &Load,
    make: &MakeRequest,
    check: &Check,
    start: Instant,
    (measured, end): (Instant, Instant),
) -> (Vec<u32>, Tally) {
    let mut samples = Vec::new();
    let mut tally = Tally::default();
    let interval = load
        .pace
        .map(|rate| Duration::from_secs_f64(load.connections as f64 / rate.max(0.001)));
    // Paced connections start spread over one interval.
    let offset = interval.map_or(Duration::ZERO, |interval| {
        interval.mul_f64(index as f64 / load.connections as f64)
    });
    let mut sender = None;
    let mut seq = 0u64;
    tokio::time::sleep_until(start.into()).await;
    loop {
        let due = match interval {
            Some(interval) => start + offset + interval.mul_f64(seq as f64),
            None => Instant::now(),
        };
        if due >= end {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let mut open = match sender.take() {
            Some(open) => open,
            None => match connect(address).await {
                Ok(open) => open,
                Err(err) => {
                    tally.error(format!("{err:#}"));
                    // Do not spin on a refusing server.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    seq += 1;
                    continue;
                }
            },
        };
        let request = make(index, seq);
        let result = tokio::time::timeout(load.timeout, send(&mut open, request)).await;
        let done = Instant::now();
        let counted = done >= measured && done <= end;
        match result {
            Ok(Ok((status, body))) => {
                sender = Some(open);
                let answer = Answer {
                    connection: index,
                    seq,
                    due,
                    status,
                    body: &body,
                };
                match check(&answer) {
                    Ok(()) if counted => samples.push(micros(done - due)),
                    Ok(()) => {}
                    Err(why) => tally.error(why),
                }
            }
            Ok(Err(err)) => tally.error(format!("{err:#}")),
            Err(_) => tally.timeouts += 1,
        }
        seq += 1;
    }
    (samples, tally)
}

/// A JSON request: `method path` with `headers` and `body`.
///
/// # Panics
/// When a header is not a valid HTTP header.
#[must_use]
pub fn json_request(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&serde_json::Value>,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let bytes = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(bytes)).expect("a valid request")
}

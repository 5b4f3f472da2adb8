//! The baselines every row is a ratio to, measured in the same run: a bare
//! hyper server, a bare WebSocket broadcast, the guest alone in
//! `node-runtime` (in-memory state, no HTTP, no store), and raw ed25519.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use node_runtime::{Call, CompiledModule, Limits, Mode, Runtime, RuntimeConfig, Storage};
use tokio_tungstenite::tungstenite::Message;

use crate::stats::{Summary, micros};

/// A server on a runtime of its own (as many workers as the node has),
/// stopped when dropped.
#[derive(Debug)]
pub struct Served {
    /// Where it listens.
    pub address: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn serve<F, Fut>(accept: F) -> Result<Served>
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bare-server")
        .build()?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let listener = {
        let _inside = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(accept(stream));
        }
    });
    Ok(Served {
        address,
        runtime: Some(runtime),
    })
}

/// A hyper HTTP/1.1 server answering every request with `body` (JSON).
///
/// # Errors
/// When it cannot listen.
pub fn bare_http(body: Bytes) -> Result<Served> {
    serve(move |stream| {
        let body = body.clone();
        async move {
            let service = hyper::service::service_fn(move |_request| {
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .status(StatusCode::OK)
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                            .expect("a valid response"),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    })
}

/// A WebSocket server that, once a client sends anything, sends it
/// `frames` over and over until it goes, 64 rounds per write (as the
/// node writes the events waiting for a subscriber): the most a plain
/// broadcast of the same bytes can deliver.
///
/// # Errors
/// When it cannot listen.
pub fn bare_ws(frames: Vec<String>) -> Result<Served> {
    let frames: Arc<[Message]> = frames.into_iter().map(Message::text).collect();
    serve(move |stream| {
        let frames = frames.clone();
        async move {
            let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            let (mut sink, mut source) = socket.split();
            if source.next().await.is_none() {
                return;
            }
            'send: loop {
                for _ in 0..BATCH {
                    for frame in frames.iter() {
                        if sink.feed(frame.clone()).await.is_err() {
                            break 'send;
                        }
                    }
                }
                if sink.flush().await.is_err() {
                    break;
                }
            }
        }
    })
}

/// Rounds of frames the bare broadcast writes at once: the most events the
/// node takes from its bus for one subscriber write.
const BATCH: usize = 64;

/// A context's state in memory.
#[derive(Debug, Clone, Default)]
pub struct MemState {
    values: Arc<Mutex<BTreeMap<Vec<u8>, Vec<u8>>>>,
    last_time_ns: Arc<Mutex<u64>>,
}

impl Storage for MemState {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self
            .values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned())
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self
            .values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_vec(), value.to_vec()))
    }

    fn remove(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self
            .values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key))
    }
}

/// An application run by `node-runtime` alone: a fresh instance per call
/// on in-memory state.
#[derive(Debug, Clone)]
pub struct Guest {
    runtime: Runtime,
    module: CompiledModule,
}

impl Guest {
    /// `wasm` on the node's engine configuration, or on wasmtime's defaults.
    ///
    /// # Errors
    /// When the module does not compile.
    pub fn new(wasm: &[u8], wasmtime_defaults: bool) -> Result<Self> {
        let config = RuntimeConfig::new(Limits::default(), [7; 32]);
        let runtime = if wasmtime_defaults {
            Runtime::with_wasmtime_defaults(config)
        } else {
            Runtime::new(config)
        }
        .map_err(|err| anyhow!(err))?;
        let (module, _) = runtime
            .compile(wasm)
            .map_err(|err| anyhow!("compiling: {err}"))?;
        Ok(Self { runtime, module })
    }

    /// A new context: fresh state after `init`.
    ///
    /// # Errors
    /// When `init` fails.
    pub fn context(&self) -> Result<MemState> {
        let state = MemState::default();
        self.call(&state, "init", b"{}", Mode::ReadWrite)?;
        Ok(state)
    }

    /// `count` new contexts, each after `setup` (mutations: method and
    /// arguments, in order).
    ///
    /// # Errors
    /// When a call fails.
    pub fn contexts(&self, count: usize, setup: &[(&str, &[u8])]) -> Result<Vec<MemState>> {
        (0..count)
            .map(|_| {
                let state = self.context()?;
                for (method, args) in setup {
                    self.call(&state, method, args, Mode::ReadWrite)?;
                }
                Ok(state)
            })
            .collect()
    }

    /// Calls `method` with `args` on `state`; its return value.
    ///
    /// # Errors
    /// When the call fails.
    pub fn call(
        &self,
        state: &MemState,
        method: &str,
        args: &[u8],
        mode: Mode,
    ) -> Result<Option<Vec<u8>>> {
        let last_time_ns = *state
            .last_time_ns
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (outcome, _) = self.runtime.call(
            &self.module,
            Call {
                method: method.to_owned(),
                input: args.to_vec(),
                context_id: [1; 32],
                executor_id: [2; 32],
                mode,
                storage: Box::new(state.clone()),
                blobs: None,
                fetch: None,
                last_time_ns,
                environment: Box::new(node_runtime::SystemEnvironment),
                budget: None,
            },
        );
        *state
            .last_time_ns
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = outcome.last_time_ns;
        outcome.returns.map_err(|err| anyhow!("{method}: {err}"))
    }
}

/// What one guest-only call is: the method, its arguments and the mode.
pub type GuestCall = Arc<dyn Fn(usize, u64) -> (String, Vec<u8>) + Send + Sync>;

/// The same call every time.
#[must_use]
pub fn fixed(method: &'static str, args: &'static [u8]) -> GuestCall {
    Arc::new(move |_, _| (method.to_owned(), args.to_vec()))
}

/// Calls on `states` from `threads` threads for `warmup` then `window`;
/// thread `t` takes the states `t, t + threads, …` in turn.
///
/// # Errors
/// When a call fails.
pub fn guest_rate(
    guest: &Guest,
    states: &[MemState],
    threads: usize,
    mode: Mode,
    (warmup, window): (Duration, Duration),
    make: &GuestCall,
) -> Result<Summary> {
    let measured = Instant::now() + warmup;
    let end = measured + window;
    let results: Vec<Result<Vec<u32>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|thread| {
                let mine: Vec<(usize, &MemState)> = states
                    .iter()
                    .enumerate()
                    .skip(thread)
                    .step_by(threads.max(1))
                    .collect();
                scope.spawn(move || {
                    let mut samples = Vec::new();
                    let mut seq = 0u64;
                    loop {
                        let started = Instant::now();
                        if started >= end || mine.is_empty() {
                            return Ok(samples);
                        }
                        let (index, state) = mine[(seq as usize) % mine.len()];
                        let (method, args) = make(index, seq);
                        guest.call(state, &method, &args, mode)?;
                        let done = Instant::now();
                        if done >= measured && done <= end {
                            samples.push(micros(done - started));
                        }
                        seq += 1;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("a guest thread panicked")))
            })
            .collect()
    });
    let mut latencies = Vec::new();
    for result in results {
        latencies.extend(result?);
    }
    Ok(Summary::new(latencies, window))
}

/// `verify_strict` of one signature over a login-sized message, from
/// `threads` threads.
///
/// # Errors
/// Never in practice; when a thread panics.
pub fn verify_rate(threads: usize, (warmup, window): (Duration, Duration)) -> Result<Summary> {
    let key = SigningKey::from_bytes(&[9; 32]);
    let message = [0x5a_u8; 256];
    let signature = key.sign(&message);
    let public = key.verifying_key();
    let measured = Instant::now() + warmup;
    let end = measured + window;
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut count = 0u64;
                    loop {
                        let now = Instant::now();
                        if now >= end {
                            return count;
                        }
                        assert!(public.verify_strict(&message, &signature).is_ok());
                        if now >= measured {
                            count += 1;
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or(0))
            .collect()
    });
    Ok(Summary::count(counts.iter().sum(), window))
}

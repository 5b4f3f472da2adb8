//! The rows of the report: each scenario, its same-run baseline and target.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use hyper::StatusCode;
use hyper::body::Bytes;
use node_runtime::Mode;
use serde_json::{Value, json};
use test_utils::wallet::ClientKey;
use tokio_tungstenite::tungstenite::Message;

use crate::baseline::{self, Guest, GuestCall};
use crate::load::{self, Answer, Check, Load, MakeRequest, connect, json_request, send};
use crate::node::{Ctx, NodeUnderTest, app, login_body};
use crate::stats::{Summary, micros};

/// What a run measures and for how long.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `calimero-node` binary (a release build for real figures).
    pub node: PathBuf,
    /// Where the example apps' wasm files are (`target/apps`).
    pub apps: PathBuf,
    /// Time before each measured window.
    pub warmup: Duration,
    /// Each measured window.
    pub window: Duration,
    /// Whole runs; each figure is the median over them.
    pub runs: usize,
    /// HTTP connections of the load generator.
    pub connections: usize,
    /// WebSocket subscribers of the fan-out row.
    pub subscribers: usize,
    /// Threads of the load generator and of the guest-only baselines.
    pub threads: usize,
    /// Only these groups of rows ([`GROUPS`]); empty: all.
    pub only: Vec<String>,
}

impl Options {
    /// `--quick`: every row once, short windows (under 2 minutes).
    #[must_use]
    pub fn quick(node: PathBuf, apps: PathBuf) -> Self {
        Self {
            node,
            apps,
            warmup: Duration::from_millis(500),
            window: Duration::from_secs(2),
            runs: 1,
            connections: 64,
            subscribers: 1000,
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            only: Vec::new(),
        }
    }

    /// The full run: three runs of 5 s windows, figures their medians.
    #[must_use]
    pub fn full(node: PathBuf, apps: PathBuf) -> Self {
        Self {
            warmup: Duration::from_secs(1),
            window: Duration::from_secs(5),
            runs: 3,
            ..Self::quick(node, apps)
        }
    }

    /// A smoke run of the harness itself (tests): tiny windows, few
    /// subscribers; its figures mean nothing.
    #[must_use]
    pub fn smoke(node: PathBuf, apps: PathBuf) -> Self {
        Self {
            warmup: Duration::from_millis(50),
            window: Duration::from_millis(200),
            runs: 1,
            connections: 8,
            subscribers: 8,
            threads: 2,
            ..Self::quick(node, apps)
        }
    }

    fn phases(&self) -> (Duration, Duration) {
        (self.warmup, self.window)
    }

    fn load(&self, connections: usize) -> Load {
        Load::closed(connections, self.warmup, self.window)
    }
}

/// What a row must show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// The ratio to the baseline at least this.
    Ratio(f64),
    /// p99 at most this many milliseconds.
    P99Ms(f64),
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// Its figures.
    pub summary: Summary,
    /// What it is compared with.
    pub baseline: String,
    /// The baseline's rate in the same run (0 without one).
    pub baseline_rate: f64,
    /// The target.
    pub target: Target,
}

impl Row {
    /// rate ÷ baseline rate.
    #[must_use]
    pub fn ratio(&self) -> Option<f64> {
        (self.baseline_rate > 0.0).then(|| self.summary.rate() / self.baseline_rate)
    }

    /// p99 ÷ p50.
    #[must_use]
    pub fn tail(&self) -> Option<f64> {
        let p50 = self.summary.quantile(0.5)?.as_secs_f64();
        let p99 = self.summary.quantile(0.99)?.as_secs_f64();
        (p50 > 0.0).then(|| p99 / p50)
    }

    /// Whether the row meets its target, its tail bound (p99 ≤ 5 × p50)
    /// and had no errors or timeouts.
    #[must_use]
    pub fn met(&self) -> bool {
        let target = match self.target {
            Target::Ratio(at_least) => self.ratio().is_some_and(|ratio| ratio >= at_least),
            Target::P99Ms(at_most) => self
                .summary
                .quantile(0.99)
                .is_some_and(|p99| p99.as_secs_f64() * 1e3 <= at_most),
        };
        let tail = self.tail().is_none_or(|tail| tail <= 5.0);
        target && tail && self.summary.errors == 0 && self.summary.timeouts == 0
    }
}

/// Runs every scenario `options.runs` times.
///
/// # Errors
/// When the node or a baseline cannot be set up, or a scenario fails.
pub fn run(options: &Options, mut progress: impl FnMut(&Row)) -> Result<Vec<Vec<Row>>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .enable_all()
        .thread_name("load")
        .build()?;
    let mut runs = Vec::new();
    for _ in 0..options.runs.max(1) {
        runs.push(runtime.block_on(one_run(options, &mut progress))?);
    }
    Ok(runs)
}

/// The apps' wasm, read once per run.
struct Apps {
    kv: Vec<u8>,
    ledger: Vec<u8>,
    kv_id: String,
    ledger_id: String,
}

async fn one_run(options: &Options, progress: &mut impl FnMut(&Row)) -> Result<Vec<Row>> {
    let node =
        NodeUnderTest::start(&options.node, options.connections + options.subscribers).await?;
    let kv_path = app(&options.apps, "kv-store")?;
    let ledger_path = app(&options.apps, "ledger")?;
    let apps = Apps {
        kv: std::fs::read(&kv_path)?,
        ledger: std::fs::read(&ledger_path)?,
        kv_id: node.install(&kv_path).await?,
        ledger_id: node.install(&ledger_path).await?,
    };
    let mut rows = Vec::new();
    let mut push = |row: Row, rows: &mut Vec<Row>| {
        progress(&row);
        rows.push(row);
    };
    let wanted =
        |group: &str| options.only.is_empty() || options.only.iter().any(|only| only == group);

    // The health route's rate is the query rows' baseline; the 64-context
    // mutate rate sets the pace of the event-latency row.
    let mut health_rate = 0.0;
    if wanted("health") {
        let row = health(options, &node).await?;
        health_rate = row.summary.rate();
        push(row, &mut rows);
    }
    if wanted("query") {
        for row in query(options, &node, &apps, health_rate).await? {
            push(row, &mut rows);
        }
    }
    let mut spread = DEFAULT_MUTATE_RATE;
    if wanted("mutate") {
        let mutate = mutate(options, &node, &apps).await?;
        spread = mutate[0].summary.rate();
        for row in mutate {
            push(row, &mut rows);
        }
    }
    if wanted("guest") {
        push(guest_speed(options, &apps)?, &mut rows);
    }
    if wanted("events") {
        push(
            event_latency(options, &node, &apps, spread / 2.0).await?,
            &mut rows,
        );
    }
    if wanted("fanout") {
        push(fan_out(options, &node, &apps).await?, &mut rows);
    }
    if wanted("login") {
        push(login(options, &node).await?, &mut rows);
    }
    Ok(rows)
}

/// The mutate rate assumed when the mutate rows are not run.
const DEFAULT_MUTATE_RATE: f64 = 1000.0;

/// The groups of rows `--only` selects from.
pub const GROUPS: &[&str] = &[
    "health", "query", "mutate", "guest", "events", "fanout", "login",
];

fn status_ok(answer: &Answer<'_>) -> Result<(), String> {
    if answer.status == StatusCode::OK {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            answer.status,
            String::from_utf8_lossy(answer.body)
        ))
    }
}

async fn health(options: &Options, node: &NodeUnderTest) -> Result<Row> {
    let expected = node
        .call("GET", "/admin-api/health", &[], None)
        .await?
        .to_string();
    let make: MakeRequest = Arc::new(|_, _| json_request("GET", "/admin-api/health", &[], None));
    let wanted: Value = serde_json::from_str(&expected)?;
    let check: Check = Arc::new(move |answer| {
        status_ok(answer)?;
        let body: Value = serde_json::from_slice(answer.body).map_err(|err| err.to_string())?;
        if body == wanted {
            Ok(())
        } else {
            Err(format!("unexpected health answer {body}"))
        }
    });
    let load = options.load(options.connections);
    let bare = baseline::bare_http(Bytes::from(expected))?;
    let bare_summary = load::run(bare.address, &load, make.clone(), check.clone()).await;
    drop(bare);
    let summary = load::run(node.address, &load, make, check).await;
    Ok(Row {
        name: "GET /admin-api/health".into(),
        baseline: "bare hyper server".into(),
        baseline_rate: bare_summary.rate(),
        summary,
        target: Target::Ratio(0.7),
    })
}

fn rpc(kind: &str, context: &str, method: &str, args: &Value, id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": kind,
           "params": {"contextId": context, "method": method, "argsJson": args}})
}

/// `count` contexts of `application` with an access token each.
async fn contexts_with_tokens(
    node: &NodeUnderTest,
    application: &str,
    count: usize,
) -> Result<Vec<(Ctx, String)>> {
    let mut out = Vec::new();
    for context in node.contexts(application, count).await? {
        let token = node.token(&context).await?;
        out.push((context, token));
    }
    Ok(out)
}

/// One committed call over `/jsonrpc/dev` (setup).
async fn setup_call(node: &NodeUnderTest, context: &str, method: &str, args: &Value) -> Result<()> {
    let answer = node
        .call(
            "POST",
            "/jsonrpc/dev",
            &[],
            Some(&rpc("mutate", context, method, args, 1)),
        )
        .await?;
    if answer.get("result").is_none() {
        bail!("{method} failed: {answer}");
    }
    Ok(())
}

/// Closed-loop JSON-RPC calls: connection `i` calls on `contexts[i % n]`
/// with its token; `args(connection, seq)`; the answer's `output` is
/// checked by `expect`.
fn rpc_load(
    kind: &'static str,
    contexts: &[(Ctx, String)],
    method: &'static str,
    args: impl Fn(usize, u64) -> Value + Send + Sync + 'static,
) -> MakeRequest {
    let contexts: Vec<(String, Vec<(String, String)>)> = contexts
        .iter()
        .map(|(context, token)| {
            (
                context.id.clone(),
                vec![("authorization".to_owned(), format!("Bearer {token}"))],
            )
        })
        .collect();
    Arc::new(move |connection, seq| {
        let (context, headers) = &contexts[connection % contexts.len()];
        json_request(
            "POST",
            "/jsonrpc",
            headers,
            Some(&rpc(kind, context, method, &args(connection, seq), seq)),
        )
    })
}

fn output_check(expect: impl Fn(&Value) -> bool + Send + Sync + 'static) -> Check {
    Arc::new(move |answer| {
        status_ok(answer)?;
        let body: Value = serde_json::from_slice(answer.body).map_err(|err| err.to_string())?;
        match body.pointer("/result/output") {
            Some(output) if expect(output) => Ok(()),
            _ => Err(format!("unexpected answer {body}")),
        }
    })
}

async fn query(
    options: &Options,
    node: &NodeUnderTest,
    apps: &Apps,
    health_rate: f64,
) -> Result<Vec<Row>> {
    const CONTEXTS: usize = 8;
    const DEPOSITS: u64 = 50;
    let kv = contexts_with_tokens(node, &apps.kv_id, CONTEXTS).await?;
    let ledger = contexts_with_tokens(node, &apps.ledger_id, CONTEXTS).await?;
    for (context, _) in &kv {
        setup_call(node, &context.id, "set", &json!({"key": "k", "value": "v"})).await?;
    }
    for (context, _) in &ledger {
        for _ in 0..DEPOSITS {
            setup_call(
                node,
                &context.id,
                "deposit",
                &json!({"account": "a", "amount": 2}),
            )
            .await?;
        }
    }
    let load = options.load(options.connections);
    let get = load::run(
        node.address,
        &load,
        rpc_load("query", &kv, "get", |_, _| json!({"key": "k"})),
        output_check(|output| output == "v"),
    )
    .await;
    let balance = load::run(
        node.address,
        &load,
        rpc_load("query", &ledger, "balance", |_, _| json!({"account": "a"})),
        output_check(|output| output.as_u64() == Some(2 * DEPOSITS)),
    )
    .await;

    // The same queries on the same state, guest only.
    let phases = options.phases();
    let threads = options.threads;
    let kv_guest = Guest::new(&apps.kv, false)?;
    let ledger_guest = Guest::new(&apps.ledger, false)?;
    let (kv_states, ledger_states) = tokio::task::block_in_place(|| -> Result<_> {
        let deposits = vec![("deposit", DEPOSIT_2); DEPOSITS as usize];
        Ok((
            kv_guest.contexts(CONTEXTS, &[("set", SET_K)])?,
            ledger_guest.contexts(CONTEXTS, &deposits)?,
        ))
    })?;
    let get_call = baseline::fixed("get", GET_K);
    let balance_call = baseline::fixed("balance", br#"{"account":"a"}"#);
    let (get_guest, balance_guest) = tokio::task::block_in_place(|| -> Result<_> {
        Ok((
            baseline::guest_rate(
                &kv_guest,
                &kv_states,
                threads,
                Mode::ReadOnly,
                phases,
                &get_call,
            )?,
            baseline::guest_rate(
                &ledger_guest,
                &ledger_states,
                threads,
                Mode::ReadOnly,
                phases,
                &balance_call,
            )?,
        ))
    })?;
    let name = |what: &str| {
        format!(
            "query {what} (JSON-RPC + JWT, {} conns, {CONTEXTS} contexts)",
            options.connections
        )
    };
    Ok(vec![
        Row {
            name: name("kv get"),
            baseline: "GET /admin-api/health".into(),
            baseline_rate: health_rate,
            summary: get.clone(),
            target: Target::Ratio(0.4),
        },
        Row {
            name: name("kv get"),
            baseline: format!("guest only, {threads} threads"),
            baseline_rate: get_guest.rate(),
            summary: get,
            target: Target::Ratio(0.5),
        },
        Row {
            name: name("ledger balance"),
            baseline: format!("guest only, {threads} threads"),
            baseline_rate: balance_guest.rate(),
            summary: balance,
            target: Target::Ratio(0.5),
        },
    ])
}

/// kv `set` of `k` to `v`, and kv `get` of `k`.
const SET_K: &[u8] = br#"{"key":"k","value":"v"}"#;
const GET_K: &[u8] = br#"{"key":"k"}"#;

/// Ledger deposits of 1 and 2 to account `a`.
const DEPOSIT_1: &[u8] = br#"{"account":"a","amount":1}"#;
const DEPOSIT_2: &[u8] = br#"{"account":"a","amount":2}"#;

/// kv `set` as the mutate rows send it, guest only.
fn kv_set_call() -> GuestCall {
    Arc::new(|connection, seq| {
        (
            "set".into(),
            kv_set_args(connection, seq).to_string().into_bytes(),
        )
    })
}

fn kv_set_args(connection: usize, seq: u64) -> Value {
    json!({"key": format!("k{}", seq % 8), "value": format!("{connection}-{seq}")})
}

fn committed_check() -> Check {
    Arc::new(|answer| {
        status_ok(answer)?;
        let body: Value = serde_json::from_slice(answer.body).map_err(|err| err.to_string())?;
        match body.pointer("/result/eventSeq") {
            Some(seq) if seq.as_u64().is_some() => Ok(()),
            _ => Err(format!("unexpected answer {body}")),
        }
    })
}

async fn mutate(options: &Options, node: &NodeUnderTest, apps: &Apps) -> Result<Vec<Row>> {
    let n = options.connections;
    let kv = contexts_with_tokens(node, &apps.kv_id, n).await?;
    let ledger = contexts_with_tokens(node, &apps.ledger_id, n).await?;
    let one = contexts_with_tokens(node, &apps.kv_id, 1).await?;
    let load = options.load(n);
    let spread = load::run(
        node.address,
        &load,
        rpc_load("mutate", &kv, "set", kv_set_args),
        committed_check(),
    )
    .await;
    let deposits = load::run(
        node.address,
        &load,
        rpc_load(
            "mutate",
            &ledger,
            "deposit",
            |_, _| json!({"account": "a", "amount": 1}),
        ),
        committed_check(),
    )
    .await;
    let hot = load::run(
        node.address,
        &load,
        rpc_load("mutate", &one, "set", kv_set_args),
        committed_check(),
    )
    .await;

    let threads = options.threads;
    let phases = options.phases();
    let (set_guest, deposit_guest) = tokio::task::block_in_place(|| -> Result<_> {
        let kv_guest = Guest::new(&apps.kv, false)?;
        let states = kv_guest.contexts(n, &[])?;
        let sets = baseline::guest_rate(
            &kv_guest,
            &states,
            threads,
            Mode::ReadWrite,
            phases,
            &kv_set_call(),
        )?;
        let ledger_guest = Guest::new(&apps.ledger, false)?;
        let states = ledger_guest.contexts(n, &[])?;
        let deposit = baseline::fixed("deposit", DEPOSIT_1);
        let deposits = baseline::guest_rate(
            &ledger_guest,
            &states,
            threads,
            Mode::ReadWrite,
            phases,
            &deposit,
        )?;
        Ok((sets, deposits))
    })?;
    let spread_rate = spread.rate();
    Ok(vec![
        Row {
            name: format!("durable mutate kv set ({n} conns, {n} contexts)"),
            baseline: format!("guest only, {threads} threads"),
            baseline_rate: set_guest.rate(),
            summary: spread,
            target: Target::Ratio(0.7),
        },
        Row {
            name: format!("durable mutate ledger deposit ({n} conns, {n} contexts)"),
            baseline: format!("guest only, {threads} threads"),
            baseline_rate: deposit_guest.rate(),
            summary: deposits,
            target: Target::Ratio(0.7),
        },
        Row {
            name: format!("durable mutate kv set ({n} conns, 1 context)"),
            baseline: format!("the {n}-context rate"),
            baseline_rate: spread_rate,
            summary: hot,
            target: Target::Ratio(0.7),
        },
    ])
}

fn guest_speed(options: &Options, apps: &Apps) -> Result<Row> {
    let phases = options.phases();
    let deposit = baseline::fixed("deposit", DEPOSIT_1);
    let measure = |defaults: bool| -> Result<Summary> {
        let guest = Guest::new(&apps.ledger, defaults)?;
        let states = guest.contexts(8, &[])?;
        baseline::guest_rate(&guest, &states, 1, Mode::ReadWrite, phases, &deposit)
    };
    let (node, reference) =
        tokio::task::block_in_place(|| -> Result<_> { Ok((measure(false)?, measure(true)?)) })?;
    Ok(Row {
        name: "guest speed: ledger deposit, node engine config (1 thread)".into(),
        baseline: "wasmtime default config".into(),
        baseline_rate: reference.rate(),
        summary: node,
        target: Target::Ratio(0.9),
    })
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A subscriber to `contexts`, its subscription confirmed.
async fn subscriber(address: SocketAddr, contexts: &[String]) -> Result<Ws> {
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{address}/ws?events=current"))
            .await
            .context("opening /ws")?;
    let request = json!({"id": 1, "method": "subscribe", "params": {"contextIds": contexts}});
    socket.send(Message::text(request.to_string())).await?;
    while let Some(frame) = socket.next().await {
        if let Message::Text(text) = frame? {
            let reply: Value = serde_json::from_str(&text)?;
            if reply["id"] == 1 {
                if reply.get("result").is_some() {
                    return Ok(socket);
                }
                bail!("subscribe refused: {reply}");
            }
        }
    }
    bail!("/ws closed before the subscription was confirmed")
}

/// `(context, seq)` of a pushed event frame.
fn event_of(text: &str) -> Option<(String, u64)> {
    let frame: Value = serde_json::from_str(text).ok()?;
    let result = frame.get("result")?;
    Some((
        result["contextId"].as_str()?.to_owned(),
        result["seq"].as_u64()?,
    ))
}

async fn event_latency(
    options: &Options,
    node: &NodeUnderTest,
    apps: &Apps,
    pace: f64,
) -> Result<Row> {
    let n = options.connections;
    let contexts = contexts_with_tokens(node, &apps.kv_id, n).await?;
    let ids: Vec<String> = contexts
        .iter()
        .map(|(context, _)| context.id.clone())
        .collect();
    let mut socket = subscriber(node.address, &ids).await?;
    let arrivals: Arc<Mutex<HashMap<(String, u64), Instant>>> = Arc::default();
    let seen = arrivals.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            if let Message::Text(text) = frame
                && let Some(key) = event_of(&text)
            {
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(key)
                    .or_insert_with(Instant::now);
            }
        }
    });
    let sent: Arc<Mutex<Vec<(String, u64, Instant)>>> = Arc::default();
    let record = sent.clone();
    let by_connection = ids.clone();
    let check: Check = Arc::new(move |answer| {
        status_ok(answer)?;
        let body: Value = serde_json::from_slice(answer.body).map_err(|err| err.to_string())?;
        let seq = body
            .pointer("/result/eventSeq")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("unexpected answer {body}"))?;
        record.lock().unwrap_or_else(PoisonError::into_inner).push((
            by_connection[answer.connection % by_connection.len()].clone(),
            seq,
            answer.due,
        ));
        Ok(())
    });
    let mut load = options.load(n);
    load.pace = Some(pace.max(1.0));
    let measured_from = Instant::now() + load.warmup;
    let calls = load::run(
        node.address,
        &load,
        rpc_load("mutate", &contexts, "set", kv_set_args),
        check,
    )
    .await;
    // Every acknowledged call's event is due; wait for the stragglers.
    let deadline = Instant::now() + Duration::from_secs(10);
    let wanted: Vec<(String, u64, Instant)> =
        std::mem::take(&mut *sent.lock().unwrap_or_else(PoisonError::into_inner));
    loop {
        let arrived = arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        if arrived >= wanted.len() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reader.abort();
    let arrivals = arrivals.lock().unwrap_or_else(PoisonError::into_inner);
    let mut latencies = Vec::new();
    let mut missing = 0;
    for (context, seq, due) in &wanted {
        match arrivals.get(&(context.clone(), *seq)) {
            Some(at) if *due >= measured_from => {
                latencies.push(micros(at.saturating_duration_since(*due)));
            }
            Some(_) => {}
            None => missing += 1,
        }
    }
    let mut summary = Summary::new(latencies, load.window);
    summary.errors = calls.errors;
    summary.timeouts = calls.timeouts + missing;
    summary.first_error = calls.first_error;
    Ok(Row {
        name: format!(
            "mutate -> WS event, 1 subscriber, {pace:.0} calls/s (half the {n}-context max)"
        ),
        baseline: String::new(),
        baseline_rate: 0.0,
        summary,
        target: Target::P99Ms(5.0),
    })
}

/// Opens `count` subscribers to `contexts` (`None`: plain connections to
/// the bare server), then counts the event frames they all receive inside
/// the window.
async fn deliveries(
    address: SocketAddr,
    contexts: Option<&[String]>,
    count: usize,
    options: &Options,
    during: impl Future<Output = ()>,
) -> Result<(Summary, Vec<String>)> {
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        sockets.push(match contexts {
            Some(contexts) => subscriber(address, contexts).await?,
            None => {
                tokio_tungstenite::connect_async(format!("ws://{address}/"))
                    .await?
                    .0
            }
        });
    }
    let start = Instant::now();
    let measured = start + options.warmup;
    let end = measured + options.window;
    let counted = Arc::new(AtomicU64::new(0));
    let gaps = Arc::new(AtomicU64::new(0));
    let sample: Arc<Mutex<Vec<String>>> = Arc::default();
    let readers: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(index, mut socket)| {
            let (counted, gaps, sample) = (counted.clone(), gaps.clone(), sample.clone());
            tokio::spawn(async move {
                // The bare server starts sending when it hears from us.
                let _ = socket.send(Message::text("{}")).await;
                let (mut mine, mut missed) = (0u64, 0u64);
                while let Ok(Some(Ok(frame))) =
                    tokio::time::timeout_at(end.into(), socket.next()).await
                {
                    if let Message::Text(text) = frame {
                        if index == 0 {
                            let mut sample = sample.lock().unwrap_or_else(PoisonError::into_inner);
                            if sample.len() < 2 {
                                sample.push(text.to_string());
                            }
                        }
                        let now = Instant::now();
                        if now >= measured && now <= end {
                            if text.contains(r#""type":"Gap""#) {
                                missed += 1;
                            } else {
                                mine += 1;
                            }
                        }
                    }
                }
                counted.fetch_add(mine, Ordering::Relaxed);
                gaps.fetch_add(missed, Ordering::Relaxed);
            })
        })
        .collect();
    during.await;
    for reader in readers {
        let _ = reader.await;
    }
    let frames = sample
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut summary = Summary::count(counted.load(Ordering::Relaxed), options.window);
    let gaps = gaps.load(Ordering::Relaxed);
    if gaps > 0 {
        // Explicit, as the protocol says, but events those subscribers
        // did not get: the fan-out did not keep up.
        summary.errors = gaps;
        summary.first_error = Some(format!(
            "{gaps} Gap events: subscribers fell behind and missed events"
        ));
    }
    Ok((summary, frames))
}

async fn fan_out(options: &Options, node: &NodeUnderTest, apps: &Apps) -> Result<Row> {
    let n = options.connections;
    let contexts = contexts_with_tokens(node, &apps.kv_id, 1).await?;
    let ids = vec![contexts[0].0.id.clone()];
    let load = Load {
        warmup: Duration::ZERO,
        window: options.warmup + options.window,
        ..options.load(n)
    };
    let driver = load::run(
        node.address,
        &load,
        rpc_load("mutate", &contexts, "set", kv_set_args),
        committed_check(),
    );
    let driven = Arc::new(Mutex::new(Summary::default()));
    let record = driven.clone();
    let (mut summary, frames) = deliveries(
        node.address,
        Some(&ids),
        options.subscribers,
        options,
        async {
            *record.lock().unwrap_or_else(PoisonError::into_inner) = driver.await;
        },
    )
    .await?;
    // A failed mutation driving the events is a failure of the row.
    let driven = driven
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    summary.errors = driven.errors;
    summary.timeouts = driven.timeouts;
    summary.first_error = driven.first_error;
    let frames: Vec<String> = frames
        .into_iter()
        .filter(|frame| event_of(frame).is_some())
        .collect();
    if frames.is_empty() {
        bail!("the fan-out subscribers received no event");
    }
    let bare = baseline::bare_ws(frames)?;
    let (bare_summary, _) =
        deliveries(bare.address, None, options.subscribers, options, async {}).await?;
    Ok(Row {
        name: format!(
            "WS fan-out: 1 context's events to {} subscribers (frames/s)",
            options.subscribers
        ),
        baseline: "bare WebSocket broadcast, same frames".into(),
        baseline_rate: bare_summary.rate(),
        summary,
        target: Target::Ratio(0.5),
    })
}

async fn login(options: &Options, node: &NodeUnderTest) -> Result<Row> {
    let measured = Instant::now() + options.warmup;
    let end = measured + options.window;
    let address = node.address;
    let tasks: Vec<_> = (0..options.connections)
        .map(|connection| {
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut errors = 0u64;
                let mut first_error = None;
                let Ok(mut sender) = connect(address).await else {
                    return (samples, 1, Some("connect".to_owned()));
                };
                for seq in 0u64.. {
                    let started = Instant::now();
                    if started >= end {
                        break;
                    }
                    let mut seed = [0u8; 32];
                    seed[..8].copy_from_slice(&(connection as u64).to_le_bytes());
                    seed[8..16].copy_from_slice(&seq.to_le_bytes());
                    seed[16] = 0xbe;
                    match login_once(&mut sender, &ClientKey::from_seed(seed)).await {
                        Ok(()) => {
                            let done = Instant::now();
                            if done >= measured && done <= end {
                                samples.push(micros(done - started));
                            }
                        }
                        Err(err) => {
                            errors += 1;
                            first_error.get_or_insert(format!("{err:#}"));
                            match connect(address).await {
                                Ok(fresh) => sender = fresh,
                                Err(_) => break,
                            }
                        }
                    }
                }
                (samples, errors, first_error)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut errors, mut first_error) = (0, None);
    for task in tasks {
        let (samples, failed, error) = task.await?;
        latencies.extend(samples);
        errors += failed;
        if first_error.is_none() {
            first_error = error;
        }
    }
    let mut summary = Summary::new(latencies, options.window);
    summary.errors = errors;
    summary.first_error = first_error;
    let threads = options.threads;
    let phases = options.phases();
    let verify = tokio::task::block_in_place(|| baseline::verify_rate(threads, phases))?;
    Ok(Row {
        name: format!(
            "login: challenge + NEAR add-client-key ({} conns)",
            options.connections
        ),
        baseline: format!("ed25519 verify_strict, {threads} threads"),
        baseline_rate: verify.rate(),
        summary,
        target: Target::Ratio(0.8),
    })
}

async fn login_once(
    sender: &mut hyper::client::conn::http1::SendRequest<http_body_util::Full<Bytes>>,
    client: &ClientKey,
) -> Result<()> {
    let (status, body) = send(
        sender,
        json_request(
            "POST",
            "/admin-api/request-challenge",
            &[],
            Some(&json!({})),
        ),
    )
    .await?;
    if status != StatusCode::OK {
        bail!(
            "request-challenge: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let login = login_body(&serde_json::from_slice(&body)?, client)?;
    let (status, body) = send(
        sender,
        json_request("POST", "/admin-api/add-client-key", &[], Some(&login)),
    )
    .await?;
    if status != StatusCode::OK {
        bail!(
            "add-client-key: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// Guest-only rates of the example apps' hot methods on the node's engine
/// configuration, 1 and 2 threads: for tuning the engine without a node.
///
/// # Errors
/// When an app is missing or a call fails.
pub fn guest_rates(apps: &std::path::Path) -> Result<Vec<(String, f64)>> {
    let kv = Guest::new(&std::fs::read(app(apps, "kv-store")?)?, false)?;
    let ledger = Guest::new(&std::fs::read(app(apps, "ledger")?)?, false)?;
    let phases = (Duration::from_millis(500), Duration::from_secs(3));
    let mut rates = Vec::new();
    for threads in [1, 2] {
        let states = kv.contexts(8, &[("set", SET_K)])?;
        let (get, set) = (baseline::fixed("get", GET_K), kv_set_call());
        let deposit = baseline::fixed("deposit", DEPOSIT_1);
        let gets = baseline::guest_rate(&kv, &states, threads, Mode::ReadOnly, phases, &get)?;
        rates.push((format!("kv get, {threads} threads"), gets.rate()));
        let sets = baseline::guest_rate(&kv, &states, threads, Mode::ReadWrite, phases, &set)?;
        rates.push((format!("kv set, {threads} threads"), sets.rate()));
        let states = ledger.contexts(8, &[])?;
        let deposits =
            baseline::guest_rate(&ledger, &states, threads, Mode::ReadWrite, phases, &deposit)?;
        rates.push((
            format!("ledger deposit, {threads} threads"),
            deposits.rate(),
        ));
    }
    Ok(rates)
}

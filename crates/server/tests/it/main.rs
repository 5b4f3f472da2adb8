//! Integration tests of the composed server over real TCP on loopback: the
//! metrics it reports, its connection and read limits, request ids, the
//! dev-route guard, graceful shutdown, and arbitrary bodies (`hostile`).

mod authorization;
mod bad_input;
mod hostile;
mod js_sdk;
mod limits;

use std::net::SocketAddr;
use std::time::Duration;

use node::{Node, NodeConfig};
use serde_json::{Value, json};
use server::{Limits, ServerConfig};
use server_auth::AuthConfig;
use server_primitives::ContextId;
use tempfile::TempDir;
use test_utils::ws;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound on anything a test waits for; reaching it fails the test.
const PATIENCE: Duration = Duration::from_secs(20);

struct Served {
    address: SocketAddr,
    node: Node,
    auth: server_auth::Authenticator,
    /// The administrator's client key.
    client: test_utils::wallet::ClientKey,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
    http: reqwest::Client,
    _home: TempDir,
}

async fn serve(config: ServerConfig) -> Served {
    serve_on("127.0.0.1:0", config).await
}

/// Serves on `listen`; the test talks to it on loopback.
async fn serve_on(listen: &str, config: ServerConfig) -> Served {
    let home = tempfile::tempdir().expect("temp dir");
    let node = Node::open(home.path().join("node.redb"), NodeConfig::default()).expect("node");
    let auth = server_admin::load_authenticator(&node, AuthConfig::default()).expect("auth");
    let client = test_utils::wallet::log_in(&auth);
    let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(server::run(
        listener,
        node.clone(),
        auth.clone(),
        config,
        async move {
            let _ = stopped.await;
        },
    ));
    Served {
        address,
        node,
        auth,
        client,
        stop: Some(stop),
        server,
        http: reqwest::Client::new(),
        _home: home,
    }
}

fn with_metrics() -> ServerConfig {
    ServerConfig {
        metrics: true,
        ..ServerConfig::default()
    }
}

fn with_limits(limits: Limits) -> ServerConfig {
    ServerConfig {
        limits,
        ..with_metrics()
    }
}

impl Served {
    /// The administrator's auth headers for one call (a header set is used once).
    fn headers(&self) -> Vec<(String, String)> {
        self.client
            .auth_headers(self.auth.identity().public_key(), "POST", "/jsonrpc", None)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn kv_context(&self) -> ContextId {
        let app = self
            .node
            .install_application(&test_utils::built_app("kv-store"), "test", b"")
            .expect("installs");
        self.node
            .create_context(&app.id, b"")
            .expect("context")
            .0
            .id
    }

    async fn rpc(&self, method: &str, context: &ContextId, name: &str, args: Value) -> Value {
        let mut request = self.http.post(self.url("/jsonrpc")).json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": method,
            "params": {"contextId": context, "method": name, "argsJson": args}
        }));
        for (name, value) in &self.headers() {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON")
    }

    /// Opens a connection and sends `bytes`, a request whose body is still on
    /// its way; returns once the server holds the connection (the other one
    /// open is the metrics scrape's).
    async fn half_sent(&self, bytes: &[u8]) -> TcpStream {
        let mut stream = TcpStream::connect(self.address).await.expect("connects");
        stream.write_all(bytes).await.expect("writes");
        self.await_metric("calimero_http_connections_open", 2.0)
            .await;
        stream
    }

    /// Starts the server's shutdown.
    fn begin_shutdown(&mut self) {
        self.stop
            .take()
            .expect("running")
            .send(())
            .expect("the server is listening for the stop");
    }

    /// Waits for `server::run` to return, without an error.
    async fn finished(&mut self) {
        tokio::time::timeout(PATIENCE, &mut self.server)
            .await
            .expect("the server returns in time")
            .expect("joined")
            .expect("no error");
    }

    /// The `/metrics` text (retrying while the server is at its connection cap).
    async fn metrics(&self) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let response = loop {
            let response = self
                .http
                .get(self.url("/metrics"))
                .send()
                .await
                .expect("request");
            if response.status() != 503 || tokio::time::Instant::now() > deadline {
                break response;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(response.status(), 200);
        let media = response.headers()["content-type"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert!(media.starts_with("application/openmetrics-text"), "{media}");
        let text = response.text().await.expect("text");
        assert!(text.ends_with("# EOF\n"), "{text}");
        text
    }

    /// Polls `/metrics` until `series` reads `value`.
    async fn await_metric(&self, series: &str, value: f64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let text = self.metrics().await;
            if sample(&text, series) == Some(value) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{series} never read {value}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The value of one series (name with its labels, as exposed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

/// Sends `bytes` on a fresh connection and reads until the server closes it.
async fn exchange(address: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connects");
    stream.write_all(bytes).await.expect("writes");
    read_to_close(&mut stream).await
}

async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection in time")
        .expect("reads");
    String::from_utf8_lossy(&received).into_owned()
}

/// One keep-alive request on an open connection; returns the response head.
async fn keep_alive_request(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /admin-api/health HTTP/1.1\r\nhost: node\r\n\r\n")
        .await
        .expect("writes");
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&received).contains("\r\n\r\n{") {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("a response in time")
            .expect("reads");
        assert!(
            read > 0,
            "closed early: {}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn metrics_count_requests_calls_websocket_sessions_and_commits() {
    let served = serve(with_metrics()).await;
    let context = served.kv_context();
    let mut ws = ws::connect(&format!("ws://{}/ws", served.address)).await;
    ws::send(
        &mut ws,
        json!({"id": 1, "method": "subscribe", "params": {"contextIds": [context]}}),
    )
    .await;
    assert_eq!(ws::next_json(&mut ws).await["id"], 1);

    let set = served
        .rpc("mutate", &context, "set", json!({"key": "a", "value": "1"}))
        .await;
    assert!(set.get("result").is_some(), "{set}");
    let bad = served.rpc("mutate", &context, "set", json!({})).await;
    assert_eq!(bad["error"]["type"], "FunctionCallError", "{bad}");
    let got = served
        .rpc("query", &context, "get", json!({"key": "a"}))
        .await;
    assert_eq!(got["result"]["output"], "1");
    assert_eq!(
        ws::next_json(&mut ws).await["result"]["type"],
        "TransactionExecuted"
    );
    assert_eq!(
        ws::next_json(&mut ws).await["result"]["type"],
        "OutcomeEvent"
    );
    let missing = served
        .http
        .get(served.url("/no/such/route"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404);

    let text = served.metrics().await;
    for (series, value) in [
        (
            r#"calimero_jsonrpc_calls_total{method="mutate",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"calimero_jsonrpc_calls_total{method="mutate",outcome="FunctionCallError"}"#,
            1.0,
        ),
        (
            r#"calimero_jsonrpc_calls_total{method="query",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"calimero_jsonrpc_call_duration_seconds_count{method="mutate"}"#,
            2.0,
        ),
        (
            r#"calimero_http_requests_total{method="POST",route="/jsonrpc",status="200"}"#,
            3.0,
        ),
        (
            r#"calimero_http_requests_total{method="GET",route="unmatched",status="404"}"#,
            1.0,
        ),
        (
            r#"calimero_http_requests_total{method="GET",route="/ws",status="101"}"#,
            1.0,
        ),
        ("calimero_ws_connections_open", 1.0),
        ("calimero_ws_events_sent_total", 2.0),
        // The context's `init` and the one successful `set`.
        ("calimero_store_commit_duration_seconds_count", 2.0),
        (r#"calimero_build_info{version="0.1.0"}"#, 1.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }

    ws.close(None).await.expect("closes");
    served
        .await_metric("calimero_ws_connections_open", 0.0)
        .await;
    served
        .await_metric(
            r#"calimero_ws_disconnects_total{reason="client_closed"}"#,
            1.0,
        )
        .await;
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let served = serve(ServerConfig::default()).await;
    let response = served
        .http
        .get(served.url("/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn headers_that_do_not_arrive_in_time_close_the_connection() {
    let served = serve(with_limits(Limits {
        header_read_timeout: Duration::from_millis(200),
        ..Limits::default()
    }))
    .await;
    let mut slow = TcpStream::connect(served.address).await.expect("connects");
    slow.write_all(b"GET /admin-api/health HTTP/1.1\r\nhost: node\r\n")
        .await
        .expect("writes");
    let received = read_to_close(&mut slow).await;
    assert!(!received.contains("200 OK"), "{received}");
    served
        .await_metric("calimero_http_header_timeouts_total", 1.0)
        .await;
    // A prompt caller is served as usual.
    let mut prompt = TcpStream::connect(served.address).await.expect("connects");
    assert!(
        keep_alive_request(&mut prompt)
            .await
            .starts_with("HTTP/1.1 200")
    );
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    let served = serve(with_limits(Limits {
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    }))
    .await;
    let response = exchange(
        served.address,
        b"POST /jsonrpc HTTP/1.1\r\nhost: node\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"jsonrpc\"",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    let body: Value =
        serde_json::from_str(response.split("\r\n\r\n").nth(1).expect("a body")).expect("JSON");
    assert_eq!(body["error"]["code"], 408, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("did not arrive within 300 ms")
    );
    served
        .await_metric("calimero_http_body_timeouts_total", 1.0)
        .await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_they_are_read() {
    let served = serve(with_metrics()).await;
    let response = exchange(
        served.address,
        b"POST /jsonrpc HTTP/1.1\r\nhost: node\r\ncontent-type: application/json\r\n\
          content-length: 2000000\r\n\r\n{",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
}

#[tokio::test]
async fn connections_past_the_cap_get_503_until_one_closes() {
    let served = serve(with_limits(Limits {
        max_connections: 2,
        ..Limits::default()
    }))
    .await;
    let mut first = TcpStream::connect(served.address).await.expect("connects");
    let mut second = TcpStream::connect(served.address).await.expect("connects");
    assert!(
        keep_alive_request(&mut first)
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        keep_alive_request(&mut second)
            .await
            .starts_with("HTTP/1.1 200")
    );

    let refused = exchange(
        served.address,
        b"GET /admin-api/health HTTP/1.1\r\nhost: node\r\n\r\n",
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("at most 2 connections"), "{refused}");

    // Once the server has seen a connection close, its slot is free again.
    drop(first);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut third = loop {
        let mut stream = TcpStream::connect(served.address).await.expect("connects");
        let head = keep_alive_request(&mut stream).await;
        if head.starts_with("HTTP/1.1 200") {
            break stream;
        }
        assert!(head.starts_with("HTTP/1.1 503"), "{head}");
        assert!(tokio::time::Instant::now() < deadline, "no slot came free");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        keep_alive_request(&mut third)
            .await
            .starts_with("HTTP/1.1 200")
    );
    drop((second, third));
    served
        .await_metric("calimero_http_connections_open", 1.0)
        .await;
    let refused = sample(
        &served.metrics().await,
        "calimero_http_connections_refused_total",
    )
    .expect("counted");
    assert!(refused >= 1.0, "{refused}");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let served = serve(with_metrics()).await;
    let id = async |given: Option<&str>| {
        let mut request = served.http.get(served.url("/admin-api/health"));
        if let Some(given) = given {
            request = request.header("x-request-id", given);
        }
        let response = request.send().await.expect("request");
        response.headers()["x-request-id"]
            .to_str()
            .expect("ASCII")
            .to_owned()
    };
    let (one, two) = (id(None).await, id(None).await);
    assert!(!one.is_empty());
    assert_ne!(one, two);
    assert_eq!(id(Some("trace-me-42")).await, "trace-me-42");
    let long = "x".repeat(129);
    let replaced = id(Some(&long)).await;
    assert!(
        replaced != long && replaced.len() < 40,
        "an over-long id is replaced: {replaced}"
    );
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_closes_websockets() {
    let mut served = serve(with_metrics()).await;
    let context = served.kv_context();
    let mut ws = ws::connect(&format!("ws://{}/ws", served.address)).await;
    served
        .await_metric("calimero_ws_connections_open", 1.0)
        .await;

    // A mutation whose body is still on its way when shutdown starts.
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "mutate",
        "params": {"contextId": context, "method": "set", "argsJson": {"key": "k", "value": "v"}}})
    .to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut request = format!(
        "POST /jsonrpc HTTP/1.1\r\nhost: node\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in &served.headers() {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(head);
    // Until the body is complete the request is in the body deadline layer.
    let mut in_flight = served.half_sent(request.as_bytes()).await;

    served.begin_shutdown();
    let closed = ws::close_frame(&mut ws).await;
    assert_eq!(u16::from(closed.code), 1001);

    in_flight.write_all(tail.as_bytes()).await.expect("writes");
    let response = read_to_close(&mut in_flight).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""eventSeq":2"#), "{response}");
    served.finished().await;
    assert!(TcpStream::connect(served.address).await.is_err());
    let record = served
        .node
        .context(&context)
        .expect("reads")
        .expect("exists");
    assert_eq!(record.last_seq, 2);
}

#[tokio::test]
async fn dev_routes_answer_only_this_machine() {
    let served = serve(ServerConfig {
        dev_routes: true,
        ..with_metrics()
    })
    .await;
    let context = served.kv_context();
    let query = json!({"jsonrpc": "2.0", "id": 1, "method": "query",
        "params": {"contextId": context, "method": "len", "argsJson": {}}});
    let status = async |path: &str, headers: &[(&str, &str)]| {
        let mut request = if path == "/jsonrpc/dev" {
            served.http.post(served.url(path)).json(&query)
        } else {
            served.http.get(served.url(path))
        };
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("JSON");
        (status, body)
    };
    for path in ["/admin-api/dev/contexts", "/jsonrpc/dev"] {
        let (code, body) = status(path, &[]).await;
        assert_eq!(code, 200, "{path}: {body}");
        let (code, body) = status(path, &[("origin", "http://localhost:3000")]).await;
        assert_eq!(code, 200, "{path} from a local page: {body}");
        let (code, body) = status(path, &[("origin", "https://example.com")]).await;
        assert_eq!(
            (code, body["error"]["code"].clone()),
            (403, json!(403)),
            "{path} from a foreign page: {body}"
        );
        let (code, body) = status(path, &[("host", "rebound.example.com")]).await;
        assert_eq!(code, 403, "{path} by a rebound name: {body}");
    }
    // Other routes keep the protocol's CORS: any origin.
    let (code, _) = status("/admin-api/health", &[("origin", "https://example.com")]).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn shutdown_closes_connections_still_busy_after_the_grace_period() {
    let mut served = serve(with_limits(Limits {
        body_read_timeout: Duration::from_secs(600),
        shutdown_grace: Duration::from_millis(200),
        ..Limits::default()
    }))
    .await;
    // A request whose body never completes holds its connection busy.
    let mut stuck = served
        .half_sent(
            b"POST /admin-api/request-challenge HTTP/1.1\r\nhost: node\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{",
        )
        .await;
    served.begin_shutdown();
    served.finished().await;
    let received = read_to_close(&mut stuck).await;
    assert!(received.is_empty(), "no answer, just a close: {received}");
}

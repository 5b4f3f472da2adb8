//! What the HTTP server adds to a call: JSON-RPC over loopback (keep-alive
//! connections, every layer of the composed server) against the same call
//! made in-process, measured in the same run.
//!
//! Run with `cargo xtask bench` (it builds the example apps first).

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use node::{Node, NodeConfig};
use node_primitives::ContextId;
use serde_json::{Value, json};
use server::ServerConfig;
use server_auth::AuthConfig;

const QUERIES: usize = 3_000;
const MUTATIONS: usize = 300;
const CLIENTS: usize = 4;

fn per_op(total: Duration, ops: usize) -> Duration {
    total / u32::try_from(ops).expect("few ops")
}

fn call(method: &str, context: ContextId, name: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": method,
           "params": {"contextId": context, "method": name, "argsJson": args}})
}

/// Sends `bodies` one after another on `http` with `headers()` each (signed
/// header sets are used once), checking each answer.
async fn send_all(
    http: &reqwest::Client,
    url: &str,
    headers: impl Fn() -> Vec<(String, String)>,
    bodies: impl Iterator<Item = Value>,
) {
    for body in bodies {
        let mut request = http.post(url).json(&body);
        for (name, value) in &headers() {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.expect("sent");
        assert!(response.status().is_success(), "{}", response.status());
        let answer: Value = response.json().await.expect("JSON");
        assert!(answer.get("result").is_some(), "{answer}");
    }
}

/// `(sum of seconds, count)` of the server's own latency series for POSTs
/// to `route`, read from `/metrics`.
async fn server_seconds(http: &reqwest::Client, base: &str, route: &str) -> (f64, f64) {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let labels = format!(r#"{{method="POST",route="{route}"}}"#);
    let sample = |suffix: &str| -> f64 {
        let series = format!("calimero_http_request_duration_seconds_{suffix}{labels} ");
        text.lines()
            .find_map(|line| line.strip_prefix(series.as_str())?.parse().ok())
            .unwrap_or(0.0)
    };
    (sample("sum"), sample("count"))
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = Node::open(dir.path().join("node.redb"), NodeConfig::default()).expect("node");
    let auth = server_admin::load_authenticator(&node, AuthConfig::default()).expect("auth");
    let client = test_utils::wallet::log_in(&auth);
    let node_id = auth.identity().public_key();
    let app = node
        .install_application(&test_utils::built_app("kv-store"), "bench", b"")
        .expect("installs");
    let (record, member) = node.create_context(&app.id, b"").expect("context");
    let context = record.id;
    let token = auth
        .issue_tokens(&client.public_key(), context, member, auth.now_ms())
        .expect("tokens")
        .access_token;
    node.mutate(&context, "set", br#"{"key":"k","value":"v"}"#, None)
        .expect("set");

    let get = br#"{"key":"k"}"#;
    for _ in 0..100 {
        node.query(&context, "get", get, None).expect("get");
    }
    let start = Instant::now();
    for _ in 0..QUERIES {
        node.query(&context, "get", get, None).expect("get");
    }
    let base = per_op(start.elapsed(), QUERIES);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let figures = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(server::run(
            listener,
            node.clone(),
            auth,
            ServerConfig {
                dev_routes: true,
                metrics: true,
                ..ServerConfig::default()
            },
            async move {
                let _ = stopped.await;
            },
        ));
        let http = reqwest::Client::new();
        let dev = format!("http://{address}/jsonrpc/dev");
        let signed = format!("http://{address}/jsonrpc");
        let headers = || client.auth_headers(node_id, "POST", "/jsonrpc", None);
        let query = move || call("query", context, "get", json!({"key": "k"}));

        send_all(&http, &dev, Vec::new, (0..100).map(|_| query())).await;
        let health = format!("http://{address}/admin-api/health");
        let start = Instant::now();
        for _ in 0..QUERIES {
            let response = http.get(&health).send().await.expect("sent");
            assert!(response.status().is_success());
            response.bytes().await.expect("body");
        }
        let floor = per_op(start.elapsed(), QUERIES);

        let base = format!("http://{address}");
        let before = server_seconds(&http, &base, "/jsonrpc/dev").await;
        let start = Instant::now();
        send_all(&http, &dev, Vec::new, (0..QUERIES).map(|_| query())).await;
        let dev_query = per_op(start.elapsed(), QUERIES);
        let after = server_seconds(&http, &base, "/jsonrpc/dev").await;
        let inside = Duration::from_secs_f64((after.0 - before.0) / (after.1 - before.1).max(1.0));

        let start = Instant::now();
        send_all(&http, &signed, headers, (0..QUERIES).map(|_| query())).await;
        let signed_query = per_op(start.elapsed(), QUERIES);

        let bearer = || vec![("authorization".to_owned(), format!("Bearer {token}"))];
        let start = Instant::now();
        send_all(&http, &signed, bearer, (0..QUERIES).map(|_| query())).await;
        let token_query = per_op(start.elapsed(), QUERIES);

        let start = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (http, dev) = (http.clone(), dev.clone());
                tokio::spawn(async move {
                    send_all(
                        &http,
                        &dev,
                        Vec::new,
                        (0..QUERIES / CLIENTS).map(|_| query()),
                    )
                    .await;
                })
            })
            .collect();
        for client in clients {
            client.await.expect("no panic");
        }
        let parallel_query = per_op(start.elapsed(), QUERIES / CLIENTS * CLIENTS);

        let start = Instant::now();
        send_all(
            &http,
            &dev,
            Vec::new,
            (0..MUTATIONS).map(|i| {
                call(
                    "mutate",
                    context,
                    "set",
                    json!({"key": format!("key-{i}"), "value": "v".repeat(100)}),
                )
            }),
        )
        .await;
        let mutate = per_op(start.elapsed(), MUTATIONS);

        stop.send(()).expect("server running");
        server.await.expect("joined").expect("served");
        [
            ("GET /admin-api/health (no call)", floor),
            ("query over /jsonrpc/dev, sequential", dev_query),
            ("  of which inside the server (its metrics)", inside),
            ("query over /jsonrpc, signed headers", signed_query),
            ("query over /jsonrpc, bearer token", token_query),
            ("query over /jsonrpc/dev, 4 clients", parallel_query),
            ("mutate over /jsonrpc/dev, sequential", mutate),
        ]
    });

    println!("baseline: one in-process query of kv-store `get` = {base:?}");
    for (name, value) in figures {
        println!(
            "{name:<38} {value:?}/op = {:.2} x baseline",
            value.as_secs_f64() / base.as_secs_f64()
        );
    }
}

//! End-to-end tests of the real `calimero-node` binary over loopback.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use server_primitives::auth::NodeChallenge;
use test_utils::wallet::{ClientKey, NearWallet};
use test_utils::ws;

mod bench;
mod dashboard;
mod operator;
mod replication;

/// A running node; killed if the test fails before stopping it.
struct Running {
    child: Child,
    base: String,
    /// Its swarm's addresses (`…/p2p/<peer id>`).
    swarm: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(home: &Path) -> Running {
    start_on(home, "127.0.0.1:0")
}

/// Starts the node of `home` listening on `listen`.
fn start_on(home: &Path, listen: &str) -> Running {
    start_with(home, &["--listen", listen])
}

/// Starts the node of `home` with these `run` arguments; waits for its
/// swarm lines and its ready line.
fn start_with(home: &Path, args: &[&str]) -> Running {
    // The log goes to `HOME.log`, kept across restarts, for a failing test
    // to show.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.with_extension("log"))
        .expect("the log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_calimero-node"))
        .args(["--home"])
        .arg(home)
        .arg("run")
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("the binary starts");
    let ready = lines_of(child.stdout.take().expect("stdout"));
    let mut swarm = Vec::new();
    loop {
        let line = ready
            .recv_timeout(Duration::from_secs(60))
            .expect("a ready line");
        if let Some(address) = line.strip_prefix("swarm listening on ") {
            swarm.push(address.to_owned());
            continue;
        }
        let base = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"))
            .to_owned();
        return Running { child, base, swarm };
    }
}

/// The lines a child prints, as they come.
fn lines_of(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    received
}

/// Initialises a home whose node keeps `records` event records per context.
fn init_keeping_events(home: &Path, records: u64) {
    let init = Command::new(env!("CARGO_BIN_EXE_calimero-node"))
        .arg("--home")
        .arg(home)
        .arg("init")
        .output()
        .expect("init runs");
    assert!(init.status.success(), "{init:?}");
    let config = home.join("config.toml");
    let text = std::fs::read_to_string(&config).expect("the config");
    assert!(text.contains("keep_events = 1000"), "{text}");
    std::fs::write(
        &config,
        text.replace("keep_events = 1000", &format!("keep_events = {records}")),
    )
    .expect("writes the config");
}

fn stop(mut running: Running) {
    signal(&running, "-TERM");
    let exit = running.child.wait().expect("the node exits");
    assert!(exit.success(), "exit status {exit}");
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
    headers: &[(String, String)],
) -> (u16, Value) {
    let mut request = http.request(method, url);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn run_login_install_create_stop_and_restart() {
    let home = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::new();
    let running = start(home.path());
    let api = |path: &str| format!("{}/admin-api{path}", running.base);

    let (status, body) = call(&http, reqwest::Method::GET, api("/health"), None, &[]).await;
    assert_eq!(
        (status, body["data"]["status"].clone()),
        (200, json!("alive"))
    );
    let node_id: server_primitives::PublicKey =
        serde_json::from_value(body["data"]["nodeId"].clone()).expect("the node's id");

    let client = ClientKey::from_seed_byte(0x03);
    let (_, challenge) = call(
        &http,
        reqwest::Method::POST,
        api("/request-challenge"),
        Some(json!({})),
        &[],
    )
    .await;
    let challenge: NodeChallenge =
        serde_json::from_value(challenge["data"].clone()).expect("challenge");
    let login = NearWallet::from_seed_byte(0x02).login(&challenge, &client, "calimero-node");
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        api("/add-client-key"),
        Some(serde_json::to_value(login).expect("json")),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let signed = |method: &str, path: &str| client.auth_headers(node_id, method, path, None);

    let path = test_utils::built_app_path("kv-store");
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        api("/dev/install-application"),
        Some(json!({"path": path})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let app = body["data"]["applicationId"].clone();
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        api("/contexts"),
        Some(json!({"applicationId": app})),
        &signed("POST", "/admin-api/contexts"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let context = body["data"]["context"].clone();
    let ws_url = format!("{}/ws", running.base.replacen("http://", "ws://", 1));
    let mut ws = ws::connect(&ws_url).await;
    ws::send(
        &mut ws,
        json!({"id": 1, "method": "subscribe", "params": {"contextIds": [context["id"]]}}),
    )
    .await;
    let reply = ws::next_json(&mut ws).await;
    assert_eq!(reply["result"]["contextIds"][0], context["id"]);
    let rpc = format!("{}/jsonrpc", running.base);
    let set = json!({"jsonrpc": "2.0", "id": 1, "method": "mutate",
        "params": {"contextId": context["id"], "method": "set", "argsJson": {"key": "k", "value": "kept"}}});
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        rpc.clone(),
        Some(set),
        &signed("POST", "/jsonrpc"),
    )
    .await;
    assert_eq!(
        (status, body["result"]["eventSeq"].clone()),
        (200, json!(2)),
        "{body}"
    );
    let executed = ws::next_json(&mut ws).await;
    assert_eq!(
        (executed["id"].clone(), executed["result"]["type"].clone()),
        (Value::Null, json!("TransactionExecuted"))
    );
    assert_eq!(executed["result"]["seq"], 2);
    let outcome = ws::next_json(&mut ws).await;
    assert_eq!(outcome["result"]["data"]["events"][0]["kind"], "Inserted");
    let metrics = http
        .get(format!("{}/metrics", running.base))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    for line in [
        r#"calimero_jsonrpc_calls_total{method="mutate",outcome="ok"} 1"#,
        "calimero_ws_connections_open 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    stop(running);
    // The subscriber was told the node went away.
    let closed = ws::close_frame(&mut ws).await;
    assert_eq!(u16::from(closed.code), 1001);

    let running = start(home.path());
    let api = |path: &str| format!("{}/admin-api{path}", running.base);
    let id = context["id"].as_str().expect("id");
    let (status, body) = call(
        &http,
        reqwest::Method::GET,
        api(&format!("/contexts/{id}")),
        None,
        &signed("GET", &format!("/admin-api/contexts/{id}")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["context"]["id"], context["id"],
        "the context and the login survive a restart"
    );
    let get = json!({"jsonrpc": "2.0", "id": "g", "method": "query",
        "params": {"contextId": context["id"], "method": "get", "argsJson": {"key": "k"}}});
    let kept = json!({"jsonrpc": "2.0", "id": "g", "result": {"output": "kept"}});
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        format!("{}/jsonrpc", running.base),
        Some(get.clone()),
        &signed("POST", "/jsonrpc"),
    )
    .await;
    assert_eq!((status, body), (200, kept.clone()));
    // A loopback node serves the credential-free dev variant too.
    let (status, body) = call(
        &http,
        reqwest::Method::POST,
        format!("{}/jsonrpc/dev", running.base),
        Some(get),
        &[],
    )
    .await;
    assert_eq!((status, body), (200, kept));
    stop(running);
}

#[test]
fn a_bad_config_names_the_key_and_fails() {
    let home = tempfile::tempdir().expect("temp dir");
    std::fs::write(home.path().join("config.toml"), "listn = \"127.0.0.1:1\"\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_calimero-node"))
        .arg("--home")
        .arg(home.path())
        .args(["run", "--listen", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("listn"), "{stderr}");
}

#[test]
fn init_creates_the_home() {
    let home = tempfile::tempdir().expect("temp dir");
    let target = home.path().join("node");
    let output = Command::new(env!("CARGO_BIN_EXE_calimero-node"))
        .arg("--home")
        .arg(&target)
        .arg("init")
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(target.join("node.redb").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target)
            .expect("home")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "the home holds secrets: {mode:o}");
    }
    let config = std::fs::read_to_string(target.join("config.toml")).expect("a config");
    for key in [
        "listen =",
        "metrics = true",
        "[limits]",
        "header_read_timeout_ms =",
    ] {
        assert!(config.contains(key), "{key} in\n{config}");
    }
}

/// Posts one call to `/jsonrpc/dev`; `None` when the node did not answer.
async fn dev_call(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    context: &Value,
    name: &str,
    args: Value,
) -> Option<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method,
        "params": {"contextId": context, "method": name, "argsJson": args}});
    let response = http
        .post(format!("{base}/jsonrpc/dev"))
        .json(&body)
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_keeps_every_acknowledged_mutation() {
    let home = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::new();
    let mut running = start(home.path());
    let api = |base: &str, path: &str| format!("{base}/admin-api{path}");
    let path = test_utils::built_app_path("kv-store");
    let (_, installed) = call(
        &http,
        reqwest::Method::POST,
        api(&running.base, "/dev/install-application"),
        Some(json!({"path": path})),
        &[],
    )
    .await;
    let (status, created) = call(
        &http,
        reqwest::Method::POST,
        api(&running.base, "/dev/contexts"),
        Some(json!({"applicationId": installed["data"]["applicationId"]})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let context = created["data"]["context"]["id"].clone();

    // Writers mutate until the node stops answering; each remembers what
    // the node acknowledged.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (http, base, context, acknowledged) = (
                http.clone(),
                running.base.clone(),
                context.clone(),
                acknowledged.clone(),
            );
            tokio::spawn(async move {
                for n in 0.. {
                    let key = format!("w{writer}-{n}");
                    let args = json!({"key": key, "value": key});
                    let Some(reply) = dev_call(&http, &base, "mutate", &context, "set", args).await
                    else {
                        return;
                    };
                    assert!(reply["result"]["eventSeq"].is_u64(), "{reply}");
                    acknowledged.lock().expect("lock").push(key);
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while acknowledged.lock().expect("lock").len() < 40 {
        assert!(std::time::Instant::now() < deadline, "writers too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.child.kill().expect("SIGKILL");
    running.child.wait().expect("reaped");
    for writer in writers {
        writer.await.expect("a writer ends when the node is gone");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();

    let running = start(home.path());
    for key in &acknowledged {
        let reply = dev_call(
            &http,
            &running.base,
            "query",
            &context,
            "get",
            json!({"key": key}),
        )
        .await
        .expect("an answer");
        assert_eq!(
            reply["result"]["output"],
            json!(key),
            "{key} was acknowledged"
        );
    }
    // State and event log moved together: one event per committed set, after
    // init's, so the next mutation's sequence number follows from the count.
    let len = dev_call(&http, &running.base, "query", &context, "len", json!({}))
        .await
        .expect("an answer")["result"]["output"]
        .as_u64()
        .expect("a count");
    assert!(
        len >= acknowledged.len() as u64,
        "{len} < {}",
        acknowledged.len()
    );
    let next = dev_call(
        &http,
        &running.base,
        "mutate",
        &context,
        "set",
        json!({"key": "after", "value": "restart"}),
    )
    .await
    .expect("an answer");
    assert_eq!(next["result"]["eventSeq"], json!(len + 2), "{next}");
    stop(running);
}

fn signal(running: &Running, name: &str) {
    let status = Command::new("kill")
        .args([name, &running.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn a_second_signal_exits_at_once() {
    use std::io::Write as _;
    let home = tempfile::tempdir().expect("temp dir");
    let mut running = start(home.path());
    let address = running
        .base
        .strip_prefix("http://")
        .expect("http")
        .to_owned();
    // A request whose body never arrives keeps the first shutdown waiting
    // (for the 30 s body deadline and grace period). The server's
    // `100 Continue` says it is reading the body.
    let mut stuck = std::net::TcpStream::connect(&address).expect("connects");
    stuck
        .write_all(b"POST /admin-api/request-challenge HTTP/1.1\r\nhost: node\r\nexpect: 100-continue\r\ncontent-length: 9\r\n\r\n")
        .expect("writes");
    stuck
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read deadline");
    let mut interim = [0u8; 25];
    std::io::Read::read_exact(&mut stuck, &mut interim).expect("an interim response");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    signal(&running, "-TERM");
    // The first signal closes the listener; then comes the second.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&address).is_ok() {
        assert!(std::time::Instant::now() < deadline, "still accepting");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        running.child.try_wait().expect("polls").is_none(),
        "the first signal waits for the in-flight request"
    );
    signal(&running, "-INT");
    let exit = loop {
        if let Some(exit) = running.child.try_wait().expect("polls") {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit after the second signal"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(exit.code(), Some(130), "{exit}");
    drop(stuck);
}

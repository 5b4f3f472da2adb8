//! The guest's `fetch`: disabled by default, allowed hosts only, with a
//! response cap and a deadline. A small HTTP server on loopback answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use node::{CallError, FetchConfig, Node, NodeConfig, NodeError};

use crate::support::db;

const FETCHER: &str = r#"
(module
  (import "env" "input" (func $input (param i64)))
  (import "env" "register_len" (func $register_len (param i64) (result i64)))
  (import "env" "read_register" (func $read_register (param i64 i64) (result i32)))
  (import "env" "fetch" (func $fetch (param i64 i64 i64 i64 i64) (result i32)))
  (import "env" "value_return" (func $value_return (param i64)))
  (import "env" "commit" (func $commit (param i64 i64)))
  (memory (export "memory") 2)
  (data (i32.const 0) "GET")
  (data (i32.const 100) "rootrootrootrootrootrootrootroot")
  (func $buf (param $at i32) (param $ptr i64) (param $len i64)
    (i64.store (local.get $at) (local.get $ptr))
    (i64.store offset=8 (local.get $at) (local.get $len)))
  (func (export "init")
    (call $buf (i32.const 500) (i64.const 100) (i64.const 32))
    (call $buf (i32.const 516) (i64.const 0) (i64.const 3))
    (call $commit (i64.const 500) (i64.const 516)))
  ;; Fetches the URL given as input; returns the body, or the error text as an app error.
  (func (export "get") (local $len i64) (local $code i32)
    (call $input (i64.const 1))
    (local.set $len (call $register_len (i64.const 1)))
    (call $buf (i32.const 200) (i64.const 4096) (local.get $len))
    (drop (call $read_register (i64.const 1) (i64.const 200)))
    (call $buf (i32.const 216) (i64.const 0) (i64.const 3))
    (call $buf (i32.const 232) (i64.const 16) (i64.const 4))
    (call $buf (i32.const 248) (i64.const 0) (i64.const 0))
    (local.set $code (call $fetch (i64.const 200) (i64.const 216) (i64.const 232) (i64.const 248) (i64.const 2)))
    (local.set $len (call $register_len (i64.const 2)))
    (call $buf (i32.const 300) (i64.const 65536) (local.get $len))
    (drop (call $read_register (i64.const 2) (i64.const 300)))
    (i64.store (i32.const 400) (i64.extend_i32_u (local.get $code)))
    (call $buf (i32.const 408) (i64.const 65536) (local.get $len))
    (call $value_return (i64.const 400)))
)"#;

/// Serves `connections` requests on loopback, then stops: `/ok` → "hello",
/// `/big` → 2000 bytes, `/missing` → 404, `/slow` → no answer, the
/// connection held open for a minute.
fn serve(connections: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let (status, body) = match path.as_str() {
                "/ok" => ("200 OK", b"hello".to_vec()),
                "/big" => ("200 OK", vec![b'x'; 2000]),
                "/slow" => {
                    // Never answers, and keeps the connection open well past
                    // the node's fetch timeout: only the timeout ends it.
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(60));
                        drop(stream);
                    });
                    continue;
                }
                _ => ("404 Not Found", b"no".to_vec()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    address
}

fn fetching_node(home: &std::path::Path, allowed: &[&str]) -> (Node, node_primitives::ContextId) {
    fetching_node_within(home, allowed, Duration::from_millis(500))
}

fn fetching_node_within(
    home: &std::path::Path,
    allowed: &[&str],
    timeout: Duration,
) -> (Node, node_primitives::ContextId) {
    let node = Node::open(
        db(home),
        NodeConfig {
            fetch: FetchConfig {
                allowed_hosts: allowed.iter().map(|host| (*host).to_owned()).collect(),
                timeout,
                max_response_bytes: 1000,
            },
            ..NodeConfig::default()
        },
    )
    .expect("node");
    let app = node
        .install_application(&wat::parse_str(FETCHER).expect("wat"), "test", b"")
        .expect("installs");
    let (context, _) = node.create_context(&app.id, b"").expect("context");
    (node, context.id)
}

fn fetch(node: &Node, context: &node_primitives::ContextId, url: &str) -> Result<String, String> {
    match node.query(context, "get", url.as_bytes(), None) {
        Ok(output) => Ok(String::from_utf8(output.returns.unwrap_or_default()).expect("utf-8")),
        Err(NodeError::Call {
            error: CallError::AppError(text),
            ..
        }) => Err(String::from_utf8(text).expect("utf-8")),
        Err(other) => panic!("unexpected {other:?}"),
    }
}

#[test]
fn fetch_is_disabled_by_default() {
    let home = tempfile::tempdir().expect("temp dir");
    let (node, context) = fetching_node(home.path(), &[]);
    let address = serve(0);
    let refused = fetch(&node, &context, &format!("http://{address}/ok")).expect_err("disabled");
    assert!(refused.contains("disabled"), "{refused}");
}

#[test]
fn fetch_reaches_allowed_hosts_only_within_its_limits() {
    let home = tempfile::tempdir().expect("temp dir");
    let (node, context) = fetching_node(home.path(), &["127.0.0.1"]);
    let address = serve(4);
    assert_eq!(
        fetch(&node, &context, &format!("http://{address}/ok")),
        Ok("hello".to_owned())
    );
    let too_big =
        fetch(&node, &context, &format!("http://{address}/big")).expect_err("over the cap");
    assert!(too_big.contains("fetch"), "{too_big}");
    let missing = fetch(&node, &context, &format!("http://{address}/missing")).expect_err("404");
    assert!(missing.contains("404"), "{missing}");
    let slow = fetch(&node, &context, &format!("http://{address}/slow")).expect_err("deadline");
    assert!(slow.contains("timeout"), "{slow}");
    let elsewhere = fetch(
        &node,
        &context,
        &format!("http://localhost:{}/ok", address.port()),
    )
    .expect_err("not listed");
    assert!(elsewhere.contains("not allowed"), "{elsewhere}");
    let scheme = fetch(&node, &context, "ftp://127.0.0.1/file").expect_err("scheme");
    assert!(scheme.contains("only http"), "{scheme}");
    let file = fetch(&node, &context, "file:///etc/passwd").expect_err("no URL of a file");
    assert!(file.starts_with("fetch:"), "{file}");
}

/// A query from async code first runs on the async thread that asked; one
/// that fetches must leave that thread to wait. The server here answers
/// only when a task on that same (single) thread tells it to: a fetch made
/// in place would block that task until the fetch timed out.
#[test]
fn a_query_from_async_code_waits_for_the_network_off_its_thread() {
    let home = tempfile::tempdir().expect("temp dir");
    let (node, context) =
        fetching_node_within(home.path(), &["127.0.0.1"], Duration::from_secs(30));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let (accepted, on_accept) = tokio::sync::oneshot::channel::<()>();
    let (go, on_go) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
            head.push(byte[0]);
        }
        let _ = accepted.send(());
        on_go.recv().expect("told to answer");
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
        )
        .expect("answered");
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (output, ()) = runtime.block_on(async {
        tokio::join!(
            node.query_async(
                context,
                "get".to_owned(),
                format!("http://{address}/ok").into_bytes(),
                None,
            ),
            async {
                on_accept.await.expect("the fetch arrived");
                go.send(()).expect("server waiting");
            }
        )
    });
    let output = output.expect("fetched");
    assert_eq!(output.returns.as_deref(), Some(&b"hello"[..]));
    server.join().expect("server thread");
}

//! The bad-input suite: every route that reads a body, every id in a path,
//! every JSON-RPC method and the WebSocket requests get malformed, oversized,
//! deeply nested, wrong-typed, truncated and hostile inputs, with the
//! administrator's credentials so nothing stops at authentication. Each
//! gets a typed answer (a 4xx with the JSON error body, a JSON-RPC error, or
//! a WebSocket error frame), never a 5xx or a hang; afterwards the node
//! serves and nothing committed has changed.

use node::{AuthTable, Node};
use serde_json::{Value, json};
use server::ServerConfig;
use server_primitives::ContextId;
use test_utils::ws;

use crate::{PATIENCE, Served, serve, with_metrics};

/// Routes that read a body, as `(method, path)`.
const BODY_ROUTES: &[(&str, &str)] = &[
    ("POST", "/admin-api/request-challenge"),
    ("POST", "/admin-api/add-client-key"),
    ("POST", "/admin-api/refresh-jwt-token"),
    ("POST", "/admin-api/root-key"),
    ("POST", "/admin-api/generate-jwt-token"),
    ("POST", "/admin-api/install-application"),
    ("POST", "/admin-api/contexts"),
    ("POST", "/admin-api/dev/install-application"),
    ("POST", "/admin-api/dev/contexts"),
    ("POST", "/jsonrpc"),
    ("POST", "/jsonrpc/dev"),
];

/// Routes with an id in their path; `{id}` is replaced by hostile ids.
const ID_ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin-api/contexts/{id}"),
    ("GET", "/admin-api/contexts/{id}/users"),
    ("GET", "/admin-api/contexts/{id}/client-keys"),
    ("GET", "/admin-api/contexts/{id}/storage"),
    ("DELETE", "/admin-api/contexts/{id}"),
    ("DELETE", "/admin-api/identity/keys/{id}"),
];

/// Bodies no route accepts, by what is wrong with them.
fn bad_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let nest = 50_000;
    vec![
        ("empty", Vec::new()),
        ("not JSON", b"hello".to_vec()),
        (
            "truncated",
            br#"{"jsonrpc":"2.0","id":1,"method":"query","params":{"contextId":""#.to_vec(),
        ),
        ("unclosed", br#"{"a":"#.to_vec()),
        ("invalid UTF-8", b"{\"a\":\"\xff\xfe\"}".to_vec()),
        ("lone surrogate", br#"{"a":"\ud800"}"#.to_vec()),
        ("NUL bytes", b"{\"a\":\"\0\0\"}\0".to_vec()),
        (
            "deep arrays",
            format!("{}{}", "[".repeat(nest), "]".repeat(nest)).into_bytes(),
        ),
        (
            "deep objects",
            format!("{}1{}", r#"{"a":"#.repeat(nest / 5), "}".repeat(nest / 5)).into_bytes(),
        ),
        (
            "huge numbers",
            br#"{"id":1e999999,"n":123456789012345678901234567890123}"#.to_vec(),
        ),
        (
            "wrong types",
            json!({
                "jsonrpc": 2, "id": {}, "method": ["query"], "params": "x",
                "contextId": 7, "applicationId": [], "initializationParams": "zz",
                "refreshToken": 5, "url": false, "hash": 1, "metadata": {},
                "payload": [], "walletMetadata": "x", "publicKey": 3
            })
            .to_string()
            .into_bytes(),
        ),
        ("null", b"null".to_vec()),
        ("an array", b"[]".to_vec()),
        (
            "duplicate keys",
            br#"{"method":"query","method":"mutate","params":{},"params":[]}"#.to_vec(),
        ),
        (
            "oversized",
            format!(r#"{{"a":"{}"}}"#, "x".repeat(2 * 1024 * 1024)).into_bytes(),
        ),
    ]
}

/// Path ids that name nothing, or worse.
const BAD_IDS: &[&str] = &[
    "x",
    "0OIl",
    "%2e%2e%2f%2e%2e%2fadmin-api",
    "%00",
    "%F0%9F%92%A9",
    "11111111111111111111111111111111111111111111111111111111111111111111111",
    "4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi",
];

/// Everything committed that a bad input must not change.
fn digest(node: &Node) -> Value {
    let contexts: Vec<Value> = node
        .contexts()
        .expect("contexts")
        .into_iter()
        .map(|context| {
            json!({
                "id": context.id,
                "root": context.root_hash,
                "seq": context.last_seq,
                "members": context.members,
                "size": node.storage_size(&context.id).expect("size"),
            })
        })
        .collect();
    let applications: Vec<Value> = node
        .applications()
        .expect("applications")
        .into_iter()
        .map(|app| json!([app.id, app.size]))
        .collect();
    let keys = |table| node.auth_list(table).expect("auth table").len();
    json!({
        "contexts": contexts,
        "applications": applications,
        "rootKeys": keys(AuthTable::RootKeys),
        "clientKeys": keys(AuthTable::ClientKeys),
    })
}

impl Served {
    /// `method path` with `body` and the administrator's auth headers.
    async fn as_admin(&self, method: &str, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method.clone(), self.url(path))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in self.client.auth_headers(
            self.auth.identity().public_key(),
            method.as_str(),
            path,
            None,
        ) {
            request = request.header(name, value);
        }
        let response = tokio::time::timeout(PATIENCE, request.send())
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer in time"))
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("a body").to_vec())
    }
}

/// Asserts a typed answer: a 4xx with the JSON error body saying that
/// status, a JSON-RPC error object, or (where the input is acceptable after
/// all: `request-challenge` takes any object, its fields are all optional;
/// deleting a context that does not exist says it deleted nothing) a
/// normal `{"data": …}` answer.
fn assert_typed(what: &str, status: u16, body: &[u8]) {
    assert_answered(what, status, body, false);
}

/// As [`assert_typed`]; `acceptable` allows a normal answer.
fn assert_answered(what: &str, status: u16, body: &[u8], acceptable: bool) {
    assert!(
        status < 500,
        "{what}: {status} {}",
        String::from_utf8_lossy(body)
    );
    let answer: Value = serde_json::from_slice(body).unwrap_or_else(|err| {
        panic!(
            "{what}: {status}, not JSON ({err}): {}",
            String::from_utf8_lossy(body)
        )
    });
    if status == 200 {
        assert!(
            answer["error"]["type"].is_string() || (acceptable && answer["data"].is_object()),
            "{what}: {answer}"
        );
    } else {
        assert!(status >= 400, "{what}: {status} {answer}");
        assert_eq!(answer["error"]["code"], json!(status), "{what}: {answer}");
    }
}

async fn suite() -> (Served, ContextId, Value) {
    let served = serve(ServerConfig {
        dev_routes: true,
        ..with_metrics()
    })
    .await;
    let context = served.kv_context();
    let set = served
        .rpc(
            "mutate",
            &context,
            "set",
            json!({"key": "kept", "value": "v"}),
        )
        .await;
    assert!(set["result"].is_object(), "{set}");
    let before = digest(&served.node);
    (served, context, before)
}

#[tokio::test]
async fn bad_bodies_on_every_route_get_typed_errors_and_change_nothing() {
    let (served, _context, before) = suite().await;
    for (method, path) in BODY_ROUTES {
        for (what, body) in bad_bodies() {
            let (status, answer) = served.as_admin(method, path, body).await;
            let optional = *path == "/admin-api/request-challenge";
            assert_answered(
                &format!("{method} {path} with {what}"),
                status,
                &answer,
                optional,
            );
        }
    }
    assert_eq!(digest(&served.node), before);
    let health = served
        .as_admin("GET", "/admin-api/health", Vec::new())
        .await;
    assert_eq!(health.0, 200);
}

#[tokio::test]
async fn hostile_ids_in_paths_get_typed_errors_and_change_nothing() {
    let (served, _context, before) = suite().await;
    for (method, pattern) in ID_ROUTES {
        for id in BAD_IDS {
            let path = pattern.replace("{id}", id);
            let (status, answer) = served.as_admin(method, &path, Vec::new()).await;
            let idempotent = *pattern == "/admin-api/contexts/{id}" && *method == "DELETE";
            assert_answered(&format!("{method} {path}"), status, &answer, idempotent);
        }
    }
    assert_eq!(digest(&served.node), before);
}

#[tokio::test]
async fn hostile_json_rpc_calls_get_typed_errors_and_commit_nothing() {
    let (served, context, before) = suite().await;
    let long = "m".repeat(10_000);
    let deep = (0..100).fold(json!(1), |inner, _| json!([inner]));
    let methods = [
        "init",
        "__calimero_sync_next",
        "nosuch",
        "",
        "no\u{0}pe",
        &long,
    ];
    let args = [
        json!("a string"),
        json!([]),
        json!(1e308),
        json!(null),
        deep,
        json!({"key": 7, "value": {"nested": []}}),
        json!({"key": "k", "value": "x".repeat(600 * 1024)}),
    ];
    for call in ["query", "mutate", "execute"] {
        for method in methods {
            let answer = served.rpc(call, &context, method, json!({})).await;
            assert!(
                answer["error"]["type"].is_string(),
                "{call} {method:.20}: {answer}"
            );
        }
        for args in &args {
            let answer = served.rpc(call, &context, "set", args.clone()).await;
            assert!(
                answer["error"]["type"].is_string(),
                "{call} set {:.60}: {answer}",
                args.to_string()
            );
        }
    }
    for (what, params) in [
        (
            "bad context id",
            json!({"contextId": "0OIl", "method": "len", "argsJson": {}}),
        ),
        (
            "unknown context",
            json!({"contextId": ContextId::from_bytes([9; 32]), "method": "len", "argsJson": {}}),
        ),
        (
            "bad executor",
            json!({"contextId": context, "method": "len", "argsJson": {}, "executorPublicKey": "zz"}),
        ),
        ("no params", json!(null)),
    ] {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "mutate", "params": params});
        let (status, answer) = served
            .as_admin("POST", "/jsonrpc", body.to_string().into_bytes())
            .await;
        assert_typed(what, status, &answer);
    }
    assert_eq!(digest(&served.node), before);
    let len = served.rpc("query", &context, "len", json!({})).await;
    assert_eq!(len["result"]["output"], 1, "{len}");
}

#[tokio::test]
async fn hostile_websocket_requests_get_error_frames_and_the_session_goes_on() {
    let (served, context, before) = suite().await;
    let mut client = ws::connect(&format!("ws://{}/ws", served.address)).await;
    for (what, body) in bad_bodies() {
        if body.len() > 64 * 1024 {
            continue; // Past the message limit the session ends: tested in server-ws.
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        ws::send_text(&mut client, &text).await;
        let reply = ws::next_json(&mut client).await;
        assert!(reply["error"]["type"].is_string(), "{what}: {reply}");
    }
    for request in [
        json!({"id": 1, "method": "subscribe", "params": {"contextIds": ["0OIl"]}}),
        json!({"id": 2, "method": "subscribe", "params": {"contextIds": [context], "since": {"x": 1}}}),
        json!({"id": 3, "method": "subscribe", "params": {"contextIds": [context], "since": {context.to_string(): -1}}}),
        json!({"id": 4, "method": "launch", "params": {}}),
        json!({"id": u64::MAX, "method": "unsubscribe"}),
    ] {
        ws::send(&mut client, request.clone()).await;
        let reply = ws::next_json(&mut client).await;
        assert!(reply["error"]["type"].is_string(), "{request}: {reply}");
    }
    ws::send(
        &mut client,
        json!({"id": 9, "method": "subscribe", "params": {"contextIds": [context]}}),
    )
    .await;
    assert_eq!(
        ws::next_json(&mut client).await,
        json!({"id": 9, "result": {"contextIds": [context]}})
    );
    assert_eq!(digest(&served.node), before);
}

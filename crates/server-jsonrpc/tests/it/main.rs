//! Integration tests of `/jsonrpc` over real HTTP on loopback against a real
//! node, authenticated with real client-key signatures and tokens.

use node::{Node, NodeConfig};
use node_primitives::ContextId;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server_auth::{AuthConfig, Authenticator};
use server_jsonrpc::{JsonRpcState, router};
use tempfile::TempDir;
use test_utils::wallet::{ClientKey, now_ms as now};

/// Methods that fail in each way the protocol names; `echo`, which returns
/// its arguments' bytes as its value; and `deep`, which returns arrays
/// nested past what a JSON value may nest.
const ERRORS_APP: &str = r#"
(module
  (import "env" "input" (func $input (param i64)))
  (import "env" "register_len" (func $register_len (param i64) (result i64)))
  (import "env" "read_register" (func $read_register (param i64 i64) (result i32)))
  (import "env" "value_return" (func $value_return (param i64)))
  (import "env" "commit" (func $commit (param i64 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "rootrootrootrootrootrootrootrootart\22plain failure\22abc\ff")
  (data (i32.const 6000) "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]")
  (func $buf (param $at i32) (param $ptr i64) (param $len i64)
    (i64.store (local.get $at) (local.get $ptr))
    (i64.store offset=8 (local.get $at) (local.get $len)))
  (func (export "init")
    (call $buf (i32.const 500) (i64.const 0) (i64.const 32))
    (call $buf (i32.const 516) (i64.const 32) (i64.const 3))
    (call $commit (i64.const 500) (i64.const 516)))
  (func $return (param $tag i64) (param $ptr i64) (param $len i64)
    (i64.store (i32.const 1000) (local.get $tag))
    (call $buf (i32.const 1008) (local.get $ptr) (local.get $len))
    (call $value_return (i64.const 1000)))
  (func (export "fail") (call $return (i64.const 1) (i64.const 35) (i64.const 15)))
  (func (export "not_json") (call $return (i64.const 0) (i64.const 50) (i64.const 3)))
  (func (export "not_utf8") (call $return (i64.const 0) (i64.const 53) (i64.const 1)))
  (func (export "deep") (call $return (i64.const 0) (i64.const 6000) (i64.const 260)))
  (func (export "echo") (local $len i64)
    (call $input (i64.const 0))
    (local.set $len (call $register_len (i64.const 0)))
    (call $buf (i32.const 2000) (i64.const 4096) (local.get $len))
    (drop (call $read_register (i64.const 0) (i64.const 2000)))
    (call $return (i64.const 0) (i64.const 4096) (local.get $len)))
  (func (export "spin") (local $n i64)
    (local.set $n (i64.const 400000000))
    (loop $again
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $again (i64.gt_s (local.get $n) (i64.const 0)))))
)"#;

struct Served {
    url: String,
    node: Node,
    auth: Authenticator,
    http: reqwest::Client,
    /// The administrator's client key.
    client: ClientKey,
    _home: TempDir,
}

async fn serve() -> Served {
    serve_with(NodeConfig::default(), false).await
}

async fn serve_with(config: NodeConfig, dev_route: bool) -> Served {
    let home = tempfile::tempdir().expect("temp dir");
    let node = Node::open(home.path().join("node.redb"), config).expect("node");
    let auth = server_admin::load_authenticator(&node, AuthConfig::default()).expect("auth");
    let client = test_utils::wallet::log_in(&auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = router(JsonRpcState::new(node.clone(), auth.clone()).with_dev_route(dev_route));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Served {
        url: format!("http://{address}/jsonrpc"),
        node,
        auth,
        http: reqwest::Client::new(),
        client,
        _home: home,
    }
}

impl Served {
    /// The administrator's auth headers for one call (a header set is used once).
    fn headers(&self) -> Vec<(String, String)> {
        self.client
            .auth_headers(self.auth.identity().public_key(), "POST", "/jsonrpc", None)
    }

    async fn raw(&self, body: String, headers: &[(String, String)]) -> (StatusCode, Value) {
        self.raw_at(&self.url, body, headers).await
    }

    async fn raw_at(
        &self,
        url: &str,
        body: String,
        headers: &[(String, String)],
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn rpc(&self, request: Value) -> Value {
        let (status, body) = self.raw(request.to_string(), &self.headers()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    fn context(&self, wasm: &[u8]) -> ContextId {
        let app = self
            .node
            .install_application(wasm, "test", b"")
            .expect("installs");
        self.node
            .create_context(&app.id, b"")
            .expect("context")
            .0
            .id
    }
}

fn request(id: Value, method: &str, context: &ContextId, name: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method,
           "params": {"contextId": context, "method": name, "argsJson": args}})
}

#[tokio::test]
async fn query_mutate_and_execute_against_kv_store() {
    let served = serve().await;
    let context = served.context(&test_utils::built_app("kv-store"));

    let set = served
        .rpc(request(
            json!(7),
            "mutate",
            &context,
            "set",
            json!({"key": "a", "value": "1"}),
        ))
        .await;
    assert_eq!(set["id"], json!(7));
    assert_eq!(set["result"]["output"], Value::Null);
    assert_eq!(set["result"]["eventSeq"], json!(2));
    assert!(set["result"]["rootHash"].is_string());
    assert!(set.get("error").is_none());

    let set = served
        .rpc(request(
            json!("req-2"),
            "execute",
            &context,
            "set",
            json!({"key": "b", "value": "2"}),
        ))
        .await;
    assert_eq!(
        (set["id"].clone(), set["result"]["eventSeq"].clone()),
        (json!("req-2"), json!(3))
    );
    let mut aliased = request(
        json!(3),
        "execute",
        &context,
        "set",
        json!({"key": "c", "value": "{alice}"}),
    );
    aliased["params"]["substitute"] = json!([]);
    let done = served.rpc(aliased.clone()).await;
    assert_eq!(
        done["result"]["eventSeq"],
        json!(4),
        "an empty list: {done}"
    );
    aliased["params"]["substitute"] = json!(["alice"]);
    let refused = served.rpc(aliased).await;
    assert_eq!(refused["error"]["type"], "ParseError", "{refused}");
    assert!(
        refused["error"]["data"]
            .as_str()
            .is_some_and(|text| text.contains("alice")),
        "{refused}"
    );

    let entries = served
        .rpc(request(
            Value::Null,
            "query",
            &context,
            "entries",
            json!({}),
        ))
        .await;
    assert_eq!(entries["id"], Value::Null);
    assert_eq!(
        entries["result"],
        json!({"output": {"a": "1", "b": "2", "c": "{alice}"}})
    );
    let without_id = json!({"jsonrpc": "2.0", "method": "query",
        "params": {"contextId": context, "method": "get", "argsJson": {"key": "a"}}});
    let got = served.rpc(without_id).await;
    assert_eq!(
        (got["id"].clone(), got["result"]["output"].clone()),
        (Value::Null, json!("1"))
    );
}

#[tokio::test]
async fn every_error_type_is_reachable() {
    let served = serve().await;
    let kv = served.context(&test_utils::built_app("kv-store"));
    let errors = served.context(&wat::parse_str(ERRORS_APP).expect("wat"));

    let (status, body) = served.raw("{not json".into(), &served.headers()).await;
    assert_eq!(
        (status, body["error"]["type"].clone()),
        (StatusCode::OK, json!("ParseError"))
    );
    let unknown = served
        .rpc(request(json!(1), "exec", &kv, "len", json!({})))
        .await;
    assert_eq!(
        (unknown["id"].clone(), unknown["error"]["type"].clone()),
        (json!(1), json!("ParseError"))
    );
    let batch = served
        .rpc(json!([request(json!(2), "query", &kv, "len", json!({}))]))
        .await;
    assert_eq!(batch["error"]["type"], "ParseError");
    assert!(
        batch["error"]["data"]
            .as_str()
            .expect("text")
            .contains("batch")
    );
    let bad_id = served
        .rpc(json!({"jsonrpc": "2.0", "id": 3, "method": "query",
        "params": {"contextId": "0OIl", "method": "len", "argsJson": {}}}))
        .await;
    assert_eq!(bad_id["error"]["type"], "ParseError");

    let missing = ContextId::from_bytes([9; 32]);
    let not_found = served
        .rpc(request(json!(4), "query", &missing, "len", json!({})))
        .await;
    assert_eq!(
        not_found["error"],
        json!({"type": "CallError", "data": {"type": "ContextNotFound", "data": {"context_id": missing}}})
    );

    let no_method = served
        .rpc(request(json!(5), "query", &kv, "nosuch", json!({})))
        .await;
    assert_eq!(no_method["error"]["type"], "FunctionCallError");
    assert!(
        no_method["error"]["data"]
            .as_str()
            .expect("text")
            .contains("not found")
    );
    let panicked = served
        .rpc(request(json!(6), "query", &kv, "get", json!({"wrong": 1})))
        .await;
    assert!(
        panicked["error"]["data"]
            .as_str()
            .expect("text")
            .starts_with("guest panicked: Failed to deserialize input")
    );

    let failed = served
        .rpc(request(json!(7), "mutate", &errors, "fail", json!({})))
        .await;
    assert_eq!(failed["error"]["type"], "FunctionCallError");
    assert_eq!(failed["error"]["payload"], "plain failure");
    let not_json = served
        .rpc(request(json!(8), "query", &errors, "not_json", json!({})))
        .await;
    assert_eq!(not_json["error"]["type"], "SerdeError");
    assert!(not_json["error"]["data"]["message"].is_string());
    let not_utf8 = served
        .rpc(request(json!(9), "query", &errors, "not_utf8", json!({})))
        .await;
    assert_eq!(
        not_utf8["error"],
        json!({"type": "InternalError", "data": {}})
    );
    let reserved = served
        .rpc(request(json!(10), "mutate", &kv, "init", json!({})))
        .await;
    assert_eq!(reserved["error"]["type"], "FunctionCallError");

    let (members, _) = served
        .node
        .create_context(&served.node.applications().expect("apps")[0].id, b"")
        .expect("context");
    let token = served
        .auth
        .issue_tokens(
            &served.client.public_key(),
            members.id,
            members.members[0],
            now(),
        )
        .expect("tokens")
        .access_token;
    let bearer = vec![("authorization".to_owned(), format!("Bearer {token}"))];
    let (status, body) = served
        .raw(
            request(json!(11), "query", &kv, "len", json!({})).to_string(),
            &bearer,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["error"]["data"]["type"], "Unauthorized",
        "a token bound to one context calls another"
    );
}

#[tokio::test]
async fn auth_and_size_limits() {
    let served = serve().await;
    let kv = served.context(&test_utils::built_app("kv-store"));
    let call = request(json!(1), "query", &kv, "len", json!({})).to_string();
    let (status, body) = served.raw(call.clone(), &[]).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!(401))
    );
    let stranger = ClientKey::from_seed_byte(0x09).auth_headers(
        served.auth.identity().public_key(),
        "POST",
        "/jsonrpc",
        None,
    );
    let (status, _) = served.raw(call.clone(), &stranger).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let member = served
        .node
        .context(&kv)
        .expect("read")
        .expect("exists")
        .members[0];
    let token = served
        .auth
        .issue_tokens(&served.client.public_key(), kv, member, now())
        .expect("tokens")
        .access_token;
    let bearer = vec![("authorization".to_owned(), format!("Bearer {token}"))];
    let (status, body) = served.raw(call.clone(), &bearer).await;
    assert_eq!(
        (status, body["result"]["output"].clone()),
        (StatusCode::OK, json!(0))
    );
    // An access token past its hour: the text client SDKs refresh on.
    let stale = served
        .auth
        .issue_tokens(
            &served.client.public_key(),
            kv,
            member,
            now() - 2 * 60 * 60 * 1000,
        )
        .expect("tokens")
        .access_token;
    let bearer = vec![("authorization".to_owned(), format!("Bearer {stale}"))];
    let (status, body) = served.raw(call, &bearer).await;
    assert_eq!(
        (status, body["error"]["message"].clone()),
        (StatusCode::UNAUTHORIZED, json!("Token expired."))
    );

    let huge = request(
        json!(2),
        "mutate",
        &kv,
        "set",
        json!({"key": "k", "value": "v".repeat(2 * 1024 * 1024)}),
    );
    let (status, body) = served.raw(huge.to_string(), &served.headers()).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::PAYLOAD_TOO_LARGE, json!(413))
    );
}

#[tokio::test]
async fn calls_past_the_admission_queue_get_503_with_retry_after() {
    let served = serve_with(
        NodeConfig {
            max_concurrent_calls: 1,
            max_queued_calls: 0,
            ..NodeConfig::default()
        },
        false,
    )
    .await;
    let errors = served.context(&wat::parse_str(ERRORS_APP).expect("wat"));
    let slow = request(json!(1), "query", &errors, "spin", json!({})).to_string();
    let busy = {
        let (http, url, headers, body) = (
            served.http.clone(),
            served.url.clone(),
            served.headers(),
            slow.clone(),
        );
        tokio::spawn(async move {
            let mut request = http
                .post(url)
                .header("content-type", "application/json")
                .body(body);
            for (name, value) in &headers {
                request = request.header(name.as_str(), value.as_str());
            }
            request.send().await.expect("sent").status()
        })
    };
    // While the spinning call holds the only slot, others are turned away;
    // poll until that happens (the spin takes far longer than a round trip).
    let mut refused = None;
    for _ in 0..200 {
        let mut call = served
            .http
            .post(&served.url)
            .header("content-type", "application/json")
            .body(request(json!(2), "query", &errors, "not_json", json!({})).to_string());
        for (name, value) in &served.headers() {
            call = call.header(name.as_str(), value.as_str());
        }
        let response = call.send().await.expect("sent");
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            let retry_after = response.headers().get("retry-after").cloned();
            assert_eq!(retry_after.expect("retry-after").to_str().ok(), Some("1"));
            refused = Some(response.json::<Value>().await.expect("JSON body"));
            break;
        }
        if busy.is_finished() {
            break;
        }
    }
    let refused = refused.expect("a call was refused while the slot was taken");
    assert_eq!(refused["error"]["code"], 503);
    assert_eq!(busy.await.expect("joined"), StatusCode::OK);
}

#[tokio::test]
async fn the_dev_route_needs_no_credentials_and_is_served_only_when_asked() {
    let served = serve_with(NodeConfig::default(), true).await;
    let kv = served.context(&test_utils::built_app("kv-store"));
    let dev = format!("{}/dev", served.url);
    let set = request(
        json!(1),
        "mutate",
        &kv,
        "set",
        json!({"key": "k", "value": "v"}),
    );
    let (status, body) = served.raw_at(&dev, set.to_string(), &[]).await;
    assert_eq!(
        (
            status,
            body["id"].clone(),
            body["result"]["eventSeq"].clone()
        ),
        (StatusCode::OK, json!(1), json!(2)),
        "{body}"
    );
    let get = request(json!(2), "query", &kv, "get", json!({"key": "k"})).to_string();
    let (status, body) = served.raw_at(&dev, get.clone(), &[]).await;
    assert_eq!(
        (status, body["result"]["output"].clone()),
        (StatusCode::OK, json!("v"))
    );
    let (status, _) = served.raw(get.clone(), &[]).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "/jsonrpc still needs credentials"
    );

    let closed = serve().await;
    let (status, _) = closed
        .raw_at(&format!("{}/dev", closed.url), get, &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Arguments reach the application as the JSON text they came as, and its
/// return value goes back the same way: a number past `u64` keeps its digits.
#[tokio::test]
async fn arguments_and_return_values_keep_every_digit() {
    let served = serve().await;
    let context = served.context(&wat::parse_str(ERRORS_APP).expect("wat"));
    let args = r#"{"amount":340282366920938463463374607431768211455,"parts":[1.5,"x",null]}"#;
    for (method, args, output) in [
        ("query", format!(r#","argsJson":{args}"#), args),
        ("mutate", format!(r#","argsJson":{args}"#), args),
        ("query", String::new(), "null"),
        ("query", r#","argsJson":null"#.to_owned(), "null"),
    ] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{"contextId":"{context}","method":"echo"{args}}}}}"#
        );
        let mut request = served
            .http
            .post(&served.url)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in served.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.expect("body");
        assert!(
            text.starts_with(&format!(
                r#"{{"jsonrpc":"2.0","id":1,"result":{{"output":{output}"#
            )),
            "{method} {args}: {text}"
        );
    }
    // What a JSON value may not be is refused both ways, as it was when
    // arguments and return values were parsed.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for args in [deep.as_str(), r#""\ud800""#, "1e400"] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"query","params":{{"contextId":"{context}","method":"echo","argsJson":{args}}}}}"#
        );
        let (status, answer) = served.raw(body, &served.headers()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["error"]["type"], "ParseError", "{args}: {answer}");
    }
    let answer = served
        .rpc(request(json!(3), "query", &context, "deep", json!({})))
        .await;
    assert_eq!(answer["error"]["type"], "SerdeError", "{answer}");
}

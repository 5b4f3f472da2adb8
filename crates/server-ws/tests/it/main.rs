//! Integration tests of `/ws` over real WebSocket connections on loopback,
//! with events from real mutations of the example apps.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use node::{Node, NodeConfig};
use node_primitives::ContextId;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use server_ws::{WsConfig, WsState, router};
use tempfile::TempDir;
use test_utils::ws::{connect, next_json as next, send};
use tokio_tungstenite::tungstenite::Message;

mod limits;

struct Served {
    url: String,
    node: Node,
    auth: server_auth::Authenticator,
    state: WsState,
    _home: TempDir,
}

async fn serve(node_config: NodeConfig, config: WsConfig) -> Served {
    let home = tempfile::tempdir().expect("temp dir");
    let node = Node::open(home.path().join("node.redb"), node_config).expect("node");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let auth =
        server_admin::load_authenticator(&node, server_auth::AuthConfig::default()).expect("auth");
    let state = WsState::new(node.clone(), auth.clone(), config);
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Served {
        url: format!("ws://{address}/ws"),
        node,
        auth,
        state,
        _home: home,
    }
}

fn kv(node: &Node) -> ContextId {
    let app = node
        .install_application(&test_utils::built_app("kv-store"), "test", b"")
        .expect("installs");
    node.create_context(&app.id, b"").expect("context").0.id
}

async fn set(node: &Node, context: ContextId, key: String) {
    let node = node.clone();
    tokio::task::spawn_blocking(move || {
        node.mutate(
            &context,
            "set",
            format!(r#"{{"key":"{key}","value":"v"}}"#).as_bytes(),
            None,
        )
        .expect("set")
    })
    .await
    .expect("joined");
}

#[tokio::test]
async fn a_subscriber_sees_its_contexts_events_in_order_and_no_others() {
    let served = serve(NodeConfig::default(), WsConfig::default()).await;
    let (mine, other) = (kv(&served.node), kv(&served.node));
    let mut client = connect(&format!("{}?events=current", served.url)).await;
    send(
        &mut client,
        json!({"id": 17, "method": "subscribe", "params": {"contextIds": [mine]}}),
    )
    .await;
    assert_eq!(
        next(&mut client).await,
        json!({"id": 17, "result": {"contextIds": [mine]}})
    );

    let writers: Vec<_> = (0..10)
        .map(|i| {
            let node = served.node.clone();
            tokio::spawn(async move {
                set(&node, mine, format!("k{i}")).await;
                set(&node, other, format!("k{i}")).await;
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("joined");
    }
    let mut seqs = Vec::new();
    for _ in 0..10 {
        let mutation = next(&mut client).await;
        let execution = next(&mut client).await;
        assert_eq!(mutation["id"], Value::Null);
        assert_eq!(mutation["result"]["contextId"], json!(mine));
        assert_eq!(mutation["result"]["type"], "StateMutation");
        assert_eq!(execution["result"]["type"], "ExecutionEvent");
        assert_eq!(execution["result"]["data"]["events"][0]["kind"], "Inserted");
        seqs.push(mutation["result"]["seq"].as_u64().expect("seq"));
    }
    assert_eq!(seqs, (2..12).collect::<Vec<_>>());
    // A failed mutate publishes nothing; the next event is the next success.
    assert!(served.node.mutate(&mine, "set", b"{}", None).is_err());
    set(&served.node, mine, "last".into()).await;
    assert_eq!(next(&mut client).await["result"]["seq"], 12);
}

#[tokio::test]
async fn reconnecting_with_since_replays_exactly_what_was_missed() {
    let served = serve(NodeConfig::default(), WsConfig::default()).await;
    let context = kv(&served.node);
    let mut client = connect(&served.url).await;
    send(
        &mut client,
        json!({"id": 1, "method": "subscribe", "params": {"contextIds": [context]}}),
    )
    .await;
    next(&mut client).await;
    set(&served.node, context, "before".into()).await;
    let seen = next(&mut client).await;
    assert_eq!(seen["result"]["type"], "TransactionExecuted");
    let last_seen = seen["result"]["seq"].as_u64().expect("seq");
    next(&mut client).await; // its OutcomeEvent
    drop(client);

    for i in 0..100 {
        set(&served.node, context, format!("missed-{i}")).await;
    }
    let mut client = connect(&served.url).await;
    send(
        &mut client,
        json!({"id": 2, "method": "subscribe",
        "params": {"contextIds": [context], "since": {context.to_string(): last_seen}}}),
    )
    .await;
    assert_eq!(next(&mut client).await["id"], 2);
    let mut replayed = Vec::new();
    for _ in 0..100 {
        let executed = next(&mut client).await;
        assert_eq!(executed["result"]["type"], "TransactionExecuted");
        replayed.push(executed["result"]["seq"].as_u64().expect("seq"));
        assert_eq!(next(&mut client).await["result"]["type"], "OutcomeEvent");
    }
    assert_eq!(
        replayed,
        ((last_seen + 1)..=(last_seen + 100)).collect::<Vec<_>>()
    );
    set(&served.node, context, "live".into()).await;
    assert_eq!(
        next(&mut client).await["result"]["seq"],
        last_seen + 101,
        "then live, no duplicates"
    );
}

#[tokio::test]
async fn a_log_that_no_longer_reaches_back_gives_one_gap_first() {
    let served = serve(
        NodeConfig {
            retention: node::Retention {
                events: 5,
                ..node::Retention::default()
            },
            ..NodeConfig::default()
        },
        WsConfig::default(),
    )
    .await;
    let context = kv(&served.node);
    for i in 0..10 {
        set(&served.node, context, format!("k{i}")).await;
    }
    let mut client = connect(&format!("{}?events=current", served.url)).await;
    send(
        &mut client,
        json!({"id": 1, "method": "subscribe",
        "params": {"contextIds": [context], "since": {context.to_string(): 0}}}),
    )
    .await;
    next(&mut client).await;
    let gap = next(&mut client).await;
    assert_eq!(gap["result"]["type"], "Gap");
    assert_eq!(gap["result"]["data"], json!({"fromSeq": 1, "toSeq": 6}));
    assert_eq!(next(&mut client).await["result"]["seq"], 7);
}

#[tokio::test]
async fn malformed_frames_and_limits_get_typed_errors() {
    let served = serve(
        NodeConfig::default(),
        WsConfig {
            max_subscriptions: 2,
            max_connections: 2,
            ..WsConfig::default()
        },
    )
    .await;
    let mut client = connect(&served.url).await;
    client
        .send(Message::Text("{not json".into()))
        .await
        .expect("sent");
    assert_eq!(next(&mut client).await["error"]["type"], "ParseError");
    send(
        &mut client,
        json!({"id": 5, "method": "subscrib", "params": {"contextIds": []}}),
    )
    .await;
    let unknown = next(&mut client).await;
    assert_eq!(
        (unknown["id"].clone(), unknown["error"]["type"].clone()),
        (json!(5), json!("ParseError"))
    );
    let ids: Vec<ContextId> = (1..=3).map(|b| ContextId::from_bytes([b; 32])).collect();
    send(
        &mut client,
        json!({"id": 6, "method": "subscribe", "params": {"contextIds": ids}}),
    )
    .await;
    assert_eq!(next(&mut client).await["error"]["type"], "LimitExceeded");
    send(
        &mut client,
        json!({"id": 7, "method": "subscribe", "params": {"contextIds": &ids[..2]}}),
    )
    .await;
    assert_eq!(
        next(&mut client).await["result"]["contextIds"],
        json!(&ids[..2])
    );
    send(
        &mut client,
        json!({"id": 8, "method": "unsubscribe", "params": {"contextIds": [ids[0]]}}),
    )
    .await;
    assert_eq!(
        next(&mut client).await["result"]["contextIds"],
        json!([ids[0]])
    );

    let _second = connect(&served.url).await;
    let refused = tokio_tungstenite::connect_async(&served.url).await;
    assert!(refused.is_err(), "a third connection is refused");
    let refused = tokio_tungstenite::connect_async(format!("{}?events=v9", served.url)).await;
    assert!(refused.is_err(), "an unknown event generation is refused");
}

#[tokio::test]
async fn a_slow_reader_gets_a_gap_and_fast_readers_lose_nothing() {
    let served = serve(
        NodeConfig {
            event_bus_capacity: 64,
            ..NodeConfig::default()
        },
        // Patient with the slow reader: this test is about the bus, not
        // the send timeout.
        WsConfig {
            send_timeout: Duration::from_secs(600),
            ..WsConfig::default()
        },
    )
    .await;
    let context = kv(&served.node);
    let subscribe = json!({"id": 1, "method": "subscribe", "params": {"contextIds": [context]}});
    let mut slow = connect(&format!("{}?events=current", served.url)).await;
    send(&mut slow, subscribe.clone()).await;
    next(&mut slow).await;
    let mut fast = connect(&format!("{}?events=current", served.url)).await;
    send(&mut fast, subscribe).await;
    next(&mut fast).await;

    // Large events fill the slow reader's socket buffers, so its session falls
    // behind the bus; the fast reader reads as they come.
    let value = "x".repeat(15_000);
    let total = 600u64;
    let writer = {
        let node = served.node.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..total {
                let args = format!(r#"{{"key":"k{i}","value":"{value}"}}"#);
                node.mutate(&context, "set", args.as_bytes(), None)
                    .expect("set");
            }
        })
    };
    let mut fast_seqs = Vec::new();
    while fast_seqs.len() < total as usize {
        let frame = next(&mut fast).await;
        assert_ne!(
            frame["result"]["type"], "Gap",
            "the fast reader fell behind"
        );
        if frame["result"]["type"] == "StateMutation" {
            fast_seqs.push(frame["result"]["seq"].as_u64().expect("seq"));
        }
    }
    writer.await.expect("joined");
    assert_eq!(fast_seqs, (2..2 + total).collect::<Vec<_>>());

    let mut gap = None;
    for _ in 0..2 * total {
        let frame = next(&mut slow).await;
        if frame["result"]["type"] == "Gap" {
            gap = Some(frame);
            break;
        }
    }
    let gap = gap.expect("the slow reader was told what it missed");
    assert!(
        gap["result"]["data"]["toSeq"].as_u64().expect("to")
            >= gap["result"]["data"]["fromSeq"].as_u64().expect("from")
    );
}

#[tokio::test]
async fn credentials_are_required_when_configured() {
    let served = serve(
        NodeConfig::default(),
        WsConfig {
            require_auth: true,
            ..WsConfig::default()
        },
    )
    .await;
    let (mine, other) = (kv(&served.node), kv(&served.node));
    assert!(
        tokio_tungstenite::connect_async(&served.url).await.is_err(),
        "no credentials"
    );
    let member = served
        .node
        .context(&mine)
        .expect("read")
        .expect("exists")
        .members[0];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64;
    let admin = test_utils::wallet::log_in(&served.auth);
    let token = served
        .auth
        .issue_tokens(&admin.public_key(), mine, member, now)
        .expect("tokens")
        .access_token;
    assert!(
        tokio_tungstenite::connect_async(format!("{}?token=bad", served.url))
            .await
            .is_err()
    );
    let mut client = connect(&format!("{}?token={token}", served.url)).await;
    send(
        &mut client,
        json!({"id": 1, "method": "subscribe", "params": {"contextIds": [other]}}),
    )
    .await;
    assert_eq!(next(&mut client).await["error"]["type"], "Unauthorized");
    send(
        &mut client,
        json!({"id": 2, "method": "subscribe", "params": {"contextIds": [mine]}}),
    )
    .await;
    assert_eq!(
        next(&mut client).await["result"]["contextIds"],
        json!([mine])
    );
    // The key the token was minted under is deleted: the session ends at its
    // next request with 1008, and the token opens no new one.
    served
        .auth
        .delete_client_key(&admin.public_key())
        .expect("deleted");
    send(
        &mut client,
        json!({"id": 3, "method": "unsubscribe", "params": {"contextIds": [mine]}}),
    )
    .await;
    let closed = test_utils::ws::close_frame(&mut client).await;
    assert_eq!(u16::from(closed.code), 1008, "{closed:?}");
    assert!(
        tokio_tungstenite::connect_async(format!("{}?token={token}", served.url))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_peer_that_does_not_answer_pings_is_closed() {
    let served = serve(
        NodeConfig::default(),
        WsConfig {
            ping_interval: Duration::from_millis(100),
            ..WsConfig::default()
        },
    )
    .await;
    let mut registry = Registry::default();
    served.state.register_metrics(&mut registry);
    let mut client = connect(&served.url).await;
    // Not reading means not answering the server's pings; the server's own
    // count says when it gave up on this peer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        if text
            .lines()
            .any(|line| line == r#"ws_disconnects_total{reason="ping_timeout"} 1"#)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still open:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The connection is over: whatever is still buffered, then its end.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(frame) = client.next().await {
            if matches!(frame, Ok(Message::Close(_)) | Err(_)) {
                return;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the client sees the connection end");
}

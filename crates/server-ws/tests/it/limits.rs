//! What one connection may send and must take: message size, send timeout,
//! and replays longer than one read of the log.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use node::NodeConfig;
use prometheus_client::registry::Registry;
use serde_json::json;
use server_ws::WsConfig;
use test_utils::ws::{close_frame, connect, next_json as next, send, send_text};

use crate::{kv, serve, set};

/// Polls the endpoint's metrics until `line` appears.
async fn await_line(registry: &Registry, line: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
        if text.lines().any(|have| have == line) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {line:?} in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_oversized_message_closes_the_connection_with_1009() {
    let served = serve(
        NodeConfig::default(),
        WsConfig {
            max_message_bytes: 1024,
            ..WsConfig::default()
        },
    )
    .await;
    let mut client = connect(&served.url).await;
    send_text(&mut client, &"x".repeat(900)).await;
    assert_eq!(next(&mut client).await["error"]["type"], "ParseError");
    send_text(&mut client, &"x".repeat(4096)).await;
    let close = close_frame(&mut client).await;
    assert_eq!(u16::from(close.code), 1009);
    assert!(close.reason.contains("1024"), "{}", close.reason);
}

#[tokio::test]
async fn a_peer_that_does_not_take_its_events_is_closed_with_1013() {
    let served = serve(
        NodeConfig::default(),
        WsConfig {
            send_timeout: Duration::from_millis(200),
            ..WsConfig::default()
        },
    )
    .await;
    let mut registry = Registry::default();
    served.state.register_metrics(&mut registry);
    let context = kv(&served.node);
    let mut client = connect(&format!("{}?events=current", served.url)).await;
    send(
        &mut client,
        json!({"id": 1, "method": "subscribe", "params": {"contextIds": [context]}}),
    )
    .await;
    next(&mut client).await;
    // Large events until the session gives up on this reader, which reads nothing.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (node, stop) = (served.node.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            let value = "x".repeat(15_000);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < 5_000 {
                let args = format!(r#"{{"key":"k{i}","value":"{value}"}}"#);
                node.mutate(&context, "set", args.as_bytes(), None)
                    .expect("set");
                i += 1;
            }
        })
    };
    await_line(
        &registry,
        r#"ws_disconnects_total{reason="send_timeout"} 1"#,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("joined");
    // The reader finds the end of the connection after what was buffered.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(frame) = client.next().await {
            match frame {
                Ok(tokio_tungstenite::tungstenite::Message::Close(close)) => return close,
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the connection ends");
    if let Some(close) = ended {
        assert_eq!(u16::from(close.code), 1013);
    }
}

#[tokio::test]
async fn a_replay_longer_than_one_read_arrives_whole_and_in_order() {
    let served = serve(NodeConfig::default(), WsConfig::default()).await;
    let context = kv(&served.node);
    let total = 300u64;
    for i in 0..total {
        set(&served.node, context, format!("k{i}")).await;
    }
    let mut client = connect(&format!("{}?events=current", served.url)).await;
    send(
        &mut client,
        json!({"id": 1, "method": "subscribe",
        "params": {"contextIds": [context], "since": {context.to_string(): 1}}}),
    )
    .await;
    assert_eq!(next(&mut client).await["id"], 1);
    let mut seqs = Vec::new();
    while seqs.len() < total as usize {
        let frame = next(&mut client).await;
        assert_ne!(frame["result"]["type"], "Gap");
        if frame["result"]["type"] == "StateMutation" {
            seqs.push(frame["result"]["seq"].as_u64().expect("seq"));
        }
    }
    assert_eq!(seqs, (2..2 + total).collect::<Vec<_>>());
    // Then live events, none twice.
    assert_eq!(next(&mut client).await["result"]["type"], "ExecutionEvent");
    set(&served.node, context, "live".into()).await;
    let live = next(&mut client).await;
    assert_eq!(
        (
            live["result"]["type"].as_str(),
            live["result"]["seq"].as_u64()
        ),
        (Some("StateMutation"), Some(2 + total))
    );
}

//! Arbitrary bodies against every route that reads one: each gets a typed
//! answer (never a 5xx, never a hang), and the node serves on afterwards.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use server::ServerConfig;

use crate::{PATIENCE, serve, with_metrics};

/// The routes that parse a request body, reachable without credentials.
const ROUTES: &[&str] = &[
    "/jsonrpc/dev",
    "/jsonrpc",
    "/admin-api/dev/contexts",
    "/admin-api/request-challenge",
    "/admin-api/add-client-key",
    "/admin-api/refresh-jwt-token",
];

/// Keys the protocol uses, so generated objects often look almost right.
const KEYS: &[&str] = &[
    "jsonrpc",
    "id",
    "method",
    "params",
    "contextId",
    "argsJson",
    "executorPublicKey",
    "substitute",
    "applicationId",
    "initializationParams",
    "refreshToken",
    "key",
    "value",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        proptest::sample::select(KEYS).prop_map(str::to_owned),
                        "\\PC{0,8}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON-RPC call with each part either right or arbitrary.
fn call_like(context: String) -> impl Strategy<Value = Value> {
    let method = prop_oneof![
        proptest::sample::select(&["query", "mutate", "execute"][..]).prop_map(Value::from),
        json_value(),
    ];
    let app_method = prop_oneof![
        proptest::sample::select(&["get", "set", "entries", "len", "remove", "init"][..])
            .prop_map(Value::from),
        json_value(),
    ];
    let context = prop_oneof![Just(Value::from(context)), json_value()];
    (method, app_method, context, json_value(), json_value()).prop_map(
        |(method, app_method, context, args, id)| {
            json!({"jsonrpc": "2.0", "id": id, "method": method,
                   "params": {"contextId": context, "method": app_method, "argsJson": args}})
        },
    )
}

/// A body: an almost-right call, any JSON, or any bytes.
fn body(context: String) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        call_like(context).prop_map(|value| value.to_string().into_bytes()),
        json_value().prop_map(|value| value.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..200),
    ]
}

#[test]
fn arbitrary_bodies_get_typed_answers() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let served = runtime.block_on(serve(ServerConfig {
        dev_routes: true,
        ..with_metrics()
    }));
    let context = served.kv_context().to_string();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let cases = (proptest::sample::select(ROUTES), body(context.clone()));
    runner
        .run(&cases, |(route, body)| {
            let (status, answer) = runtime.block_on(async {
                let response = tokio::time::timeout(
                    PATIENCE,
                    served
                        .http
                        .post(served.url(route))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send(),
                )
                .await
                .expect("an answer in time")
                .expect("an answer");
                let status = response.status().as_u16();
                (status, response.bytes().await.expect("a body"))
            });
            prop_assert!(status < 500, "{route}: {status} {answer:?}");
            let answer: Value = serde_json::from_slice(&answer).map_err(|err| {
                TestCaseError::fail(format!("{route}: not JSON ({err}): {answer:?}"))
            })?;
            if status == 200 && route.starts_with("/jsonrpc") {
                let typed = answer.get("result").is_some() || answer["error"]["type"].is_string();
                prop_assert!(typed, "{route}: {answer}");
            } else if status >= 400 {
                prop_assert_eq!(
                    &answer["error"]["code"],
                    &json!(status),
                    "{}: {}",
                    route,
                    answer
                );
            }
            Ok(())
        })
        .expect("every body got a typed answer");

    // The node still answers, and the kv-store context still works.
    let answer = runtime.block_on(async {
        served
            .http
            .post(served.url("/jsonrpc/dev"))
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "query",
                "params": {"contextId": context, "method": "len", "argsJson": {}}}))
            .send()
            .await
            .expect("an answer")
            .json::<Value>()
            .await
            .expect("JSON")
    });
    assert!(answer["result"]["output"].is_u64(), "{answer}");
}

/// A WebSocket request with each part either right or arbitrary.
fn frame_like(context: String) -> impl Strategy<Value = String> {
    let method = prop_oneof![
        proptest::sample::select(&["subscribe", "unsubscribe"][..]).prop_map(Value::from),
        json_value(),
    ];
    let contexts = prop_oneof![Just(json!([context.clone()])), json_value()];
    let since = prop_oneof![
        any::<u64>().prop_map(move |seq| json!({ context.clone(): seq })),
        json_value(),
    ];
    let request =
        (json_value(), method, contexts, since).prop_map(|(id, method, contexts, since)| {
            json!({"id": id, "method": method, "params": {"contextIds": contexts, "since": since}})
                .to_string()
        });
    prop_oneof![
        request,
        json_value().prop_map(|value| value.to_string()),
        "\\PC{0,120}",
    ]
}

#[test]
fn arbitrary_websocket_frames_get_typed_answers() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let served = runtime.block_on(serve(with_metrics()));
    let context = served.kv_context().to_string();
    let client = tokio::sync::Mutex::new(runtime.block_on(test_utils::ws::connect(&format!(
        "ws://{}/ws",
        served.address
    ))));
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&frame_like(context.clone()), |frame| {
            let answer = runtime.block_on(async {
                let mut client = client.lock().await;
                test_utils::ws::send_text(&mut client, &frame).await;
                test_utils::ws::next_json(&mut client).await
            });
            // Replies, replayed events and errors: every frame is typed.
            let typed = answer.get("result").is_some() || answer["error"]["type"].is_string();
            prop_assert!(typed, "{frame} -> {answer}");
            Ok(())
        })
        .expect("every frame got a typed answer");

    // The session still works: a valid subscribe gets its reply (after any
    // frames still queued from replays).
    let mut client = client.into_inner();
    runtime.block_on(async {
        test_utils::ws::send(
            &mut client,
            json!({"id": 424_242, "method": "subscribe", "params": {"contextIds": [context]}}),
        )
        .await;
        loop {
            let answer = test_utils::ws::next_json(&mut client).await;
            if answer["id"] == 424_242 {
                assert_eq!(
                    answer["result"]["contextIds"][0],
                    context.as_str(),
                    "{answer}"
                );
                break;
            }
        }
    });
}

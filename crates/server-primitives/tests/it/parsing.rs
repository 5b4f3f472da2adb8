//! Parsing rules that fixtures alone do not show: leniency, defaults, and the
//! exact bytes that get signed.

use serde_json::json;
use server_primitives::auth::{
    AddPublicKeyRequest, ChallengeContent, SignatureMetadata, WalletSignedMessage, WalletType,
};
use server_primitives::jsonrpc::{self, RequestCall, RequestId};
use server_primitives::ws::{self, EventGeneration};
use server_primitives::{ContextId, admin};

const CTX: &str = "9YxHobM9hKQFzHHjg3FDtXmCreJWS7Epe1gG1t4jodi";

#[test]
fn missing_jsonrpc_id_means_null() {
    let request: jsonrpc::Request = serde_json::from_value(json!({
        "jsonrpc": "2.0", "method": "query",
        "params": {"contextId": CTX, "method": "len", "argsJson": {}}
    }))
    .expect("parses");
    assert_eq!(request.id, RequestId::Null);
    assert!(matches!(request.call, RequestCall::Query(_)));
}

#[test]
fn request_ids_keep_their_json_type() {
    for id in [json!(7), json!("7"), json!(null)] {
        let request: jsonrpc::Request = serde_json::from_value(json!({
            "jsonrpc": "2.0", "id": id, "method": "mutate",
            "params": {"contextId": CTX, "method": "set", "argsJson": {}}
        }))
        .expect("parses");
        assert_eq!(serde_json::to_value(&request.id).expect("serializes"), id);
    }
    // Read from raw text too (the server's path), and refused when the id is
    // none of null, a non-negative integer or a string.
    let text = format!(
        r#"{{"jsonrpc":"2.0","id":18446744073709551615,"method":"query","params":{{"contextId":"{CTX}","method":"len"}}}}"#
    );
    let request: jsonrpc::Request = serde_json::from_str(&text).expect("parses");
    assert_eq!(request.id, RequestId::Number(u64::MAX));
    for id in [
        json!(-1),
        json!(1.5),
        json!([1]),
        json!({"id": 1}),
        json!(true),
    ] {
        let refused = serde_json::from_value::<jsonrpc::Request>(json!({
            "jsonrpc": "2.0", "id": id, "method": "query",
            "params": {"contextId": CTX, "method": "len", "argsJson": {}}
        }));
        assert!(refused.is_err(), "{id}");
    }
}

#[test]
fn unknown_method_and_wrong_version_are_refused() {
    let unknown = serde_json::from_value::<jsonrpc::Request>(json!({
        "jsonrpc": "2.0", "id": 1, "method": "exec",
        "params": {"contextId": CTX, "method": "x", "argsJson": {}}
    }));
    assert!(
        unknown
            .expect_err("unknown method")
            .to_string()
            .contains("exec")
    );
    let old = serde_json::from_value::<jsonrpc::Request>(json!({
        "jsonrpc": "1.0", "id": 1, "method": "query",
        "params": {"contextId": CTX, "method": "x", "argsJson": {}}
    }));
    assert!(old.is_err());
}

#[test]
fn unknown_fields_are_ignored() {
    let request: admin::CreateContextRequest = serde_json::from_value(json!({
        "applicationId": "BsEBDcxMZ2XQDiAV2m2apuScB1ohYNogMzd3SKAadkkS",
        "initArgs": {"ignored": true}
    }))
    .expect("parses");
    assert!(request.initialization_params.is_empty());
}

#[test]
fn lowercase_wallet_type_is_refused() {
    assert!(serde_json::from_value::<WalletType>(json!({"type": "near"})).is_err());
    assert_eq!(
        serde_json::from_value::<WalletType>(json!({"type": "NEAR"})).expect("parses"),
        WalletType::Near { network_id: None }
    );
}

#[test]
fn eth_login_metadata_is_an_empty_object() {
    let text = include_str!("../fixtures/admin/add_client_key_eth.json");
    let request: AddPublicKeyRequest = serde_json::from_str(text).expect("parses");
    assert!(matches!(
        request.payload.metadata,
        SignatureMetadata::Eth(_)
    ));
    let text = include_str!("../fixtures/admin/add_client_key_near.json");
    let request: AddPublicKeyRequest = serde_json::from_str(text).expect("parses");
    assert!(matches!(
        request.payload.metadata,
        SignatureMetadata::Near(_)
    ));
}

#[test]
fn signed_texts_are_compact_json_in_protocol_order() {
    let content = ChallengeContent {
        nonce: "bm9uY2U=".to_owned(),
        context_id: None,
        timestamp: 1_721_300_000,
    };
    assert_eq!(
        serde_json::to_string(&content).expect("serializes"),
        r#"{"nonce":"bm9uY2U=","contextId":null,"timestamp":1721300000}"#
    );
    let message = WalletSignedMessage {
        node_signature: "c2ln".to_owned(),
        public_key: "4XTTM".to_owned(),
    };
    assert_eq!(
        serde_json::to_string(&message).expect("serializes"),
        r#"{"nodeSignature":"c2ln","publicKey":"4XTTM"}"#
    );
}

#[test]
fn pushed_events_always_carry_a_null_id() {
    let event = ws::Response {
        id: None,
        body: ws::ResponseBody::Result(ws::ResponseResult::Event(ws::ContextEvent {
            context_id: CTX.parse::<ContextId>().expect("valid id"),
            seq: Some(1),
            payload: ws::EventPayload::ExecutionEvent { events: vec![] },
        })),
    };
    let value = serde_json::to_value(&event).expect("serializes");
    assert_eq!(value["id"], json!(null));
    assert!(value.get("error").is_none());
}

#[test]
fn ws_string_ids_are_refused() {
    let frame = json!({"id": "1", "method": "subscribe", "params": {"contextIds": []}});
    assert!(serde_json::from_value::<ws::Request>(frame).is_err());
}

#[test]
fn event_generation_parses_from_query_values() {
    assert_eq!("seed".parse(), Ok(EventGeneration::Seed));
    assert_eq!("current".parse(), Ok(EventGeneration::Current));
    assert_eq!("all".parse(), Ok(EventGeneration::All));
    let err = "v2".parse::<EventGeneration>().expect_err("unknown");
    assert!(err.to_string().contains("v2"));
}

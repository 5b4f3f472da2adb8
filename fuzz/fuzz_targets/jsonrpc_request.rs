//! A `/jsonrpc` body, decoded the way `server-jsonrpc`'s `answer` does:
//! JSON value first, batch arrays refused, the id pulled out on its own for
//! error replies, then the value as a `server_primitives::jsonrpc::Request`.
//!
//! Properties: no panic; the separately extracted id equals the request's
//! id; a decoded request encodes and decodes to the same request (floats in
//! `argsJson` compared to within a few ULPs); decoding straight from the
//! bytes also round-trips.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use server_primitives::jsonrpc::{Request, RequestCall, RequestId};

/// decode → encode → decode gives an equivalent request.
fn assert_round_trips(request: &Request) {
    let encoded = serde_json::to_vec(request).expect("a request encodes");
    let again: Request = serde_json::from_slice(&encoded).unwrap_or_else(|err| {
        panic!(
            "a request does not decode its own encoding {:?}: {err}",
            String::from_utf8_lossy(&encoded)
        )
    });
    let (first, second) = (
        serde_json::to_value(request).expect("encodes"),
        serde_json::to_value(&again).expect("encodes"),
    );
    assert!(
        fuzz::json_equivalent(&first, &second),
        "round trip changed the request: {first} vs {second}"
    );
}

fuzz_target!(|data: &[u8]| {
    // As `answer` in crates/server-jsonrpc/src/call.rs.
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if !value.is_array() {
        let id: RequestId = value
            .get("id")
            .and_then(|id| serde_json::from_value(id.clone()).ok())
            .unwrap_or_default();
        if let Ok(request) = serde_json::from_value::<Request>(value) {
            assert_eq!(id, request.id, "the id of an error reply is the request's");
            let (RequestCall::Query(params)
            | RequestCall::Mutate(params)
            | RequestCall::Execute(params)) = &request.call;
            // What the node does next with the params: serialize the args.
            let _ = serde_json::to_vec(&params.args_json);
            assert_round_trips(&request);
        }
    }

    // Straight from the bytes (what a client SDK or a future handler does).
    if let Ok(request) = serde_json::from_slice::<Request>(data) {
        assert_round_trips(&request);
    }
});

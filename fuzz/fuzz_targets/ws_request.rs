//! A `/ws` text frame, decoded the way `server-ws`'s session `handle` does
//! (`server_primitives::ws::Request` from the text; on failure the id is
//! pulled out of the JSON value for the error reply), and the `?events=`
//! query value (`EventGeneration: FromStr`).
//!
//! Properties: no panic; a decoded request round-trips exactly (no floats
//! in it); a parsed event generation serializes as the text it came from.

#![no_main]

use libfuzzer_sys::fuzz_target;
use server_primitives::ws::{Command, EventGeneration, Request};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    // As `Session::handle` in crates/server-ws/src/session.rs.
    match serde_json::from_str::<Request>(text) {
        Ok(request) => {
            if let Some(again) = fuzz::roundtrip::<Request>(data) {
                assert_eq!(again, request);
            }
            match &request.command {
                Command::Subscribe(params) => {
                    for context in params.since.keys() {
                        let _ = context.to_string();
                    }
                }
                Command::Unsubscribe(params) => {
                    let _ = params.context_ids.len();
                }
            }
        }
        Err(err) => {
            let _ = err.to_string();
            let _ = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|value| value.get("id").and_then(serde_json::Value::as_u64));
        }
    }

    // `/ws?events=<text>`.
    match text.parse::<EventGeneration>() {
        Ok(generation) => assert_eq!(
            serde_json::to_string(&generation).expect("encodes"),
            format!("\"{text}\""),
            "the query value and the serde name agree"
        ),
        Err(err) => {
            let _ = err.to_string();
        }
    }
});

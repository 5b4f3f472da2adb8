//! The borsh `Vec<(String, String)>` header list of the `fetch` host
//! function (`node-runtime/src/imports.rs`, private `decode_headers`),
//! called directly through the hidden hook `node_runtime::fuzz_decode_headers`
//! (see NOTES.md: it must be added before this target builds; the target
//! needs the `runtime-hooks` feature of this crate).
//!
//! `runtime_host` reaches the same decoder through the `fetch` host
//! function; this target is the cheap, direct one.
//!
//! Properties: no panic; no allocation driven by the claimed count alone;
//! a decoded list encodes (u32 LE count, then u32 LE length + UTF-8 bytes
//! per string) to exactly the input, since the decoder refuses trailing
//! bytes and borsh has one encoding per list.

#![no_main]

use libfuzzer_sys::fuzz_target;

fn encode(headers: &[(String, String)]) -> Vec<u8> {
    let mut bytes = u32::try_from(headers.len())
        .expect("count fits")
        .to_le_bytes()
        .to_vec();
    for (name, value) in headers {
        for text in [name, value] {
            bytes.extend(
                u32::try_from(text.len())
                    .expect("length fits")
                    .to_le_bytes(),
            );
            bytes.extend(text.as_bytes());
        }
    }
    bytes
}

fuzz_target!(|data: &[u8]| {
    if let Some(headers) = node_runtime::fuzz_decode_headers(data) {
        assert_eq!(encode(&headers), data, "decode → encode is the identity");
    }
});

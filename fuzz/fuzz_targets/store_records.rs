//! The records node-store keeps as JSON (`crates/node-store/src/records.rs`,
//! read by the store's private `decode` = `serde_json::from_slice`):
//! `ApplicationRecord`, `ContextRecord`, `EventRecord`.
//!
//! Input: byte 0 picks the record type, the rest is the JSON.
//!
//! Properties: no panic; a decoded record encodes and decodes to the same
//! record; `ContextRecord::joined_at` answers for every member (its own
//! time, or `created_at` for members stored before join times were kept).

#![no_main]

use fuzz::roundtrip;
use libfuzzer_sys::fuzz_target;
use node_store::{ApplicationRecord, ContextRecord, EventRecord};

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let _ = roundtrip::<ApplicationRecord>(json);
        }
        1 => {
            if let Some(record) = roundtrip::<ContextRecord>(json) {
                for member in &record.members {
                    let joined = record.joined_at(member);
                    match record.joined_at.get(member) {
                        Some(&at) => assert_eq!(joined, at),
                        None => assert_eq!(joined, record.created_at),
                    }
                }
            }
        }
        _ => {
            if let Some(record) = roundtrip::<EventRecord>(json) {
                let _ = record
                    .events
                    .iter()
                    .map(|(kind, data)| kind.len() + data.len())
                    .sum::<usize>();
            }
        }
    }
});

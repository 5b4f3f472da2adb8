//! The records node-store keeps: `ApplicationRecord` and `EventRecord` as
//! JSON (read by the store's private `decode` = `serde_json::from_slice`),
//! `ContextRecord` as the row of `ContextRecord::from_row` (binary, or the
//! JSON of rows written before it).
//!
//! Input: byte 0 picks the record type, the rest is the JSON or the row.
//!
//! Properties: no panic; a decoded record encodes and decodes to the same
//! record (a context record also as JSON, which the admin API and older
//! rows use), and a binary context row is the row of what it decodes to;
//! `ContextRecord::joined_at` answers for every member (its own time, or
//! `created_at` for members stored before join times were kept).

#![no_main]

use fuzz::roundtrip;
use libfuzzer_sys::fuzz_target;
use node_store::{ApplicationRecord, ContextRecord, EventRecord};

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let _ = roundtrip::<ApplicationRecord>(bytes);
        }
        1 => {
            let _ = roundtrip::<ContextRecord>(bytes);
            if let Ok(record) = ContextRecord::from_row(bytes) {
                let row = record.to_row();
                assert_eq!(
                    ContextRecord::from_row(&row).as_ref(),
                    Ok(&record),
                    "a row decodes to the record it was encoded from"
                );
                if bytes.first() != Some(&b'{') {
                    assert_eq!(row, bytes, "a binary row has one reading");
                }
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
            if let Some(record) = roundtrip::<EventRecord>(bytes) {
                let _ = record
                    .events
                    .iter()
                    .map(|(kind, data)| kind.len() + data.len())
                    .sum::<usize>();
            }
        }
    }
});

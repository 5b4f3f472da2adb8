//! Integration tests of the wire types: every message of the protocol has a JSON
//! fixture under `tests/fixtures/` that must round-trip, and malformed ids must
//! be refused with a typed error.

mod fixtures;
mod parsing;

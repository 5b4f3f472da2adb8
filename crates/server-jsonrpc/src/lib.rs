//! JSON-RPC 2.0 at `/jsonrpc`: `query`, `mutate` and `execute`.
//!
//! This crate will hold the JSON-RPC module that authenticates a call (auth
//! headers or a bearer JWT), runs it on the node, and maps every outcome to the
//! protocol's `{"output": …}` result or `{"type", "data"}` error.

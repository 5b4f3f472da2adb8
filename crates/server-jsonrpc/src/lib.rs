//! JSON-RPC 2.0 at `/jsonrpc`: `query`, `mutate` and `execute`; and, where
//! the node serves dev routes, the same at `/jsonrpc/dev` without credentials.
//!
//! The protocol's errors are `{"type": …, "data": …}` objects without numeric
//! codes (PROTOCOL §6.3), which a generic JSON-RPC server cannot produce, so
//! the envelope is handled here with the types of `server-primitives`:
//! - every authenticated JSON request is answered with HTTP 200 and a
//!   JSON-RPC response whose `id` has the request's JSON type, unless the
//!   node is too busy to take the call (503, below);
//! - a body not sent as `content-type: application/json` gets HTTP 415 with
//!   the admin API's JSON error body;
//! - a body that is not a request (bad JSON, unknown method, bad params) is a
//!   `ParseError`; batches (JSON arrays) are refused with a `ParseError`;
//! - a caller without valid credentials gets HTTP 401 with the admin API's
//!   JSON error body;
//! - `query` runs read-only; `mutate` and `execute` run with write access and
//!   commit only if the call succeeds; their result adds the new `rootHash`
//!   and the `eventSeq` a WebSocket subscriber can resume from;
//! - limits: 1 MiB request bodies (413), one request per HTTP call (batches
//!   refused); when the node's admission queue is full, 503 with
//!   `retry-after`; return values are capped by the runtime's `max_return_size`.

mod call;
mod error;
mod metrics;

pub use call::{JsonRpcState, router};

//! The composed node server: `/admin-api`, `/jsonrpc` and `/ws` on one listener.
//!
//! This crate will hold `run(listener, shutdown)`, which serves the three parts
//! plus `/metrics` with request limits, timeouts, CORS, request ids, tracing
//! and graceful shutdown.

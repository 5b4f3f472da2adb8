//! WebSocket sessions at `/ws`: subscribe, unsubscribe and event fan-out.
//!
//! This crate will hold the per-connection session: subscriptions with resume
//! from a sequence number, a bounded outgoing queue that reports overflow as an
//! explicit gap instead of dropping events silently, server pings, and caps on
//! connections and subscriptions.

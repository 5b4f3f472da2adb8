//! The node: applications, contexts, call execution and the event bus.
//!
//! This crate will hold the node's public handle that every server crate talks
//! to: install / list / uninstall applications, create / get / list / delete
//! contexts, `query` and `mutate` calls (one writer per context, atomic commit
//! only on success), per-context members and storage size, and the in-process
//! event bus with per-context sequence numbers and a bounded replay log.

//! Typed tables over the node's embedded database (redb), one file in the
//! node's home.
//!
//! This crate will hold the schema of DESIGN §5: applications, content-addressed
//! blobs, the compiled-module cache, contexts, per-context state
//! (`context id ‖ key → value`), members, root and client keys, refresh tokens
//! and the bounded per-context event log, with a group-commit path that batches
//! concurrent mutations into one durable transaction. Only the `node` crate and
//! the binary use it.

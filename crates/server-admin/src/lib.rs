//! The admin API under `/admin-api`: an axum router over the node and auth.
//!
//! This crate will hold every route of `shared/spec/PROTOCOL.md` §5 and the JWT
//! routes of §8: health, challenge and login, root and client keys, the DID,
//! application install (by URL and, for development, by path), contexts, their
//! users, client keys and storage, and the OpenAPI document of the API.

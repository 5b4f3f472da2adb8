//! Wire types of the node server: every request, response, error and event that
//! crosses `/admin-api`, `/jsonrpc` and `/ws`, with the exact field names and
//! casing of the protocol (`shared/spec/PROTOCOL.md`).
//!
//! This is the crate client authors use, so it stays a leaf: serde and the id
//! types of [`node_primitives`] only, no runtime, no transport.
//!
//! Where to start:
//! - [`admin`]: the `{"data": …}` envelope, the JSON error body, and each admin
//!   route's request and response.
//! - [`auth`]: challenges, the wallet login body, root and client keys, the DID,
//!   the per-request auth header names and the JWT shapes.
//! - [`jsonrpc`]: the `query` / `mutate` / `execute` envelope, params, results
//!   and the `{"type", "data"}` error family.
//! - [`ws`]: subscribe / unsubscribe and the pushed context events.
//!
//! Casing follows the protocol even where it is inconsistent (`RootKey` is
//! snake_case, `ClientKey` camelCase): clients depend on it.

pub mod admin;
pub mod auth;
pub mod jsonrpc;
pub mod ws;

pub use node_primitives::{ApplicationId, BlobId, ContextId, Hash, ParseIdError, PublicKey};

/// Whether a `content-type` value says JSON: `application/json`, with
/// parameters such as `charset` or not, in any case. Both JSON endpoints
/// accept bodies only with it.
#[must_use]
pub fn is_json_media_type(content_type: &str) -> bool {
    is_media_type(content_type, "application/json")
}

/// The media type an application's wasm bytes are uploaded with
/// (`POST /admin-api/applications`; `application/octet-stream` is taken too).
pub const WASM_MEDIA_TYPE: &str = "application/wasm";

/// Whether a `content-type` value names `media`, with parameters or not, in
/// any case.
#[must_use]
pub fn is_media_type(content_type: &str, media: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|named| named.trim().eq_ignore_ascii_case(media))
}

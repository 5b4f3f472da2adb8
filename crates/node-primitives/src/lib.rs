//! Identifiers of the node's world and their wire encodings.
//!
//! Every identifier here is 32 bytes on the inside and base58 (Bitcoin alphabet)
//! on the wire. Parsing is strict: a string that is not base58, or that does not
//! decode to exactly 32 bytes, is a [`ParseIdError`], never a panic.
//!
//! Start with [`struct@Hash`]; the other ids share its shape through one macro so that
//! a [`ContextId`] can never be passed where an [`ApplicationId`] is meant.

mod error;
mod id;

pub use error::ParseIdError;
pub use id::{ApplicationId, BlobId, ContextId, Hash, ID_LEN, PublicKey};

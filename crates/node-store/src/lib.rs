//! Typed tables over the node's embedded database (redb), one file in the
//! node's home.
//!
//! Where to start: [`Store`] opens the file and hands out [`Snapshot`]s (MVCC
//! readers that never wait for writers) and applies [`ContextCommit`]s, several
//! at once in one durable transaction ([`Store::commit`]), which is what group
//! commit builds on. The records are in [`records`]; the table layout is in
//! `tables.rs`.
//!
//! Only the `node` crate and the binary use this crate.

mod auth;
mod context_row;
mod error;
mod flush;
pub mod records;
mod store;
mod tables;
mod values;

pub use auth::{AuthTable, AuthTxn};
pub use error::StoreError;
pub use records::{
    ApplicationRecord, ContextCommit, ContextRecord, Delta, EventRecord, Retention, Sharing,
};
pub use store::{MetaChange, Snapshot, Store};

//! Wallet login and request authentication, as pure logic over bytes.
//!
//! Nothing here speaks HTTP or touches the node: the server crates hand in
//! parsed bodies and header pairs, and keys live behind the [`KeyStore`] trait.
//!
//! Where to start:
//! - [`Authenticator`]: the one object the server holds. It issues challenges,
//!   verifies logins (NEAR NEP-413 in [`near`], MetaMask EIP-191 in [`eth`]) and
//!   registers keys, authenticates requests by the five auth headers or a bearer
//!   JWT, and issues and rotates tokens.
//! - [`NodeIdentity`]: the node's own ed25519 key, which signs challenges.
//! - [`Principal`]: who an authenticated request comes from, and the one
//!   authorization decision ([`Principal::authorize`], [`Principal::executor`]):
//!   the node's administrator may do everything, a context principal may use
//!   its own context as its own identity.
//! - [`KeyStore`] / [`Table`]: where root keys, client keys, used challenges
//!   and live refresh tokens are kept, a table each; every change is one
//!   atomic write.
//!
//! Every check that can fail returns an [`AuthError`]; no input can panic.

mod access;
mod authenticator;
mod challenge;
mod client_key;
mod error;
pub mod eth;
mod headers;
mod identity;
mod jwt;
mod login;
pub mod near;
mod records;
mod registrations;
mod replay;
mod store;

pub use access::{Action, Lease, Principal, Role};
pub use authenticator::{AuthConfig, Authenticator, Clock, SystemClock, import_keys};
pub use client_key::ClientPublicKey;
pub use error::{AuthError, REFUSED};
pub use headers::{AuthHeaders, Target};
pub use identity::NodeIdentity;
pub use login::LoginOutcome;
pub use records::ClientKeyRecord;
pub use store::{KeyStore, KeyWrite, MemoryKeyStore, Table};

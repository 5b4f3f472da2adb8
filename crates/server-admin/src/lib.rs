//! The admin API under `/admin-api`: an axum router over the node and auth.
//!
//! Where to start: [`router`] lists every route; [`AdminState`] is what the
//! handlers share (the node, the authenticator, whether dev routes are on).
//! Errors are mapped to the wire in one place, [`ApiError`]: every failure is
//! `{"error": {"code": <status>, "message": "…"}}` with the right status, also
//! for bodies that do not parse and paths that do not exist.
//!
//! `GET /admin-api/openapi.json` serves the OpenAPI 3.1 document ([`ApiDoc`]),
//! generated from the handlers' annotations and the wire types.

mod download;
mod error;
mod extract;
mod keys;
mod routes;

pub use error::ApiError;
pub use keys::{NodeKeyStore, load_authenticator};
pub use routes::{
    AdminConfig, AdminState, ApiDoc, BODY_DEADLINE, UPLOAD_ROUTE, cors, finish, router, routes,
};

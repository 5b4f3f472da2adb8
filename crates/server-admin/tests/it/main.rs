//! Integration tests of the admin API over real HTTP on loopback, against a
//! real node on a temp home, logging in with real wallet signatures.

mod applications_and_contexts;
mod authorization;
mod identity;
mod install;
mod openapi;
mod support;

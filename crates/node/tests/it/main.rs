//! Integration tests of the node over a real database file and real apps.

mod apps;
mod calls;
mod concurrency;
mod fetch;
mod replication;
mod resources;
mod simulation;
mod support;

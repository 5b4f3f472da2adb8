//! Integration tests of the node over a real database file and real apps.

mod apps;
mod calls;
mod concurrency;
mod fetch;
mod resources;
mod support;

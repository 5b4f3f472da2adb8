//! Integration tests of login and authentication against known-answer vectors
//! produced by the real wallet libraries (`vectors/generate.mjs`).

mod concurrency;
mod headers;
mod login;
mod parsers;
mod support;
mod tokens;

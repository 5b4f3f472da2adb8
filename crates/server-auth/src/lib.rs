//! Wallet login and request authentication, as pure logic over bytes.
//!
//! This crate will hold node-signed single-use challenges, NEAR (NEP-413) and
//! MetaMask (EIP-191) signature verification, root and client key rules
//! (first login becomes root, atomically), the five per-request auth headers,
//! and HS256 JWT access / refresh tokens. Keys are kept through a key-store
//! trait; nothing here knows HTTP or the `node` crate.

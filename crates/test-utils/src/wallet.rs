//! Wallets and client keys that sign like the real client libraries, with the
//! fixed seeds of `crates/server-auth/tests/vectors/wallets.json` (NEAR wallet
//! `0x02…`, client keys `0x03…`/`0x05…`, MetaMask key `0x04…`): the client
//! crate's signers.

pub use client::ClientKey;
pub use client::wallet::{EthWallet, NearWallet};

/// Milliseconds since the Unix epoch, as the authenticator takes them.
///
/// # Panics
/// When the clock is before 1970.
#[must_use]
pub fn now_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("milliseconds fit in u64")
}

/// Logs client key `0x03…` in with NEAR wallet `0x02…` (the node's first
/// login, so it becomes the root key) and returns the client key.
///
/// # Panics
/// When the authenticator refuses the login.
#[must_use]
pub fn log_in(auth: &server_auth::Authenticator) -> ClientKey {
    let client = ClientKey::from_seed_byte(0x03);
    let challenge = auth.request_challenge(None, now_ms()).expect("a challenge");
    let login = NearWallet::from_seed_byte(0x02).login(&challenge, &client, "node");
    auth.add_client_key(&login, now_ms())
        .expect("the login is accepted");
    client
}

//! A clock tests move by hand, for the authenticator
//! ([`server_auth::Authenticator::with_clock`]): expiry is tested by moving
//! time, never by sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A clock that starts at the system's time and moves only when told.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock standing at the system's time now.
    #[must_use]
    pub fn now() -> Self {
        Self(Arc::new(AtomicU64::new(crate::wallet::now_ms())))
    }

    /// Moves the clock forward by `secs` seconds.
    pub fn advance_secs(&self, secs: u64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }

    /// The clock's time, Unix seconds.
    #[must_use]
    pub fn secs(&self) -> u64 {
        self.0.load(Ordering::SeqCst) / 1000
    }
}

impl server_auth::Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

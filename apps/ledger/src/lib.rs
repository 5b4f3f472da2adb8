//! Example app: accounts with balances and an append-only history of every
//! deposit. A deposit's cost grows with the history (the SDK's `Vector`
//! rewrites its index on every push), so it is the benchmarks' app whose
//! state grows as it is used.
//!
//! Methods (JSON-RPC `method` / `argsJson`):
//! - `deposit {"account", "amount"}` → the new balance; emits `Deposited`.
//! - `balance {"account"}` → the balance (0 for an unknown account).
//! - `history_len` → how many deposits were made.
//! - `last` → the latest deposit, or `null`.

use calimero_sdk::app;
use calimero_sdk::borsh::{BorshDeserialize, BorshSerialize};
use calimero_sdk::serde::Serialize;
use calimero_storage::collections::{UnorderedMap, Vector};

/// One deposit.
#[derive(Debug, Clone, BorshSerialize, BorshDeserialize, Serialize)]
#[borsh(crate = "calimero_sdk::borsh")]
#[serde(crate = "calimero_sdk::serde")]
pub struct Entry {
    account: String,
    amount: u64,
}

/// Balances by account, and every deposit in order.
#[app::state(emits = Event)]
#[derive(Debug, BorshSerialize, BorshDeserialize)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct Ledger {
    balances: UnorderedMap<String, u64>,
    history: Vector<Entry>,
}

/// What changed.
#[app::event]
pub enum Event {
    /// `amount` was added to `account`, which now holds `balance`.
    Deposited {
        account: String,
        amount: u64,
        balance: u64,
    },
}

#[app::logic]
impl Ledger {
    #[app::init]
    pub fn init() -> Ledger {
        Ledger {
            balances: UnorderedMap::new(),
            history: Vector::new(),
        }
    }

    pub fn deposit(&mut self, account: String, amount: u64) -> app::Result<u64> {
        let balance = self
            .balances
            .get(&account)?
            .unwrap_or(0)
            .checked_add(amount)
            .ok_or_else(|| app::err!("the balance of {account} would overflow"))?;
        self.balances.insert(account.clone(), balance)?;
        self.history.push(Entry {
            account: account.clone(),
            amount,
        })?;
        app::emit!(Event::Deposited {
            account,
            amount,
            balance,
        });
        Ok(balance)
    }

    pub fn balance(&self, account: String) -> app::Result<u64> {
        Ok(self.balances.get(&account)?.unwrap_or(0))
    }

    pub fn history_len(&self) -> app::Result<u64> {
        Ok(self.history.len()? as u64)
    }

    pub fn last(&self) -> app::Result<Option<Entry>> {
        Ok(self.history.last()?)
    }
}

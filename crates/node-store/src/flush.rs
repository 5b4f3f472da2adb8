//! Group flushes: small writes commit without an fsync of their own, then
//! wait until one durable commit, shared with every write that committed
//! meanwhile, covers them.
//!
//! redb persists a non-durable commit with the next durable one. Each
//! non-durable commit takes a number after it committed; a durable commit
//! covers every number taken before it held the write lock, so also those
//! of the writers that got the lock first while it waited. A writer waits until a
//! durable commit covers its number: one that ran meanwhile (any durable
//! write of the store counts), or one it runs itself when none is running.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::StoreError;

#[derive(Debug, Default)]
struct Marks {
    /// Numbers taken by non-durable commits so far.
    committed: u64,
    /// Every number up to this one is durable.
    durable: u64,
    /// Whether a writer is running a durable commit for the others.
    flushing: bool,
}

/// Where non-durable commits wait for a durable one.
#[derive(Debug, Default)]
pub(crate) struct Flush {
    marks: Mutex<Marks>,
    changed: Condvar,
}

impl Flush {
    fn marks(&self) -> MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What a durable commit holding the write lock now will cover: every
    /// non-durable commit counted so far (each committed before it).
    pub(crate) fn covered_from_now(&self) -> u64 {
        self.marks().committed
    }

    /// A durable commit that held the write lock when
    /// [`Flush::covered_from_now`] returned `covered` has completed.
    pub(crate) fn durable(&self, covered: u64) {
        let mut marks = self.marks();
        if covered > marks.durable {
            marks.durable = covered;
            self.changed.notify_all();
        }
    }

    /// After a non-durable commit: returns once a durable commit covers
    /// it, running `durable_commit` when no other writer is.
    ///
    /// # Errors
    /// `durable_commit`'s, when this writer ran it and it failed (the
    /// write may then be lost with the next crash, so it is not
    /// acknowledged).
    pub(crate) fn wait(
        &self,
        durable_commit: impl Fn() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut marks = self.marks();
        marks.committed += 1;
        let mine = marks.committed;
        loop {
            if marks.durable >= mine {
                return Ok(());
            }
            if marks.flushing {
                marks = self
                    .changed
                    .wait(marks)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            marks.flushing = true;
            let covered = marks.committed;
            drop(marks);
            // Whatever happens (a panic included), the others stop waiting
            // for this writer: one of them flushes next, or fails as it did.
            let flushing = Flushing(self);
            let result = durable_commit();
            drop(flushing);
            marks = self.marks();
            if result.is_ok() && covered > marks.durable {
                marks.durable = covered;
                self.changed.notify_all();
            }
            result?;
        }
    }
}

/// A writer's turn at the durable commit; when it ends, the next may run.
struct Flushing<'a>(&'a Flush);

impl Drop for Flushing<'_> {
    fn drop(&mut self) {
        self.0.marks().flushing = false;
        self.0.changed.notify_all();
    }
}

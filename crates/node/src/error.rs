//! The node's error.

use node_primitives::{ApplicationId, ContextId, PublicKey};
use node_runtime::{CallError, InstallError};
use node_store::StoreError;

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// No such context.
    #[error("context {0} not found")]
    ContextNotFound(ContextId),
    /// No such application.
    #[error("application {0} is not installed")]
    ApplicationNotFound(ApplicationId),
    /// The context's `init` never committed.
    #[error("context {0} is not initialised")]
    Uninitialized(ContextId),
    /// A call named an executor that is not a member of the context.
    #[error("{executor} is not a member of context {context}")]
    NotMember {
        /// The context.
        context: ContextId,
        /// The executor named.
        executor: PublicKey,
    },
    /// Clients may not call this method.
    #[error("method {0:?} is reserved and cannot be called by clients")]
    ReservedMethod(String),
    /// The module was refused at install.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The application call failed; nothing was committed.
    #[error("{error}")]
    Call {
        /// Why.
        error: CallError,
        /// Log lines the call wrote before failing.
        logs: Vec<String>,
    },
    /// The call broke a rule of the node (e.g. changed state without a delta).
    #[error("{0}")]
    Rejected(String),
    /// The operation conflicts with the node's state.
    #[error("{0}")]
    Conflict(String),
    /// The input is too large.
    #[error("{0}")]
    TooLarge(String),
    /// Too many calls are waiting already; retry shortly.
    #[error("the node is busy: {0} calls are already waiting; retry shortly")]
    Busy(usize),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// Another node needed for the work cannot be reached or did not
    /// answer as it should.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else that is the node's fault.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for NodeError {
    fn from(error: StoreError) -> Self {
        match error {
            // A write the store refused because of what is stored (an
            // application in use, or gone) is the caller's conflict.
            StoreError::Conflict(message) => Self::Conflict(message),
            other => Self::Store(other),
        }
    }
}

/// What went wrong in a failure that is the node's own, which the answer
/// to the client leaves out. The server crates attach it to the failed
/// response (as a response extension); the request layer logs it once,
/// with the request's id and route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalDetail(pub String);

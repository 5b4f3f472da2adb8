//! What can go wrong, and which side said so.

use std::fmt;

use server_primitives::jsonrpc::{CallError, ErrorObject, RpcError};
use server_primitives::ws::WsError;

/// A failed client call.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The node could not be reached, or the connection broke.
    Transport(String),
    /// The admin API (or any route) answered an error status, with the
    /// message of its JSON error body.
    Api {
        /// The HTTP status.
        status: u16,
        /// What the node said was wrong.
        message: String,
    },
    /// JSON-RPC answered a typed error.
    Rpc(Box<ErrorObject>),
    /// The WebSocket refused a subscription.
    Ws(WsError),
    /// The node answered something this client does not understand.
    Protocol(String),
    /// A problem on this side: a missing operator file, a bad URL.
    Local(String),
}

/// What kind of failure an [`Error`] is, whichever transport said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The node is not there (or not running: no operator file).
    Unreachable,
    /// No valid credentials (`401`).
    Unauthenticated,
    /// Valid credentials that may not do this (`403`, `Unauthorized`).
    Forbidden,
    /// No such application, context or key (`404`).
    NotFound,
    /// The request conflicts with the node's state (`409`).
    Conflict,
    /// The request itself is wrong (`400`, `413`, `415`, `422`, parse errors).
    Invalid,
    /// The app's method failed (`FunctionCallError`).
    CallFailed,
    /// The node is at capacity (`429`, `503`): try again.
    Busy,
    /// The node failed (`500`, internal errors), or answered nonsense.
    Internal,
}

impl Error {
    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Transport(_) | Self::Local(_) => ErrorKind::Unreachable,
            Self::Api { status, .. } => match status {
                401 => ErrorKind::Unauthenticated,
                403 => ErrorKind::Forbidden,
                404 => ErrorKind::NotFound,
                409 => ErrorKind::Conflict,
                429 | 503 => ErrorKind::Busy,
                400..=499 => ErrorKind::Invalid,
                _ => ErrorKind::Internal,
            },
            Self::Rpc(error) => match &error.error {
                RpcError::ParseError(_) | RpcError::SerdeError { .. } => ErrorKind::Invalid,
                RpcError::FunctionCallError(_) => ErrorKind::CallFailed,
                RpcError::InternalError(_) => ErrorKind::Internal,
                RpcError::CallError(call) => match call {
                    CallError::ContextNotFound { .. }
                    | CallError::ApplicationNotInstalled { .. } => ErrorKind::NotFound,
                    CallError::Unauthorized { .. } => ErrorKind::Forbidden,
                    CallError::Uninitialized => ErrorKind::Conflict,
                    CallError::InternalError | CallError::Query(_) | CallError::Mutate(_) => {
                        ErrorKind::Internal
                    }
                },
            },
            Self::Ws(error) => match error {
                WsError::Unauthorized(_) => ErrorKind::Forbidden,
                WsError::ParseError(_) | WsError::LimitExceeded(_) => ErrorKind::Invalid,
            },
            Self::Protocol(_) => ErrorKind::Internal,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(text) => write!(f, "cannot reach the node: {text}"),
            Self::Api { status, message } => write!(f, "the node answered {status}: {message}"),
            Self::Rpc(error) => {
                let text = serde_json::to_string(&error.error).unwrap_or_default();
                write!(f, "the call failed: {text}")
            }
            Self::Ws(error) => {
                let text = serde_json::to_string(error).unwrap_or_default();
                write!(f, "the subscription was refused: {text}")
            }
            Self::Protocol(text) => write!(f, "unexpected answer: {text}"),
            Self::Local(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for Error {}

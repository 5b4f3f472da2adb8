//! Mapping node errors to the protocol's JSON-RPC errors.

use node::{CallError, InternalDetail, NodeError};
use serde_json::Value;
use server_primitives::jsonrpc::{self, ErrorObject, InternalErrorData, RpcError};

/// Why a call produced no result.
pub(crate) enum Failure {
    /// The protocol's error object.
    Rpc(ErrorObject),
    /// The node's own failure: the protocol's `InternalError`, and what went
    /// wrong for the log ([`InternalDetail`]).
    Internal(InternalDetail),
    /// The node's admission queue is full: `503`, not a JSON-RPC error.
    Busy(NodeError),
}

impl From<ErrorObject> for Failure {
    fn from(error: ErrorObject) -> Self {
        Self::Rpc(error)
    }
}

/// Why a call failed, for its answer.
pub(crate) fn from_node(error: NodeError) -> Failure {
    let mut payload = None;
    let error = match error {
        NodeError::ContextNotFound(context_id) => {
            RpcError::CallError(jsonrpc::CallError::ContextNotFound { context_id })
        }
        NodeError::NotMember { context, executor } => {
            RpcError::CallError(jsonrpc::CallError::Unauthorized {
                context_id: context,
                public_key: executor.to_string(),
            })
        }
        NodeError::Uninitialized(_) => RpcError::CallError(jsonrpc::CallError::Uninitialized),
        NodeError::ApplicationNotFound(application_id) => {
            RpcError::CallError(jsonrpc::CallError::ApplicationNotInstalled { application_id })
        }
        NodeError::Call {
            error: CallError::AppError(bytes),
            ..
        } => {
            payload =
                Some(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&bytes).into_owned())
                }));
            RpcError::FunctionCallError(CallError::AppError(bytes).to_string())
        }
        NodeError::Call { error, .. } => RpcError::FunctionCallError(error.to_string()),
        error @ (NodeError::ReservedMethod(_) | NodeError::Rejected(_)) => {
            RpcError::FunctionCallError(error.to_string())
        }
        busy @ NodeError::Busy(_) => return Failure::Busy(busy),
        error @ (NodeError::Install(_)
        | NodeError::Conflict(_)
        | NodeError::TooLarge(_)
        | NodeError::Unavailable(_)
        | NodeError::Store(_)
        | NodeError::Internal(_)) => return internal(error),
    };
    Failure::Rpc(ErrorObject { error, payload })
}

/// An internal error: `detail` goes to the log only.
pub(crate) fn internal(detail: impl std::fmt::Display) -> Failure {
    Failure::Internal(InternalDetail(detail.to_string()))
}

/// The protocol's error object of an internal error.
pub(crate) fn internal_object() -> ErrorObject {
    ErrorObject {
        error: RpcError::InternalError(InternalErrorData {}),
        payload: None,
    }
}

/// A request that does not parse.
pub(crate) fn parse(message: impl Into<String>) -> ErrorObject {
    ErrorObject {
        error: RpcError::ParseError(message.into()),
        payload: None,
    }
}

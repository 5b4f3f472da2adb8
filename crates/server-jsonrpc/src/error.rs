//! Mapping node errors to the protocol's JSON-RPC errors.

use node::{CallError, NodeError};
use serde_json::Value;
use server_primitives::jsonrpc::{self, ErrorObject, InternalErrorData, RpcError};

/// The error object of a failed call.
pub(crate) fn from_node(error: NodeError) -> ErrorObject {
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
        error @ (NodeError::Install(_)
        | NodeError::Conflict(_)
        | NodeError::TooLarge(_)
        | NodeError::Busy(_)
        | NodeError::Unavailable(_)
        | NodeError::Store(_)
        | NodeError::Internal(_)) => internal(error),
    };
    ErrorObject { error, payload }
}

/// An internal error: details go to the log only.
pub(crate) fn internal(detail: impl std::fmt::Display) -> RpcError {
    tracing::error!(%detail, "internal error in a JSON-RPC call");
    RpcError::InternalError(InternalErrorData {})
}

/// A request that does not parse.
pub(crate) fn parse(message: impl Into<String>) -> ErrorObject {
    ErrorObject {
        error: RpcError::ParseError(message.into()),
        payload: None,
    }
}

//! JSON-RPC 2.0 at `/jsonrpc`: `query`, `mutate` and `execute`.
//!
//! Errors use the protocol's adjacently tagged `{"type": …, "data": …}` shapes
//! (no numeric codes), which the seed-era and current client SDKs both read.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ApplicationId, ContextId, Hash, PublicKey};

/// The protocol version marker, always `"2.0"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    /// JSON-RPC 2.0.
    #[default]
    #[serde(rename = "2.0")]
    V2,
}

/// A request id, echoed back with its exact JSON type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RequestId {
    /// `null`, or no `id` at all.
    #[default]
    Null,
    /// A non-negative integer.
    Number(u64),
    /// A string.
    String(String),
}

/// By the JSON type at hand, where `#[serde(untagged)]` would try each
/// variant in turn and format an error for every miss (every request has an
/// id).
impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;

        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = RequestId;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("null, a non-negative integer or a string")
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<RequestId, E> {
                Ok(RequestId::Null)
            }

            fn visit_u64<E: serde::de::Error>(self, id: u64) -> Result<RequestId, E> {
                Ok(RequestId::Number(id))
            }

            fn visit_i64<E: serde::de::Error>(self, id: i64) -> Result<RequestId, E> {
                u64::try_from(id)
                    .map(RequestId::Number)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(id), &self))
            }

            fn visit_str<E: serde::de::Error>(self, id: &str) -> Result<RequestId, E> {
                Ok(RequestId::String(id.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, id: String) -> Result<RequestId, E> {
                Ok(RequestId::String(id))
            }
        }

        deserializer.deserialize_any(IdVisitor)
    }
}

/// A JSON-RPC request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: Version,
    /// Echoed in the response.
    #[serde(default)]
    pub id: RequestId,
    /// The method and its params.
    #[serde(flatten)]
    pub call: RequestCall,
}

/// The method of a request, with its params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "lowercase")]
pub enum RequestCall {
    /// Read-only call: a storage write inside it is an error.
    Query(CallParams),
    /// Call with write access; its writes commit atomically only if it succeeds.
    Mutate(CallParams),
    /// What current SDKs send: same as `mutate`.
    Execute(CallParams),
}

/// Params shared by `query`, `mutate` and `execute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallParams {
    /// The context to call.
    pub context_id: ContextId,
    /// The exported application method.
    pub method: String,
    /// The method's arguments, a JSON object keyed by parameter name.
    #[serde(default)]
    pub args_json: Value,
    /// The identity to execute as (current SDKs send it; optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_public_key: Option<PublicKey>,
    /// Context aliases to replace in `argsJson` (the v0.2.5 `execute`); this
    /// node has no aliases, so only an empty list can be honoured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute: Vec<String>,
}

/// A JSON-RPC response: exactly one of `result` / `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always `"2.0"`.
    pub jsonrpc: Version,
    /// The request's id, same JSON type.
    pub id: RequestId,
    /// The outcome.
    #[serde(flatten)]
    pub body: ResponseBody,
}

/// The outcome of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseBody {
    /// The call succeeded.
    Result(CallResult),
    /// The request or the call failed.
    Error(ErrorObject),
}

/// What a successful call returns: `{"output": …}`, plus what a committed
/// call changed (fields older clients ignore).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallResult {
    /// The method's return value as JSON, `null` when it returns nothing.
    pub output: Value,
    /// After a committed call: the context's new state root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_hash: Option<Hash>,
    /// After a committed call: the sequence number of its event record, from
    /// which a WebSocket subscriber can resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_seq: Option<u64>,
}

/// The `error` member: a typed error, plus the application's own error value
/// when the method returned one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The typed error (`{"type": …, "data": …}`).
    #[serde(flatten)]
    pub error: RpcError,
    /// The JSON error value the application returned, if it returned one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// Server and handler errors, adjacently tagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum RpcError {
    /// The request did not parse: unknown method, bad params, bad envelope.
    ParseError(String),
    /// The node failed for a reason of its own; details are in its log.
    InternalError(InternalErrorData),
    /// The method's return bytes are not JSON, or the args could not be encoded.
    SerdeError {
        /// What failed to encode or decode.
        message: String,
    },
    /// The application call failed: trap, panic, limit, or an error it returned.
    FunctionCallError(String),
    /// The node refused the call.
    CallError(CallError),
}

/// `InternalError` carries an empty object: `{"type":"InternalError","data":{}}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InternalErrorData {}

/// Why the node refused a call before or around running it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CallError {
    /// No such context.
    ContextNotFound {
        /// The id asked for.
        context_id: ContextId,
    },
    /// The context's `init` has not committed a state root.
    Uninitialized,
    /// The caller may not call this context.
    Unauthorized {
        /// The context asked for.
        context_id: ContextId,
        /// The caller's key.
        public_key: String,
    },
    /// The context's application is gone.
    ApplicationNotInstalled {
        /// The missing application.
        application_id: ApplicationId,
    },
    /// The node failed for a reason of its own.
    InternalError,
    /// Seed-era wrapper of a refused `query`.
    Query(MethodCallError),
    /// Seed-era wrapper of a refused `mutate`.
    Mutate(MethodCallError),
}

/// The inner error of the seed-era `Query` / `Mutate` wrappers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum MethodCallError {
    /// The context's application is gone.
    ApplicationNotInstalled {
        /// The missing application.
        application_id: ApplicationId,
    },
    /// The node failed for a reason of its own.
    InternalError,
}

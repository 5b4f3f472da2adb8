//! The `/jsonrpc` route: authenticate, parse, run on the node, answer; and
//! `/jsonrpc/dev`, the same calls without credentials, for local development.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use node::{CallOutput, Node};
use node_primitives::{ContextId, Hash, PublicKey};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use server_auth::{AuthError, Authenticator, Principal, Target};
use server_primitives::admin::ApiErrorResponse;
use server_primitives::jsonrpc::{
    self, ErrorObject, Request, RequestId, Response as RpcResponse, ResponseBody, RpcError, Version,
};

use crate::error::{Failure, from_node, internal, internal_object, parse};
use crate::metrics::{Metrics, outcome_name};

/// Largest request body, bytes.
const MAX_BODY: usize = 1024 * 1024;

/// Seconds a client refused with `503` is asked to wait (`retry-after`).
const RETRY_AFTER_SECS: u32 = 1;

/// What the handler needs.
#[derive(Debug, Clone)]
pub struct JsonRpcState {
    node: Node,
    auth: Authenticator,
    metrics: Metrics,
    dev_route: bool,
}

/// Who a call runs for.
enum Caller {
    /// A caller with valid credentials.
    Authenticated(Principal),
    /// Anyone who reaches `/jsonrpc/dev`.
    Developer,
}

impl JsonRpcState {
    /// The endpoint over `node` and `auth`; the node admits its calls
    /// ([`Node::run_blocking`], [`Node::query_async`]).
    #[must_use]
    pub fn new(node: Node, auth: Authenticator) -> Self {
        Self {
            node,
            auth,
            metrics: Metrics::default(),
            dev_route: false,
        }
    }

    /// Also serves `/jsonrpc/dev`: the same calls without credentials, like
    /// the admin API's `dev/` routes (so only where those are served).
    #[must_use]
    pub fn with_dev_route(self, on: bool) -> Self {
        Self {
            dev_route: on,
            ..self
        }
    }

    /// Adds the endpoint's measurements (calls by method and outcome, and
    /// their latency) to `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }
}

/// The `/jsonrpc` route, and `/jsonrpc/dev` when the state says so.
pub fn router(state: JsonRpcState) -> Router {
    let mut router = Router::new().route("/jsonrpc", post(handle));
    if state.dev_route {
        router = router.route("/jsonrpc/dev", post(handle_dev));
    }
    router
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

fn http_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ApiErrorResponse::new(status.as_u16(), message)),
    )
        .into_response()
}

/// An answer and the labels it is counted under.
struct Answer {
    method: &'static str,
    outcome: &'static str,
    response: Response,
}

impl Answer {
    /// A refusal before any call ran.
    fn refused(outcome: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            method: "none",
            outcome,
            response: http_error(status, message),
        }
    }

    /// A JSON-RPC response with `outcome`.
    fn reply(method: &'static str, id: RequestId, outcome: Result<Success, ErrorObject>) -> Self {
        let label = outcome_name(outcome.as_ref().err().map(|error| &error.error));
        let response = match outcome {
            Ok(result) => Json(Succeeded {
                jsonrpc: Version::V2,
                id,
                result,
            })
            .into_response(),
            Err(error) => Json(RpcResponse {
                jsonrpc: Version::V2,
                id,
                body: ResponseBody::Error(error),
            })
            .into_response(),
        };
        Self {
            method,
            outcome: label,
            response,
        }
    }
}

/// A request as the endpoint reads it: [`Request`] field for field, with
/// `argsJson` kept as the JSON text it came as, which goes to the
/// application unchanged (numbers keep all their digits, as a `u128`
/// needs) once it is [`Valid`]. It takes the bodies [`Request`] takes;
/// for the others, [`unparsed`] words [`Request`]'s error.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "jsonrpc")]
    _version: Version,
    #[serde(default)]
    id: RequestId,
    method: Kind,
    #[serde(borrow)]
    params: IncomingParams<'a>,
}

/// The JSON-RPC methods.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Query,
    Mutate,
    Execute,
}

impl Kind {
    /// Its metrics label.
    fn name(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Mutate => "mutate",
            Self::Execute => "execute",
        }
    }
}

/// [`jsonrpc::CallParams`] with `argsJson` as text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncomingParams<'a> {
    context_id: ContextId,
    method: String,
    #[serde(default, borrow)]
    args_json: Option<&'a RawValue>,
    #[serde(default)]
    executor_public_key: Option<PublicKey>,
    #[serde(default)]
    substitute: Vec<String>,
}

impl IncomingParams<'_> {
    /// The arguments as the JSON text they came as, which the application
    /// gets unchanged; `null` when there were none.
    fn args(&self) -> &str {
        self.args_json.unwrap_or(RawValue::NULL).get()
    }
}

/// JSON that a [`Value`] would take: nesting within `serde_json`'s limit,
/// escapes that make valid text, numbers in range. Reading it keeps
/// nothing; a [`RawValue`] alone checks none of that.
struct Valid;

impl<'de> Deserialize<'de> for Valid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Valid)
    }
}

impl<'de> serde::de::Visitor<'de> for Valid {
    type Value = Valid;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_str<E>(self, _: &str) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_unit<E>(self) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<Valid, A::Error> {
        while items.next_element::<Valid>()?.is_some() {}
        Ok(Valid)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut entries: A) -> Result<Valid, A::Error> {
        while entries.next_entry::<Valid, Valid>()?.is_some() {}
        Ok(Valid)
    }
}

/// Reads a request, its arguments checked [`Valid`]; `None` when it is not one.
fn parse_request(body: &[u8]) -> Option<Incoming<'_>> {
    serde_json::from_slice::<Incoming<'_>>(body)
        .ok()
        .filter(|request| {
            request
                .params
                .args_json
                .is_none_or(|args| serde_json::from_str::<Valid>(args.get()).is_ok())
        })
}

/// A successful response, the output as the application returned it (the
/// shape of [`RpcResponse`] with a [`jsonrpc::CallResult`]).
#[derive(Serialize)]
struct Succeeded {
    jsonrpc: Version,
    id: RequestId,
    result: Success,
}

/// [`jsonrpc::CallResult`] with the output as text.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Success {
    output: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_hash: Option<Hash>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_seq: Option<u64>,
}

async fn handle(
    State(state): State<JsonRpcState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let peer = peer.map(|Extension(ConnectInfo(peer))| peer);
    let caller = authenticate(&state, &headers, peer).map(Caller::Authenticated);
    respond(&state, started, &headers, caller, body).await
}

async fn handle_dev(
    State(state): State<JsonRpcState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        &state,
        Instant::now(),
        &headers,
        Ok(Caller::Developer),
        body,
    )
    .await
}

/// Whether the request says its body is JSON (`application/json`, with
/// parameters or not), as the admin API also requires.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(server_primitives::is_json_media_type)
}

/// Answers `caller` (or its refusal) and counts the call.
async fn respond(
    state: &JsonRpcState,
    started: Instant,
    headers: &HeaderMap,
    caller: Result<Caller, AuthError>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let answer = match caller {
        Ok(_) if !is_json(headers) => Answer::refused(
            "bad_body",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request with `content-type: application/json`",
        ),
        Ok(caller) => answer(state, caller, body).await,
        Err(error) => Answer::refused(
            "unauthorized",
            StatusCode::UNAUTHORIZED,
            error.refusal(server_auth::REFUSED),
        ),
    };
    state
        .metrics
        .record(answer.method, answer.outcome, started.elapsed());
    answer.response
}

/// The caller's principal, if its credentials are valid.
fn authenticate(
    state: &JsonRpcState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Principal, AuthError> {
    let pairs: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    let target = Target {
        method: "POST",
        path: "/jsonrpc",
        from_loopback: Target::is_loopback(peer),
    };
    state
        .auth
        .authenticate(pairs.iter().copied(), target, state.auth.now_ms())
        .inspect_err(|error| tracing::debug!(%error, "JSON-RPC authentication failed"))
}

async fn answer(
    state: &JsonRpcState,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return Answer::refused("bad_body", rejection.status(), rejection.body_text());
        }
    };
    let Some(Incoming {
        id,
        method: kind,
        params,
        ..
    }) = parse_request(&body)
    else {
        return unparsed(&body);
    };
    let method = kind.name();
    match call(state, &caller, kind, params).await {
        Err(Failure::Busy(error)) => {
            let mut answer = Answer {
                method,
                ..Answer::refused(
                    "overloaded",
                    StatusCode::SERVICE_UNAVAILABLE,
                    error.to_string(),
                )
            };
            answer
                .response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            answer
        }
        Err(Failure::Rpc(error)) => Answer::reply(method, id, Err(error)),
        Err(Failure::Internal(detail)) => {
            let mut answer = Answer::reply(method, id, Err(internal_object()));
            answer.response.extensions_mut().insert(detail);
            answer
        }
        Ok(result) => Answer::reply(method, id, Ok(result)),
    }
}

/// The answer to a body that is not a request: what is wrong with it, for
/// the request's `id` when it has one.
fn unparsed(body: &[u8]) -> Answer {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(err) => {
            return Answer::reply(
                "none",
                RequestId::Null,
                Err(parse(format!("invalid JSON: {err}"))),
            );
        }
    };
    if value.is_array() {
        return Answer::reply(
            "none",
            RequestId::Null,
            Err(parse(
                "batch requests are not supported: send one request per HTTP call",
            )),
        );
    }
    let id = value
        .get("id")
        .and_then(|id| serde_json::from_value(id.clone()).ok())
        .unwrap_or_default();
    let error = match serde_json::from_value::<Request>(value) {
        Ok(_) => "the request is not valid JSON-RPC".to_owned(),
        Err(err) => err.to_string(),
    };
    Answer::reply("none", id, Err(parse(error)))
}

/// The identity a call on `context` runs as: the principal's decision
/// (refused with the protocol's `Unauthorized`), or the caller's choice on
/// `/jsonrpc/dev`. The node refuses executors that are not members.
fn executor(
    caller: &Caller,
    context: ContextId,
    asked: Option<PublicKey>,
) -> Result<Option<PublicKey>, ErrorObject> {
    let Caller::Authenticated(principal) = caller else {
        return Ok(asked);
    };
    principal.executor(context, asked).map_err(|error| {
        tracing::debug!(%error, "JSON-RPC call refused");
        ErrorObject {
            error: RpcError::CallError(jsonrpc::CallError::Unauthorized {
                context_id: context,
                public_key: principal.public_key(),
            }),
            payload: None,
        }
    })
}

async fn call(
    state: &JsonRpcState,
    caller: &Caller,
    kind: Kind,
    params: IncomingParams<'_>,
) -> Result<Success, Failure> {
    let write = !matches!(kind, Kind::Query);
    if !params.substitute.is_empty() {
        return Err(parse(format!(
            "`substitute` names context aliases ({}), which this node does not keep: put the values in argsJson",
            params.substitute.join(", ")
        ))
        .into());
    }
    let executor = executor(caller, params.context_id, params.executor_public_key)?;
    let args = params.args().as_bytes().to_vec();
    let context = params.context_id;
    let method = params.method;
    let output = if write {
        // The context's next mutation may run while this one's commit
        // becomes durable: the wait holds neither a slot nor the lane.
        match state
            .node
            .run_blocking_on(context, move |node| {
                node.begin_mutate(&context, &method, &args, executor)
            })
            .await
        {
            Ok(mutation) => mutation.durable().await,
            Err(error) => Err(error),
        }
    } else {
        state
            .node
            .query_async(context, method, args, executor)
            .await
    };
    result(output.map_err(from_node)?)
}

fn result(output: CallOutput) -> Result<Success, Failure> {
    let value = match output.returns {
        None => RawValue::NULL.to_owned(),
        Some(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|err| internal(format!("return value is not UTF-8: {err}")))?;
            serde_json::from_str::<Valid>(&text)
                .and_then(|Valid| RawValue::from_string(text))
                .map_err(|err| ErrorObject {
                    error: RpcError::SerdeError {
                        message: format!("the return value is not JSON: {err}"),
                    },
                    payload: None,
                })?
        }
    };
    Ok(Success {
        output: value,
        root_hash: output.record.as_ref().map(|record| record.root_hash),
        event_seq: output.record.as_ref().map(|record| record.seq),
    })
}

#[cfg(test)]
mod tests {
    use server_primitives::jsonrpc::RequestCall;

    use super::*;

    /// [`parse_request`] takes exactly the bodies [`Request`] takes, so
    /// refusals keep [`Request`]'s wording ([`unparsed`]).
    #[test]
    fn requests_are_read_as_the_public_type_reads_them() {
        let context = "11111111111111111111111111111111";
        let params = format!(r#"{{"contextId":"{context}","method":"m"}}"#);
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let bodies = [
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"query","params":{params}}}"#),
            format!(r#"{{"params":{params},"method":"execute","jsonrpc":"2.0","extra":[1]}}"#),
            format!(
                r#"{{"jsonrpc":"2.0","method":"mutate","params":{{"contextId":"{context}","method":"m","argsJson":{{"n":340282366920938463463374607431768211455}},"substitute":[]}}}}"#
            ),
            format!(
                r#"{{"jsonrpc":"2.0","method":"query","params":{{"contextId":"{context}","method":"m","argsJson":null}}}}"#
            ),
            format!(r#"{{"jsonrpc":"1.0","method":"query","params":{params}}}"#),
            format!(r#"{{"jsonrpc":"2.0","method":"call","params":{params}}}"#),
            r#"{"jsonrpc":"2.0","method":"query"}"#.to_owned(),
            format!(r#"{{"jsonrpc":"2.0","method":"query","method":"mutate","params":{params}}}"#),
            format!(r#"{{"jsonrpc":"2.0","method":"query","params":{params},"params":{params}}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":1,"id":2,"method":"query","params":{params}}}"#),
            r#"{"jsonrpc":"2.0","method":"query","params":{"contextId":"x","method":"m"}}"#
                .to_owned(),
            format!(
                r#"{{"jsonrpc":"2.0","method":"query","params":{{"contextId":"{context}","method":"m","argsJson":{deep}}}}}"#
            ),
            format!(
                r#"{{"jsonrpc":"2.0","method":"query","params":{{"contextId":"{context}","method":"m","argsJson":"\ud800"}}}}"#
            ),
            format!(
                r#"{{"jsonrpc":"2.0","method":"query","params":{{"contextId":"{context}","method":"m","argsJson":1e400}}}}"#
            ),
            format!(r#"[{{"jsonrpc":"2.0","method":"query","params":{params}}}]"#),
        ];
        for body in bodies {
            let public = serde_json::from_slice::<Request>(body.as_bytes());
            let read = parse_request(body.as_bytes());
            assert_eq!(read.is_some(), public.is_ok(), "{body}: {public:?}");
            if let (
                Some(Incoming {
                    id,
                    method: kind,
                    params,
                    ..
                }),
                Ok(public),
            ) = (read, public)
            {
                assert_eq!(id, public.id);
                let (expected, call) = match public.call {
                    RequestCall::Query(call) => ("query", call),
                    RequestCall::Mutate(call) => ("mutate", call),
                    RequestCall::Execute(call) => ("execute", call),
                };
                assert_eq!(kind.name(), expected);
                assert_eq!(
                    serde_json::from_str::<Value>(params.args()).ok(),
                    Some(call.args_json)
                );
                assert_eq!(
                    (params.context_id, params.method),
                    (call.context_id, call.method)
                );
            }
        }
    }
}

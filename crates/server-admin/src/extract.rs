//! Extractors whose rejections are [`ApiError`]s: JSON bodies, path ids, and
//! the callers, whose type states who may call a route ([`Admin`],
//! [`ContextReader`]): the decision itself is `server_auth`'s.

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{ConnectInfo, OriginalUri};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use node_primitives::ContextId;
use serde::de::DeserializeOwned;
use server_auth::{Action, Principal, Target};

use crate::ApiError;
use crate::routes::AdminState;

/// A JSON body; a missing or other content type is 415, a body that is not
/// UTF-8 or not JSON 400, a wrong shape 422.
#[derive(Debug)]
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(server_primitives::is_json_media_type);
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body with `content-type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        // JSON is UTF-8 (RFC 8259): fields a route ignores are no exception.
        if let Err(err) = std::str::from_utf8(&bytes) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not UTF-8: {err}"),
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let status = match rejection {
        JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        JsonRejection::JsonSyntaxError(_) => StatusCode::BAD_REQUEST,
        JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
        other => other.status(),
    };
    ApiError::new(status, rejection.body_text())
}

/// A path parameter parsed with `FromStr` (ids): a bad one is 400.
#[derive(Debug)]
pub(crate) struct PathId<T>(pub T);

impl<T, S> FromRequestParts<S> for PathId<T>
where
    T: std::str::FromStr + Send,
    T::Err: std::fmt::Display,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(text) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|rejection: PathRejection| {
                    ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
                })?;
        text.parse().map(Self).map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid id {text:?}: {err}"),
            )
        })
    }
}

/// The caller's principal: the five auth headers of a registered client key
/// signed for this request, or a bearer access token. Any failure is the same 401.
fn authenticate(parts: &Parts, state: &AdminState) -> Result<Principal, ApiError> {
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    // Routes are nested under `/admin-api`; clients sign the whole path.
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path(), |original| original.path());
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    let target = Target {
        method: parts.method.as_str(),
        path,
        from_loopback: Target::is_loopback(peer),
    };
    Ok(state
        .auth
        .authenticate(headers.iter().copied(), target, state.auth.now_ms())?)
}

/// The node's administrator (a client key a root wallet registered without
/// a context). Anyone else with valid credentials gets 403.
#[derive(Debug)]
pub(crate) struct Admin(pub Principal);

impl FromRequestParts<AdminState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let principal = authenticate(parts, state)?;
        principal.authorize(Action::Administer)?;
        Ok(Self(principal))
    }
}

/// A caller who may read the context of the path (`{context_id}`): the
/// administrator, or a principal of that context.
#[derive(Debug)]
pub(crate) struct ContextReader(pub ContextId);

impl FromRequestParts<AdminState> for ContextReader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let principal = authenticate(parts, state)?;
        let PathId(id) = PathId::<ContextId>::from_request_parts(parts, state).await?;
        principal.authorize(Action::ReadContext(id))?;
        Ok(Self(id))
    }
}

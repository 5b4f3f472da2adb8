//! The one error type of the admin API and its mapping to the wire.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use node::{InternalDetail, NodeError};
use server_auth::AuthError;
use server_primitives::admin::ApiErrorResponse;

/// An admin API failure: a status and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What was wrong.
    pub message: String,
    /// For the node's own failures, what went wrong: for the log, never
    /// for the client (see [`InternalDetail`]).
    pub detail: Option<String>,
}

/// Seconds a client refused with `503` is asked to wait (`retry-after`).
const RETRY_AFTER_SECS: u32 = 1;

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            detail: None,
        }
    }

    /// The answer to a failed per-request authentication.
    #[must_use]
    pub fn unauthorized(error: &AuthError) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            error.refusal(server_auth::REFUSED),
        )
    }

    /// A failure that is the node's own; `detail` goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self {
            detail: Some(detail.to_string()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorResponse::new(self.status.as_u16(), self.message);
        let mut response = (self.status, Json(body)).into_response();
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(InternalDetail(detail));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

impl From<NodeError> for ApiError {
    fn from(error: NodeError) -> Self {
        let status = match &error {
            NodeError::ContextNotFound(_) | NodeError::ApplicationNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            NodeError::Uninitialized(_) | NodeError::Conflict(_) => StatusCode::CONFLICT,
            NodeError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            NodeError::ReservedMethod(_) | NodeError::Install(_) | NodeError::Rejected(_) => {
                StatusCode::BAD_REQUEST
            }
            NodeError::Call { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            NodeError::NotMember { .. } => StatusCode::FORBIDDEN,
            NodeError::Busy(_) | NodeError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            NodeError::Store(_) | NodeError::Internal(_) => return Self::internal(error),
        };
        Self::new(status, error.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let status = match &error {
            AuthError::InvalidLogin(_) => StatusCode::BAD_REQUEST,
            AuthError::Unauthorized(_) | AuthError::TokenExpired => {
                tracing::debug!(%error, "request authentication failed");
                return Self::unauthorized(&error);
            }
            AuthError::NotRootKey | AuthError::InvalidRefreshToken(_) | AuthError::Forbidden(_) => {
                StatusCode::FORBIDDEN
            }
            AuthError::UnknownKey(_) => StatusCode::NOT_FOUND,
            AuthError::KeyBoundElsewhere(_) => StatusCode::CONFLICT,
            AuthError::Store(_) | AuthError::Internal(_) => return Self::internal(error),
            AuthError::ForeignChallenge
            | AuthError::ChallengeExpired
            | AuthError::ChallengeFromFuture
            | AuthError::ChallengeReused
            | AuthError::ChallengeContextMismatch
            | AuthError::MessageMismatch
            | AuthError::InvalidWalletSignature
            | AuthError::RecipientMismatch => StatusCode::UNAUTHORIZED,
        };
        Self::new(status, error.to_string())
    }
}

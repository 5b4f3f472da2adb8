//! The errors of login and authentication.

/// Why a login, a request or a token was refused.
///
/// Login errors say what was wrong so that a client can fix its request; the
/// per-request errors ([`AuthError::is_request_auth_failure`]) all reach the
/// client as a 401 with one message ([`AuthError::refusal`]), save an expired
/// access token; only the node's log says which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A field of a login body is malformed (bad base64, wrong length, …).
    #[error("invalid login: {0}")]
    InvalidLogin(String),
    /// The challenge was not signed by this node, or was altered.
    #[error("the challenge was not issued by this node")]
    ForeignChallenge,
    /// The challenge is older than the configured lifetime.
    #[error("the challenge has expired; request a new one")]
    ChallengeExpired,
    /// The challenge's timestamp lies in the future.
    #[error("the challenge's timestamp lies in the future")]
    ChallengeFromFuture,
    /// The challenge was already used for a successful login.
    #[error("the challenge was already used; request a new one")]
    ChallengeReused,
    /// The challenge was issued for another context than the login names.
    #[error("the challenge was issued for another context")]
    ChallengeContextMismatch,
    /// The signed text does not name this challenge and this client key.
    #[error(
        "the signed message must be {{\"nodeSignature\":…,\"publicKey\":…}} for this challenge and client key"
    )]
    MessageMismatch,
    /// The wallet's signature does not verify.
    #[error("the wallet signature does not verify")]
    InvalidWalletSignature,
    /// The NEP-413 recipient is not the one this node expects.
    #[error("the signed recipient is not this node's")]
    RecipientMismatch,
    /// A root key exists and the signing wallet is not one.
    #[error("only a root key's wallet may add keys to this node")]
    NotRootKey,
    /// A request carried no valid credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// A request carried an access token of this node that has expired: the
    /// caller should refresh it (the text is what the client SDKs look for).
    #[error("Token expired.")]
    TokenExpired,
    /// Valid credentials that may not do what the request asks (403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The client key is registered already, for another context (or none).
    #[error("client key {0} is registered for another context; delete it first")]
    KeyBoundElsewhere(String),
    /// No such key.
    #[error("no client key {0} is registered")]
    UnknownKey(String),
    /// A refresh token was refused.
    #[error("invalid refresh token: {0}")]
    InvalidRefreshToken(&'static str),
    /// The key store failed.
    #[error("key store: {0}")]
    Store(String),
    /// The node could not draw random bytes or sign.
    #[error("internal: {0}")]
    Internal(String),
}

/// What a request refused for its credentials is told, whatever check failed.
pub const REFUSED: &str =
    "unauthorized: sign the request with a registered client key or send a valid bearer token";

impl AuthError {
    /// Whether this is a per-request authentication failure (always a 401).
    #[must_use]
    pub fn is_request_auth_failure(&self) -> bool {
        matches!(self, Self::Unauthorized(_) | Self::TokenExpired)
    }

    /// The message for a per-request authentication failure: `Token expired.`
    /// for an expired access token (the text client SDKs refresh on), else
    /// `generic`.
    #[must_use]
    pub fn refusal(&self, generic: &str) -> String {
        match self {
            Self::TokenExpired => self.to_string(),
            _ => generic.to_owned(),
        }
    }
}

//! The [`Authenticator`]: the one object the server holds for login,
//! request authentication and tokens.

use std::sync::Arc;

use node_primitives::{ContextId, PublicKey};
use server_primitives::auth::{
    AddPublicKeyRequest, ClientKey, Did, JwtTokenResponse, NodeChallenge, RootKey, TokenType,
};

use crate::login::{self, VerifiedLogin};
use crate::store::KeyState;
use crate::{AuthError, AuthHeaders, ClientPublicKey, KeyStore, LoginOutcome, NodeIdentity, jwt};

/// The longest a challenge may live: five minutes.
pub const MAX_CHALLENGE_TTL_SECS: i64 = 300;

/// Settings of login and tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// How long a challenge is accepted, seconds (capped at five minutes).
    pub challenge_ttl_secs: i64,
    /// How far in the future a challenge timestamp may lie (clock steps).
    pub max_clock_skew_secs: i64,
    /// The NEP-413 recipient logins must name; any when `None`.
    pub near_recipient: Option<String>,
    /// Lifetime of access tokens, seconds.
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens, seconds.
    pub refresh_token_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            challenge_ttl_secs: MAX_CHALLENGE_TTL_SECS,
            max_clock_skew_secs: 5,
            near_recipient: None,
            access_token_ttl_secs: 60 * 60,
            refresh_token_ttl_secs: 30 * 24 * 60 * 60,
        }
    }
}

impl AuthConfig {
    /// The challenge lifetime actually used: at most five minutes.
    #[must_use]
    pub fn challenge_ttl_secs(&self) -> i64 {
        self.challenge_ttl_secs.clamp(0, MAX_CHALLENGE_TTL_SECS)
    }
}

/// Who made an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A registered client key, by the five auth headers.
    ClientKey {
        /// The client key.
        signing_key: String,
        /// The context the key is bound to, if any.
        context_id: Option<ContextId>,
    },
    /// A bearer access token.
    Token {
        /// The context the token is bound to.
        context_id: ContextId,
        /// The identity calls are executed as.
        executor_public_key: PublicKey,
    },
}

impl Principal {
    /// Whether this principal may act on `context_id`: unbound keys may act on
    /// any context, bound keys and tokens only on theirs.
    #[must_use]
    pub fn may_access(&self, context_id: &ContextId) -> bool {
        match self {
            Self::ClientKey {
                context_id: bound, ..
            } => bound.is_none_or(|bound| bound == *context_id),
            Self::Token {
                context_id: bound, ..
            } => bound == context_id,
        }
    }
}

/// Login, request authentication and tokens over a [`KeyStore`].
#[derive(Debug, Clone)]
pub struct Authenticator {
    identity: NodeIdentity,
    jwt_secret: Arc<[u8]>,
    config: AuthConfig,
    store: Arc<dyn KeyStore>,
}

fn secs(now_ms: u64) -> i64 {
    i64::try_from(now_ms / 1000).unwrap_or(i64::MAX)
}

impl Authenticator {
    /// An authenticator for a node with this identity and JWT secret.
    #[must_use]
    pub fn new(
        identity: NodeIdentity,
        jwt_secret: &[u8],
        config: AuthConfig,
        store: Arc<dyn KeyStore>,
    ) -> Self {
        Self {
            identity,
            jwt_secret: jwt_secret.into(),
            config,
            store,
        }
    }

    /// The node's identity.
    #[must_use]
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// A fresh challenge (`POST /request-challenge`).
    ///
    /// # Errors
    /// When the OS has no randomness.
    pub fn request_challenge(
        &self,
        context_id: Option<ContextId>,
        now_ms: u64,
    ) -> Result<NodeChallenge, AuthError> {
        crate::challenge::issue(&self.identity, context_id, secs(now_ms))
    }

    /// `POST /add-client-key`: verifies the login, then in one atomic step
    /// consumes the challenge and either makes the wallet the root key (no root
    /// key yet) or, for a root wallet, registers the client key.
    ///
    /// # Errors
    /// Any [`AuthError`] of verification, [`AuthError::ChallengeReused`],
    /// [`AuthError::NotRootKey`], or the store's.
    pub fn add_client_key(
        &self,
        body: &AddPublicKeyRequest,
        now_ms: u64,
    ) -> Result<LoginOutcome, AuthError> {
        let verified = login::verify(&self.identity, &self.config, body, secs(now_ms))?;
        let mut outcome = LoginOutcome::ClientKeyAdded;
        self.store.update(&mut |state| {
            consume_challenge(state, &verified, secs(now_ms))?;
            if state.root_keys.is_empty() {
                state.root_keys.push(root_key(&verified, now_ms));
                outcome = LoginOutcome::RootKeyCreated;
            } else if !is_root(state, &verified.wallet_key) {
                return Err(AuthError::NotRootKey);
            } else {
                outcome = LoginOutcome::ClientKeyAdded;
            }
            if !state
                .client_keys
                .iter()
                .any(|key| key.signing_key == verified.client_key)
            {
                state.client_keys.push(ClientKey {
                    wallet: verified.wallet.clone(),
                    signing_key: verified.client_key.clone(),
                    created_at: now_ms,
                    context_id: body.context_id,
                });
            }
            Ok(())
        })?;
        Ok(outcome)
    }

    /// `POST /root-key` (an authenticated caller): verifies the login, then
    /// consumes the challenge and adds the wallet as a root key.
    ///
    /// # Errors
    /// As [`Authenticator::add_client_key`], without `NotRootKey`.
    pub fn add_root_key(
        &self,
        body: &AddPublicKeyRequest,
        now_ms: u64,
    ) -> Result<LoginOutcome, AuthError> {
        let verified = login::verify(&self.identity, &self.config, body, secs(now_ms))?;
        self.store.update(&mut |state| {
            consume_challenge(state, &verified, secs(now_ms))?;
            if !is_root(state, &verified.wallet_key) {
                state.root_keys.push(root_key(&verified, now_ms));
            }
            Ok(())
        })?;
        Ok(LoginOutcome::RootKeyAdded)
    }

    /// Authenticates a request by its headers: `Authorization: Bearer <access
    /// token>` when present, else the five auth headers of a registered client key.
    ///
    /// # Errors
    /// [`AuthError::Unauthorized`] for every failure (the reason is for logs),
    /// or the store's error.
    pub fn authenticate<'a>(
        &self,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])> + Clone,
        now_ms: u64,
    ) -> Result<Principal, AuthError> {
        let bearer = headers
            .clone()
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        if let Some((_, value)) = bearer {
            let token = std::str::from_utf8(value)
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .ok_or(AuthError::Unauthorized("malformed authorization header"))?;
            return self.authenticate_token(token.trim(), now_ms);
        }
        let headers =
            AuthHeaders::parse(headers)?.ok_or(AuthError::Unauthorized("no credentials"))?;
        self.authenticate_headers(&headers)
    }

    /// Authenticates the five auth headers of a registered client key.
    ///
    /// # Errors
    /// [`AuthError::Unauthorized`], or the store's error.
    pub fn authenticate_headers(&self, headers: &AuthHeaders) -> Result<Principal, AuthError> {
        let state = self.store.load()?;
        let registered = state
            .client_keys
            .iter()
            .find(|key| key.signing_key == headers.signing_key)
            .ok_or(AuthError::Unauthorized("client key not registered"))?;
        let key = ClientPublicKey::parse(&registered.signing_key)
            .map_err(|_| AuthError::Unauthorized("registered client key is invalid"))?;
        if !key.verify(&headers.challenge, &headers.signature) {
            return Err(AuthError::Unauthorized("signature does not verify"));
        }
        if let (Some(bound), Some(asked)) = (registered.context_id, headers.context_id)
            && bound != asked
        {
            return Err(AuthError::Unauthorized(
                "client key is bound to another context",
            ));
        }
        Ok(Principal::ClientKey {
            signing_key: registered.signing_key.clone(),
            context_id: registered.context_id,
        })
    }

    /// Authenticates a bearer access token.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`] for an expired token of this node, else
    /// [`AuthError::Unauthorized`].
    pub fn authenticate_token(&self, token: &str, now_ms: u64) -> Result<Principal, AuthError> {
        let claims = jwt::verify(&self.jwt_secret, token, TokenType::Access, now_ms / 1000)
            .map_err(|reason| {
                if reason == jwt::EXPIRED {
                    AuthError::TokenExpired
                } else {
                    AuthError::Unauthorized(reason)
                }
            })?;
        Ok(Principal::Token {
            context_id: claims.context_id,
            executor_public_key: claims.executor_public_key,
        })
    }

    /// `POST /generate-jwt-token`: a new access / refresh pair.
    ///
    /// # Errors
    /// When signing or the store fails.
    pub fn issue_tokens(
        &self,
        context_id: ContextId,
        executor_public_key: PublicKey,
        now_ms: u64,
    ) -> Result<JwtTokenResponse, AuthError> {
        let pair = self.sign_pair(context_id, executor_public_key, now_ms)?;
        self.store.update(&mut |state| {
            state.prune(secs(now_ms));
            state.refresh_tokens.insert(pair.1.clone(), pair.2);
            Ok(())
        })?;
        Ok(pair.0)
    }

    /// `POST /refresh-jwt-token`: trades a live refresh token for a new pair.
    /// The old refresh token is gone afterwards (rotation).
    ///
    /// # Errors
    /// [`AuthError::InvalidRefreshToken`] for a bad, expired, wrong-type or
    /// already used token.
    pub fn refresh_tokens(
        &self,
        refresh_token: &str,
        now_ms: u64,
    ) -> Result<JwtTokenResponse, AuthError> {
        let claims = jwt::verify(
            &self.jwt_secret,
            refresh_token,
            TokenType::Refresh,
            now_ms / 1000,
        )
        .map_err(AuthError::InvalidRefreshToken)?;
        let old = claims
            .jti
            .ok_or(AuthError::InvalidRefreshToken("token has no id"))?;
        let pair = self.sign_pair(claims.context_id, claims.executor_public_key, now_ms)?;
        self.store.update(&mut |state| {
            state.prune(secs(now_ms));
            if state.refresh_tokens.remove(&old).is_none() {
                return Err(AuthError::InvalidRefreshToken(
                    "token already used or revoked",
                ));
            }
            state.refresh_tokens.insert(pair.1.clone(), pair.2);
            Ok(())
        })?;
        Ok(pair.0)
    }

    /// The node's DID document.
    ///
    /// # Errors
    /// The store's error.
    pub fn did(&self) -> Result<Did, AuthError> {
        let state = self.store.load()?;
        Ok(Did {
            id: "did:cali".to_owned(),
            root_keys: state.root_keys,
            client_keys: state.client_keys,
        })
    }

    /// Client keys bound to `context_id`.
    ///
    /// # Errors
    /// The store's error.
    pub fn client_keys_of(&self, context_id: &ContextId) -> Result<Vec<ClientKey>, AuthError> {
        let mut keys = self.store.load()?.client_keys;
        keys.retain(|key| key.context_id.as_ref() == Some(context_id));
        Ok(keys)
    }

    /// `DELETE /identity/keys`: forgets every root key, client key and refresh
    /// token; the next login becomes root again.
    ///
    /// # Errors
    /// The store's error.
    pub fn delete_keys(&self) -> Result<(), AuthError> {
        self.store.update(&mut |state| {
            state.root_keys.clear();
            state.client_keys.clear();
            state.refresh_tokens.clear();
            Ok(())
        })
    }

    /// Signs an access / refresh pair; returns it with the refresh token's id and expiry.
    fn sign_pair(
        &self,
        context_id: ContextId,
        executor: PublicKey,
        now_ms: u64,
    ) -> Result<(JwtTokenResponse, String, u64), AuthError> {
        let now = now_ms / 1000;
        let (access_token, _) = jwt::issue(
            &self.jwt_secret,
            TokenType::Access,
            context_id,
            executor,
            now,
            self.config.access_token_ttl_secs,
        )?;
        let (refresh_token, refresh) = jwt::issue(
            &self.jwt_secret,
            TokenType::Refresh,
            context_id,
            executor,
            now,
            self.config.refresh_token_ttl_secs,
        )?;
        let id = refresh.jti.unwrap_or_default();
        Ok((
            JwtTokenResponse {
                access_token,
                refresh_token,
            },
            id,
            refresh.exp,
        ))
    }
}

fn consume_challenge(
    state: &mut KeyState,
    login: &VerifiedLogin,
    now_secs: i64,
) -> Result<(), AuthError> {
    state.prune(now_secs);
    if state
        .used_challenges
        .insert(
            login.challenge.nonce_text.clone(),
            login.challenge.expires_at,
        )
        .is_some()
    {
        return Err(AuthError::ChallengeReused);
    }
    Ok(())
}

fn is_root(state: &KeyState, wallet_key: &str) -> bool {
    state
        .root_keys
        .iter()
        .any(|root| root.signing_key.eq_ignore_ascii_case(wallet_key))
}

fn root_key(login: &VerifiedLogin, now_ms: u64) -> RootKey {
    RootKey {
        signing_key: login.wallet_key.clone(),
        wallet: login.wallet.clone(),
        created_at: now_ms,
    }
}

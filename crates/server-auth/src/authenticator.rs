//! The [`Authenticator`]: the one object the server holds for login,
//! request authentication and tokens.

use std::fmt::Debug;
use std::sync::Arc;

use node_primitives::{ContextId, PublicKey};
use server_primitives::auth::{
    AddPublicKeyRequest, ClientKey, Did, JwtTokenResponse, NodeChallenge, RootKey, TokenType,
};

use crate::access::Lease;
use crate::headers::{StampRules, Target, check_stamp};
use crate::login::{self, VerifiedLogin};
use crate::records::{self, ClientKeyRecord};
use crate::registrations::{Lookup, Registrations};
use crate::replay::SeenSignatures;
use crate::store::{KeyWrite, Table};
use crate::{
    AuthError, AuthHeaders, ClientPublicKey, KeyStore, LoginOutcome, NodeIdentity, Principal, jwt,
};

/// The longest a challenge may live: five minutes.
pub const MAX_CHALLENGE_TTL_SECS: i64 = 300;

/// Settings of login, auth headers and tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// How long a challenge is accepted, seconds (capped at five minutes).
    pub challenge_ttl_secs: i64,
    /// How far in the future a challenge timestamp may lie (clock steps).
    pub max_clock_skew_secs: i64,
    /// How long a signed header set is accepted after its stamp's time, seconds.
    pub header_max_age_secs: u64,
    /// How far in the future a header set's stamp may lie, seconds.
    pub header_max_skew_secs: u64,
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
            // Accepted from 30 s before to 240 s after its stamp: a captured
            // header set stops working at most 270 s after it was first valid.
            header_max_age_secs: 240,
            header_max_skew_secs: 30,
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

/// Where the authenticator reads the time (tests move it).
pub trait Clock: Send + Sync + Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            })
    }
}

/// Login, request authentication and tokens over a [`KeyStore`].
///
/// An authenticator and its clones must be their store's only writer once
/// they answer requests: they remember which client keys are registered,
/// and forget it on their own writes only.
#[derive(Debug, Clone)]
pub struct Authenticator {
    identity: NodeIdentity,
    jwt_secret: Arc<[u8]>,
    config: AuthConfig,
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    seen: Arc<SeenSignatures>,
    verified: Arc<jwt::Verified>,
    registrations: Arc<Registrations>,
    operator: Option<Arc<Operator>>,
}

/// The operator key: a key the node's owner holds on the node's machine,
/// accepted as the administrator's over loopback connections only.
#[derive(Debug)]
struct Operator {
    key: ClientPublicKey,
    encoded: String,
}

/// The registration an operator principal's lease names: the operator key
/// is valid for the authenticator's lifetime, not by a stored row.
const OPERATOR_REGISTRATION: &str = "operator";

fn secs(now_ms: u64) -> i64 {
    i64::try_from(now_ms / 1000).unwrap_or(i64::MAX)
}

impl Authenticator {
    /// An authenticator for a node with this identity and JWT secret, on the
    /// system clock.
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
            clock: Arc::new(SystemClock),
            seen: Arc::default(),
            verified: Arc::default(),
            registrations: Arc::default(),
            operator: None,
        }
    }

    /// The same authenticator accepting header sets signed by `key` as the
    /// node's administrator, from loopback connections only
    /// ([`Target::from_loopback`]). The node's binary creates such a key at
    /// each start and hands it to its owner through a file in the home, so
    /// that a terminal on the node's machine administers it without a
    /// wallet; the key is not stored and dies with the run.
    #[must_use]
    pub fn with_operator(self, key: ClientPublicKey) -> Self {
        let encoded = key.encode();
        Self {
            operator: Some(Arc::new(Operator { key, encoded })),
            ..self
        }
    }

    /// The same authenticator reading the time from `clock`.
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// Now, by the authenticator's clock, in Unix milliseconds.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
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
    /// key yet) or, for a root wallet, registers the client key (bound to the
    /// body's `contextId`, if any).
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
        let registration = hex::encode(crate::identity::random_bytes::<16>()?);
        let mut outcome = LoginOutcome::ClientKeyAdded;
        self.write(&mut |tables| {
            consume_challenge(tables, &verified, now_ms)?;
            let roots = tables.list(Table::RootKeys)?;
            if roots.is_empty() {
                put_root(tables, &verified, now_ms)?;
                outcome = LoginOutcome::RootKeyCreated;
            } else if !is_root(tables, &verified.wallet_key)? {
                return Err(AuthError::NotRootKey);
            } else {
                outcome = LoginOutcome::ClientKeyAdded;
            }
            if let Some(row) = tables.get(Table::ClientKeys, &verified.client_key)? {
                // Registered already: the same binding again is a no-op;
                // another one must not be changed silently.
                let existing: ClientKeyRecord = records::decode(&row)?;
                if existing.key.context_id != body.context_id {
                    return Err(AuthError::KeyBoundElsewhere(verified.client_key.clone()));
                }
            } else {
                let record = ClientKeyRecord {
                    key: ClientKey {
                        wallet: verified.wallet.clone(),
                        signing_key: verified.client_key.clone(),
                        created_at: now_ms,
                        context_id: body.context_id,
                    },
                    registration: registration.clone(),
                };
                tables.insert(
                    Table::ClientKeys,
                    &verified.client_key,
                    &records::encode(&record)?,
                    None,
                )?;
            }
            Ok(())
        })?;
        Ok(outcome)
    }

    /// Verifies a login body and that its wallet may log in (a root key, or
    /// none yet) without storing anything, so that a caller may look things
    /// up for such logins only. [`Authenticator::add_client_key`] checks it
    /// all again atomically.
    ///
    /// # Errors
    /// Any [`AuthError`] of verification, or [`AuthError::NotRootKey`].
    pub fn check_login(&self, body: &AddPublicKeyRequest, now_ms: u64) -> Result<(), AuthError> {
        let verified = login::verify(&self.identity, &self.config, body, secs(now_ms))?;
        let roots = self.store.list(Table::RootKeys)?;
        let root = roots.is_empty()
            || roots
                .iter()
                .any(|(key, _)| key.eq_ignore_ascii_case(&verified.wallet_key));
        if root {
            Ok(())
        } else {
            Err(AuthError::NotRootKey)
        }
    }

    /// `POST /root-key` (the administrator): verifies the login, then
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
        self.write(&mut |tables| {
            consume_challenge(tables, &verified, now_ms)?;
            if !is_root(tables, &verified.wallet_key)? {
                put_root(tables, &verified, now_ms)?;
            }
            Ok(())
        })?;
        Ok(LoginOutcome::RootKeyAdded)
    }

    /// Authenticates a request by its headers: `Authorization: Bearer <access
    /// token>` when present, else the five auth headers of a registered client
    /// key, signed for `target` on this node within the last minutes.
    ///
    /// # Errors
    /// [`AuthError::Unauthorized`] for every failure (the reason is for logs),
    /// [`AuthError::TokenExpired`], or the store's error.
    pub fn authenticate<'a>(
        &self,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])> + Clone,
        target: Target<'_>,
        now_ms: u64,
    ) -> Result<Principal, AuthError> {
        let bearer = headers
            .clone()
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        if let Some((_, value)) = bearer {
            let token = std::str::from_utf8(value)
                .ok()
                .and_then(|value| {
                    let (scheme, token) = value.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then_some(token)
                })
                .ok_or(AuthError::Unauthorized("malformed authorization header"))?;
            return self.authenticate_token(token.trim(), now_ms);
        }
        let headers =
            AuthHeaders::parse(headers)?.ok_or(AuthError::Unauthorized("no credentials"))?;
        self.authenticate_headers(&headers, target, now_ms)
    }

    /// Authenticates the five auth headers of a registered client key.
    ///
    /// # Errors
    /// [`AuthError::Unauthorized`], or the store's error.
    pub fn authenticate_headers(
        &self,
        headers: &AuthHeaders,
        target: Target<'_>,
        now_ms: u64,
    ) -> Result<Principal, AuthError> {
        if let Some(operator) = self
            .operator
            .as_deref()
            .filter(|operator| operator.encoded == headers.signing_key)
        {
            if !target.from_loopback {
                return Err(AuthError::Unauthorized(
                    "the operator key is accepted over loopback connections only",
                ));
            }
            let expires = self.check_signed(&operator.key, headers, target, now_ms)?;
            self.seen
                .admit(headers.signature, expires, now_ms / 1000)
                .map_err(AuthError::Unauthorized)?;
            return Ok(Principal::ClientKey {
                executor: PublicKey::from_bytes(operator.key.to_bytes()),
                lease: Lease::new(&operator.encoded, OPERATOR_REGISTRATION, None),
                signing_key: operator.encoded.clone(),
                context_id: None,
            });
        }
        let record = self
            .client_key(&headers.signing_key)?
            .ok_or(AuthError::Unauthorized("client key not registered"))?;
        let registered = record.key;
        let key = ClientPublicKey::parse(&registered.signing_key)
            .map_err(|_| AuthError::Unauthorized("registered client key is invalid"))?;
        let expires = self.check_signed(&key, headers, target, now_ms)?;
        if let (Some(bound), Some(asked)) = (registered.context_id, headers.context_id)
            && bound != asked
        {
            return Err(AuthError::Unauthorized(
                "client key is bound to another context",
            ));
        }
        // Last, so that a refused set is not used up.
        self.seen
            .admit(headers.signature, expires, now_ms / 1000)
            .map_err(AuthError::Unauthorized)?;
        Ok(Principal::ClientKey {
            executor: PublicKey::from_bytes(key.to_bytes()),
            lease: Lease::new(&registered.signing_key, &record.registration, None),
            signing_key: registered.signing_key,
            context_id: registered.context_id,
        })
    }

    /// Whether `key` under `registration` is this run's operator key.
    fn is_operator(&self, key: &str, registration: &str) -> bool {
        registration == OPERATOR_REGISTRATION
            && self
                .operator
                .as_deref()
                .is_some_and(|operator| operator.encoded == key)
    }

    /// Checks that `headers` are signed by `key` and stamped for `target` on
    /// this node now; returns when the stamp expires (Unix s).
    fn check_signed(
        &self,
        key: &ClientPublicKey,
        headers: &AuthHeaders,
        target: Target<'_>,
        now_ms: u64,
    ) -> Result<u64, AuthError> {
        if !key.verify(&headers.challenge, &headers.signature) {
            return Err(AuthError::Unauthorized("signature does not verify"));
        }
        check_stamp(
            &headers.challenge,
            target,
            StampRules {
                node: self.identity.public_key(),
                now_secs: now_ms / 1000,
                max_age_secs: self.config.header_max_age_secs,
                max_skew_secs: self.config.header_max_skew_secs,
            },
        )
    }

    /// Authenticates a bearer access token: signed by this node, unexpired,
    /// and minted under a client key that is still registered.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`] for an expired token of this node, else
    /// [`AuthError::Unauthorized`].
    pub fn authenticate_token(&self, token: &str, now_ms: u64) -> Result<Principal, AuthError> {
        let claims = self
            .verified
            .access(&self.jwt_secret, token, now_ms / 1000)
            .map_err(|reason| {
                if reason == jwt::EXPIRED {
                    AuthError::TokenExpired
                } else {
                    AuthError::Unauthorized(reason)
                }
            })?;
        let (Some(key), Some(registration)) = (&claims.sub, &claims.reg) else {
            return Err(AuthError::Unauthorized("the token names no client key"));
        };
        let principal = Principal::Token {
            context_id: claims.context_id,
            executor_public_key: claims.executor_public_key,
            lease: Lease::new(key, registration, Some(claims.exp)),
        };
        self.revalidate(&principal, now_ms)?;
        Ok(principal)
    }

    /// Whether `principal`'s credentials still hold at `now_ms`: its client
    /// key registration is still there and, for a token, it has not expired.
    /// Long-lived sessions call it again while they last.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`], [`AuthError::Unauthorized`] when the key
    /// was deleted, or the store's error.
    pub fn revalidate(&self, principal: &Principal, now_ms: u64) -> Result<(), AuthError> {
        let lease = principal.lease();
        if lease
            .expires
            .is_some_and(|expires| now_ms / 1000 >= expires)
        {
            return Err(AuthError::TokenExpired);
        }
        if self.is_operator(&lease.key, &lease.registration) {
            return Ok(());
        }
        let Lookup::Unknown(generation) = self.registrations.check(&lease.key, &lease.registration)
        else {
            return Ok(());
        };
        let registered = self
            .client_key(&lease.key)?
            .is_some_and(|record| record.registration == lease.registration);
        if registered {
            self.registrations
                .remember(generation, &lease.key, &lease.registration);
            Ok(())
        } else {
            Err(AuthError::Unauthorized(
                "the key the credentials were issued under is gone",
            ))
        }
    }

    /// `POST /generate-jwt-token`: a new access / refresh pair for
    /// `executor_public_key` on `context_id`, minted under the client key
    /// `minted_by` (the tokens die with it). The caller checked that the
    /// executor is a member of the context.
    ///
    /// # Errors
    /// [`AuthError::UnknownKey`] when `minted_by` is not registered, or when
    /// signing or the store fails.
    pub fn issue_tokens(
        &self,
        minted_by: &str,
        context_id: ContextId,
        executor_public_key: PublicKey,
        now_ms: u64,
    ) -> Result<JwtTokenResponse, AuthError> {
        let mut pair = None;
        self.write(&mut |tables| {
            tables.prune(now_ms / 1000)?;
            let registration = if self.is_operator(minted_by, OPERATOR_REGISTRATION) {
                OPERATOR_REGISTRATION.to_owned()
            } else {
                tables
                    .get(Table::ClientKeys, minted_by)?
                    .map(|row| records::decode::<ClientKeyRecord>(&row))
                    .transpose()?
                    .ok_or_else(|| AuthError::UnknownKey(minted_by.to_owned()))?
                    .registration
            };
            let minter = Minter {
                key: minted_by,
                registration: &registration,
            };
            let signed = self.sign_pair(&minter, context_id, executor_public_key, now_ms)?;
            tables.insert(Table::RefreshTokens, &signed.1, &[], Some(signed.2))?;
            pair = Some(signed.0);
            Ok(())
        })?;
        pair.ok_or_else(|| AuthError::Internal("no token pair was signed".into()))
    }

    /// `POST /refresh-jwt-token`: trades a live refresh token for a new pair.
    /// The old refresh token is gone afterwards (rotation); one minted under
    /// a key that is no longer registered is refused.
    ///
    /// # Errors
    /// [`AuthError::InvalidRefreshToken`] for a bad, expired, wrong-type,
    /// revoked or already used token.
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
            .clone()
            .ok_or(AuthError::InvalidRefreshToken("token has no id"))?;
        let (Some(key), Some(registration)) = (&claims.sub, &claims.reg) else {
            return Err(AuthError::InvalidRefreshToken("token names no client key"));
        };
        let minter = Minter { key, registration };
        let pair = self.sign_pair(
            &minter,
            claims.context_id,
            claims.executor_public_key,
            now_ms,
        )?;
        self.write(&mut |tables| {
            tables.prune(now_ms / 1000)?;
            if !tables.remove(Table::RefreshTokens, &old)? {
                return Err(AuthError::InvalidRefreshToken(
                    "token already used or revoked",
                ));
            }
            let alive = self.is_operator(key, registration)
                || tables
                    .get(Table::ClientKeys, key)?
                    .map(|row| records::decode::<ClientKeyRecord>(&row))
                    .transpose()?
                    .is_some_and(|record| record.registration == *registration);
            if !alive {
                return Err(AuthError::InvalidRefreshToken(
                    "the key the token was minted under is gone",
                ));
            }
            tables.insert(Table::RefreshTokens, &pair.1, &[], Some(pair.2))
        })?;
        Ok(pair.0)
    }

    /// Runs `change` on the store in one transaction; then forgets the
    /// registrations known, as `change` may have removed or replaced keys,
    /// also when the store panics after committing. Every write goes
    /// through here.
    fn write(
        &self,
        change: &mut dyn FnMut(&mut dyn KeyWrite) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        let _forget = self.registrations.forget_after();
        self.store.write(change)
    }

    /// The node's DID document.
    ///
    /// # Errors
    /// The store's error.
    pub fn did(&self) -> Result<Did, AuthError> {
        Ok(Did {
            id: "did:cali".to_owned(),
            root_keys: records::decode_all(self.store.list(Table::RootKeys)?)?,
            client_keys: self.client_keys()?,
        })
    }

    /// Every registered client key.
    fn client_keys(&self) -> Result<Vec<ClientKey>, AuthError> {
        Ok(
            records::decode_all::<ClientKeyRecord>(self.store.list(Table::ClientKeys)?)?
                .into_iter()
                .map(|record| record.key)
                .collect(),
        )
    }

    /// One registered client key.
    fn client_key(&self, signing_key: &str) -> Result<Option<ClientKeyRecord>, AuthError> {
        self.store
            .get(Table::ClientKeys, signing_key)?
            .map(|row| records::decode(&row))
            .transpose()
    }

    /// Client keys bound to `context_id`.
    ///
    /// # Errors
    /// The store's error.
    pub fn client_keys_of(&self, context_id: &ContextId) -> Result<Vec<ClientKey>, AuthError> {
        let mut keys = self.client_keys()?;
        keys.retain(|key| key.context_id.as_ref() == Some(context_id));
        Ok(keys)
    }

    /// `DELETE /identity/keys`: forgets every root key, client key and refresh
    /// token; every token dies with them, and the next login becomes root again.
    ///
    /// # Errors
    /// The store's error.
    pub fn delete_keys(&self) -> Result<(), AuthError> {
        self.write(&mut |tables| {
            for table in [Table::RootKeys, Table::ClientKeys, Table::RefreshTokens] {
                tables.clear(table)?;
            }
            Ok(())
        })
    }

    /// Forgets one client key; every token minted under it dies with it.
    ///
    /// # Errors
    /// [`AuthError::UnknownKey`] when it is not registered, or the store's error.
    pub fn delete_client_key(&self, signing_key: &str) -> Result<(), AuthError> {
        self.write(&mut |tables| {
            if tables.remove(Table::ClientKeys, signing_key)? {
                Ok(())
            } else {
                Err(AuthError::UnknownKey(signing_key.to_owned()))
            }
        })
    }

    /// Signs an access / refresh pair; returns it with the refresh token's id and expiry.
    fn sign_pair(
        &self,
        minter: &Minter<'_>,
        context_id: ContextId,
        executor: PublicKey,
        now_ms: u64,
    ) -> Result<(JwtTokenResponse, String, u64), AuthError> {
        let now = now_ms / 1000;
        let grant = jwt::Grant {
            context_id,
            executor_public_key: executor,
            minted_by: minter.key,
            registration: minter.registration,
        };
        let (access_token, _) = jwt::issue(
            &self.jwt_secret,
            TokenType::Access,
            &grant,
            now,
            self.config.access_token_ttl_secs,
        )?;
        let (refresh_token, refresh) = jwt::issue(
            &self.jwt_secret,
            TokenType::Refresh,
            &grant,
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

/// The client key registration tokens are minted under.
struct Minter<'a> {
    key: &'a str,
    registration: &'a str,
}

fn consume_challenge(
    tables: &mut dyn KeyWrite,
    login: &VerifiedLogin,
    now_ms: u64,
) -> Result<(), AuthError> {
    tables.prune(now_ms / 1000)?;
    let nonce = &login.challenge.nonce_text;
    if tables.get(Table::UsedChallenges, nonce)?.is_some() {
        return Err(AuthError::ChallengeReused);
    }
    let expires = u64::try_from(login.challenge.expires_at).unwrap_or(0);
    tables.insert(Table::UsedChallenges, nonce, &[], Some(expires))
}

fn is_root(tables: &mut dyn KeyWrite, wallet_key: &str) -> Result<bool, AuthError> {
    Ok(tables
        .list(Table::RootKeys)?
        .iter()
        .any(|(key, _)| key.eq_ignore_ascii_case(wallet_key)))
}

fn put_root(
    tables: &mut dyn KeyWrite,
    login: &VerifiedLogin,
    now_ms: u64,
) -> Result<(), AuthError> {
    let key = RootKey {
        signing_key: login.wallet_key.clone(),
        wallet: login.wallet.clone(),
        created_at: now_ms,
    };
    tables.insert(
        Table::RootKeys,
        &login.wallet_key,
        &records::root_row(&key)?,
        None,
    )
}

/// Writes keys kept elsewhere before (a migration) into the tables, each
/// client key with a new registration.
///
/// # Errors
/// When randomness or the store fails.
pub fn import_keys(
    tables: &mut dyn KeyWrite,
    root_keys: &[RootKey],
    client_keys: &[ClientKey],
    now_ms: u64,
) -> Result<(), AuthError> {
    tables.prune(now_ms / 1000)?;
    for key in root_keys {
        tables.insert(
            Table::RootKeys,
            &key.signing_key,
            &records::root_row(key)?,
            None,
        )?;
    }
    for key in client_keys {
        let record = ClientKeyRecord {
            key: key.clone(),
            registration: hex::encode(crate::identity::random_bytes::<16>()?),
        };
        tables.insert(
            Table::ClientKeys,
            &key.signing_key,
            &records::encode(&record)?,
            None,
        )?;
    }
    Ok(())
}

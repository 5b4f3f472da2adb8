//! HS256 access and refresh tokens signed with the node's JWT secret.
//!
//! Expiry is checked against the caller's clock (not the library's), with no
//! leeway, so that tests and the node agree on what "expired" means.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use node_primitives::{ContextId, PublicKey};
use server_primitives::auth::{JwtClaims, TokenType};

use crate::AuthError;
use crate::identity::random_bytes;

/// What a token grants, and under which client key registration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grant<'a> {
    /// The context.
    pub context_id: ContextId,
    /// The identity calls run as.
    pub executor_public_key: PublicKey,
    /// The client key it is minted under.
    pub minted_by: &'a str,
    /// That key's registration.
    pub registration: &'a str,
}

/// Signs a token of `token_type` valid for `ttl_secs` from `now_secs`.
pub(crate) fn issue(
    secret: &[u8],
    token_type: TokenType,
    grant: &Grant<'_>,
    now_secs: u64,
    ttl_secs: u64,
) -> Result<(String, JwtClaims), AuthError> {
    let claims = JwtClaims {
        context_id: grant.context_id,
        executor_public_key: grant.executor_public_key,
        exp: now_secs.saturating_add(ttl_secs),
        token_type,
        iat: Some(now_secs),
        jti: Some(hex::encode(random_bytes::<16>()?)),
        sub: Some(grant.minted_by.to_owned()),
        reg: Some(grant.registration.to_owned()),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|err| AuthError::Internal(format!("signing a token: {err}")))?;
    Ok((token, claims))
}

/// How many verified access tokens [`Verified`] keeps; when full it starts
/// over.
const VERIFIED_KEPT: usize = 4096;

/// Access tokens whose signature and claims were verified, by their text,
/// so a token presented again skips the HMAC and the JSON decode. Its expiry
/// is checked on every use, as the caller checks its key's registration.
/// Only tokens that verified are kept, so forged ones cannot fill it.
#[derive(Debug, Default)]
pub(crate) struct Verified {
    tokens: Mutex<HashMap<Box<str>, JwtClaims>>,
}

impl Verified {
    /// As [`verify`] for an access token, from what was verified before
    /// when the same token was.
    pub(crate) fn access(
        &self,
        secret: &[u8],
        token: &str,
        now_secs: u64,
    ) -> Result<JwtClaims, &'static str> {
        let known = self.lock().get(token).cloned();
        let claims = match known {
            Some(claims) => claims,
            None => {
                let claims = verify(secret, token, TokenType::Access, now_secs)?;
                let mut tokens = self.lock();
                if tokens.len() >= VERIFIED_KEPT {
                    tokens.clear();
                }
                tokens.insert(token.into(), claims.clone());
                claims
            }
        };
        if now_secs >= claims.exp {
            return Err(EXPIRED);
        }
        Ok(claims)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, JwtClaims>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// [`verify`]'s reason for a token past its `exp`.
pub(crate) const EXPIRED: &str = "token expired";

/// Checks a token's signature, algorithm, type and expiry.
pub(crate) fn verify(
    secret: &[u8],
    token: &str,
    expected: TokenType,
    now_secs: u64,
) -> Result<JwtClaims, &'static str> {
    if token.len() > 4096 {
        return Err("token too long");
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<JwtClaims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|_| "token not valid")?;
    let claims = data.claims;
    if claims.token_type != expected {
        return Err("wrong token type");
    }
    if now_secs >= claims.exp {
        return Err(EXPIRED);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn grant() -> Grant<'static> {
        Grant {
            context_id: ContextId::from_bytes([1; 32]),
            executor_public_key: PublicKey::from_bytes([2; 32]),
            minted_by: "key",
            registration: "r1",
        }
    }

    #[test]
    fn access_token_verifies_until_it_expires() {
        let (token, claims) =
            issue(SECRET, TokenType::Access, &grant(), 1_000, 3_600).expect("issued");
        assert_eq!(claims.exp, 4_600);
        assert_eq!(claims.sub.as_deref(), Some("key"));
        assert_eq!(
            verify(SECRET, &token, TokenType::Access, 4_599).map(|c| c.context_id),
            Ok(grant().context_id)
        );
        assert_eq!(
            verify(SECRET, &token, TokenType::Access, 4_600),
            Err("token expired")
        );
        assert_eq!(
            verify(SECRET, &token, TokenType::Refresh, 1_000),
            Err("wrong token type")
        );
        assert!(verify(b"another secret", &token, TokenType::Access, 1_000).is_err());
    }

    #[test]
    fn a_verified_token_is_known_again_until_it_expires_and_forgeries_are_not_kept() {
        let verified = Verified::default();
        let (token, _) = issue(SECRET, TokenType::Access, &grant(), 1_000, 3_600).expect("issued");
        for now in [1_000, 4_599] {
            assert_eq!(
                verified.access(SECRET, &token, now).map(|c| c.context_id),
                Ok(grant().context_id)
            );
        }
        assert_eq!(verified.access(SECRET, &token, 4_600), Err(EXPIRED));
        assert_eq!(verified.lock().len(), 1);
        // Known or not, a token verifies under its own secret only.
        let other = Verified::default();
        assert!(other.access(b"another secret", &token, 1_000).is_err());
        let (refresh, _) =
            issue(SECRET, TokenType::Refresh, &grant(), 1_000, 3_600).expect("issued");
        let parts: Vec<&str> = token.split('.').collect();
        for refused in [
            refresh,
            format!("{}.{}.{}x", parts[0], parts[1], parts[2]),
            format!("{}A.{}.{}", parts[0], parts[1], parts[2]),
        ] {
            assert!(
                verified.access(SECRET, &refused, 1_000).is_err(),
                "{refused}"
            );
        }
        assert_eq!(verified.lock().len(), 1, "only the valid token is kept");
    }

    #[test]
    fn unsigned_and_tampered_tokens_are_refused() {
        let (token, _) = issue(SECRET, TokenType::Access, &grant(), 1_000, 3_600).expect("issued");
        let parts: Vec<&str> = token.split('.').collect();
        // alg: none, same claims, no signature.
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        for forged in [
            format!("{none_header}.{}.", parts[1]),
            format!("{none_header}.{}", parts[1]),
            format!("{}.{}.{}x", parts[0], parts[1], parts[2]),
            format!("{}.{}A.{}", parts[0], parts[1], parts[2]),
            String::new(),
        ] {
            assert!(
                verify(SECRET, &forged, TokenType::Access, 1_000).is_err(),
                "{forged}"
            );
        }
    }
}

//! HS256 access and refresh tokens signed with the node's JWT secret.
//!
//! Expiry is checked against the caller's clock (not the library's), with no
//! leeway, so that tests and the node agree on what "expired" means.

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

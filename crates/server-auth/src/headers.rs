//! The five per-request auth headers (`wallet_type`, `signing_key`,
//! `signature`, `challenge`, `context_id`), also accepted with `-` for `_`,
//! and the [`RequestStamp`] their signature covers.

use node_primitives::{ContextId, PublicKey};
use server_primitives::auth::{RequestStamp, WalletType, header};

use crate::AuthError;

/// The request a header set is presented with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// Path without the query, e.g. `/jsonrpc`.
    pub path: &'a str,
    /// Whether the request came over a loopback connection (from this
    /// machine): only such requests may use the operator key
    /// ([`Authenticator::with_operator`](crate::Authenticator::with_operator)).
    pub from_loopback: bool,
}

impl Target<'_> {
    /// Whether a connection from `peer` is a loopback one (IPv4-mapped
    /// IPv6 loopback included); unknown peers are not.
    #[must_use]
    pub fn is_loopback(peer: Option<std::net::SocketAddr>) -> bool {
        peer.is_some_and(|peer| peer.ip().to_canonical().is_loopback())
    }
}

/// Where and when a signed stamp is accepted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StampRules {
    /// This node's identity key.
    pub node: PublicKey,
    /// Now, Unix seconds.
    pub now_secs: u64,
    /// Oldest accepted stamp, seconds before now.
    pub max_age_secs: u64,
    /// Newest accepted stamp, seconds after now (clock skew).
    pub max_skew_secs: u64,
}

/// Longest accepted stamp nonce, bytes.
const MAX_NONCE_LEN: usize = 128;

/// Checks that the signed `challenge` bytes are a [`RequestStamp`] for
/// this node, this request, and now; returns when it expires (Unix s).
pub(crate) fn check_stamp(
    challenge: &[u8],
    target: Target<'_>,
    rules: StampRules,
) -> Result<u64, AuthError> {
    let stamp: RequestStamp = serde_json::from_slice(challenge).map_err(|_| {
        AuthError::Unauthorized("the challenge header is not a signed request stamp")
    })?;
    if stamp.node != rules.node {
        return Err(AuthError::Unauthorized("the stamp names another node"));
    }
    if !stamp.method.eq_ignore_ascii_case(target.method) || stamp.path != target.path {
        return Err(AuthError::Unauthorized("the stamp names another request"));
    }
    if stamp.timestamp > rules.now_secs.saturating_add(rules.max_skew_secs) {
        return Err(AuthError::Unauthorized("the stamp lies in the future"));
    }
    let expires = stamp.timestamp.saturating_add(rules.max_age_secs);
    if expires < rules.now_secs {
        return Err(AuthError::Unauthorized("the stamp has expired"));
    }
    if stamp.nonce.is_empty() || stamp.nonce.len() > MAX_NONCE_LEN {
        return Err(AuthError::Unauthorized(
            "the stamp's nonce must have 1 to 128 bytes",
        ));
    }
    Ok(expires)
}

/// Longest accepted `challenge` (bytes, decoded): the SDK sends a 32-byte digest.
const MAX_CHALLENGE_LEN: usize = 1024;

/// The parsed auth headers of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeaders {
    /// The wallet type the client claims (parsed, otherwise unused).
    pub wallet_type: WalletType,
    /// The client key, as registered.
    pub signing_key: String,
    /// The 64-byte ed25519 signature.
    pub signature: [u8; 64],
    /// The signed bytes.
    pub challenge: Vec<u8>,
    /// The context the request is for, if given.
    pub context_id: Option<ContextId>,
}

/// Which header a name means, if any.
fn known(name: &str) -> Option<&'static str> {
    [
        header::WALLET_TYPE,
        header::SIGNING_KEY,
        header::SIGNATURE,
        header::CHALLENGE,
        header::CONTEXT_ID,
    ]
    .into_iter()
    .find(|known| {
        name.len() == known.len()
            && name
                .bytes()
                .zip(known.bytes())
                .all(|(got, want)| got.eq_ignore_ascii_case(&want) || (want == b'_' && got == b'-'))
    })
}

impl AuthHeaders {
    /// Parses the auth headers out of a request's header pairs. Absent when
    /// none of the five is present; an error when they are present but
    /// incomplete, repeated or malformed.
    ///
    /// # Errors
    /// [`AuthError::Unauthorized`].
    pub fn parse<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Option<Self>, AuthError> {
        let malformed = AuthError::Unauthorized("malformed auth headers");
        let mut found: [Option<&[u8]>; 5] = [None; 5];
        let order = [
            header::WALLET_TYPE,
            header::SIGNING_KEY,
            header::SIGNATURE,
            header::CHALLENGE,
            header::CONTEXT_ID,
        ];
        for (name, value) in headers {
            let Some(which) = known(name) else { continue };
            let slot = order
                .iter()
                .position(|candidate| *candidate == which)
                .expect("known() returns one of the five");
            if found[slot].replace(value).is_some() {
                return Err(malformed);
            }
        }
        if found.iter().all(Option::is_none) {
            return Ok(None);
        }
        let text = |slot: usize| -> Result<&str, AuthError> {
            let value = found[slot].ok_or(AuthError::Unauthorized("missing auth header"))?;
            std::str::from_utf8(value)
                .map_err(|_| AuthError::Unauthorized("malformed auth headers"))
        };
        let wallet_type = serde_json::from_str(text(0)?)
            .map_err(|_| AuthError::Unauthorized("malformed wallet_type header"))?;
        let signing_key = text(1)?.to_owned();
        let signature_text = text(2)?;
        let mut signature = [0u8; 64];
        if signature_text.len() > 100 || bs58::decode(signature_text).onto(&mut signature) != Ok(64)
        {
            return Err(AuthError::Unauthorized("malformed signature header"));
        }
        let challenge_text = text(3)?;
        if challenge_text.len() > MAX_CHALLENGE_LEN * 2 {
            return Err(AuthError::Unauthorized("challenge header too long"));
        }
        let challenge = bs58::decode(challenge_text)
            .into_vec()
            .map_err(|_| AuthError::Unauthorized("malformed challenge header"))?;
        let context_id = match found[4] {
            None => None,
            Some(_) => Some(
                text(4)?
                    .parse()
                    .map_err(|_| AuthError::Unauthorized("malformed context_id header"))?,
            ),
        };
        Ok(Some(Self {
            wallet_type,
            signing_key,
            signature,
            challenge,
            context_id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(node: u8, method: &str, path: &str, timestamp: u64) -> Vec<u8> {
        serde_json::to_vec(&RequestStamp {
            node: PublicKey::from_bytes([node; 32]),
            method: method.into(),
            path: path.into(),
            timestamp,
            nonce: "n".into(),
        })
        .expect("serializes")
    }

    #[test]
    fn stamps_hold_for_one_node_one_request_and_a_few_minutes() {
        let rules = StampRules {
            node: PublicKey::from_bytes([1; 32]),
            now_secs: 1_000,
            max_age_secs: 240,
            max_skew_secs: 30,
        };
        let target = Target {
            method: "POST",
            path: "/jsonrpc",
            from_loopback: false,
        };
        let check = |bytes: &[u8]| check_stamp(bytes, target, rules).is_ok();
        assert!(check(&stamp(1, "POST", "/jsonrpc", 1_000)));
        assert!(check(&stamp(1, "post", "/jsonrpc", 760)));
        assert!(check(&stamp(1, "POST", "/jsonrpc", 1_030)));
        assert!(!check(&stamp(1, "POST", "/jsonrpc", 759)), "too old");
        assert!(!check(&stamp(1, "POST", "/jsonrpc", 1_031)), "future");
        assert!(!check(&stamp(2, "POST", "/jsonrpc", 1_000)), "other node");
        assert!(!check(&stamp(1, "GET", "/jsonrpc", 1_000)), "other method");
        assert!(
            !check(&stamp(1, "POST", "/jsonrpc/dev", 1_000)),
            "other path"
        );
        assert!(!check(b"\x12\x34"), "a bare digest");
    }

    #[test]
    fn names_match_with_underscores_hyphens_and_any_case() {
        assert_eq!(known("signing_key"), Some(header::SIGNING_KEY));
        assert_eq!(known("Signing-Key"), Some(header::SIGNING_KEY));
        assert_eq!(known("signing key"), None);
        assert_eq!(known("wallet_typ"), None);
    }

    #[test]
    fn no_auth_headers_is_not_an_error() {
        let headers = [("content-type", b"application/json".as_slice())];
        assert_eq!(AuthHeaders::parse(headers), Ok(None));
    }

    #[test]
    fn incomplete_or_repeated_headers_are_refused() {
        let incomplete = [("signing_key", b"4XTTM".as_slice())];
        assert!(AuthHeaders::parse(incomplete).is_err());
        let repeated = [
            ("signing_key", b"a".as_slice()),
            ("signing-key", b"b".as_slice()),
        ];
        assert!(AuthHeaders::parse(repeated).is_err());
    }
}

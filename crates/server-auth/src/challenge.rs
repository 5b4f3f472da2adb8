//! Node-signed, expiring, single-use challenges.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use node_primitives::ContextId;
use server_primitives::auth::{ChallengeContent, NodeChallenge, SignatureMessage};

use crate::identity::random_bytes;
use crate::{AuthError, NodeIdentity};

/// The bytes the node signs for a challenge.
fn content_bytes(nonce: &str, context_id: Option<ContextId>, timestamp: i64) -> Vec<u8> {
    let content = ChallengeContent {
        nonce: nonce.to_owned(),
        context_id,
        timestamp,
    };
    serde_json::to_vec(&content).expect("a challenge always serializes")
}

/// Issues a fresh challenge at `now_secs`.
pub(crate) fn issue(
    identity: &NodeIdentity,
    context_id: Option<ContextId>,
    now_secs: i64,
) -> Result<NodeChallenge, AuthError> {
    let nonce = STANDARD.encode(random_bytes::<32>()?);
    let signature = identity.sign(&content_bytes(&nonce, context_id, now_secs));
    Ok(NodeChallenge {
        nonce,
        context_id,
        timestamp: now_secs,
        node_signature: STANDARD.encode(signature),
    })
}

/// A challenge that this node issued and that is still fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FreshChallenge {
    /// The 32 nonce bytes.
    pub nonce: [u8; 32],
    /// The nonce as sent (the key of the used-challenge set).
    pub nonce_text: String,
    /// When it stops being accepted, Unix seconds.
    pub expires_at: i64,
}

/// Checks that `message` echoes a challenge this node signed, within
/// `[timestamp, timestamp + ttl]` with `skew` seconds of tolerance for the future.
pub(crate) fn check(
    identity: &NodeIdentity,
    message: &SignatureMessage,
    now_secs: i64,
    ttl_secs: i64,
    skew_secs: i64,
) -> Result<FreshChallenge, AuthError> {
    let nonce: [u8; 32] = decode_b64(&message.nonce, 64)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| AuthError::InvalidLogin("nonce must be base64 of 32 bytes".into()))?;
    let signature: [u8; 64] = decode_b64(&message.node_signature, 100)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| {
            AuthError::InvalidLogin("nodeSignature must be base64 of 64 bytes".into())
        })?;
    let content = content_bytes(&message.nonce, message.context_id, message.timestamp);
    if !identity.verify(&content, &signature) {
        return Err(AuthError::ForeignChallenge);
    }
    if message.timestamp > now_secs.saturating_add(skew_secs) {
        return Err(AuthError::ChallengeFromFuture);
    }
    let expires_at = message.timestamp.saturating_add(ttl_secs);
    if now_secs > expires_at {
        return Err(AuthError::ChallengeExpired);
    }
    Ok(FreshChallenge {
        nonce,
        nonce_text: message.nonce.clone(),
        expires_at,
    })
}

fn decode_b64(text: &str, max_len: usize) -> Option<Vec<u8>> {
    (text.len() <= max_len)
        .then(|| STANDARD.decode(text).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(challenge: &NodeChallenge) -> SignatureMessage {
        SignatureMessage {
            nonce: challenge.nonce.clone(),
            context_id: challenge.context_id,
            timestamp: challenge.timestamp,
            node_signature: challenge.node_signature.clone(),
            message: String::new(),
            public_key: String::new(),
        }
    }

    #[test]
    fn accepts_its_own_fresh_challenge_and_nothing_else() {
        let node = NodeIdentity::from_seed([1; 32]);
        let challenge = issue(&node, None, 1_000).expect("issued");
        let fresh = check(&node, &echo(&challenge), 1_100, 300, 5).expect("fresh");
        assert_eq!(fresh.expires_at, 1_300);

        let other = NodeIdentity::from_seed([9; 32]);
        assert_eq!(
            check(&other, &echo(&challenge), 1_100, 300, 5),
            Err(AuthError::ForeignChallenge)
        );
        assert_eq!(
            check(&node, &echo(&challenge), 1_301, 300, 5),
            Err(AuthError::ChallengeExpired)
        );
        assert_eq!(
            check(&node, &echo(&challenge), 994, 300, 5),
            Err(AuthError::ChallengeFromFuture)
        );
        let mut moved = echo(&challenge);
        moved.timestamp += 1;
        assert_eq!(
            check(&node, &moved, 1_100, 300, 5),
            Err(AuthError::ForeignChallenge)
        );
    }
}

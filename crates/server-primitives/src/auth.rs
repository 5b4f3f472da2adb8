//! Login and authentication shapes: challenges, the wallet login body, keys,
//! the DID document, per-request auth headers and JWT tokens.

use serde::{Deserialize, Serialize};

use crate::{ContextId, PublicKey};

/// Names of the five per-request auth headers. The node also accepts them
/// with `-` in place of `_`, since some proxies drop underscore headers.
pub mod header {
    /// JSON text of a [`WalletType`](super::WalletType).
    pub const WALLET_TYPE: &str = "wallet_type";
    /// The registered client key (base58 of the protobuf-encoded ed25519 key).
    pub const SIGNING_KEY: &str = "signing_key";
    /// base58 of the ed25519 signature over the challenge bytes.
    pub const SIGNATURE: &str = "signature";
    /// base58 of the signed bytes: the JSON of a
    /// [`RequestStamp`](super::RequestStamp).
    pub const CHALLENGE: &str = "challenge";
    /// Optional base58 context id.
    pub const CONTEXT_ID: &str = "context_id";
}

/// Which wallet signed a login: `{"type":"NEAR"}` or `{"type":"ETH","chainId":1}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
pub enum WalletType {
    /// A NEAR account key signing NEP-413 messages.
    #[serde(rename = "NEAR")]
    Near {
        /// `mainnet`, `testnet` or a custom network (newer clients send it).
        #[serde(rename = "networkId", default, skip_serializing_if = "Option::is_none")]
        network_id: Option<String>,
    },
    /// An Ethereum account signing with MetaMask `personal_sign` (EIP-191).
    #[serde(rename = "ETH")]
    Eth {
        /// The chain the wallet was on.
        #[serde(rename = "chainId")]
        chain_id: u64,
    },
}

/// `POST /request-challenge` body: `{}` or `{"contextId": …}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RequestChallengeRequest {
    /// The context the login is for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<ContextId>,
}

/// A challenge issued by the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NodeChallenge {
    /// Standard base64 of 32 random bytes.
    pub nonce: String,
    /// The context the challenge is for, if any.
    pub context_id: Option<ContextId>,
    /// Issue time, Unix seconds.
    pub timestamp: i64,
    /// Standard base64 of the node's ed25519 signature over [`ChallengeContent`].
    pub node_signature: String,
}

/// The bytes the node signs for a challenge: the compact JSON of exactly these
/// three fields, in this order (`contextId` is `null` when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChallengeContent {
    /// As in [`NodeChallenge::nonce`].
    pub nonce: String,
    /// As in [`NodeChallenge::context_id`].
    pub context_id: Option<ContextId>,
    /// As in [`NodeChallenge::timestamp`].
    pub timestamp: i64,
}

/// The text a wallet signs at login: the compact JSON of the challenge's node
/// signature and the client key being registered, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WalletSignedMessage {
    /// The challenge's `nodeSignature`.
    pub node_signature: String,
    /// The client key to register.
    pub public_key: String,
}

/// The login body of `POST /add-client-key` and `POST /root-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AddPublicKeyRequest {
    /// NEAR: base64 of 64 bytes; ETH: `0x` + 130 hex (r ‖ s ‖ v).
    pub wallet_signature: String,
    /// What the wallet signed, and the challenge it answers.
    pub payload: Payload,
    /// Which wallet signed, and its key or address.
    pub wallet_metadata: WalletMetadata,
    /// The context to attach the client key to, if any.
    #[serde(default)]
    pub context_id: Option<ContextId>,
}

/// The signed part of a login body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payload {
    /// The challenge echoed back, the signed text and the client key.
    pub message: SignatureMessage,
    /// Wallet-specific signing parameters.
    pub metadata: SignatureMetadata,
}

/// The challenge echoed back with the signed text and the client key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SignatureMessage {
    /// The challenge nonce (base64).
    pub nonce: String,
    /// The challenge's context, if any.
    #[serde(default)]
    pub context_id: Option<ContextId>,
    /// The challenge timestamp, Unix seconds.
    pub timestamp: i64,
    /// The challenge's node signature (base64).
    pub node_signature: String,
    /// The text the wallet signed: a [`WalletSignedMessage`] as JSON.
    pub message: String,
    /// The client key to register.
    pub public_key: String,
}

/// Wallet-specific signing parameters; which one applies follows
/// [`WalletMetadata::wallet`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum SignatureMetadata {
    /// NEP-413 parameters.
    Near(NearSignatureMetadata),
    /// MetaMask signs no extra parameters: `{}`.
    Eth(EthSignatureMetadata),
}

/// NEP-413 parameters that went into the signed payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NearSignatureMetadata {
    /// The recipient the wallet was asked to sign for.
    pub recipient: String,
    /// The callback URL given to the wallet.
    pub callback_url: String,
    /// The nonce as the client sent it (not used for verification).
    pub nonce: String,
}

/// MetaMask metadata: an empty object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EthSignatureMetadata {}

/// Which wallet signed, and with which key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WalletMetadata {
    /// The wallet kind.
    pub wallet: WalletType,
    /// NEAR: `ed25519:` + base58 public key; ETH: `0x` + 40 hex address.
    pub signing_key: String,
}

/// A wallet allowed to administer the node (snake_case on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RootKey {
    /// The wallet's key or address.
    pub signing_key: String,
    /// The wallet kind.
    pub wallet: WalletType,
    /// When it was stored, Unix milliseconds.
    pub created_at: u64,
}

/// A browser or app key registered by a wallet login (camelCase on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClientKey {
    /// The wallet that registered it.
    pub wallet: WalletType,
    /// base58 of the protobuf-encoded ed25519 public key.
    pub signing_key: String,
    /// When it was stored, Unix milliseconds.
    pub created_at: u64,
    /// The context it is bound to, if any.
    pub context_id: Option<ContextId>,
}

/// The node's DID document (snake_case on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Did {
    /// Always `did:cali`.
    pub id: String,
    /// Wallets that administer the node.
    pub root_keys: Vec<RootKey>,
    /// Registered client keys.
    pub client_keys: Vec<ClientKey>,
}

/// `POST /generate-jwt-token` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GenerateJwtTokenRequest {
    /// The context the tokens are bound to.
    pub context_id: ContextId,
    /// The identity calls are executed as.
    pub executor_public_key: PublicKey,
}

/// `POST /refresh-jwt-token` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RefreshJwtTokenRequest {
    /// The refresh token to rotate.
    pub refresh_token: String,
}

/// Both JWT routes answer `{"data": {"access_token": …, "refresh_token": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JwtTokenResponse {
    /// Short-lived bearer token for `/jsonrpc` and protected admin routes.
    pub access_token: String,
    /// Long-lived, single-use token that buys a new pair.
    pub refresh_token: String,
}

/// Which of the two tokens a JWT is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// Authenticates requests.
    Access,
    /// Only buys a new token pair.
    Refresh,
}

/// The claims of both tokens (snake_case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JwtClaims {
    /// The context the token is bound to.
    pub context_id: ContextId,
    /// The identity calls are executed as.
    pub executor_public_key: PublicKey,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Access or refresh.
    pub token_type: TokenType,
    /// Issue time, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Unique token id, so that two tokens issued in the same second differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The client key the token was minted under; the token dies with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The registration of that client key the token was minted under (a key
    /// deleted and registered again does not revive its old tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg: Option<String>,
}

/// What the `challenge` auth header carries (base58 of this JSON's UTF-8
/// bytes), signed by the client key: the request it authorizes, on which
/// node, when. A header set is accepted only on that node, for that method
/// and path, within a few minutes of `timestamp`, and once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestStamp {
    /// The node's identity key (`nodeId` of `GET /admin-api/health`).
    pub node: PublicKey,
    /// The request's HTTP method, e.g. `POST`.
    pub method: String,
    /// The request's path, without the query, e.g. `/jsonrpc`.
    pub path: String,
    /// When the client signed, Unix seconds.
    pub timestamp: u64,
    /// A value the client makes unique per request (e.g. 16 random bytes in
    /// hex): a header set is accepted once, so two requests must differ.
    pub nonce: String,
}

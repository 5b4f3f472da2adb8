//! The admin API (`/admin-api`): envelopes and per-route bodies.

use serde::{Deserialize, Serialize};

use crate::auth::{ClientKey, Did};
use crate::{ApplicationId, BlobId, ContextId, Hash, PublicKey};

/// Every successful admin response: `{"data": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiResponse<T> {
    /// The route's payload.
    pub data: T,
}

impl<T> ApiResponse<T> {
    /// Wraps a payload.
    pub fn new(data: T) -> Self {
        Self { data }
    }
}

/// Every failed admin response: `{"error": {"code": <status>, "message": "…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiErrorResponse {
    /// What went wrong.
    pub error: ApiErrorBody,
}

/// The inside of [`ApiErrorResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiErrorBody {
    /// The HTTP status code, repeated for clients that only see the body.
    pub code: u16,
    /// A sentence for a person: what was wrong with the request.
    pub message: String,
}

impl ApiErrorResponse {
    /// Builds the body for a status and a message.
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            error: ApiErrorBody {
                code,
                message: message.into(),
            },
        }
    }
}

/// `GET /health` → `{"data": {"status": "alive", "nodeId": "…", "version": "…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthStatus {
    /// Always `"alive"` when the node answers.
    pub status: String,
    /// The node's identity key, which signed auth headers must name
    /// ([`RequestStamp::node`](crate::auth::RequestStamp::node)).
    #[serde(rename = "nodeId", default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<PublicKey>,
    /// The node software's version, e.g. `0.1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl HealthStatus {
    /// The only status a live node reports, with its identity key and
    /// software version.
    pub fn alive(node_id: PublicKey, version: &str) -> Self {
        Self {
            status: "alive".to_owned(),
            node_id: Some(node_id),
            version: Some(version.to_owned()),
        }
    }
}

/// An empty object payload, `{}` (e.g. `DELETE /identity/keys`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Empty {}

/// `POST /install-application`: download `url`, check it against `hash`, install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InstallApplicationRequest {
    /// Where the wasm bytes are (`http://` or `https://`).
    pub url: String,
    /// SHA-256 of the content; when given, a mismatch installs nothing.
    #[serde(default)]
    pub hash: Option<Hash>,
    /// Opaque bytes stored with the application.
    #[serde(default)]
    pub metadata: Vec<u8>,
}

/// `POST /dev/install-application`: install from a file on the node's machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InstallDevApplicationRequest {
    /// Absolute path of a `.wasm` file readable by the node.
    pub path: String,
    /// Opaque bytes stored with the application.
    #[serde(default)]
    pub metadata: Vec<u8>,
}

/// Both install routes answer `{"data": {"applicationId": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InstallApplicationResponse {
    /// The id of the installed application.
    pub application_id: ApplicationId,
}

/// An installed application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Content address of the application.
    pub id: ApplicationId,
    /// The blob holding the wasm bytes.
    pub blob: BlobId,
    /// Size of the wasm bytes.
    pub size: u64,
    /// Where the bytes came from (`https://…` or `file://…`).
    pub source: String,
    /// Opaque bytes given at install.
    pub metadata: Vec<u8>,
}

/// `GET /applications`, `GET /dev/applications` → `{"data": {"apps": […]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListApplicationsResponse {
    /// Every installed application.
    pub apps: Vec<Application>,
}

/// `DELETE /applications/:id` → `{"data": {"isDeleted": …}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UninstallApplicationResponse {
    /// Whether an application was there to uninstall.
    pub is_deleted: bool,
}

/// A context: one running instance of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// The context's id.
    pub id: ContextId,
    /// The application it runs.
    pub application_id: ApplicationId,
    /// Hash of the last committed transaction (all zeros before the first).
    pub last_transaction_hash: Hash,
    /// The state root the application committed last (all zeros before `init`).
    pub root_hash: Hash,
}

/// `POST /contexts`, `POST /dev/contexts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateContextRequest {
    /// The installed application to run.
    pub application_id: ApplicationId,
    /// Input bytes of the application's `init` (usually JSON text).
    #[serde(default)]
    pub initialization_params: Vec<u8>,
}

/// Answer to a context creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateContextResponse {
    /// The new context.
    pub context: Context,
    /// The identity the node created for itself as the context's first member.
    pub member_public_key: PublicKey,
}

/// `GET /contexts/:id` → `{"data": {"context": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetContextResponse {
    /// The context.
    pub context: Context,
    /// How it stands with the other nodes that share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<ContextSync>,
}

/// A context's replication state (`GET /contexts/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ContextSync {
    /// Whether it can be shared (contexts made before sharing existed
    /// cannot).
    pub shareable: bool,
    /// This node's state root.
    pub root_hash: Hash,
    /// Digest of this node's stored values (calimero-storage's index left
    /// out), which nodes compare besides roots.
    pub values_hash: Hash,
    /// Its members, with the height of each one's last change applied here.
    pub members: Vec<MemberSync>,
    /// The peers it was last compared with.
    pub peers: Vec<PeerSync>,
}

/// One member of a shared context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MemberSync {
    /// Its key.
    pub public_key: PublicKey,
    /// Whether its calls run on this node.
    pub local: bool,
    /// The height of its last delta applied here (0: none).
    pub height: u64,
}

/// How a shared context compared with one peer's copy at the last exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PeerSync {
    /// The peer's libp2p id.
    pub peer_id: String,
    /// `inSync`, `behind`, `ahead`, `diverged` (same heads, but a
    /// different root or different stored state), `refused` or
    /// `unreachable`.
    pub status: String,
    /// The peer's heights per member (base58 key → height).
    pub heads: std::collections::BTreeMap<String, u64>,
    /// The peer's state root.
    pub root_hash: Hash,
    /// Digest of the peer's stored values.
    pub values_hash: Hash,
    /// Milliseconds since that exchange.
    pub age_ms: u64,
}

/// `POST /identity/context` → `{"data": {"publicKey": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ContextIdentityResponse {
    /// A new member key held by this node.
    pub public_key: PublicKey,
}

/// `POST /contexts/invite`; the answer is the invitation payload, one string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InviteToContextRequest {
    /// The context.
    pub context_id: ContextId,
    /// A member this node holds, who signs the invitation.
    pub inviter_id: PublicKey,
    /// The key invited (made on the joining node by `POST /identity/context`).
    pub invitee_id: PublicKey,
}

/// `POST /contexts/join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JoinContextRequest {
    /// What `POST /contexts/invite` answered.
    pub invitation_payload: String,
}

/// `POST /contexts/join` → `{"data": {"contextId", "memberPublicKey"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JoinContextResponse {
    /// The context joined.
    pub context_id: ContextId,
    /// The member this node joined it as.
    pub member_public_key: PublicKey,
}

/// `GET /contexts`, `GET /dev/contexts` → `{"data": {"contexts": […]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListContextsResponse {
    /// Every context, in id order.
    pub contexts: Vec<Context>,
}

/// `DELETE /contexts/:id` → `{"data": {"isDeleted": …}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeleteContextResponse {
    /// Whether a context was there to delete.
    pub is_deleted: bool,
}

/// A member of a context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ContextUser {
    /// The member's public key (base58).
    pub user_id: String,
    /// When the member joined, Unix milliseconds.
    pub joined_at: u64,
}

/// `GET /contexts/:id/users` → `{"data": {"contextUsers": […]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetContextUsersResponse {
    /// The context's members.
    pub context_users: Vec<ContextUser>,
}

/// `GET /contexts/:id/client-keys` → `{"data": {"clientKeys": […]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetContextClientKeysResponse {
    /// Client keys registered for this context.
    pub client_keys: Vec<ClientKey>,
}

/// `GET /contexts/:id/storage` → `{"data": {"sizeInBytes": …}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetContextStorageResponse {
    /// Exact bytes of keys and values of the context's state.
    pub size_in_bytes: u64,
}

/// `GET /did` → `{"data": {"did": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetDidResponse {
    /// The node's DID document.
    pub did: Did,
}

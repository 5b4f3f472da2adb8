//! Auth's key store over the node's database, and the node's auth secrets.

use std::sync::Arc;

use node::{Node, NodeError};
use server_auth::{AuthConfig, AuthError, Authenticator, KeyState, KeyStore, NodeIdentity};

/// Where the auth state lives in the node's database.
const AUTH_STATE: &str = "auth/state";
/// The node's ed25519 identity seed.
const IDENTITY: &str = "auth/identity";
/// The HS256 secret of JWT tokens.
const JWT_SECRET: &str = "auth/jwt-secret";

/// [`KeyStore`] as one JSON value in the node's database.
#[derive(Debug, Clone)]
pub struct NodeKeyStore {
    node: Node,
}

impl NodeKeyStore {
    /// The key store of `node`.
    #[must_use]
    pub fn new(node: Node) -> Self {
        Self { node }
    }
}

fn store_error(error: NodeError) -> AuthError {
    AuthError::Store(error.to_string())
}

fn decode(bytes: Option<&[u8]>) -> Result<KeyState, AuthError> {
    bytes.map_or_else(
        || Ok(KeyState::default()),
        |bytes| {
            serde_json::from_slice(bytes)
                .map_err(|err| AuthError::Store(format!("corrupt auth state: {err}")))
        },
    )
}

impl From<NodeError> for StoreFailure {
    fn from(error: NodeError) -> Self {
        Self(store_error(error))
    }
}

/// An [`AuthError`] travelling through the node's meta update.
struct StoreFailure(AuthError);

impl KeyStore for NodeKeyStore {
    fn load(&self) -> Result<KeyState, AuthError> {
        decode(self.node.meta(AUTH_STATE).map_err(store_error)?.as_deref())
    }

    fn update(
        &self,
        change: &mut dyn FnMut(&mut KeyState) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        self.node
            .update_meta::<StoreFailure>(AUTH_STATE, &mut |current| {
                let mut state = decode(current).map_err(StoreFailure)?;
                change(&mut state).map_err(StoreFailure)?;
                serde_json::to_vec(&state)
                    .map_err(|err| StoreFailure(AuthError::Internal(err.to_string())))
            })
            .map_err(|StoreFailure(error)| error)
    }
}

/// A 32-byte secret kept under `name`, created from the OS CSPRNG the first time.
fn secret(node: &Node, name: &str) -> Result<[u8; 32], AuthError> {
    let mut value = [0u8; 32];
    node.update_meta::<StoreFailure>(name, &mut |current| match current {
        Some(bytes) if bytes.len() == 32 => {
            value.copy_from_slice(bytes);
            Ok(bytes.to_vec())
        }
        _ => {
            getrandom_fill(&mut value).map_err(StoreFailure)?;
            Ok(value.to_vec())
        }
    })
    .map_err(|StoreFailure(error)| error)?;
    Ok(value)
}

fn getrandom_fill(bytes: &mut [u8; 32]) -> Result<(), AuthError> {
    *bytes = NodeIdentity::generate()?.seed();
    Ok(())
}

/// The node's authenticator: its identity key and JWT secret (created on first
/// use and kept in the node's database) and its key store.
///
/// # Errors
/// When the database fails.
pub fn load_authenticator(node: &Node, config: AuthConfig) -> Result<Authenticator, AuthError> {
    let identity = NodeIdentity::from_seed(secret(node, IDENTITY)?);
    let jwt_secret = secret(node, JWT_SECRET)?;
    Ok(Authenticator::new(
        identity,
        &jwt_secret,
        config,
        Arc::new(NodeKeyStore::new(node.clone())),
    ))
}

//! Auth's key store over the node's database, and the node's auth secrets.

use std::sync::Arc;

use node::{AuthTable, AuthTxn, Node, NodeError};
use node_primitives::PublicKey;
use server_auth::{
    AuthConfig, AuthError, Authenticator, ClientPublicKey, KeyStore, KeyWrite, NodeIdentity, Table,
};

/// Where auth state was kept, as one JSON value, before it had tables.
const LEGACY_AUTH_STATE: &str = "auth/state";
/// The node's ed25519 identity seed.
const IDENTITY: &str = "auth/identity";
/// The HS256 secret of JWT tokens.
const JWT_SECRET: &str = "auth/jwt-secret";

/// [`KeyStore`] over the auth tables of the node's database.
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

fn table(table: Table) -> AuthTable {
    match table {
        Table::RootKeys => AuthTable::RootKeys,
        Table::ClientKeys => AuthTable::ClientKeys,
        Table::UsedChallenges => AuthTable::UsedChallenges,
        Table::RefreshTokens => AuthTable::RefreshTokens,
    }
}

fn store_error(error: impl std::fmt::Display) -> AuthError {
    AuthError::Store(error.to_string())
}

/// An [`AuthError`] travelling through the node's transaction.
struct StoreFailure(AuthError);

impl From<NodeError> for StoreFailure {
    fn from(error: NodeError) -> Self {
        Self(store_error(error))
    }
}

/// [`KeyWrite`] over the node's auth transaction.
struct Tables<'t, 'a>(&'t mut AuthTxn<'a>);

impl KeyWrite for Tables<'_, '_> {
    fn get(&mut self, which: Table, key: &str) -> Result<Option<Vec<u8>>, AuthError> {
        self.0.get(table(which), key).map_err(store_error)
    }

    fn list(&mut self, which: Table) -> Result<Vec<(String, Vec<u8>)>, AuthError> {
        self.0.list(table(which)).map_err(store_error)
    }

    fn insert(
        &mut self,
        which: Table,
        key: &str,
        value: &[u8],
        expires: Option<u64>,
    ) -> Result<(), AuthError> {
        self.0
            .insert(table(which), key, value, expires)
            .map_err(store_error)
    }

    fn remove(&mut self, which: Table, key: &str) -> Result<bool, AuthError> {
        self.0.remove(table(which), key).map_err(store_error)
    }

    fn clear(&mut self, which: Table) -> Result<(), AuthError> {
        self.0.clear(table(which)).map_err(store_error)
    }

    fn prune(&mut self, now_secs: u64) -> Result<(), AuthError> {
        self.0.prune(now_secs).map_err(store_error)
    }
}

impl KeyStore for NodeKeyStore {
    fn get(&self, which: Table, key: &str) -> Result<Option<Vec<u8>>, AuthError> {
        self.node.auth_get(table(which), key).map_err(store_error)
    }

    fn list(&self, which: Table) -> Result<Vec<(String, Vec<u8>)>, AuthError> {
        self.node.auth_list(table(which)).map_err(store_error)
    }

    fn write(
        &self,
        change: &mut dyn FnMut(&mut dyn KeyWrite) -> Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        self.node
            .auth_write::<StoreFailure>(&mut |txn| change(&mut Tables(txn)).map_err(StoreFailure))
            .map_err(|StoreFailure(error)| error)
    }
}

/// A 32-byte secret kept under `name`, created from the OS CSPRNG the first
/// time. A stored value of another size is an error: replacing it would
/// silently change the node's identity or void every token.
fn secret(node: &Node, name: &str) -> Result<[u8; 32], AuthError> {
    let mut value = [0u8; 32];
    node.update_meta::<StoreFailure>(name, &mut |current| match current {
        Some(bytes) => {
            let stored: [u8; 32] = bytes.try_into().map_err(|_| {
                StoreFailure(AuthError::Store(format!(
                    "the stored {name} has {} bytes instead of 32: the database is damaged; \
                     restore it from a backup (or remove the home to start a new node)",
                    bytes.len()
                )))
            })?;
            value = stored;
            Ok(bytes.to_vec())
        }
        None => {
            value = NodeIdentity::generate().map_err(StoreFailure)?.seed();
            Ok(value.to_vec())
        }
    })
    .map_err(|StoreFailure(error)| error)?;
    Ok(value)
}

/// Moves the keys of a database written before auth had tables into them,
/// so that an upgraded node keeps its root key (otherwise the next login
/// anywhere would become root), and makes each context-bound client key's
/// identity a member of its context (its calls run as that identity now).
/// Used challenges and refresh tokens are not carried over: those tokens
/// predate revocation and are refused anyway.
fn migrate_legacy_state(node: &Node, now_ms: u64) -> Result<(), AuthError> {
    #[derive(serde::Deserialize)]
    struct Legacy {
        #[serde(default)]
        root_keys: Vec<server_primitives::auth::RootKey>,
        #[serde(default)]
        client_keys: Vec<server_primitives::auth::ClientKey>,
    }
    let mut bound = Vec::new();
    node.auth_write::<StoreFailure>(&mut |txn| {
        let Some(bytes) = txn
            .take_meta(LEGACY_AUTH_STATE)
            .map_err(|error| StoreFailure(store_error(error)))?
        else {
            return Ok(());
        };
        let legacy: Legacy = serde_json::from_slice(&bytes).map_err(|err| {
            StoreFailure(AuthError::Store(format!(
                "corrupt legacy auth state: {err}"
            )))
        })?;
        bound = legacy
            .client_keys
            .iter()
            .filter_map(|key| Some((key.context_id?, key.signing_key.clone())))
            .collect();
        server_auth::import_keys(
            &mut Tables(txn),
            &legacy.root_keys,
            &legacy.client_keys,
            now_ms,
        )
        .map_err(StoreFailure)
    })
    .map_err(|StoreFailure(error)| error)?;
    for (context, key) in bound {
        let Ok(key) = ClientPublicKey::parse(&key) else {
            continue;
        };
        match node.add_member(&context, PublicKey::from_bytes(key.to_bytes())) {
            Ok(_) | Err(NodeError::ContextNotFound(_)) => {}
            Err(error) => return Err(store_error(error)),
        }
    }
    Ok(())
}

/// The node's authenticator: its identity key and JWT secret (created on first
/// use and kept in the node's database) and its key store.
///
/// # Errors
/// When the database fails, or holds a secret of the wrong size.
pub fn load_authenticator(node: &Node, config: AuthConfig) -> Result<Authenticator, AuthError> {
    let identity = NodeIdentity::from_seed(secret(node, IDENTITY)?);
    let jwt_secret = secret(node, JWT_SECRET)?;
    let auth = Authenticator::new(
        identity,
        &jwt_secret,
        config,
        Arc::new(NodeKeyStore::new(node.clone())),
    );
    migrate_legacy_state(node, auth.now_ms())?;
    Ok(auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> (tempfile::TempDir, Node) {
        let home = tempfile::tempdir().expect("temp dir");
        let node = Node::open(home.path().join("db"), node::NodeConfig::default()).expect("node");
        (home, node)
    }

    #[test]
    fn a_secret_of_the_wrong_size_is_an_error_not_replaced() {
        let (_home, node) = node();
        node.update_meta::<NodeError>(JWT_SECRET, &mut |_| Ok(vec![7; 31]))
            .expect("written");
        let error = load_authenticator(&node, AuthConfig::default()).expect_err("refused");
        assert!(error.to_string().contains("31 bytes"), "{error}");
        assert_eq!(node.meta(JWT_SECRET).expect("read"), Some(vec![7; 31]));
    }

    #[test]
    fn secrets_are_created_once_and_kept() {
        let (_home, node) = node();
        let first = load_authenticator(&node, AuthConfig::default()).expect("loaded");
        let again = load_authenticator(&node, AuthConfig::default()).expect("loaded");
        assert_eq!(first.identity().public_key(), again.identity().public_key());
    }

    #[test]
    fn keys_kept_as_one_json_value_move_into_the_tables() {
        let (_home, node) = node();
        let app = node
            .install_application(&test_utils::built_app("kv-store"), "test", b"")
            .expect("installs");
        let (context, _) = node.create_context(&app.id, b"").expect("context");
        let bound = test_utils::wallet::ClientKey::from_seed_byte(0x05);
        let legacy = serde_json::json!({
            "root_keys": [{"signing_key": "ed25519:abc", "wallet": {"type": "NEAR"}, "created_at": 1}],
            "client_keys": [
                {"wallet": {"type": "NEAR"}, "signingKey": "4XTTMx", "createdAt": 2, "contextId": null},
                {"wallet": {"type": "NEAR"}, "signingKey": bound.public_key(), "createdAt": 3, "contextId": context.id}
            ],
            "used_challenges": {},
            "refresh_tokens": {}
        });
        let bytes = serde_json::to_vec(&legacy).expect("json");
        node.update_meta::<NodeError>(LEGACY_AUTH_STATE, &mut |_| Ok(bytes.clone()))
            .expect("written");
        let auth = load_authenticator(&node, AuthConfig::default()).expect("loaded");
        let did = auth.did().expect("did");
        assert_eq!(did.root_keys.len(), 1, "the root key survives the upgrade");
        assert_eq!(did.client_keys.len(), 2);
        assert_eq!(node.meta(LEGACY_AUTH_STATE).expect("read"), None);
        let members = node
            .context(&context.id)
            .expect("read")
            .expect("exists")
            .members;
        assert!(members.contains(&bound.executor()), "{members:?}");
    }
}

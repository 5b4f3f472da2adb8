//! The operator file: how a running node hands its owner, on its own
//! machine, a key that administers it without a wallet.
//!
//! `calimero-node run` writes `HOME/operator.json` at each start (mode 600)
//! and removes it at a clean stop. The node accepts header sets signed by
//! that key as its administrator's, and only from loopback connections; the
//! key changes at every start. See "The operator key" in `docs/protocol.md`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use server_primitives::PublicKey;

use crate::{ClientKey, Error};

/// The file's name in the node's home.
pub const FILE_NAME: &str = "operator.json";

/// What the operator file holds.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorFile {
    /// Where the node answers, e.g. `http://127.0.0.1:2528` (a loopback
    /// address even when the node listens on all of them).
    pub url: String,
    /// The node's identity key (what signed requests name).
    pub node_id: PublicKey,
    /// base58 of the operator key's 32-byte seed.
    pub secret_key: String,
    /// The node process that wrote it (for people reading the file).
    pub pid: u32,
}

impl std::fmt::Debug for OperatorFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorFile")
            .field("url", &self.url)
            .field("node_id", &self.node_id)
            .field("secret_key", &"…")
            .field("pid", &self.pid)
            .finish()
    }
}

impl OperatorFile {
    /// The file for a node at `url` with identity `node_id`, operated by `key`.
    #[must_use]
    pub fn new(url: String, node_id: PublicKey, key: &ClientKey) -> Self {
        Self {
            url,
            node_id,
            secret_key: bs58::encode(key.seed()).into_string(),
            pid: std::process::id(),
        }
    }

    /// Where the file of the node at `home` is.
    #[must_use]
    pub fn path(home: &Path) -> PathBuf {
        home.join(FILE_NAME)
    }

    /// Reads the operator file of the node whose home is `home`.
    ///
    /// # Errors
    /// [`Error::Local`] when there is none (the node is not running, or
    /// this is not its home) or it cannot be read or parsed.
    pub fn read(home: &Path) -> Result<Self, Error> {
        let path = Self::path(home);
        let text = std::fs::read(&path).map_err(|err| {
            Error::Local(if err.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} does not exist: is the node running with --home {}?",
                    path.display(),
                    home.display()
                )
            } else {
                format!("cannot read {}: {err}", path.display())
            })
        })?;
        serde_json::from_slice(&text).map_err(|err| {
            Error::Local(format!("{} is not an operator file: {err}", path.display()))
        })
    }

    /// The operator key.
    ///
    /// # Errors
    /// [`Error::Local`] when the secret is not base58 of 32 bytes.
    pub fn key(&self) -> Result<ClientKey, Error> {
        let mut seed = [0u8; 32];
        match bs58::decode(&self.secret_key).onto(&mut seed) {
            Ok(32) => Ok(ClientKey::from_seed(seed)),
            _ => Err(Error::Local(
                "the operator file's secretKey is not base58 of 32 bytes".to_owned(),
            )),
        }
    }

    /// Writes the file into `home`, readable and writable by its owner
    /// only, replacing an older one in one step (a reader sees the old file
    /// or the new one, never a mix). The bytes go to a new file of a random
    /// name first (created, never opened if something is already there, so
    /// not through a planted file or link), then renamed over the old one.
    ///
    /// # Errors
    /// When the home cannot be written.
    pub fn write(&self, home: &Path) -> std::io::Result<()> {
        use std::io::Write;

        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(std::io::Error::other)?;
        let partial = home.join(format!(
            ".{FILE_NAME}.{}",
            bs58::encode(random).into_string()
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&partial).and_then(|mut file| {
            file.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
            file.sync_all()
        });
        let renamed = written.and_then(|()| std::fs::rename(&partial, Self::path(home)));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        renamed
    }

    /// Removes the file from `home` if it still holds `key` (a node started
    /// since on the same home keeps its own).
    pub fn remove(home: &Path, key: &ClientKey) {
        let ours = Self::read(home)
            .and_then(|file| file.key())
            .is_ok_and(|written| written.seed() == key.seed());
        if ours {
            let _ = std::fs::remove_file(Self::path(home));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_replaces_a_planted_link_and_is_removed_only_with_its_key() {
        let home = std::env::temp_dir().join(format!("operator-file-{}", std::process::id()));
        std::fs::create_dir_all(&home).expect("a home");
        let key = ClientKey::from_seed_byte(7);
        let file = OperatorFile::new(
            "http://127.0.0.1:1".to_owned(),
            PublicKey::from_bytes([1; 32]),
            &key,
        );
        // A link planted where the file goes is replaced, not followed.
        #[cfg(unix)]
        {
            let target = home.join("elsewhere");
            std::fs::write(&target, b"untouched").expect("writes");
            std::os::unix::fs::symlink(&target, OperatorFile::path(&home)).expect("links");
            file.write(&home).expect("writes");
            assert_eq!(std::fs::read(&target).expect("reads"), b"untouched");
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::symlink_metadata(OperatorFile::path(&home)).expect("stat");
            assert!(meta.file_type().is_file());
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
        file.write(&home).expect("writes again");
        let read = OperatorFile::read(&home).expect("reads");
        assert_eq!(read.key().expect("a key").seed(), key.seed());
        assert_eq!(read.url, "http://127.0.0.1:1");
        // Another run's key does not remove it; its own does.
        OperatorFile::remove(&home, &ClientKey::from_seed_byte(8));
        assert!(OperatorFile::path(&home).exists());
        OperatorFile::remove(&home, &key);
        assert!(!OperatorFile::path(&home).exists());
        assert!(matches!(OperatorFile::read(&home), Err(Error::Local(_))));
        std::fs::remove_dir_all(&home).expect("cleans up");
    }
}

//! Shared test fixtures: fixed keypairs, test node builders, wasm fixtures and
//! timeouts, used by the integration tests of the other crates.
//!
//! It grows with the crates it serves; today it locates the workspace and the
//! example apps that `cargo xtask build-apps` builds, and signs wallet logins
//! and auth headers with the keys of the known-answer vectors ([`wallet`]),
//! and talks to `/ws` with deadlines on every read ([`ws`]), and a clock
//! tests move by hand ([`clock`]).

pub mod clock;
pub mod wallet;
pub mod ws;

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding the root `Cargo.toml`).
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("test-utils lives two levels below the workspace root")
        .to_path_buf()
}

/// Where `cargo xtask build-apps` puts the example apps: `target/apps/<name>.wasm`.
#[must_use]
pub fn built_app_path(name: &str) -> PathBuf {
    workspace_root()
        .join("target")
        .join("apps")
        .join(format!("{name}.wasm"))
}

/// The bytes of a built example app, with a message that says how to build it
/// when it is missing.
///
/// # Panics
/// When the app has not been built.
#[must_use]
pub fn built_app(name: &str) -> Vec<u8> {
    let path = built_app_path(name);
    std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; run `cargo xtask build-apps` (or `cargo xtask test`) first",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml"))
            .expect("root manifest is readable");
        assert!(manifest.contains("[workspace]"));
    }

    #[test]
    fn app_paths_live_under_target_apps() {
        let path = built_app_path("kv-store");
        assert!(path.ends_with("target/apps/kv-store.wasm"), "{path:?}");
    }
}

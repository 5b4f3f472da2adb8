//! `cargo xtask layering`: the crate layering rules, checked with `cargo tree`.
//!
//! - The primitives crates are leaves: no runtime, transport, wasm engine or
//!   database anywhere in their normal dependency tree.
//! - The server crates reach the node only through the `node` crate, never
//!   `node-store` or `node-runtime` directly.
//! - `node-runtime` sees state through a trait: it never depends on `node-store`.
//! - `server-auth` keeps keys through a trait: it never depends on `node`.
//! - `client` speaks the wire protocol only: no node, no server.
//! - `node-network` moves bytes: no other crate of the node, no wasm engine,
//!   no database.

use std::collections::BTreeSet;

use anyhow::{Result, bail};

use crate::shell;

/// Crates that must stay free of heavy infrastructure.
const LEAF_CRATES: &[&str] = &["node-primitives", "server-primitives"];

/// What a leaf crate must never pull in, at any depth.
const FORBIDDEN_IN_LEAVES: &[&str] = &["tokio", "hyper", "axum", "jsonrpsee", "wasmtime", "redb"];

/// `(crate, dependency, direct_only)`: `crate` must not depend on `dependency`
/// (directly when `direct_only`, else anywhere in its normal tree).
const FORBIDDEN_EDGES: &[(&str, &str, bool)] = &[
    ("server-admin", "node-store", true),
    ("server-admin", "node-runtime", true),
    ("server-jsonrpc", "node-store", true),
    ("server-jsonrpc", "node-runtime", true),
    ("server-ws", "node-store", true),
    ("server-ws", "node-runtime", true),
    ("server", "node-store", true),
    ("server", "node-runtime", true),
    ("node-runtime", "node-store", false),
    ("server-auth", "node", false),
    ("server-auth", "node-store", false),
    ("server-auth", "node-runtime", false),
    ("client", "node", false),
    ("client", "server", false),
    ("client", "server-admin", false),
    ("client", "axum", false),
    ("node-network", "node-primitives", false),
    ("node-network", "node-store", false),
    ("node-network", "node-runtime", false),
    ("node-network", "node", false),
    ("node-network", "wasmtime", false),
    ("node-network", "redb", false),
];

pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("layering takes no arguments, got `{arg}`");
    }
    let mut violations = Vec::new();
    for krate in LEAF_CRATES {
        let deps = dependencies(krate, false)?;
        for bad in FORBIDDEN_IN_LEAVES {
            if deps.contains(*bad) {
                violations.push(format!("{krate} depends on {bad} (a leaf crate must not)"));
            }
        }
    }
    for (krate, bad, direct) in FORBIDDEN_EDGES {
        if dependencies(krate, *direct)?.contains(*bad) {
            let how = if *direct { "directly" } else { "in its tree" };
            violations.push(format!("{krate} depends on {bad} {how}"));
        }
    }
    if !violations.is_empty() {
        bail!("layering rules broken:\n  {}", violations.join("\n  "));
    }
    eprintln!("layering: ok");
    Ok(())
}

/// Names of the normal dependencies of `krate` (direct ones only, or its whole tree).
fn dependencies(krate: &str, direct_only: bool) -> Result<BTreeSet<String>> {
    let mut cmd = shell::cargo();
    cmd.args(["tree", "--quiet", "--package", krate, "--edges", "normal"])
        .args(["--prefix", "none", "--format", "{p}"]);
    if direct_only {
        cmd.args(["--depth", "1"]);
    }
    let out = shell::capture(&mut cmd)?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            shell::describe(&cmd),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(parse_tree(krate, &String::from_utf8_lossy(&out.stdout)))
}

/// Package names of `cargo tree --prefix none --format {p}` output, without
/// the root crate itself.
fn parse_tree(krate: &str, output: &str) -> BTreeSet<String> {
    output
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != krate)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cargo_tree_lines() {
        let output = "server-primitives v0.1.0 (/w/crates/server-primitives)\n\
                      serde v1.0.228\n\
                      tokio v1.48.0 (*)\n\n";
        let deps = parse_tree("server-primitives", output);
        assert_eq!(
            deps.into_iter().collect::<Vec<_>>(),
            vec!["serde".to_owned(), "tokio".to_owned()]
        );
    }

    #[test]
    fn leaf_crates_pull_in_no_infrastructure() {
        for krate in LEAF_CRATES {
            let deps = dependencies(krate, false).expect("cargo tree runs");
            assert!(deps.contains("serde"), "{krate}: {deps:?}");
            for bad in FORBIDDEN_IN_LEAVES {
                assert!(!deps.contains(*bad), "{krate} depends on {bad}");
            }
        }
    }
}

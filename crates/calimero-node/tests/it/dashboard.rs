//! The admin dashboard end to end: `tests/dashboard/dashboard.mjs` drives
//! it in a real headless Chromium (Debian's `chromium` through
//! playwright-core, installed by `cargo xtask test`; `.ci/run` installs
//! Chromium) against two real `calimero-node` binaries, with injected
//! wallets that sign with real keys. It takes a screenshot of each page into
//! `target/dashboard-screenshots` (or `$CALIMERO_SCREENSHOTS`: the README's
//! are refreshed with `CALIMERO_SCREENSHOTS=docs/dashboard`).

use std::process::Command;

use super::{start, stop};

/// Where the browser is: `$CHROMIUM`, else Debian's.
fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

#[test]
fn the_dashboard_does_what_an_operator_needs_in_a_real_browser() {
    let dir = test_utils::workspace_root().join("crates/calimero-node/tests/dashboard");
    assert!(
        dir.join("node_modules/.package-lock.json").exists(),
        "the dashboard's test driver is not installed: run `cargo xtask test`, or `npm ci` in {}",
        dir.display()
    );
    let browser = chromium();
    assert!(
        std::path::Path::new(&browser).exists(),
        "no Chromium at {browser}: `apt-get install -y chromium` (what .ci/run does), or set CHROMIUM"
    );
    let homes = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    let first = start(homes[0].path());
    let second = start(homes[1].path());
    let screenshots = std::env::var("CALIMERO_SCREENSHOTS").map_or_else(
        |_| test_utils::workspace_root().join("target/dashboard-screenshots"),
        |dir| test_utils::workspace_root().join(dir),
    );
    let output = Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(&dir)
        .env("NODE_URL", &first.base)
        .env("NEAR_NODE_URL", &second.base)
        .env("APP_PATH", test_utils::built_app_path("kv-store"))
        .env("CHROMIUM", &browser)
        .env("SCREENSHOTS", &screenshots)
        .output()
        .expect("node runs (install Node.js)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = stdout
        .lines()
        .find_map(|line| line.strip_prefix("dashboard: "))
        .unwrap_or_default();
    assert!(
        output.status.success() && summary == "15 passed, 0 failed",
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    stop(first);
    stop(second);
}

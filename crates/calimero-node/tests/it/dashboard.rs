//! The admin dashboard end to end: `tests/dashboard/dashboard.mjs` drives
//! it in a real headless Chromium (Debian's `chromium` through
//! playwright-core, installed by `cargo xtask test`; `.ci/run` installs
//! Chromium) against two real `calimero-node` binaries, with injected
//! wallets that sign with real keys. It takes a screenshot of each page into
//! `target/dashboard-screenshots` (or `$CALIMERO_SCREENSHOTS`: the README's
//! are refreshed with `CALIMERO_SCREENSHOTS=docs/dashboard`).
//!
//! Midway the script asks (a `dashboard: restart the node <context>` line)
//! for the node to go away while the context changes; this test stops it,
//! commits four changes on another port, and brings it back on the page's
//! port with an event log that keeps two records, so the page's live view
//! must reconnect, show the two it cannot replay as a gap, and resume.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Running, init_keeping_events, start, start_on, stop};

/// Where the browser is: `$CHROMIUM`, else Debian's.
fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Stops the node, commits four changes to `context` while the page cannot
/// see them, and starts it again on `port`.
fn restart_behind_the_page(running: Running, home: &Path, context: &str, port: u16) -> Running {
    stop(running);
    let elsewhere = start(home);
    for round in 1..=4 {
        let args = format!(r#"{{"key":"while-away","value":"change {round}"}}"#);
        let output = Command::new(env!("CARGO_BIN_EXE_calimero-node"))
            .arg("--home")
            .arg(home)
            .args(["call", context, "set", &args, "--mutate"])
            .output()
            .expect("the CLI runs");
        assert!(output.status.success(), "{output:?}");
    }
    stop(elsewhere);
    start_on(home, &format!("127.0.0.1:{port}"))
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
        Path::new(&browser).exists(),
        "no Chromium at {browser}: `apt-get install -y chromium` (what .ci/run does), or set CHROMIUM"
    );
    let homes = [
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    ];
    // The first node keeps two event records per context (see the module doc).
    init_keeping_events(homes[0].path(), 2);
    let port = free_port();
    let mut first = start_on(homes[0].path(), &format!("127.0.0.1:{port}"));
    let second = start(homes[1].path());
    let screenshots = std::env::var("CALIMERO_SCREENSHOTS").map_or_else(
        |_| test_utils::workspace_root().join("target/dashboard-screenshots"),
        |dir| test_utils::workspace_root().join(dir),
    );
    let mut script = Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(&dir)
        .env("NODE_URL", &first.base)
        .env("NEAR_NODE_URL", &second.base)
        .env("APP_PATH", test_utils::built_app_path("kv-store"))
        .env("CHROMIUM", &browser)
        .env("SCREENSHOTS", &screenshots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (install Node.js)");
    let mut to_script = script.stdin.take().expect("stdin");
    let mut transcript = Vec::new();
    for line in BufReader::new(script.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
    {
        if let Some(context) = line.strip_prefix("dashboard: restart the node ") {
            first = restart_behind_the_page(first, homes[0].path(), context, port);
            writeln!(to_script, "restarted").expect("tells the script");
        }
        transcript.push(line);
    }
    let status = script.wait().expect("the script ends");
    let transcript = transcript.join("\n");
    let summary = transcript
        .lines()
        .find_map(|line| {
            line.strip_prefix("dashboard: ")
                .filter(|rest| rest.contains("passed"))
        })
        .unwrap_or_default();
    assert!(
        status.success() && summary == "16 passed, 0 failed",
        "{status}\n{transcript}"
    );
    stop(first);
    stop(second);
}

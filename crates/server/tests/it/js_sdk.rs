//! The public JS client SDK (`@calimero-network/calimero-client` 1.1.0, from
//! the npm registry, unmodified) against the composed server: health, calls
//! with a bearer token and `executorPublicKey`, events on `/ws?token=` (with
//! credentials required, as on a public node), token refresh and rotation.
//! `tests/js-sdk/sdk.mjs` drives it; `cargo xtask test` installs it.

use std::process::Command;

use server::ServerConfig;

use super::serve;

#[tokio::test]
async fn the_public_js_sdk_calls_follows_and_refreshes() {
    let dir = test_utils::workspace_root().join("crates/server/tests/js-sdk");
    assert!(
        dir.join("node_modules/.package-lock.json").exists(),
        "the JS client SDK is not installed: run `cargo xtask test`, or `npm ci` in {}",
        dir.display()
    );
    let served = serve(ServerConfig {
        ws_require_auth: Some(true),
        ..ServerConfig::default()
    })
    .await;
    let context = served.kv_context();
    let member = served
        .node
        .context(&context)
        .expect("read")
        .expect("exists")
        .members[0];
    let admin = test_utils::wallet::ClientKey::from_seed_byte(0x03);
    let tokens = served
        .auth
        .issue_tokens(&admin.public_key(), context, member, served.auth.now_ms())
        .expect("tokens");
    let node_url = served.url("");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("sdk.mjs")
            .current_dir(&dir)
            .env("NODE_URL", node_url)
            .env("CONTEXT_ID", context.to_string())
            .env("EXECUTOR", member.to_string())
            .env("ACCESS_TOKEN", tokens.access_token)
            .env("REFRESH_TOKEN", tokens.refresh_token)
            .output()
            .expect("node runs (install Node.js)")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("sdk: 6 passed, 0 failed"),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
}

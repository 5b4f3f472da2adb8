//! The operator's terminal: `calimero-node status | apps | contexts | keys |
//! call | watch | tokens` against the real binary running on the same home,
//! authenticated by the operator key the node writes there, and the typed
//! client crate they are built on.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use client::wallet::{EthWallet, NearWallet};
use client::{Client, ClientKey, Credentials, ErrorKind, WatchOptions};
use serde_json::{Value, json};

use super::{init_keeping_events, lines_of, start, stop};

/// Runs `calimero-node --home HOME --json ARGS…`.
fn cli(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_calimero-node"))
        .arg("--home")
        .arg(home)
        .arg("--json")
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The JSON a command printed, after checking it exited 0.
fn ok(home: &Path, args: &[&str]) -> Value {
    let output = cli(home, args);
    assert!(
        output.status.success(),
        "{args:?} exited {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{args:?} printed no JSON ({err}): {output:?}"))
}

/// The exit code of a command that must fail, and its JSON error.
fn fails(home: &Path, args: &[&str]) -> (i32, Value) {
    let output = cli(home, args);
    assert!(!output.status.success(), "{args:?} succeeded: {output:?}");
    let error = serde_json::from_slice(&output.stderr)
        .unwrap_or_else(|err| panic!("{args:?}: stderr is not JSON ({err}): {output:?}"));
    (output.status.code().expect("an exit code"), error)
}

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_owned()
}

#[test]
fn the_cli_administers_the_node_running_on_its_home() {
    let home = tempfile::tempdir().expect("temp dir");
    let running = start(home.path());
    let home = home.path();

    // The operator file: the node's URL, its owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.join("operator.json"))
            .expect("the operator file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    let status = ok(home, &["status"]);
    assert_eq!(status["status"], "alive");
    assert_eq!(status["url"], json!(running.base));
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));

    // Applications: install a file from this machine, list, uninstall.
    let wasm = test_utils::built_app_path("kv-store");
    let app = text(&ok(home, &["apps", "install", wasm.to_str().expect("utf-8")])["applicationId"]);
    let apps = ok(home, &["apps", "list"]);
    assert_eq!(apps[0]["id"], json!(app));
    assert_eq!(apps[0]["source"], "upload");

    // Contexts and calls.
    let created = ok(home, &["contexts", "create", &app]);
    let context = text(&created["context"]["id"]);
    let member = text(&created["memberPublicKey"]);
    let set = ok(
        home,
        &[
            "call",
            &context,
            "set",
            r#"{"key":"k","value":"v1"}"#,
            "--mutate",
        ],
    );
    assert!(set["rootHash"].is_string(), "{set}");
    let got = ok(home, &["call", &context, "get", r#"{"key":"k"}"#]);
    assert_eq!(got["output"], "v1");
    let shown = ok(home, &["contexts", "show", &context]);
    assert_eq!(shown["context"]["rootHash"], set["rootHash"]);
    assert_eq!(shown["users"][0]["userId"], json!(member));
    assert!(shown["sizeInBytes"].as_u64().expect("a size") > 0);

    // A token minted for the context's creator calls the context, and only it.
    let tokens = ok(home, &["tokens", "mint", &context]);
    let token = text(&tokens["access_token"]);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let principal = Client::connect(&running.base, Credentials::Token(token))
            .await
            .expect("connects");
        let id = context.parse().expect("an id");
        let answer = principal
            .query(id, "get", json!({"key": "k"}))
            .await
            .expect("the token calls its context");
        assert_eq!(answer.output, json!("v1"));
        let refused = principal
            .contexts()
            .await
            .expect_err("not an administrator");
        assert_eq!(refused.kind(), ErrorKind::Forbidden, "{refused}");
    });

    // Keys: the operator key is not among them.
    let did = ok(home, &["keys", "list"]);
    assert_eq!(did["client_keys"], json!([]), "{did}");

    // Exit codes scripts can rely on, with the node's reason.
    let (code, error) = fails(home, &["apps", "uninstall", &app]);
    assert_eq!(code, 6, "{error}");
    assert!(
        text(&error["error"]["message"]).contains("delete them first"),
        "{error}"
    );
    let (code, error) = fails(home, &["call", &context, "no_such_method"]);
    assert_eq!(code, 8, "{error}");
    let (code, _) = fails(home, &["call", &context, "get", "{not json"]);
    assert_eq!(code, 7);
    let unknown = "11111111111111111111111111111111";
    let (code, error) = fails(home, &["contexts", "show", unknown]);
    assert_eq!(code, 5, "{error}");
    let malformed = cli(home, &["contexts", "show", "not-an-id"]);
    assert_eq!(malformed.status.code(), Some(2), "{malformed:?}");
    assert!(
        String::from_utf8_lossy(&malformed.stderr).contains("invalid base58"),
        "{malformed:?}"
    );
    let not_wasm = home.join("config.toml");
    let (code, error) = fails(
        home,
        &["apps", "install", not_wasm.to_str().expect("utf-8")],
    );
    assert_eq!(code, 7, "{error}");

    // Delete the context, then the app can go.
    assert_eq!(
        ok(home, &["contexts", "delete", &context])["isDeleted"],
        true
    );
    assert_eq!(ok(home, &["apps", "uninstall", &app])["isDeleted"], true);
    assert_eq!(ok(home, &["apps", "list"]), json!([]));

    stop(running);
    assert!(
        !home.join("operator.json").exists(),
        "a clean stop removes the operator file"
    );
    let (code, error) = fails(home, &["status"]);
    assert_eq!(code, 3, "no node running: {error}");
    assert!(
        text(&error["error"]["message"]).contains("is the node running"),
        "{error}"
    );
}

/// Reads `watch --json` lines: each an event.
struct Watching {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Watching {
    fn next(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("an event line");
        serde_json::from_str(&line).unwrap_or_else(|err| panic!("{line:?}: {err}"))
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_streams_events_and_follows_a_restarted_node() {
    let home = tempfile::tempdir().expect("temp dir");
    let running = start(home.path());
    let home = home.path();
    let wasm = test_utils::built_app_path("kv-store");
    let app = text(&ok(home, &["apps", "install", wasm.to_str().expect("utf-8")])["applicationId"]);
    let context = text(&ok(home, &["contexts", "create", &app])["context"]["id"]);
    let set = |value: &str| {
        let args = json!({"key": "k", "value": value}).to_string();
        ok(home, &["call", &context, "set", &args, "--mutate"])["eventSeq"]
            .as_u64()
            .expect("an event seq")
    };
    let first = set("1");

    let mut child = Command::new(env!("CARGO_BIN_EXE_calimero-node"))
        .arg("--home")
        .arg(home)
        .args([
            "--json", "watch", &context, "--since", "0", "--events", "current",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("watch starts");
    let lines = lines_of(child.stdout.take().expect("stdout"));
    let watching = Watching { child, lines };

    // Replayed from `--since 0` (the context's `init` is record 1), then
    // live: each record once, in order.
    let mut seen = Vec::new();
    let mut wait_for = |watching: &Watching, seq: u64| {
        while seen.last() != Some(&seq) {
            let event = watching.next();
            assert_eq!(event["contextId"], json!(context), "{event}");
            assert_ne!(event["type"], "Gap", "nothing is lost here: {event}");
            if event["type"] == "StateMutation" {
                seen.push(event["seq"].as_u64().expect("a seq"));
            }
        }
    };
    wait_for(&watching, first);
    let second = set("2");
    wait_for(&watching, second);

    // The node restarts on another port, with a new operator key: the
    // watch follows it, from the last event it saw.
    stop(running);
    let running = start(home);
    let third = set("3");
    wait_for(&watching, third);
    assert_eq!(seen, (1..=third).collect::<Vec<_>>());
    drop(watching);
    stop(running);
}

#[tokio::test]
async fn the_client_logs_wallets_in_and_refuses_what_the_node_refuses() {
    let home = tempfile::tempdir().expect("temp dir");
    let running = start(home.path());
    let anonymous = Client::connect(&running.base, Credentials::Anonymous)
        .await
        .expect("connects");
    assert_eq!(anonymous.node_version(), Some(env!("CARGO_PKG_VERSION")));

    // The first wallet login makes the wallet root: its client key administers.
    let admin = anonymous
        .log_in(
            &NearWallet::from_seed_byte(0x02),
            ClientKey::from_seed_byte(0x03),
            None,
        )
        .await
        .expect("the first login");
    let app = admin
        .install_bytes(test_utils::built_app("kv-store"))
        .await
        .expect("installs");
    let created = admin
        .create_context(app, Vec::new())
        .await
        .expect("a context");
    let did = admin.did().await.expect("the DID");
    assert_eq!(did.root_keys.len(), 1);

    // Another wallet is not root: its login is refused.
    let refused = anonymous
        .log_in(
            &EthWallet::from_seed_byte(0x04),
            ClientKey::from_seed_byte(0x06),
            None,
        )
        .await
        .expect_err("not a root wallet");
    assert_eq!(refused.kind(), ErrorKind::Forbidden, "{refused}");

    // A key the root wallet registers for the context calls it, as itself…
    let bound = ClientKey::from_seed_byte(0x05);
    let member = anonymous
        .log_in(
            &NearWallet::from_seed_byte(0x02),
            bound.clone(),
            Some(created.context.id),
        )
        .await
        .expect("a context login");
    let mutated = member
        .mutate(created.context.id, "set", json!({"key": "a", "value": "b"}))
        .await
        .expect("its own context");
    assert!(mutated.event_seq.is_some());
    // …and may not administer, nor follow another context.
    let denied = member.applications().await.expect_err("403");
    assert_eq!(denied.kind(), ErrorKind::Forbidden, "{denied}");
    let other = admin
        .create_context(app, Vec::new())
        .await
        .expect("another");
    let denied = member
        .query(other.context.id, "get", json!({"key": "a"}))
        .await
        .expect_err("another context");
    assert_eq!(denied.kind(), ErrorKind::Forbidden, "{denied}");

    // The administrator follows the context and sees the member's write
    // replayed, then a new one live.
    let mut watch = admin
        .watch(
            &[created.context.id],
            WatchOptions {
                since: [(created.context.id, 0)].into(),
                ..WatchOptions::default()
            },
        )
        .await
        .expect("a watch");
    let later = admin
        .mutate(created.context.id, "set", json!({"key": "a", "value": "c"}))
        .await
        .expect("a write");
    let mut seqs = std::collections::BTreeSet::new();
    while !seqs.contains(&later.event_seq.expect("a seq")) {
        match watch.next().await.expect("an event") {
            client::WatchEvent::Event(event) => {
                seqs.insert(event.seq.expect("a seq"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(seqs.contains(&mutated.event_seq.expect("a seq")));
    stop(running);
}

#[test]
fn shell_completions_name_every_operator_command() {
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(env!("CARGO_BIN_EXE_calimero-node"))
            .args(["completions", shell])
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8_lossy(&output.stdout);
        for command in [
            "status", "apps", "contexts", "keys", "call", "watch", "tokens",
        ] {
            assert!(
                script.contains(command),
                "{shell} completion lacks {command}"
            );
        }
    }
}

#[tokio::test]
async fn a_watch_from_before_what_the_node_kept_starts_with_a_gap() {
    let home = tempfile::tempdir().expect("temp dir");
    // A node that keeps two event records per context.
    init_keeping_events(home.path(), 2);
    let running = start(home.path());
    let node = Client::operator(home.path()).await.expect("the operator");
    let app = node
        .install_bytes(test_utils::built_app("kv-store"))
        .await
        .expect("installs");
    let context = node
        .create_context(app, Vec::new())
        .await
        .expect("creates")
        .context
        .id;
    let mut last = 0;
    for round in 0..4 {
        last = node
            .mutate(
                context,
                "set",
                json!({"key": "k", "value": round.to_string()}),
            )
            .await
            .expect("commits")
            .event_seq
            .expect("a seq");
    }
    // Records 1 (init) to 5; the node keeps 4 and 5.
    let mut watch = node
        .watch(
            &[context],
            WatchOptions {
                since: [(context, 0)].into(),
                events: client::primitives::ws::EventGeneration::Current,
                ..WatchOptions::default()
            },
        )
        .await
        .expect("a watch");
    let mut seen = Vec::new();
    while seen.last() != Some(&last) {
        let client::WatchEvent::Event(event) = watch.next().await.expect("an event") else {
            panic!("no reconnect expected");
        };
        match event.payload {
            client::primitives::ws::EventPayload::Gap { from_seq, to_seq } => {
                assert!(seen.is_empty(), "the gap comes first");
                assert_eq!((from_seq, to_seq), (1, last - 2));
            }
            client::primitives::ws::EventPayload::StateMutation { .. } => {
                seen.push(event.seq.expect("a seq"));
            }
            _ => {}
        }
    }
    assert_eq!(seen, vec![last - 1, last]);
    assert_eq!(watch.last_seen().get(&context), Some(&last));
    stop(running);
}

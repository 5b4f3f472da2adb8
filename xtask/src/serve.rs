//! `cargo xtask serve`: build the example apps and the node, run the node on a
//! dev home (`./.dev-node`, kept across runs), install the example apps, create
//! one context of each unless there is one, and print where everything is.
//! `--nodes N` runs N nodes (homes `.dev-node-2`, …), the others bootstrapped
//! to the first, each example context shared with them by invitation.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::{build_apps, node_process, shell};

pub fn run(args: &[String]) -> Result<()> {
    let mut listen = "127.0.0.1:2528".to_owned();
    let mut nodes = 1u16;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--listen" => listen = rest.next().context("--listen needs ADDR:PORT")?.clone(),
            "--nodes" => {
                nodes = rest
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=9).contains(n))
                    .context("--nodes needs a number from 1 to 9")?;
            }
            other => bail!("serve: unknown option `{other}` (--listen ADDR:PORT, --nodes N)"),
        }
    }
    let address: std::net::SocketAddr = listen.parse().context("--listen needs ADDR:PORT")?;
    let root = shell::root();
    build_apps::run(&[])?;
    shell::run(shell::cargo().args(["build", "--package", "calimero-node"]))?;
    let binary = root.join("target").join("debug").join("calimero-node");
    // Caught from before the nodes exist, so none is lost in between.
    let signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).context("installing signal handlers")?;
    let pids = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    forward_signals(signals, pids.clone());

    let mut children = Vec::new();
    let mut bootstrap: Option<String> = None;
    let mut bases = Vec::new();
    for index in 0..nodes {
        let home = root.join(home_name(index));
        let port = address
            .port()
            .checked_add(if address.port() == 0 { 0 } else { index })
            .context("port")?;
        let listen = std::net::SocketAddr::new(address.ip(), port).to_string();
        eprintln!("serve: starting node {} on {}", index + 1, home.display());
        let mut command = Command::new(&binary);
        command
            .arg("--home")
            .arg(&home)
            .args(["run", "--listen", &listen])
            .stdout(Stdio::piped())
            // Its own process group: a terminal's Ctrl-C reaches only this
            // task, which hands each signal to the nodes exactly once (see
            // `forward_signals`).
            .process_group(0);
        if let Some(first) = &bootstrap {
            command.args(["--bootstrap", first.as_str()]);
        }
        let mut node = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        pids.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(rustix::process::Pid::from_child(&node));
        let ready = node_process::wait_ready_with_swarm(&mut node, "see its log above");
        children.push(node);
        let (base, swarm) = match ready {
            Ok(ready) => ready,
            Err(err) => {
                stop_all(&mut children);
                return Err(err);
            }
        };
        if bootstrap.is_none() {
            bootstrap = swarm.first().cloned();
        }
        bases.push(base);
    }

    let shared = set_up(&root, &bases[0]).and_then(|mut contexts| {
        for index in 1..nodes {
            share(&binary, &root, index, &mut contexts)?;
        }
        if nodes > 1 {
            print_nodes(&bases, &contexts);
        }
        Ok(())
    });
    if let Err(err) = shared {
        stop_all(&mut children);
        return Err(err);
    }
    let mut failed = None;
    for mut node in children {
        let status = node.wait().context("waiting for a node")?;
        if !status.success() {
            failed = Some(status);
        }
    }
    if let Some(status) = failed {
        bail!("a node exited with {status}");
    }
    Ok(())
}

/// The home of node `index` (from 0): `.dev-node`, `.dev-node-2`, …
fn home_name(index: u16) -> String {
    if index == 0 {
        ".dev-node".to_owned()
    } else {
        format!(".dev-node-{}", index + 1)
    }
}

fn stop_all(children: &mut [Child]) {
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Runs the CLI on node `index`'s home; its JSON answer.
fn cli(binary: &Path, root: &Path, index: u16, args: &[&str]) -> Result<Value> {
    let output = Command::new(binary)
        .arg("--home")
        .arg(root.join(home_name(index)))
        .arg("--json")
        .args(args)
        .output()
        .with_context(|| format!("running calimero-node {args:?}"))?;
    if !output.status.success() {
        bail!(
            "calimero-node {args:?} on node {}: {}",
            index + 1,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).with_context(|| format!("the answer of {args:?}"))
}

/// Shares each of node 1's example contexts with node `index`: a member key
/// made there, invited by node 1, joined there (skipped when it has the
/// context already). A context an earlier version made cannot be shared: a
/// new one of its application replaces it.
fn share(binary: &Path, root: &Path, index: u16, contexts: &mut [(String, String)]) -> Result<()> {
    let held: Value = cli(binary, root, index, &["contexts", "list"])?;
    let held = held.to_string();
    for (application, context) in contexts.iter_mut() {
        if held.contains(context.as_str()) {
            continue;
        }
        let shown = cli(binary, root, 0, &["contexts", "show", context])?;
        if shown["sync"]["shareable"] == Value::Bool(false) {
            let created = cli(binary, root, 0, &["contexts", "create", application])?;
            eprintln!(
                "serve: context {context} was made by an earlier version and cannot be shared; sharing a new one"
            );
            *context = text(&created["context"]["id"]);
        }
        let identity = cli(binary, root, index, &["contexts", "identity"])?;
        let key = text(&identity["publicKey"]);
        let invited = cli(binary, root, 0, &["contexts", "invite", context, &key])?;
        let payload = text(&invited["invitationPayload"]);
        cli(binary, root, index, &["contexts", "join", &payload])?;
        eprintln!("serve: node {} joined context {context}", index + 1);
    }
    Ok(())
}

fn print_nodes(bases: &[String], contexts: &[(String, String)]) {
    let mut text = String::from("These example contexts are shared by every node:\n");
    for (_, context) in contexts {
        let _ = writeln!(text, "  {context}");
    }
    for (index, base) in bases.iter().enumerate() {
        let index = u16::try_from(index).unwrap_or(u16::MAX);
        let _ = writeln!(
            text,
            "  node {}  {base}/admin-dashboard/  (home {}, CLI: cargo run -q -p calimero-node -- --home {} contexts list)",
            index + 1,
            home_name(index),
            home_name(index)
        );
    }
    text.push_str("A mutation on one node shows on the others (a context's page, or `contexts show` with the CLI).\n");
    println!("{text}");
}

/// Hands SIGINT, SIGTERM and SIGHUP received by this task to the nodes, so
/// stopping `cargo xtask serve` in any way stops them gracefully (and a
/// second signal stops them at once, as a node does).
fn forward_signals(
    mut signals: Signals,
    pids: std::sync::Arc<std::sync::Mutex<Vec<rustix::process::Pid>>>,
) {
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let forwarded = if signal == SIGINT {
                rustix::process::Signal::INT
            } else {
                rustix::process::Signal::TERM
            };
            let pids = pids
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            for pid in pids {
                // The node may have exited already; nothing is left to stop then.
                let _ = rustix::process::kill_process(pid, forwarded);
            }
        }
    });
}

/// Installs the example apps and makes sure each has a context; prints a
/// summary; each context with its application.
fn set_up(root: &Path, base: &str) -> Result<Vec<(String, String)>> {
    let api = |path: &str| format!("{base}/admin-api{path}");
    let http = ureq::Agent::new_with_defaults();
    let post = |path: &str, body: Value| -> Result<Value> {
        http.post(&api(path))
            .send_json(body)
            .with_context(|| format!("POST {path}"))?
            .body_mut()
            .read_json::<Value>()
            .with_context(|| format!("reading the answer of POST {path}"))
    };
    let contexts: Value = http
        .get(&api("/dev/contexts"))
        .call()
        .context("GET /dev/contexts (are dev routes on?)")?
        .body_mut()
        .read_json()
        .context("reading the contexts")?;
    let existing = contexts["data"]["contexts"]
        .as_array()
        .cloned()
        .unwrap_or_default();

    let mut summary = Vec::new();
    let mut contexts = Vec::new();
    let mut kv_context = None;
    let apps_dir = root.join("target").join("apps");
    let mut apps: Vec<_> = std::fs::read_dir(&apps_dir)
        .with_context(|| format!("reading {}", apps_dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    apps.sort();
    for path in apps {
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or("app")
            .to_owned();
        let installed = post(
            "/dev/install-application",
            json!({"path": path, "metadata": []}),
        )?;
        let app_id = installed["data"]["applicationId"].clone();
        if app_id.is_null() {
            bail!("installing {name}: {installed}");
        }
        let context = match existing
            .iter()
            .find(|context| context["applicationId"] == app_id)
        {
            Some(context) => context["id"].clone(),
            None => {
                let created = post("/dev/contexts", json!({"applicationId": app_id}))?;
                created["data"]["context"]["id"].clone()
            }
        };
        contexts.push((text(&app_id), text(&context)));
        summary.push(format!(
            "  {name:<12} application {} context {}",
            text(&app_id),
            text(&context)
        ));
        if name == "kv-store" {
            kv_context = Some(text(&context));
        }
    }
    let ws = base.replacen("http://", "ws://", 1);
    println!(
        "\nThe node is running on {base} (Ctrl-C stops it).\n  dashboard  {base}/admin-dashboard/ (log in with MetaMask or a NEAR wallet; the first login becomes root)\n  CLI        cargo run -q -p calimero-node -- --home .dev-node --help\n  admin API  {base}/admin-api/health\n  JSON-RPC   {base}/jsonrpc (and {base}/jsonrpc/dev without credentials)\n  WebSocket  {ws}/ws\n  metrics    {base}/metrics\n  API docs   {base}/admin-api/openapi.json\n  home       .dev-node/ (kept across runs)\n\nExample apps:\n{}\n",
        summary.join("\n")
    );
    if let Some(context) = kv_context {
        println!("{}", try_it(base, &ws, &context));
    }
    Ok(contexts)
}

/// Commands that call the kv-store context, for a first try.
fn try_it(base: &str, ws: &str, context: &str) -> String {
    let call = |method: &str, name: &str, args: &str| {
        format!(
            r#"curl -s {base}/jsonrpc/dev -H 'content-type: application/json' -d '{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{"contextId":"{context}","method":"{name}","argsJson":{args}}}}}'"#
        )
    };
    format!(
        "Try it (kv-store):\n  {}\n  {}\n  events: connect to {ws}/ws and send \
         {{\"id\":1,\"method\":\"subscribe\",\"params\":{{\"contextIds\":[\"{context}\"]}}}}\n",
        call("mutate", "set", r#"{"key":"hello","value":"world"}"#),
        call("query", "get", r#"{"key":"hello"}"#),
    )
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_try_it_lines_carry_valid_calls() {
        let context = "2RdvDrCq6un23Nwv9CccnZFYa7gRocDexGcYoogk3L2D";
        let text = try_it("http://127.0.0.1:2528", "ws://127.0.0.1:2528", context);
        let bodies: Vec<Value> = text
            .lines()
            .filter_map(|line| line.split_once(" -d '"))
            .map(|(_, rest)| {
                serde_json::from_str(rest.strip_suffix('\'').expect("quoted")).expect("JSON")
            })
            .collect();
        assert_eq!(bodies.len(), 2, "{text}");
        for (body, method) in bodies.iter().zip(["mutate", "query"]) {
            assert_eq!(body["method"], method);
            assert_eq!(body["params"]["contextId"], context);
        }
        let subscribe = text
            .lines()
            .find_map(|line| line.split_once("/ws and send "))
            .map(|(_, frame)| serde_json::from_str::<Value>(frame).expect("JSON"))
            .expect("a subscribe frame");
        assert_eq!(subscribe["params"]["contextIds"][0], context);
    }
}

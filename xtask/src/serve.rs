//! `cargo xtask serve`: build the example apps and the node, run the node on a
//! dev home (`./.dev-node`, kept across runs), install the example apps, create
//! one context of each unless there is one, and print where everything is.

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
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--listen" => listen = rest.next().context("--listen needs ADDR:PORT")?.clone(),
            other => bail!("serve: unknown option `{other}` (only --listen ADDR:PORT)"),
        }
    }
    let root = shell::root();
    build_apps::run(&[])?;
    shell::run(shell::cargo().args(["build", "--package", "calimero-node"]))?;

    let home = root.join(".dev-node");
    let binary = root.join("target").join("debug").join("calimero-node");
    eprintln!("serve: starting the node on {}", home.display());
    // Caught from before the node exists, so none is lost in between.
    let signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).context("installing signal handlers")?;
    let mut node = Command::new(&binary)
        .arg("--home")
        .arg(&home)
        .args(["run", "--listen", &listen])
        .stdout(Stdio::piped())
        // Its own process group: a terminal's Ctrl-C reaches only this task,
        // which hands each signal to the node exactly once (see `forward_signals`).
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    forward_signals(signals, &node);
    let base = node_process::wait_ready(&mut node, "see its log above")?;

    if let Err(err) = set_up(&root, &base) {
        let _ = node.kill();
        return Err(err);
    }
    let status = node.wait().context("waiting for the node")?;
    if !status.success() {
        bail!("the node exited with {status}");
    }
    Ok(())
}

/// Hands SIGINT, SIGTERM and SIGHUP received by this task to the node, so
/// stopping `cargo xtask serve` in any way stops the node gracefully (and a
/// second signal stops it at once, as the node does).
fn forward_signals(mut signals: Signals, node: &Child) {
    let pid = rustix::process::Pid::from_child(node);
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let forwarded = if signal == SIGINT {
                rustix::process::Signal::INT
            } else {
                rustix::process::Signal::TERM
            };
            // The node may have exited already; nothing is left to stop then.
            let _ = rustix::process::kill_process(pid, forwarded);
        }
    });
}

/// Installs the example apps and makes sure each has a context; prints a summary.
fn set_up(root: &Path, base: &str) -> Result<()> {
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
    Ok(())
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

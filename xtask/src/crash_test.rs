//! `cargo xtask crash-test [--rounds N] [--seed S]`: runs the node binary
//! under mixed load (mutations on several contexts, WebSocket subscribers,
//! installs), kills it with SIGKILL at a random moment, restarts it, and
//! checks after every restart that:
//! - every acknowledged mutation is there (its key has its value);
//! - nothing that was never sent is there (no partial or phantom call);
//! - the event log matches the state: the next mutation's sequence number
//!   is one past the number of committed mutations (each `set` of a new key
//!   is one event record and one key);
//! - every acknowledged install is listed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::node_process::{self, NodeProcess, Rng};
use crate::shell;

/// Contexts written at once.
const CONTEXTS: usize = 6;

/// What the load was told, per context: keys sent and keys acknowledged.
#[derive(Debug, Default)]
struct Written {
    sent: BTreeSet<String>,
    acknowledged: BTreeSet<String>,
}

/// Everything the test knows the node must keep.
#[derive(Debug, Default)]
struct Model {
    contexts: BTreeMap<String, Mutex<Written>>,
    installs: Mutex<BTreeSet<String>>,
    next: std::sync::atomic::AtomicU64,
}

pub fn run(args: &[String]) -> Result<()> {
    let mut rounds = 20u32;
    let mut seed = Rng::seed_from_clock();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--rounds" => rounds = rest.next().context("--rounds N")?.parse()?,
            "--seed" => seed = rest.next().context("--seed S")?.parse()?,
            other => bail!("crash-test: unknown option `{other}` (--rounds N, --seed S)"),
        }
    }
    let binary = node_process::build()?;
    let apps = node_process::apps()?;
    let kv = apps
        .iter()
        .find(|path| path.file_stem().is_some_and(|name| name == "kv-store"))
        .context("target/apps/kv-store.wasm")?
        .clone();
    let home = shell::root()
        .join("target")
        .join("crash-test")
        .join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&home);
    eprintln!(
        "crash-test: {rounds} rounds, seed {seed}, home {}",
        home.display()
    );
    let mut rng = Rng::new(seed);
    let http = node_process::http();

    let model = Arc::new({
        let node = NodeProcess::start(&binary, &home)?;
        let app = node_process::install(&http, &node.base, &kv)?;
        let mut model = Model::default();
        for _ in 0..CONTEXTS {
            let context = node_process::create_context(&http, &node.base, &app)?;
            model.contexts.insert(context, Mutex::default());
        }
        model
            .installs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(app);
        node.stop()?;
        model
    });

    let started = Instant::now();
    let mut acknowledged_before = 0;
    for round in 1..=rounds {
        let mut node = NodeProcess::start(&binary, &home)?;
        verify(&http, &node.base, &model, round)
            .with_context(|| format!("after the restart before round {round}"))?;
        let load = spawn_load(&node.base, &model, &apps);
        let uptime = Duration::from_millis(rng.between(300, 6_000));
        std::thread::sleep(uptime);
        node.kill()?;
        for worker in load {
            // Workers end when the node is gone; their errors are expected.
            let _ = worker.join();
        }
        let acknowledged = acknowledged(&model);
        eprintln!(
            "crash-test: round {round}: killed after {uptime:?}, {} mutations acknowledged in it ({acknowledged} in all)",
            acknowledged - acknowledged_before
        );
        acknowledged_before = acknowledged;
    }
    let node = NodeProcess::start(&binary, &home)?;
    verify(&http, &node.base, &model, rounds + 1).context("after the last restart")?;
    node.stop()?;
    println!(
        "crash-test: {rounds} rounds in {:?}, seed {seed}: {} acknowledged mutations, \
         {} installs, all present after every restart; 0 lost, 0 phantom",
        started.elapsed(),
        acknowledged(&model),
        model
            .installs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    );
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}

fn acknowledged(model: &Model) -> usize {
    model
        .contexts
        .values()
        .map(|written| {
            written
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .acknowledged
                .len()
        })
        .sum()
}

/// One writer per context, a WebSocket subscriber, an installer.
fn spawn_load(
    base: &str,
    model: &Arc<Model>,
    apps: &[std::path::PathBuf],
) -> Vec<std::thread::JoinHandle<()>> {
    let mut workers = Vec::new();
    for context in model.contexts.keys() {
        let (base, model, context) = (base.to_owned(), model.clone(), context.clone());
        workers.push(std::thread::spawn(move || {
            let http = node_process::http();
            loop {
                let n = model
                    .next
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let key = format!("k{n}");
                let written = &model.contexts[&context];
                written
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .sent
                    .insert(key.clone());
                let args = json!({"key": key, "value": format!("v{n}")});
                match node_process::call(&http, &base, "mutate", &context, "set", args) {
                    Ok((200, answer)) if answer["result"].is_object() => {
                        written
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .acknowledged
                            .insert(key);
                    }
                    // Refused under load (503) or failed: not acknowledged.
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }));
    }
    let (ws_base, contexts) = (
        base.to_owned(),
        model.contexts.keys().cloned().collect::<Vec<_>>(),
    );
    workers.push(std::thread::spawn(move || {
        let _ = node_process::subscribe_and_drain(&ws_base, &contexts, None);
    }));
    let (base, model, apps) = (base.to_owned(), model.clone(), apps.to_vec());
    workers.push(std::thread::spawn(move || {
        let http = node_process::http();
        for app in apps.iter().cycle() {
            match node_process::install(&http, &base, app) {
                Ok(id) => {
                    model
                        .installs
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(id);
                }
                Err(_) => return,
            }
        }
    }));
    workers
}

/// Checks the node against the model; then writes one more key per context
/// (acknowledged, so later rounds check it too).
fn verify(http: &ureq::Agent, base: &str, model: &Model, round: u32) -> Result<()> {
    let installed: BTreeSet<String> = node_process::applications(http, base)?
        .into_iter()
        .collect();
    let installs = model
        .installs
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let missing: Vec<_> = installs.difference(&installed).collect();
    ensure!(
        missing.is_empty(),
        "acknowledged installs missing: {missing:?}"
    );
    drop(installs);
    for (context, written) in &model.contexts {
        let mut written = written.lock().unwrap_or_else(PoisonError::into_inner);
        let (status, answer) =
            node_process::call(http, base, "query", context, "entries", json!({}))?;
        ensure!(status == 200, "entries of {context}: {status} {answer}");
        let entries: BTreeMap<String, String> =
            serde_json::from_value(answer["result"]["output"].clone())
                .with_context(|| format!("entries of {context}: {answer}"))?;
        for key in &written.acknowledged {
            let expected = format!("v{}", &key[1..]);
            ensure!(
                entries.get(key) == Some(&expected),
                "context {context}: acknowledged {key} is {:?}, expected {expected:?}",
                entries.get(key)
            );
        }
        for key in entries.keys() {
            ensure!(
                written.sent.contains(key),
                "context {context}: {key} is there but was never sent"
            );
        }
        // One more committed mutation: its sequence number says how many
        // event records the log holds in all (init, then one per key).
        let probe = format!("p{round}");
        written.sent.insert(probe.clone());
        let args = json!({"key": probe, "value": format!("v{round}")});
        let (status, answer) = node_process::call(http, base, "mutate", context, "set", args)?;
        ensure!(
            status == 200 && answer["result"].is_object(),
            "probe of {context}: {status} {answer}"
        );
        written.acknowledged.insert(probe.clone());
        let seq = answer["result"]["eventSeq"].as_u64().context("eventSeq")?;
        let keys = entries.len() as u64 + 1;
        ensure!(
            seq == keys + 1,
            "context {context}: the event log says {} committed mutations, the state holds {keys} keys",
            seq - 1
        );
        let value: Value = answer["result"]["output"].clone();
        ensure!(value.is_null(), "set returned {value}");
    }
    Ok(())
}

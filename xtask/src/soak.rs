//! `cargo xtask soak [--minutes N]`: runs the node binary under mixed load
//! for N minutes (mutations and queries on several contexts, WebSocket
//! subscribers that come and go, installs, bad requests) and reports errors,
//! throughput, and the node's resident memory and open files at the start
//! (after a warm-up) and at the end, which should be flat.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::json;

use crate::node_process::{self, NodeProcess};
use crate::shell;

/// Contexts under load.
const CONTEXTS: usize = 4;

/// Counts by kind of answer.
#[derive(Debug, Default)]
struct Counts {
    ok: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
}

pub fn run(args: &[String]) -> Result<()> {
    let mut minutes = 10u64;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--minutes" => minutes = rest.next().context("--minutes N")?.parse()?,
            other => bail!("soak: unknown option `{other}` (--minutes N)"),
        }
    }
    let binary = node_process::build()?;
    let apps = node_process::apps()?;
    let home = shell::root()
        .join("target")
        .join("soak")
        .join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&home);
    let node = NodeProcess::start(&binary, &home)?;
    let http = node_process::http();
    let kv = apps
        .iter()
        .find(|path| path.file_stem().is_some_and(|name| name == "kv-store"))
        .context("target/apps/kv-store.wasm")?;
    let app = node_process::install(&http, &node.base, kv)?;
    let contexts: Vec<String> = (0..CONTEXTS)
        .map(|_| node_process::create_context(&http, &node.base, &app))
        .collect::<Result<_>>()?;

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let mut workers = Vec::new();
    for (i, context) in contexts.iter().enumerate() {
        // A writer and a reader per context; keys cycle, so state stays bounded.
        for write in [true, false] {
            let (base, context, stop, counts) = (
                node.base.clone(),
                context.clone(),
                stop.clone(),
                counts.clone(),
            );
            workers.push(std::thread::spawn(move || {
                let http = node_process::http();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("k{}", n % 500);
                    let answer = if write {
                        let args = json!({"key": key, "value": "v".repeat((n % 64) as usize)});
                        node_process::call(&http, &base, "mutate", &context, "set", args)
                    } else {
                        node_process::call(
                            &http,
                            &base,
                            "query",
                            &context,
                            "get",
                            json!({"key": key}),
                        )
                    };
                    count(&counts, answer);
                    n += 1;
                }
            }));
        }
        // Subscribers that come and go.
        let (base, context, stop) = (node.base.clone(), context.clone(), stop.clone());
        workers.push(std::thread::spawn(move || {
            let lasting = Duration::from_millis(500 + 100 * i as u64);
            while !stop.load(Ordering::Relaxed) {
                let _ = node_process::subscribe_and_drain(
                    &base,
                    std::slice::from_ref(&context),
                    Some(lasting),
                );
            }
        }));
    }
    // Installs now and then, and bad requests.
    let (base, stop_, counts_) = (node.base.clone(), stop.clone(), counts.clone());
    workers.push(std::thread::spawn(move || {
        let http = node_process::http();
        for app in apps.iter().cycle() {
            if stop_.load(Ordering::Relaxed) {
                return;
            }
            match node_process::install(&http, &base, app) {
                Ok(_) => counts_.ok.fetch_add(1, Ordering::Relaxed),
                Err(_) => counts_.errors.fetch_add(1, Ordering::Relaxed),
            };
            for body in ["{", "[]", "{\"jsonrpc\":\"2.0\"}"] {
                let bad = http
                    .post(format!("{base}/jsonrpc/dev"))
                    .header("content-type", "application/json")
                    .send(body);
                match bad.map(|response| response.status().as_u16()) {
                    Ok(status) if status < 500 => counts_.ok.fetch_add(1, Ordering::Relaxed),
                    _ => counts_.errors.fetch_add(1, Ordering::Relaxed),
                };
            }
            std::thread::sleep(Duration::from_secs(5));
        }
    }));

    let warm_up = Duration::from_secs(30.min(minutes * 60 / 4));
    std::thread::sleep(warm_up);
    let (rss_start, files_start) = node.resources()?;
    let calls_start = counts.ok.load(Ordering::Relaxed);
    let started = Instant::now();
    let total = Duration::from_secs(minutes * 60);
    let mut samples = Vec::new();
    while started.elapsed() + warm_up < total {
        std::thread::sleep(
            Duration::from_secs(30).min(total.saturating_sub(started.elapsed() + warm_up)),
        );
        let (rss, files) = node.resources()?;
        samples.push((started.elapsed().as_secs() + warm_up.as_secs(), rss, files));
        eprintln!(
            "soak: {:>4}s  rss {:>7} KiB  files {:>4}  ok {}  refused {}  errors {}",
            started.elapsed().as_secs() + warm_up.as_secs(),
            rss,
            files,
            counts.ok.load(Ordering::Relaxed),
            counts.refused.load(Ordering::Relaxed),
            counts.errors.load(Ordering::Relaxed)
        );
    }
    let (rss_end, files_end) = node.resources()?;
    let calls = counts.ok.load(Ordering::Relaxed) - calls_start;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.join();
    }
    node.stop()?;
    let errors = counts.errors.load(Ordering::Relaxed);
    println!(
        "soak: {minutes} min; {calls} answered calls after warm-up ({:.0}/s), {} refused (503), {errors} errors; \
         rss {rss_start} KiB -> {rss_end} KiB; open files {files_start} -> {files_end}",
        calls as f64 / elapsed.as_secs_f64(),
        counts.refused.load(Ordering::Relaxed),
    );
    let _ = std::fs::remove_dir_all(&home);
    ensure!(errors == 0, "{errors} calls failed");
    Ok(())
}

/// Counts one answer: a result, a refusal under load, or an error.
fn count(counts: &Counts, answer: Result<(u16, serde_json::Value)>) {
    let counter = match answer {
        Ok((200, body)) if body["result"].is_object() => &counts.ok,
        Ok((503, _)) => &counts.refused,
        _ => &counts.errors,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

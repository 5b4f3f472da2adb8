//! `cargo xtask fuzz [--seconds N] [TARGET…]`: builds the libFuzzer targets
//! in `fuzz/` (a workspace of its own) with sanitizer-coverage
//! instrumentation, then runs each for N seconds (60) from its seeds and
//! reports executions and crashes per target. A crash fails the command;
//! its input is kept under `fuzz/artifacts/<target>/`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::shell;

/// Coverage-guided instrumentation, as `cargo fuzz` asks of rustc (without
/// a sanitizer: the code under test is safe Rust).
const RUSTFLAGS: &str = "--cfg fuzzing -Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    -Cforce-frame-pointers";

/// The dictionary of a target, if it has one.
fn dictionary(target: &str) -> Option<&'static str> {
    match target {
        "auth_headers" | "authenticate" => Some("headers.dict"),
        "jsonrpc_request" | "ws_request" | "admin_bodies" | "login" | "jwt" | "auth_records"
        | "store_records" => Some("json.dict"),
        _ => None,
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let mut seconds = 60u64;
    let mut chosen = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--seconds" => seconds = rest.next().context("--seconds N")?.parse()?,
            name if !name.starts_with('-') => chosen.push(name.to_owned()),
            other => bail!("fuzz: unknown option `{other}` (--seconds N, target names)"),
        }
    }
    let root = shell::root();
    let fuzz = root.join("fuzz");
    let triple = host_triple()?;
    // The main workspace's versions for what both use.
    if !fuzz.join("Cargo.lock").exists() {
        std::fs::copy(root.join("Cargo.lock"), fuzz.join("Cargo.lock"))
            .context("seeding fuzz/Cargo.lock")?;
    }
    shell::run(
        shell::cargo()
            .current_dir(&fuzz)
            .args(["build", "--release", "--bins", "--target", &triple])
            .env("RUSTFLAGS", RUSTFLAGS),
    )?;
    let targets = if chosen.is_empty() {
        targets(&fuzz)?
    } else {
        chosen
    };
    let binaries = fuzz.join("target").join(&triple).join("release");
    let mut report = Vec::new();
    let mut crashed = Vec::new();
    for target in &targets {
        let corpus = fuzz.join("corpus").join(target);
        let artifacts = fuzz.join("artifacts").join(target);
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&artifacts)?;
        let mut command = Command::new(binaries.join(target));
        command
            .arg(&corpus)
            .arg(fuzz.join("seeds").join(target))
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/", artifacts.display()));
        if let Some(dict) = dictionary(target) {
            command.arg(format!("-dict={}", fuzz.join("dicts").join(dict).display()));
        }
        if target == "runtime_compile" {
            command.arg("-max_len=1024");
        }
        eprintln!("fuzz: {target} for {seconds}s");
        let output = shell::capture(&mut command)?;
        let log = String::from_utf8_lossy(&output.stderr);
        let executions = stat(&log, "stat::number_of_executed_units:");
        let crashes = std::fs::read_dir(&artifacts)?
            .filter_map(Result::ok)
            .filter(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                ["crash-", "leak-", "timeout-", "oom-"]
                    .iter()
                    .any(|kind| name.starts_with(kind))
            })
            .count();
        if !output.status.success() || crashes > 0 {
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            crashed.push(target.clone());
        }
        report.push(format!(
            "  {target:<18} {:>12} executions  {crashes} crashes{}",
            executions.map_or("?".to_owned(), |n| n.to_string()),
            if output.status.success() {
                ""
            } else {
                "  (failed)"
            }
        ));
    }
    println!("fuzz: {seconds}s per target\n{}", report.join("\n"));
    if !crashed.is_empty() {
        bail!(
            "crashes in {} (inputs under fuzz/artifacts/)",
            crashed.join(", ")
        );
    }
    Ok(())
}

/// The targets: one per file in `fuzz/fuzz_targets`.
fn targets(fuzz: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(fuzz.join("fuzz_targets"))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            entry
                .path()
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The number libFuzzer's final stats give for `key`.
fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines()
        .find_map(|line| line.trim().strip_prefix(key))
        .and_then(|value| value.trim().parse().ok())
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = shell::capture(Command::new(rustc).arg("-vV"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("no host triple in `rustc -vV`")
}

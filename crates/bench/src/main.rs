//! `node-bench`: runs the benchmark rows against a `calimero-node` binary
//! and prints the report. `cargo xtask bench` builds everything and runs it.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use bench::{Options, report};

const USAGE: &str = "usage: node-bench --node PATH --apps DIR [--quick | --smoke | --guest] [--only GROUP,…] [--json FILE]\n\
  --only: health, query, mutate, guest, events, fanout, login\n\
  --guest: only the guest-only rates of the engine (for tuning it)";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut node, mut apps, mut json) = (None, None, None);
    let mut only = Vec::new();
    let mut mode = "full";
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--node" => node = Some(PathBuf::from(args.next().context(USAGE)?)),
            "--apps" => apps = Some(PathBuf::from(args.next().context(USAGE)?)),
            "--json" => json = Some(PathBuf::from(args.next().context(USAGE)?)),
            "--quick" => mode = "quick",
            "--only" => {
                for group in args.next().context(USAGE)?.split(',') {
                    if !bench::scenarios::GROUPS.contains(&group) {
                        bail!(
                            "unknown group `{group}`; groups: {:?}",
                            bench::scenarios::GROUPS
                        );
                    }
                    only.push(group.to_owned());
                }
            }
            "--smoke" => mode = "smoke",
            "--guest" => mode = "guest",
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    let apps = apps.context(USAGE)?;
    if mode == "guest" {
        for (name, rate) in bench::scenarios::guest_rates(&apps)? {
            println!("{name}: {rate:.0}/s");
        }
        return Ok(());
    }
    let node = node.context(USAGE)?;
    let mut options = match mode {
        "quick" => Options::quick(node, apps),
        "smoke" => Options::smoke(node, apps),
        _ => Options::full(node, apps),
    };
    options.only = only;
    eprintln!(
        "node-bench: {} run(s), {:?} warm-up + {:?} per window, {} connections, {} subscribers, {} threads",
        options.runs,
        options.warmup,
        options.window,
        options.connections,
        options.subscribers,
        options.threads
    );
    let runs = bench::run(&options, |row| {
        let ratio = row.ratio().map_or_else(String::new, |ratio| {
            format!(" = {ratio:.2}x {}", row.baseline)
        });
        eprintln!("  {}: {:.0}/s{ratio}", row.name, row.summary.rate());
    })?;
    let lines = report::lines(&runs);
    println!("{}", report::table(&lines));
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&report::json(&lines))?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

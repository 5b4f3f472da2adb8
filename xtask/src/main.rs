//! Project automation, run as `cargo xtask <command>`.
//!
//! One module per command; each shells out to cargo and the tools it needs and
//! says what to install when a tool is missing.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod build_apps;
mod crash_test;
mod fuzz;
mod layering;
mod node_process;
mod serve;
mod shell;
mod soak;
mod test;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  serve               build the example apps and run a node on ./.dev-node
  test [--quick]      every check and test: fmt (the fuzz targets too), layering, example
                      apps, JS SDK, clippy -D warnings, docs, a check of the fuzz targets,
                      then cargo test (--quick skips clippy, docs and the fuzz check)
  build-apps          build the example apps in apps/ to target/apps/<name>.wasm
  layering            check the crate layering rules of ARCHITECTURE.md
  bench [--quick] [--json FILE]
                      release builds, then the benchmark report: the node over loopback,
                      each row a ratio to a baseline in the same run (docs/benchmarks.md);
                      --quick: one short run; --micro: cargo bench --workspace instead
  crash-test [--rounds N] [--seed S]
                      kill the node with SIGKILL under mixed load, N times (20),
                      and check after each restart that nothing acknowledged is lost
  fuzz [--seconds N] [TARGET…]
                      build the libFuzzer targets in fuzz/ and run each N seconds (60);
                      executions and crashes per target
  soak [--minutes N]  mixed load on the node for N minutes (10): errors, throughput,
                      resident memory and open files at start and end
";

fn main() {
    if let Err(err) = run() {
        eprintln!("xtask: error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    match command.as_deref() {
        Some("serve") => serve::run(&rest),
        Some("test") => test::run(&rest),
        Some("build-apps") => build_apps::run(&rest),
        Some("layering") => layering::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("crash-test") => crash_test::run(&rest),
        Some("soak") => soak::run(&rest),
        Some("fuzz") => fuzz::run(&rest),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

//! `cargo xtask bench [--quick] [--json FILE]`: the node's benchmark report.
//! Builds the example apps and release builds of `calimero-node` and the
//! harness (`crates/bench`), then runs the harness against the binary over
//! loopback; every row is a ratio to a baseline measured in the same run.
//! `--micro` runs the in-process micro-benchmarks instead
//! (`cargo bench --workspace`).

use anyhow::{Result, bail};

use crate::{build_apps, shell};

pub fn run(args: &[String]) -> Result<()> {
    // The benchmarks run the example apps.
    build_apps::run(&[])?;
    if args.iter().any(|arg| arg == "--micro") {
        let rest = args.iter().filter(|arg| *arg != "--micro");
        return shell::run(shell::cargo().args(["bench", "--workspace"]).args(rest));
    }
    let mut harness = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => harness.push(arg.clone()),
            "--json" => {
                let Some(file) = args.next() else {
                    bail!("--json takes a file");
                };
                harness.extend(["--json".to_owned(), file.clone()]);
            }
            other => bail!("bench takes --quick, --json FILE or --micro, got `{other}`"),
        }
    }
    shell::run(shell::cargo().args([
        "build",
        "--release",
        "--package",
        "calimero-node",
        "--package",
        "bench",
    ]))?;
    let release = shell::root().join("target").join("release");
    shell::run(
        std::process::Command::new(release.join("node-bench"))
            .arg("--node")
            .arg(release.join("calimero-node"))
            .arg("--apps")
            .arg(shell::root().join("target").join("apps"))
            .args(harness),
    )
}

//! `cargo xtask test`: every check and test of the project, in one command.
//!
//! Order: formatting, layering, the example apps (the tests load them), the
//! JS packages the tests drive (`npm ci`, once per lock file: the public JS
//! client SDK in `crates/server/tests/js-sdk`, playwright-core and ethers for
//! the dashboard in `crates/calimero-node/tests/dashboard`), then clippy and docs with warnings
//! denied and a check that the fuzz targets (`fuzz/`, a workspace of its
//! own) still build (skipped with `--quick`), and last the whole test suite, whose
//! totals close the output as one line `tests: N passed, N failed, N skipped`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use anyhow::{Context, Result, bail};

use crate::{build_apps, layering, shell};

pub fn run(args: &[String]) -> Result<()> {
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other => bail!("test: unknown option `{other}` (only --quick)"),
        }
    }
    shell::run(shell::cargo().args(["fmt", "--all", "--check"]))?;
    shell::run(shell::cargo().args(["fmt", "--manifest-path", "fuzz/Cargo.toml", "--check"]))?;
    layering::run(&[])?;
    build_apps::run(&[])?;
    for dir in JS_PACKAGES {
        install_js_package(dir)?;
    }
    if !quick {
        shell::run(shell::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
        shell::run(
            shell::cargo()
                .args(["doc", "--workspace", "--no-deps"])
                .env("RUSTDOCFLAGS", "-D warnings"),
        )?;
        shell::run(
            shell::cargo()
                .current_dir(shell::root().join("fuzz"))
                .args(["check", "--bins", "--locked"]),
        )?;
    }
    run_tests()
}

/// The JS packages tests drive: the public JS client SDK (the server's
/// tests) and the dashboard's browser driver (the binary's tests).
pub const JS_PACKAGES: &[&str] = &[
    "crates/server/tests/js-sdk",
    "crates/calimero-node/tests/dashboard",
];

/// Installs a JS package from its lock file, unless the installed tree is
/// newer than the lock file. Playwright never downloads a browser: the
/// tests use the system's Chromium.
fn install_js_package(dir: &str) -> Result<()> {
    let dir = shell::root().join(dir);
    let modified = |file: &str| {
        std::fs::metadata(dir.join(file))
            .and_then(|metadata| metadata.modified())
            .ok()
    };
    if let (Some(installed), Some(locked)) = (
        modified("node_modules/.package-lock.json"),
        modified("package-lock.json"),
    ) && installed >= locked
    {
        return Ok(());
    }
    if !shell::on_path("npm") || !shell::on_path("node") {
        bail!(
            "the tests drive the JS client SDK and the dashboard with Node.js: install node and \
             npm (Debian: apt-get install -y nodejs npm), then run `cargo xtask test` again"
        );
    }
    shell::run(
        std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .current_dir(&dir),
    )
}

/// Runs `cargo test --workspace`, echoing its output and adding up its results.
fn run_tests() -> Result<()> {
    let mut cmd = shell::cargo();
    cmd.args(["test", "--workspace", "--no-fail-fast"])
        .stdout(Stdio::piped());
    eprintln!("$ {}", shell::describe(&cmd));
    let mut child = cmd.spawn().context("could not start cargo test")?;
    let stdout = child.stdout.take().context("cargo test has no stdout")?;
    let mut totals = Totals::default();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test output")?;
        println!("{line}");
        totals.add_line(&line);
    }
    let status = child.wait().context("waiting for cargo test")?;
    println!(
        "tests: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.skipped
    );
    if !status.success() {
        bail!("cargo test failed ({status})");
    }
    if totals.passed == 0 {
        bail!("cargo test ran no test");
    }
    Ok(())
}

/// Sums of the `test result:` lines of cargo test.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    passed: u64,
    failed: u64,
    skipped: u64,
}

impl Totals {
    /// Adds a line like `test result: ok. 3 passed; 0 failed; 1 ignored; …`.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            match label {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.skipped += count,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_up_result_lines() {
        let mut totals = Totals::default();
        totals.add_line(
            "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
        );
        totals.add_line("test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured");
        totals.add_line("running 3 tests");
        assert_eq!(
            totals,
            Totals {
                passed: 5,
                failed: 1,
                skipped: 1
            }
        );
    }
}

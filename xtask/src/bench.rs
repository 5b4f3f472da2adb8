//! `cargo xtask bench`: the workspace's benchmarks.

use anyhow::Result;

use crate::shell;

pub fn run(args: &[String]) -> Result<()> {
    shell::run(shell::cargo().args(["bench", "--workspace"]).args(args))
}

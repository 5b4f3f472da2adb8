//! `cargo xtask bench`: the workspace's benchmarks (each reports ratios to a
//! baseline measured in the same run).

use anyhow::Result;

use crate::{build_apps, shell};

pub fn run(args: &[String]) -> Result<()> {
    // The benchmarks run the example apps.
    build_apps::run(&[])?;
    shell::run(shell::cargo().args(["bench", "--workspace"]).args(args))
}

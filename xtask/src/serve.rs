//! `cargo xtask serve`: build the example apps and run a node on a dev home.

use anyhow::{Result, bail};

use crate::build_apps;

pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("serve takes no arguments, got `{arg}`");
    }
    build_apps::run(&[])?;
    bail!(
        "the example apps are built in target/apps/, but this workspace has no \
         `calimero-node` binary yet, so there is no node to start"
    )
}

//! `cargo xtask build-apps`: build the example apps for wasm32.
//!
//! Two toolchains are supported, tried in this order:
//! 1. rustup with the `wasm32-unknown-unknown` target installed
//!    (`rustup target add wasm32-unknown-unknown`);
//! 2. Debian's `rustc-web` (a Rust with the wasm32 target and the std sources):
//!    `apt-get install rustc-web cargo-web rust-web-src lld`, used with
//!    `-Zbuild-std` and `wasm-ld`.
//!
//! The apps form their own workspace in `apps/`; each built module is copied to
//! `target/apps/<name>.wasm`, where the tests and `serve` pick it up.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::shell;

const TARGET: &str = "wasm32-unknown-unknown";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";

/// How the apps get compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toolchain {
    /// rustup's toolchain with the wasm32 target installed.
    Rustup,
    /// Debian's `rustc-web` with its std sources, building std itself.
    DebianWeb,
}

pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("build-apps takes no arguments, got `{arg}`");
    }
    let root = shell::root();
    let apps = app_names(&root.join("apps"))?;
    if apps.is_empty() {
        eprintln!("build-apps: no apps in apps/");
        return Ok(());
    }
    let toolchain = detect()?;
    eprintln!(
        "build-apps: building {} with {toolchain:?}",
        apps.join(", ")
    );
    let target_dir = root.join("target").join("wasm-apps");
    let mut cmd = build_command(toolchain, &root, &target_dir);
    shell::run(&mut cmd)?;

    let out_dir = root.join("target").join("apps");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for app in &apps {
        let built = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{}.wasm", app.replace('-', "_")));
        let dest = out_dir.join(format!("{app}.wasm"));
        std::fs::copy(&built, &dest)
            .with_context(|| format!("copying {} to {}", built.display(), dest.display()))?;
        let size = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
        eprintln!("build-apps: {} ({size} bytes)", dest.display());
    }
    Ok(())
}

/// The apps: every folder of `apps/` with a `Cargo.toml`, sorted.
fn app_names(apps_dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(apps_dir).with_context(|| format!("reading {}", apps_dir.display()))?
    {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file()
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn detect() -> Result<Toolchain> {
    if rustup_has_target() {
        return Ok(Toolchain::Rustup);
    }
    if debian_web_usable() {
        return Ok(Toolchain::DebianWeb);
    }
    bail!(
        "no Rust toolchain that can build for {TARGET} was found. Install one of:\n\
         \x20 - with rustup:  rustup target add {TARGET}\n\
         \x20 - on Debian:    apt-get install -y rustc-web cargo-web rust-web-src lld\n\
         then run `cargo xtask build-apps` again"
    )
}

fn rustup_has_target() -> bool {
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "list", "--installed"])
        .current_dir(shell::root());
    shell::capture(&mut cmd).is_ok_and(|out| {
        out.status.success()
            && String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|line| line.trim() == TARGET)
    })
}

fn debian_web_usable() -> bool {
    if !Path::new(DEBIAN_CARGO).is_file() || !shell::on_path("wasm-ld") {
        return false;
    }
    // Debian ships no prebuilt wasm32 std: it is built from these sources.
    debian_sysroot().is_some_and(|sysroot| sysroot.join("lib/rustlib/src/rust/library").is_dir())
}

fn debian_sysroot() -> Option<PathBuf> {
    let mut cmd = Command::new(DEBIAN_RUSTC);
    cmd.args(["--print", "sysroot"]);
    let out = shell::capture(&mut cmd).ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn build_command(toolchain: Toolchain, root: &Path, target_dir: &Path) -> Command {
    let manifest = root.join("apps").join("Cargo.toml");
    let mut cmd = match toolchain {
        Toolchain::Rustup => Command::new("cargo"),
        Toolchain::DebianWeb => {
            let mut cmd = Command::new(DEBIAN_CARGO);
            // Inside this workspace the rustup proxy would pick the pinned
            // toolchain, whose std does not match Debian's sources.
            cmd.env_remove("RUSTUP_TOOLCHAIN")
                .env("RUSTC", DEBIAN_RUSTC)
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-ld");
            cmd
        }
    };
    cmd.current_dir(root.join("apps"))
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir);
    if toolchain == Toolchain::DebianWeb {
        cmd.arg("-Zbuild-std=std,panic_abort");
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_example_apps() {
        let names = app_names(&shell::root().join("apps")).expect("apps/ is readable");
        assert!(names.contains(&"kv-store".to_owned()), "{names:?}");
    }

    #[test]
    fn debian_route_builds_std_and_links_with_wasm_ld() {
        let cmd = build_command(Toolchain::DebianWeb, Path::new("/w"), Path::new("/w/t"));
        let line = shell::describe(&cmd);
        assert!(line.starts_with(DEBIAN_CARGO), "{line}");
        assert!(line.contains("-Zbuild-std=std,panic_abort"), "{line}");
        let envs: Vec<_> = cmd.get_envs().collect();
        assert!(envs.contains(&("RUSTUP_TOOLCHAIN".as_ref(), None)));
        assert!(envs.contains(&(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER".as_ref(),
            Some("wasm-ld".as_ref())
        )));
    }

    #[test]
    fn rustup_route_does_not_build_std() {
        let cmd = build_command(Toolchain::Rustup, Path::new("/w"), Path::new("/w/t"));
        let line = shell::describe(&cmd);
        assert!(line.starts_with("cargo build --release"), "{line}");
        assert!(!line.contains("build-std"), "{line}");
    }
}

//! `calimero-node`: initialise a node's home, run the node server, and
//! operate the running node from a terminal.
//!
//! `calimero-node --home DIR init` creates the home (config, identity key,
//! database); `calimero-node --home DIR run [--listen ADDR:PORT]` initialises a
//! missing home itself, serves, prints `listening on http://ADDR:PORT` once
//! ready, and on SIGINT / SIGTERM stops accepting, finishes in-flight requests
//! and exits 0 (a second signal exits at once). The other commands (`status`,
//! `apps`, `contexts`, `keys`, `call`, `watch`, `tokens`) administer the node
//! running on that home, on this machine ([`cli`]).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod config;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use client::OperatorFile;
use node::{FetchConfig, Node, NodeConfig};
use server_auth::{AuthConfig, ClientPublicKey};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// The database file in the home.
const DATABASE: &str = "node.redb";

#[derive(Debug, Parser)]
#[command(
    name = "calimero-node",
    version,
    about = "A node server for WebAssembly applications in shared contexts",
    after_help = "`run` serves the node of --home. `status`, `apps`, `contexts`, `keys`, `call`, `watch` and `tokens` administer the node running on --home, from this machine, with the operator key it writes there (docs/operator.md); `--json` makes their output and errors JSON, and their exit status says what happened."
)]
struct Cli {
    /// The node's home: config, identity and database.
    #[arg(
        long,
        env = "CALIMERO_NODE_HOME",
        default_value = ".calimero-node",
        global = true
    )]
    home: PathBuf,
    /// Log format (overrides the config).
    #[arg(long, env = "CALIMERO_NODE_LOG_FORMAT", global = true)]
    log_format: Option<LogFormat>,
    /// Print results as JSON (errors too, on stderr), for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the home: config, identity key, database.
    Init,
    /// Run the node server (initialising the home when needed).
    Run {
        /// Address and port to listen on (port 0: any free port).
        #[arg(long, env = "CALIMERO_NODE_LISTEN")]
        listen: Option<SocketAddr>,
        /// Serve the unauthenticated dev routes (default: on loopback only).
        #[arg(long, env = "CALIMERO_NODE_DEV_ROUTES")]
        dev_routes: Option<bool>,
        /// Multiaddrs the peer-to-peer swarm listens on (comma-separated).
        #[arg(long, env = "CALIMERO_NODE_SWARM_LISTEN", value_delimiter = ',')]
        swarm_listen: Vec<String>,
        /// Peers to dial at start and keep connected (comma-separated
        /// multiaddrs ending in `/p2p/<peer id>`).
        #[arg(long, env = "CALIMERO_NODE_BOOTSTRAP", value_delimiter = ',')]
        bootstrap: Vec<String>,
    },
    #[command(flatten)]
    Operator(cli::Command),
    /// Prints a shell completion script (e.g. `calimero-node completions
    /// bash > /etc/bash_completion.d/calimero-node`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Operator(command) => {
            std::process::exit(cli::run(&cli.home, cli.json, command) as i32)
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "calimero-node", &mut std::io::stdout());
            return;
        }
        Command::Init | Command::Run { .. } => {}
    }
    if let Err(err) = start(cli) {
        eprintln!("calimero-node: error: {err:#}");
        std::process::exit(1);
    }
}

fn start(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init => {
            init(&cli.home)?;
            println!("initialised {}", cli.home.display());
            Ok(())
        }
        Command::Run {
            listen,
            dev_routes,
            swarm_listen,
            bootstrap,
        } => {
            init(&cli.home)?;
            let mut config = Config::load(&cli.home)?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if !swarm_listen.is_empty() {
                config.swarm_listen = swarm_listen;
            }
            if !bootstrap.is_empty() {
                config.bootstrap = bootstrap;
            }
            if dev_routes.is_some() {
                config.dev_routes = dev_routes;
            }
            if let Some(format) = cli.log_format {
                config.log_format = format;
            }
            logging(config.log_format);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?
                .block_on(serve(&cli.home, &config))
        }
        Command::Operator(_) | Command::Completions { .. } => Ok(()),
    }
}

/// Creates the home, its config, its database and its identity (idempotent).
fn init(home: &Path) -> Result<()> {
    create_home(home).with_context(|| format!("creating {}", home.display()))?;
    Config::write_default(home)?;
    let config = Config::load(home)?;
    let node = open(home, &config)?;
    server_admin::load_authenticator(&node, AuthConfig::default())
        .context("creating the node identity")?;
    Ok(())
}

/// Creates a missing home for its owner only: the database in it holds the
/// node's identity key and token secret.
fn create_home(home: &Path) -> std::io::Result<()> {
    if home.is_dir() {
        return Ok(());
    }
    if let Some(parent) = home.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(home)
}

/// Warns when other users may read the home (and so the node's secrets).
fn warn_if_shared(home: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(home) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    home = %home.display(),
                    mode = format_args!("{mode:o}"),
                    "other users can read this home, which holds the node's identity key; `chmod 700` it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = home;
}

fn open(home: &Path, config: &Config) -> Result<Node> {
    let defaults = NodeConfig::default();
    let node_config = NodeConfig {
        limits: node::Limits {
            max_host_bytes: config.limits.max_host_bytes_per_call,
            ..defaults.limits.clone()
        },
        max_concurrent_calls: config.limits.max_concurrent_calls,
        max_queued_calls: config.limits.max_queued_calls,
        max_queued_per_context: config.limits.max_queued_per_context,
        retention: node::Retention {
            events: config.keep_events,
            event_bytes: config.keep_event_bytes,
            deltas: config.keep_deltas,
        },
        fetch: FetchConfig {
            allowed_hosts: config.fetch_allowed_hosts.clone(),
            ..FetchConfig::default()
        },
        ..defaults
    };
    Node::open(home.join(DATABASE), node_config)
        .with_context(|| format!("opening the database in {}", home.display()))
}

fn logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(home: &Path, config: &Config) -> Result<()> {
    let signals = Signals::install().context("listening for signals")?;
    warn_if_shared(home);
    let node = open(home, config)?;
    let auth = server_admin::load_authenticator(&node, AuthConfig::default())
        .context("loading the node identity")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let operator = client::ClientKey::generate().context("creating the operator key")?;
    let auth = match operator_url(home, address) {
        Ok(url) => {
            OperatorFile::new(url, auth.identity().public_key(), &operator)
                .write(home)
                .with_context(|| format!("writing the operator file in {}", home.display()))?;
            auth.with_operator(
                ClientPublicKey::from_public_key(&operator.executor())
                    .context("the operator key")?,
            )
        }
        Err(reason) => {
            tracing::warn!(
                "no operator key this run: {reason}; the CLI cannot administer this node"
            );
            auth
        }
    };
    let replication = network(&node, config).await?;
    let server_config = server::ServerConfig {
        replication: Some(replication),
        dev_routes: config.dev_routes(),
        ws_require_auth: config.ws_require_auth,
        install_allow_private_hosts: config.install_allow_private_hosts,
        metrics: config.metrics,
        limits: server::Limits::from(&config.limits),
    };
    tracing::info!(%address, dev_routes = server_config.dev_routes, home = %home.display(), "node server ready");
    println!("listening on http://{address}");
    std::io::stdout()
        .flush()
        .context("writing the ready line")?;
    let shutdown = {
        let (home, operator) = (home.to_owned(), operator.clone());
        async move {
            signals.shutdown().await;
            OperatorFile::remove(&home, &operator);
        }
    };
    let served = server::run(listener, node, auth, server_config, shutdown).await;
    OperatorFile::remove(home, &operator);
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Starts the peer-to-peer swarm and replication; prints one line per swarm
/// address (before the HTTP ready line, so a script that waits for that
/// line has them).
async fn network(node: &Node, config: &Config) -> Result<Arc<node::sync::Replication>> {
    let key = node_network::Keypair::ed25519_from_bytes(node.network_key()?)
        .context("the network key")?;
    let (network, events) = node_network::Network::start(
        key,
        node_network::NetworkConfig {
            listen: config.swarm_listen()?,
            bootstrap: config.bootstrap()?,
            ..node_network::NetworkConfig::default()
        },
    )
    .await
    .context("starting the peer-to-peer swarm")?;
    for address in network.listening().await.context("the swarm's addresses")? {
        println!("swarm listening on {address}");
    }
    let replication = node::sync::Replicator::new(
        node.clone(),
        network,
        node::sync::SyncConfig {
            interval: std::time::Duration::from_millis(config.sync_interval_ms.max(50)),
            ..node::sync::SyncConfig::default()
        },
    );
    tokio::spawn(node::sync::run(replication.clone(), events));
    Ok(replication)
}

/// The URL the CLI reaches the node at over loopback (the operator key is
/// accepted over loopback only), or why there is none: a listener on one
/// non-loopback address, or a home other users may write to (they could
/// read or replace the key's file).
fn operator_url(home: &Path, address: SocketAddr) -> Result<String, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home)
            .map_err(|err| format!("cannot read {}: {err}", home.display()))?
            .permissions()
            .mode();
        if mode & 0o022 != 0 {
            return Err(format!(
                "other users may write to {} (mode {:o}); `chmod 700` it",
                home.display(),
                mode & 0o777
            ));
        }
    }
    let local: SocketAddr = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, address.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, address.port()).into(),
        ip if ip.is_loopback() => address,
        _ => {
            return Err(format!(
                "the node listens on {address} only, which this machine's programs do not reach over loopback (listen on a loopback or unspecified address)"
            ));
        }
    };
    Ok(format!("http://{local}"))
}

/// SIGINT and SIGTERM, listened to from creation on (so a signal that
/// arrives right after the ready line is not lost to the default action).
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next SIGINT or SIGTERM.
    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    /// Resolves on the first signal; a second one exits at once.
    async fn shutdown(mut self) {
        self.next().await;
        tracing::info!("shutting down: finishing in-flight requests (signal again to exit now)");
        tokio::spawn(async move {
            self.next().await;
            std::process::exit(130);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_file_names_a_loopback_url_or_is_not_written() {
        let home = tempfile::tempdir().expect("temp dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700))
                .expect("chmod");
        }
        let url = |address: &str| operator_url(home.path(), address.parse().expect("address"));
        assert_eq!(url("127.0.0.1:7"), Ok("http://127.0.0.1:7".to_owned()));
        assert_eq!(url("0.0.0.0:7"), Ok("http://127.0.0.1:7".to_owned()));
        assert_eq!(url("[::]:7"), Ok("http://[::1]:7".to_owned()));
        assert_eq!(url("[::1]:7"), Ok("http://[::1]:7".to_owned()));
        assert!(url("192.0.2.2:7").is_err(), "not reachable over loopback");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o770))
                .expect("chmod");
            let refused = url("127.0.0.1:7").expect_err("a home others may write to");
            assert!(refused.contains("chmod 700"), "{refused}");
        }
    }
}

//! `DIR/config.toml`: the node's settings, overridden by flags and
//! `CALIMERO_NODE_*` environment variables.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The config file's name in the home.
pub const FILE: &str = "config.toml";

/// The config a new home starts with: every default, explained. A test
/// keeps it equal to [`Config::default`].
const TEMPLATE: &str = r#"# calimero-node settings. Flags and CALIMERO_NODE_* variables override them;
# an unknown or malformed key stops the node with its name.

# Address and port to listen on (port 0: any free port).
listen = "127.0.0.1:2528"
# Event records kept per context for subscribers that resume with `since`,
# and at most this many bytes of them (the newest record always stays).
keep_events = 1000
keep_event_bytes = 16777216
# Replication deltas kept per member of each context (the newest ones).
keep_deltas = 1000
# Multiaddrs the peer-to-peer swarm listens on; none: TCP on the host of
# `listen`, any free port. Each is printed at start as
# `swarm listening on <multiaddr>/p2p/<peer id>`.
swarm_listen = []
# Peers dialled at start and redialled when their connection drops
# (`/ip4/…/tcp/…/p2p/<peer id>`).
bootstrap = []
# Milliseconds between comparisons of each shared context with its peers.
sync_interval_ms = 2000
# Hosts the applications' `fetch` may reach; none: fetch is off.
fetch_allowed_hosts = []
# Log format on stderr: "text" or "json" (RUST_LOG sets the level).
log_format = "text"
# Whether /ws needs the auth headers or a token; when unset, only when
# listening on an address that is not loopback (loopback: open, as in the seed).
# ws_require_auth = true
# Whether installing an application by URL may reach loopback, private and
# link-local addresses (this machine and its network); off: refused.
install_allow_private_hosts = false
# Serve /metrics (OpenMetrics text for Prometheus); unauthenticated.
metrics = true
# Serve the unauthenticated /admin-api/dev/* and /jsonrpc/dev routes; when
# unset, only when listening on a loopback address.
# dev_routes = true

[limits]
# HTTP connections served at once; past it, 503.
max_connections = 4096
# HTTP connections served at once from one address (an IPv6 /64 counts as
# one); past it, 503.
max_connections_per_peer = 512
# Milliseconds for a request's headers to arrive (and for an idle keep-alive
# connection to send its next request); past it, the connection is closed.
header_read_timeout_ms = 30000
# Milliseconds for a request's whole body to arrive; past it, 408.
body_read_timeout_ms = 30000
# Milliseconds a response may wait for a peer that does not read; past it,
# the connection is closed (WebSocket sessions also close after 10 s).
write_timeout_ms = 30000
# Calls running at once (wasm instances); the others wait their turn, first
# come, first served, and a context's mutations run in arrival order.
max_concurrent_calls = 128
# Calls waiting for their turn; past it, 503 with retry-after.
max_queued_calls = 1024
# Of those, the writes of one context; past it that context's writes get 503.
max_queued_per_context = 128
# Bytes one call may move through host functions (storage, blobs, registers,
# logs, events); past it the call fails with a typed error.
max_host_bytes_per_call = 67108864
# WebSocket connections open at once; past it, 503.
max_ws_connections = 1024
# Milliseconds in-flight requests get to finish after SIGINT / SIGTERM; the
# connections still busy then are closed.
shutdown_grace_ms = 30000
"#;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2528";

/// Everything `config.toml` may say. Unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Serve the unauthenticated `/admin-api/dev/*` and `/jsonrpc/dev`
    /// routes; when absent, only when listening on a loopback address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_routes: Option<bool>,
    /// Event records kept per context for resuming subscribers.
    pub keep_events: u64,
    /// Bytes of event records kept per context.
    pub keep_event_bytes: u64,
    /// Replication deltas kept per member of each context.
    pub keep_deltas: u64,
    /// Swarm listen multiaddrs (none: TCP on `listen`'s host, any port).
    pub swarm_listen: Vec<String>,
    /// Peers dialled at start and kept connected.
    pub bootstrap: Vec<String>,
    /// Milliseconds between anti-entropy rounds.
    pub sync_interval_ms: u64,
    /// Hosts the applications' `fetch` may reach (none: fetch is off).
    pub fetch_allowed_hosts: Vec<String>,
    /// Log format on stderr: `text` or `json`.
    pub log_format: LogFormat,
    /// Whether `/ws` needs credentials; when absent, only when listening on
    /// an address that is not loopback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_require_auth: Option<bool>,
    /// Whether install by URL may reach loopback, private and link-local addresses.
    pub install_allow_private_hosts: bool,
    /// Whether `/metrics` (OpenMetrics text for Prometheus) is served.
    pub metrics: bool,
    /// Connection and request limits.
    pub limits: LimitsConfig,
}

/// The `[limits]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// HTTP connections served at once; past it, `503`.
    pub max_connections: usize,
    /// HTTP connections served at once from one address; past it, `503`.
    pub max_connections_per_peer: usize,
    /// Milliseconds for a request's headers to arrive (and for an idle
    /// keep-alive connection to send its next request).
    pub header_read_timeout_ms: u64,
    /// Milliseconds for a request's whole body to arrive; past it, `408`.
    pub body_read_timeout_ms: u64,
    /// Milliseconds a write may wait for a peer that does not read.
    pub write_timeout_ms: u64,
    /// Calls running at once (wasm instances).
    pub max_concurrent_calls: u32,
    /// Calls waiting for their turn; past it, `503`.
    pub max_queued_calls: usize,
    /// Of those, the writes of one context.
    pub max_queued_per_context: usize,
    /// Bytes one call may move through host functions.
    pub max_host_bytes_per_call: u64,
    /// WebSocket connections open at once; past it, `503`.
    pub max_ws_connections: usize,
    /// Milliseconds in-flight requests get to finish once shutdown starts.
    pub shutdown_grace_ms: u64,
}

impl LimitsConfig {
    /// Refuses limits that would make the node serve nothing.
    ///
    /// # Errors
    /// Naming the first key that is zero.
    pub fn check(&self) -> Result<()> {
        for (key, value) in [
            ("max_connections", self.max_connections as u64),
            (
                "max_connections_per_peer",
                self.max_connections_per_peer as u64,
            ),
            ("write_timeout_ms", self.write_timeout_ms),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
            ("max_concurrent_calls", u64::from(self.max_concurrent_calls)),
            ("max_host_bytes_per_call", self.max_host_bytes_per_call),
            ("max_ws_connections", self.max_ws_connections as u64),
            ("shutdown_grace_ms", self.shutdown_grace_ms),
        ] {
            if value == 0 {
                anyhow::bail!("limits.{key} must be at least 1");
            }
        }
        Ok(())
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let limits = server::Limits::default();
        let node = node::NodeConfig::default();
        let ms = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self {
            max_connections: limits.max_connections,
            max_connections_per_peer: limits.max_connections_per_peer,
            header_read_timeout_ms: ms(limits.header_read_timeout),
            body_read_timeout_ms: ms(limits.body_read_timeout),
            write_timeout_ms: ms(limits.write_timeout),
            max_concurrent_calls: node.max_concurrent_calls,
            max_queued_calls: node.max_queued_calls,
            max_queued_per_context: node.max_queued_per_context,
            max_host_bytes_per_call: node.limits.max_host_bytes,
            max_ws_connections: limits.max_ws_connections,
            shutdown_grace_ms: ms(limits.shutdown_grace),
        }
    }
}

impl From<&LimitsConfig> for server::Limits {
    fn from(config: &LimitsConfig) -> Self {
        Self {
            max_connections: config.max_connections,
            max_connections_per_peer: config.max_connections_per_peer,
            header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(config.body_read_timeout_ms),
            write_timeout: Duration::from_millis(config.write_timeout_ms),
            max_ws_connections: config.max_ws_connections,
            shutdown_grace: Duration::from_millis(config.shutdown_grace_ms),
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("a valid default address"),
            dev_routes: None,
            keep_events: node::NodeConfig::default().retention.events,
            keep_event_bytes: node::NodeConfig::default().retention.event_bytes,
            keep_deltas: node::NodeConfig::default().retention.deltas,
            swarm_listen: Vec::new(),
            bootstrap: Vec::new(),
            sync_interval_ms: 2000,
            fetch_allowed_hosts: Vec::new(),
            log_format: LogFormat::Text,
            ws_require_auth: None,
            install_allow_private_hosts: false,
            metrics: true,
            limits: LimitsConfig::default(),
        }
    }
}

impl Config {
    /// Reads `home/config.toml`; the defaults when there is none.
    ///
    /// # Errors
    /// When the file cannot be read or names an unknown or malformed key.
    pub fn load(home: &Path) -> Result<Self> {
        let path = home.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<Self>(&text)
                .map_err(anyhow::Error::from)
                .and_then(|config| config.limits.check().map(|()| config))
                .with_context(|| format!("bad config {}", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the defaults to `home/config.toml` unless a config exists.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write_default(home: &Path) -> Result<()> {
        let path = home.join(FILE);
        if path.exists() {
            return Ok(());
        }
        std::fs::write(&path, TEMPLATE).with_context(|| format!("writing {}", path.display()))
    }

    /// The swarm's listen addresses: as configured, else TCP on the HTTP
    /// listener's host, any free port.
    ///
    /// # Errors
    /// Naming an address that is not a multiaddr.
    pub fn swarm_listen(&self) -> Result<Vec<node_network::Multiaddr>> {
        if self.swarm_listen.is_empty() {
            let ip = self.listen.ip();
            let family = if ip.is_ipv4() { "ip4" } else { "ip6" };
            return Ok(vec![
                format!("/{family}/{ip}/tcp/0")
                    .parse()
                    .context("the default swarm address")?,
            ]);
        }
        multiaddrs("swarm_listen", &self.swarm_listen)
    }

    /// The bootstrap peers.
    ///
    /// # Errors
    /// Naming an address that is not a multiaddr.
    pub fn bootstrap(&self) -> Result<Vec<node_network::Multiaddr>> {
        multiaddrs("bootstrap", &self.bootstrap)
    }

    /// Whether dev routes are served: as configured, else on loopback only.
    #[must_use]
    pub fn dev_routes(&self) -> bool {
        self.dev_routes
            .unwrap_or_else(|| self.listen.ip().is_loopback())
    }
}

fn multiaddrs(key: &str, addresses: &[String]) -> Result<Vec<node_network::Multiaddr>> {
    addresses
        .iter()
        .map(|address| {
            address
                .parse()
                .with_context(|| format!("{key}: {address:?} is not a multiaddr"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_malformed_keys_are_named() {
        let err = toml::from_str::<Config>("listn = \"127.0.0.1:1\"").expect_err("unknown key");
        assert!(err.to_string().contains("listn"), "{err}");
        let err = toml::from_str::<Config>("listen = \"nowhere\"").expect_err("bad address");
        assert!(err.to_string().contains("listen"), "{err}");
        let err =
            toml::from_str::<Config>("[limits]\nmax_conections = 1").expect_err("unknown key");
        assert!(err.to_string().contains("max_conections"), "{err}");
    }

    #[test]
    fn dev_routes_default_to_loopback_only() {
        let mut config = Config::default();
        assert!(config.dev_routes());
        config.listen = "0.0.0.0:2528".parse().expect("address");
        assert!(!config.dev_routes());
        config.dev_routes = Some(true);
        assert!(config.dev_routes());
    }

    #[test]
    fn limits_are_read_in_milliseconds() {
        let config: Config =
            toml::from_str("[limits]\nheader_read_timeout_ms = 250\nmax_connections = 7")
                .expect("valid config");
        let limits = server::Limits::from(&config.limits);
        assert_eq!(limits.header_read_timeout, Duration::from_millis(250));
        assert_eq!(limits.max_connections, 7);
        assert_eq!(
            limits.body_read_timeout,
            server::Limits::default().body_read_timeout
        );
    }

    #[test]
    fn zero_limits_are_named() {
        let home = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            home.path().join(FILE),
            "[limits]\nmax_concurrent_calls = 0\n",
        )
        .expect("writes");
        let err = Config::load(home.path()).expect_err("a zero limit");
        assert!(
            format!("{err:#}").contains("limits.max_concurrent_calls"),
            "{err:#}"
        );
    }

    #[test]
    fn the_template_says_the_defaults() {
        assert_eq!(
            toml::from_str::<Config>(TEMPLATE).expect("the template parses"),
            Config::default()
        );
        let with_dev_routes = TEMPLATE.replace("# dev_routes = true", "dev_routes = true");
        let config = toml::from_str::<Config>(&with_dev_routes).expect("parses");
        assert_eq!(config.dev_routes, Some(true));
    }

    #[test]
    fn the_default_config_round_trips() {
        let text = toml::to_string_pretty(&Config::default()).expect("encodes");
        assert_eq!(
            toml::from_str::<Config>(&text).expect("decodes"),
            Config::default()
        );
    }
}

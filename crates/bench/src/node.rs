//! The node under test: the real `calimero-node` binary in a temporary home,
//! and the setup calls (login, install, contexts, tokens) a benchmark needs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hyper::StatusCode;
use serde_json::{Value, json};
use server_primitives::PublicKey;
use server_primitives::auth::NodeChallenge;
use test_utils::wallet::{ClientKey, NearWallet};

use crate::load::{connect, json_request, send};

/// How long the node may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The recipient NEAR logins name.
pub const RECIPIENT: &str = "calimero-node";

/// A running node; killed when dropped.
#[derive(Debug)]
pub struct NodeUnderTest {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
    /// Its identity key (signed headers name it).
    pub node_id: PublicKey,
    /// The root client key (the first login).
    pub root: ClientKey,
    _home: tempfile::TempDir,
}

impl Drop for NodeUnderTest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A context and the member the node created for it.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The context id (base58).
    pub id: String,
    /// Its first member (base58).
    pub member: String,
}

impl NodeUnderTest {
    /// Starts `binary` in a fresh home whose limits admit `connections`
    /// connections from this machine, waits for its ready line and logs in
    /// (the first login: the root key).
    ///
    /// # Errors
    /// When the node does not start or the login fails.
    pub async fn start(binary: &Path, connections: usize) -> Result<Self> {
        let dir = tempfile::tempdir().context("a temporary directory")?;
        // The node creates its home readable by its owner only.
        let home = dir.path().join("home");
        let status = Command::new(binary)
            .arg("--home")
            .arg(&home)
            .arg("init")
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("running {}", binary.display()))?;
        if !status.success() {
            bail!("`{} init` failed: {status}", binary.display());
        }
        raise_limits(&home.join("config.toml"), connections)?;
        let mut child = Command::new(binary)
            .arg("--home")
            .arg(&home)
            .args(["run", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let address = ready(&mut child)?;
        let mut node = Self {
            child,
            address,
            node_id: PublicKey::from_bytes([0; 32]),
            root: ClientKey::from_seed_byte(0x03),
            _home: dir,
        };
        let health = node.call("GET", "/admin-api/health", &[], None).await?;
        node.node_id = serde_json::from_value(health["data"]["nodeId"].clone())
            .context("the health route's nodeId")?;
        node.log_in(&ClientKey::from_seed_byte(0x03)).await?;
        Ok(node)
    }

    /// One JSON request on a fresh connection; the `200` answer's JSON.
    ///
    /// # Errors
    /// When the request fails or the answer is not `200` JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut sender = connect(self.address).await?;
        let (status, body) = send(&mut sender, json_request(method, path, headers, body)).await?;
        if status != StatusCode::OK {
            bail!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
        serde_json::from_slice(&body).with_context(|| format!("{method} {path}: not JSON"))
    }

    /// Logs `client` in with the NEAR wallet `0x02…` (challenge, then
    /// add-client-key).
    ///
    /// # Errors
    /// When the node refuses it.
    pub async fn log_in(&self, client: &ClientKey) -> Result<()> {
        let body = login_body(
            &self
                .call(
                    "POST",
                    "/admin-api/request-challenge",
                    &[],
                    Some(&json!({})),
                )
                .await?,
            client,
        )?;
        self.call("POST", "/admin-api/add-client-key", &[], Some(&body))
            .await?;
        Ok(())
    }

    /// Installs the app at `path` (dev route); its id.
    ///
    /// # Errors
    /// When the node refuses it.
    pub async fn install(&self, path: &Path) -> Result<String> {
        let answer = self
            .call(
                "POST",
                "/admin-api/dev/install-application",
                &[],
                Some(&json!({"path": path, "metadata": []})),
            )
            .await?;
        text(&answer["data"]["applicationId"])
    }

    /// Creates `count` contexts of `application`.
    ///
    /// # Errors
    /// When the node refuses one.
    pub async fn contexts(&self, application: &str, count: usize) -> Result<Vec<Ctx>> {
        let mut contexts = Vec::with_capacity(count);
        for _ in 0..count {
            let answer = self
                .call(
                    "POST",
                    "/admin-api/dev/contexts",
                    &[],
                    Some(&json!({"applicationId": application})),
                )
                .await?;
            contexts.push(Ctx {
                id: text(&answer["data"]["context"]["id"])?,
                member: text(&answer["data"]["memberPublicKey"])?,
            });
        }
        Ok(contexts)
    }

    /// An access token for `context`, calling as its first member (minted
    /// by the root key over signed headers).
    ///
    /// # Errors
    /// When the node refuses it.
    pub async fn token(&self, context: &Ctx) -> Result<String> {
        let path = "/admin-api/generate-jwt-token";
        let headers = self.root.auth_headers(self.node_id, "POST", path, None);
        let answer = self
            .call(
                "POST",
                path,
                &headers,
                Some(&json!({"contextId": context.id, "executorPublicKey": context.member})),
            )
            .await?;
        text(&answer["data"]["access_token"])
    }
}

/// The add-client-key body answering a `request-challenge` answer for `client`.
///
/// # Errors
/// When the answer holds no challenge.
pub fn login_body(challenge: &Value, client: &ClientKey) -> Result<Value> {
    let challenge: NodeChallenge =
        serde_json::from_value(challenge["data"].clone()).context("a challenge")?;
    let login = NearWallet::from_seed_byte(0x02).login(&challenge, client, RECIPIENT);
    Ok(serde_json::to_value(login)?)
}

fn text(value: &Value) -> Result<String> {
    value
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("expected a string, got {value}"))
}

/// Lets the benchmark's connections and subscribers in: they all come from
/// this machine's one address.
fn raise_limits(config: &Path, connections: usize) -> Result<()> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let mut table: toml::Table = text.parse().context("the node's config.toml")?;
    let limits = table
        .entry("limits")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .context("[limits] is a table")?;
    let wanted = i64::try_from(connections.max(512) * 2).unwrap_or(i64::MAX);
    for key in [
        "max_connections",
        "max_connections_per_peer",
        "max_ws_connections",
    ] {
        limits.insert(key.to_owned(), toml::Value::Integer(wanted));
    }
    std::fs::write(config, toml::to_string(&table)?)
        .with_context(|| format!("writing {}", config.display()))
}

/// Waits for `listening on http://ADDR` on the node's stdout (then keeps
/// draining it).
fn ready(child: &mut Child) -> Result<SocketAddr> {
    let stdout = child.stdout.take().context("the node's stdout")?;
    let (lines, ready) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    // The swarm's addresses come first, then the HTTP ready line.
    let line = loop {
        match ready.recv_timeout(READY_TIMEOUT) {
            Ok(line) if line.starts_with("swarm listening on ") => {}
            Ok(line) => break line,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                bail!("the node did not report ready ({status})");
            }
        }
    };
    line.strip_prefix("listening on http://")
        .and_then(|address| address.parse().ok())
        .with_context(|| format!("unexpected line from the node: {line:?}"))
}

/// The example apps' wasm files in `dir` (`target/apps`).
///
/// # Errors
/// When one is missing.
pub fn app(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(format!("{name}.wasm"));
    path.canonicalize().with_context(|| {
        format!(
            "{} is missing: run `cargo xtask build-apps`",
            path.display()
        )
    })
}

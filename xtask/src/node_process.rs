//! A node binary run as a child process, and the calls the load tools make
//! to it: JSON-RPC on `/jsonrpc/dev`, the dev admin routes, a WebSocket
//! subscriber and the process's resident memory and open files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::shell;

/// How long the node may take to print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds the example apps and the node binary; returns the binary's path.
pub fn build() -> Result<PathBuf> {
    crate::build_apps::run(&[])?;
    shell::run(shell::cargo().args(["build", "--package", "calimero-node"]))?;
    Ok(shell::root()
        .join("target")
        .join("debug")
        .join("calimero-node"))
}

/// The example apps built into `target/apps`, sorted.
pub fn apps() -> Result<Vec<PathBuf>> {
    let dir = shell::root().join("target").join("apps");
    let mut apps: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    apps.sort();
    Ok(apps)
}

/// Waits for a node started with its stdout piped to print `listening on
/// BASE`, and returns `BASE`; kills it if it does not within
/// [`READY_TIMEOUT`]. `log` says where its log is, for the error.
pub fn wait_ready(child: &mut Child, log: &str) -> Result<String> {
    Ok(wait_ready_with_swarm(child, log)?.0)
}

/// As [`wait_ready`], also returning the swarm addresses the node printed
/// before its ready line.
pub fn wait_ready_with_swarm(child: &mut Child, log: &str) -> Result<(String, Vec<String>)> {
    let stdout = child.stdout.take().context("the node's stdout")?;
    let (lines, ready) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    // The swarm's addresses come first, then the HTTP ready line.
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    let mut swarm = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = match ready.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().context("waiting for the node")?;
                bail!("the node exited ({status}) before it was ready ({log})");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the node did not report ready within {READY_TIMEOUT:?} ({log})");
            }
        };
        if let Some(address) = line.strip_prefix("swarm listening on ") {
            swarm.push(address.to_owned());
            continue;
        }
        let base = line
            .strip_prefix("listening on ")
            .map(str::to_owned)
            .with_context(|| format!("unexpected line from the node: {line:?}"))?;
        return Ok((base, swarm));
    }
}

/// A running node.
pub struct NodeProcess {
    pub child: Child,
    /// `http://ADDR:PORT`.
    pub base: String,
}

/// A blocking HTTP client that answers every status (the tools look at it).
pub fn http() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build(),
    )
}

impl NodeProcess {
    /// Runs `binary` on `home`, listening on any free loopback port, and
    /// waits for its ready line. Its log goes to `home/node.log`.
    pub fn start(binary: &Path, home: &Path) -> Result<Self> {
        std::fs::create_dir_all(home)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("node.log"))
            .context("opening the node's log")?;
        let mut child = Command::new(binary)
            .arg("--home")
            .arg(home)
            .args(["run", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let log = home.join("node.log");
        let base = wait_ready(&mut child, &format!("its log: {}", log.display()))?;
        Ok(Self { child, base })
    }

    /// Kills the node with SIGKILL and reaps it.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill().context("killing the node")?;
        self.child.wait().context("reaping the node")?;
        Ok(())
    }

    /// Stops the node with SIGTERM and waits for it; it must exit 0.
    pub fn stop(mut self) -> Result<()> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .context("signalling the node")?;
        let status = self.child.wait().context("waiting for the node")?;
        if !status.success() {
            bail!("the node exited with {status}");
        }
        Ok(())
    }

    /// Resident memory (KiB) and open file descriptors of the node process.
    pub fn resources(&self) -> Result<(u64, usize)> {
        let proc = PathBuf::from(format!("/proc/{}", self.child.id()));
        let status = std::fs::read_to_string(proc.join("status")).context("reading /proc")?;
        let rss = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .context("VmRSS in /proc/<pid>/status")?;
        let files = std::fs::read_dir(proc.join("fd"))
            .context("reading /proc/<pid>/fd")?
            .count();
        Ok((rss, files))
    }
}

/// Installs the app at `path` through the dev route; its id.
pub fn install(http: &ureq::Agent, base: &str, path: &Path) -> Result<String> {
    let answer: Value = http
        .post(format!("{base}/admin-api/dev/install-application"))
        .send_json(json!({"path": path, "metadata": []}))?
        .body_mut()
        .read_json()?;
    answer["data"]["applicationId"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("installing {}: {answer}", path.display()))
}

/// Creates a context of `application` through the dev route; its id.
pub fn create_context(http: &ureq::Agent, base: &str, application: &str) -> Result<String> {
    let answer: Value = http
        .post(format!("{base}/admin-api/dev/contexts"))
        .send_json(json!({"applicationId": application}))?
        .body_mut()
        .read_json()?;
    answer["data"]["context"]["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("creating a context: {answer}"))
}

/// Installed application ids.
pub fn applications(http: &ureq::Agent, base: &str) -> Result<Vec<String>> {
    let answer: Value = http
        .get(format!("{base}/admin-api/dev/applications"))
        .call()?
        .body_mut()
        .read_json()?;
    Ok(answer["data"]["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|app| app["id"].as_str().map(str::to_owned))
        .collect())
}

/// A JSON-RPC call on `/jsonrpc/dev`: the HTTP status and the answer.
pub fn call(
    http: &ureq::Agent,
    base: &str,
    kind: &str,
    context: &str,
    method: &str,
    args: Value,
) -> Result<(u16, Value)> {
    let mut response = http.post(format!("{base}/jsonrpc/dev")).send_json(json!({
        "jsonrpc": "2.0", "id": 1, "method": kind,
        "params": {"contextId": context, "method": method, "argsJson": args}
    }))?;
    let status = response.status().as_u16();
    let answer = response.body_mut().read_json().unwrap_or(Value::Null);
    Ok((status, answer))
}

/// Opens `/ws`, subscribes to `contexts` and reads (and drops) whatever the
/// node pushes until the connection ends or, with `lasting`, that time is
/// over; the bytes it read.
pub fn subscribe_and_drain(
    base: &str,
    contexts: &[String],
    lasting: Option<Duration>,
) -> Result<u64> {
    let address = base.strip_prefix("http://").context("an http:// base")?;
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let started = std::time::Instant::now();
    write!(
        stream,
        "GET /ws?events=current HTTP/1.1\r\nhost: {address}\r\nupgrade: websocket\r\n\
         connection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         sec-websocket-version: 13\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => bail!("the node closed the upgrade"),
            Err(err) if is_timeout(&err) && started.elapsed() < READY_TIMEOUT => {}
            Err(err) => return Err(err.into()),
        }
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        bail!("upgrade refused: {}", String::from_utf8_lossy(&head));
    }
    let request = json!({"id": 1, "method": "subscribe", "params": {"contextIds": contexts}});
    stream.write_all(&masked_text_frame(request.to_string().as_bytes()))?;
    let mut read = 0u64;
    let mut buffer = [0u8; 16 * 1024];
    loop {
        if lasting.is_some_and(|lasting| started.elapsed() >= lasting) {
            return Ok(read);
        }
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(read),
            Ok(n) => read += n as u64,
            Err(err) if is_timeout(&err) => {}
            Err(_) => return Ok(read),
        }
    }
}

fn is_timeout(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// A client-to-server text frame (clients must mask; the mask here is fixed).
fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// A small deterministic generator (xorshift64*), seeded per run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A seed from the clock, printed so a run can be repeated.
    pub fn seed_from_clock() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| since.as_nanos() as u64)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `low..high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low).max(1)
    }
}

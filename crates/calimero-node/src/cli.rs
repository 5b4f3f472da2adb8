//! The operator's commands: `status`, `apps`, `contexts`, `keys`, `call`,
//! `watch`, `tokens`, `completions`. Each talks to the running node whose
//! home is `--home`, as its administrator, with the operator key the node
//! wrote there (`client::operator`); none needs a browser wallet.
//!
//! Output is for people by default and one JSON document (`watch`: one per
//! line) with `--json`. Exit codes, for scripts: see [`ExitCode`].

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Subcommand;
use client::primitives::jsonrpc::{CallParams, RequestCall};
use client::primitives::ws::EventGeneration;
use client::{
    ApplicationId, Client, ContextId, ErrorKind, Hash, PublicKey, WatchEvent, WatchOptions,
};
use serde::Serialize;
use serde_json::{Value, json};

/// What a command's exit status says. `2` is clap's: the command line
/// itself is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Done.
    Ok = 0,
    /// Anything not listed below (the node failed, or its answer made no sense).
    Failed = 1,
    /// No node answers: not running, or no operator file in the home.
    Unreachable = 3,
    /// The node refused the credentials, or they may not do this.
    Refused = 4,
    /// No such application, context or key.
    NotFound = 5,
    /// The node's state does not allow it (e.g. uninstalling an app a context runs).
    Conflict = 6,
    /// The request is wrong: bad id, bad JSON, a file that is not an app.
    Invalid = 7,
    /// The app's method ran and failed.
    CallFailed = 8,
    /// The node is at capacity: try again.
    Busy = 9,
}

impl From<ErrorKind> for ExitCode {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Unreachable => Self::Unreachable,
            ErrorKind::Unauthenticated | ErrorKind::Forbidden => Self::Refused,
            ErrorKind::NotFound => Self::NotFound,
            ErrorKind::Conflict => Self::Conflict,
            ErrorKind::Invalid => Self::Invalid,
            ErrorKind::CallFailed => Self::CallFailed,
            ErrorKind::Busy => Self::Busy,
            ErrorKind::Internal => Self::Failed,
        }
    }
}

/// An operator command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The node's health, identity, version and what it holds.
    Status,
    /// Installed applications.
    #[command(subcommand)]
    Apps(Apps),
    /// Contexts: instances of applications with their own state.
    #[command(subcommand)]
    Contexts(Contexts),
    /// Root keys (wallets) and client keys.
    #[command(subcommand)]
    Keys(Keys),
    /// Calls a method of a context's app: a query, or with `--mutate` a
    /// call whose writes commit.
    Call {
        /// The context (base58 id).
        context: ContextId,
        /// The app method.
        method: String,
        /// Its arguments, a JSON object.
        #[arg(default_value = "{}")]
        args: String,
        /// Commit the call's writes (JSON-RPC `mutate`).
        #[arg(long)]
        mutate: bool,
        /// Call as this member (base58 public key; default: the first member
        /// whose calls run on this node, usually the creator).
        #[arg(long = "as", value_name = "MEMBER")]
        executor: Option<PublicKey>,
    },
    /// Streams contexts' events as they happen, resuming after reconnects
    /// (losses shown as gaps). Runs until interrupted.
    Watch {
        /// The contexts (base58 ids).
        #[arg(required = true)]
        contexts: Vec<ContextId>,
        /// Start after this sequence number (replays what the node kept).
        #[arg(long)]
        since: Option<u64>,
        /// Which events: `current` (state changes and app events), `seed`
        /// (transactions and outcomes, as the seed's clients expect) or `all`.
        #[arg(long, default_value = "current")]
        events: EventGeneration,
    },
    /// Access tokens for a context's member.
    #[command(subcommand)]
    Tokens(Tokens),
}

/// `apps …`.
#[derive(Debug, Subcommand)]
pub enum Apps {
    /// Every installed application.
    List,
    /// Installs a wasm file from this machine, or one the node downloads
    /// (`--url`, with `--hash` to check it).
    Install {
        /// A `.wasm` file on this machine.
        #[arg(required_unless_present = "url", conflicts_with = "url")]
        path: Option<std::path::PathBuf>,
        /// Where the node downloads it (`https://`, or `http://` with `--hash`).
        #[arg(long)]
        url: Option<String>,
        /// Its SHA-256 (base58), checked before anything is installed.
        #[arg(long, requires = "url")]
        hash: Option<Hash>,
    },
    /// Uninstalls an application no context runs.
    Uninstall {
        /// The application (base58 id).
        id: ApplicationId,
    },
}

/// `contexts …`.
#[derive(Debug, Subcommand)]
pub enum Contexts {
    /// Every context.
    List,
    /// Creates a context of an installed application.
    Create {
        /// The application (base58 id).
        application: ApplicationId,
        /// Arguments of the app's `init`, a JSON object.
        #[arg(long, default_value = "{}")]
        params: String,
    },
    /// A context: its record, members, client keys and storage size.
    Show {
        /// The context (base58 id).
        id: ContextId,
    },
    /// Deletes a context and its state.
    Delete {
        /// The context (base58 id).
        id: ContextId,
    },
    /// Makes a member key held by this node, to be invited into a context
    /// another node shares.
    Identity,
    /// Invites a key into a context: prints the invitation payload the
    /// invitee's node joins with.
    Invite {
        /// The context (base58 id).
        context: ContextId,
        /// The key invited (made on the joining node by `contexts identity`).
        invitee: PublicKey,
        /// The member signing the invitation (default: the first member
        /// whose calls run on this node).
        #[arg(long)]
        inviter: Option<PublicKey>,
    },
    /// Joins a context with an invitation payload; prints the context and
    /// the member this node joined as.
    Join {
        /// What `contexts invite` printed on the inviting node.
        payload: String,
    },
}

/// `keys …`.
#[derive(Debug, Subcommand)]
pub enum Keys {
    /// Root keys and client keys.
    List,
    /// Deletes a client key, and every token minted under it.
    Delete {
        /// The client key (base58, `4XTTM…`).
        signing_key: String,
    },
}

/// `tokens …`.
#[derive(Debug, Subcommand)]
pub enum Tokens {
    /// Mints an access and a refresh token for a member of a context (they
    /// end when the node restarts: they stand on the operator key).
    Mint {
        /// The context (base58 id).
        context: ContextId,
        /// The member the tokens call as (default: the context's creator).
        #[arg(long)]
        executor: Option<PublicKey>,
    },
}

/// Runs `command` against the node whose home is `home`; the exit status.
pub fn run(home: &Path, json: bool, command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("calimero-node: error: starting the async runtime: {err}");
            return ExitCode::Failed;
        }
    };
    let output = Output { json };
    match runtime.block_on(execute(home, output, command)) {
        Ok(()) => ExitCode::Ok,
        Err(Failure::Client(err)) => {
            output.error(&err.to_string(), Some(err.kind()));
            err.kind().into()
        }
        Err(Failure::Input(message)) => {
            output.error(&message, None);
            ExitCode::Invalid
        }
    }
}

/// Why a command failed.
enum Failure {
    Client(client::Error),
    Input(String),
}

impl From<client::Error> for Failure {
    fn from(err: client::Error) -> Self {
        Self::Client(err)
    }
}

type Outcome = Result<(), Failure>;

/// Where results and errors go.
#[derive(Debug, Clone, Copy)]
struct Output {
    json: bool,
}

impl Output {
    /// Prints `value` as JSON, or `human` for people.
    fn print(self, value: &impl Serialize, human: impl FnOnce() -> String) {
        let text = if self.json {
            serde_json::to_string_pretty(value)
                .unwrap_or_else(|err| format!("{{\"error\": \"{err}\"}}"))
        } else {
            human()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", text.trim_end());
    }

    fn error(self, message: &str, kind: Option<ErrorKind>) {
        if self.json {
            let kind = kind.map(|kind| format!("{kind:?}"));
            eprintln!("{}", json!({"error": {"kind": kind, "message": message}}));
        } else {
            eprintln!("calimero-node: error: {message}");
        }
    }
}

fn parse_json(what: &str, text: &str) -> Result<Value, Failure> {
    serde_json::from_str(text).map_err(|err| Failure::Input(format!("{what} is not JSON: {err}")))
}

async fn execute(home: &Path, out: Output, command: Command) -> Outcome {
    let node = Client::operator(home).await?;
    match command {
        Command::Status => status(&node, out).await,
        Command::Apps(command) => apps(&node, out, command).await,
        Command::Contexts(command) => contexts(&node, out, command).await,
        Command::Keys(command) => keys(&node, out, command).await,
        Command::Call {
            context,
            method,
            args,
            mutate,
            executor,
        } => {
            let params = CallParams {
                context_id: context,
                method,
                args_json: parse_json("ARGS", &args)?,
                executor_public_key: executor,
                substitute: Vec::new(),
            };
            let call = if mutate {
                RequestCall::Mutate(params)
            } else {
                RequestCall::Query(params)
            };
            let result = node.call(call).await?;
            out.print(&result, || {
                let mut text = serde_json::to_string_pretty(&result.output).unwrap_or_default();
                if let Some(root) = result.root_hash {
                    text.push_str(&format!("\n(committed: root {root}"));
                    if let Some(seq) = result.event_seq {
                        text.push_str(&format!(", event seq {seq}"));
                    }
                    text.push(')');
                }
                text
            });
            Ok(())
        }
        Command::Watch {
            contexts,
            since,
            events,
        } => watch(home, &node, out, &contexts, since, events).await,
        Command::Tokens(Tokens::Mint { context, executor }) => {
            let executor = match executor {
                Some(executor) => executor,
                None => first_member(&node, context).await?,
            };
            let tokens = node.generate_tokens(context, executor).await?;
            out.print(&tokens, || {
                format!(
                    "executor:      {executor}\naccess token:  {}\nrefresh token: {}",
                    tokens.access_token, tokens.refresh_token
                )
            });
            Ok(())
        }
    }
}

async fn first_member(node: &Client, context: ContextId) -> Result<PublicKey, Failure> {
    let users = node.context_users(context).await?;
    let first = users
        .iter()
        .min_by_key(|user| user.joined_at)
        .ok_or_else(|| Failure::Input(format!("context {context} has no members")))?;
    first
        .user_id
        .parse()
        .map_err(|err| Failure::Input(format!("member {}: {err}", first.user_id)))
}

async fn status(node: &Client, out: Output) -> Outcome {
    let health = node.health().await?;
    let apps = node.applications().await?.len();
    let contexts = node.contexts().await?.len();
    let value = json!({
        "url": node.url(),
        "status": health.status,
        "nodeId": health.node_id,
        "version": health.version,
        "applications": apps,
        "contexts": contexts,
    });
    out.print(&value, || {
        format!(
            "node {}\n  url:          {}\n  status:       {}\n  version:      {}\n  applications: {apps}\n  contexts:     {contexts}",
            node.node_id(),
            node.url(),
            health.status,
            health.version.as_deref().unwrap_or("unknown"),
        )
    });
    Ok(())
}

async fn apps(node: &Client, out: Output, command: Apps) -> Outcome {
    match command {
        Apps::List => {
            let apps = node.applications().await?;
            out.print(&apps, || {
                table(
                    &["ID", "SIZE", "SOURCE"],
                    apps.iter().map(|app| {
                        vec![app.id.to_string(), app.size.to_string(), app.source.clone()]
                    }),
                )
            });
        }
        Apps::Install { path, url, hash } => {
            let id = match (path, url) {
                (Some(path), _) => {
                    let wasm = std::fs::read(&path).map_err(|err| {
                        Failure::Input(format!("cannot read {}: {err}", path.display()))
                    })?;
                    node.install_bytes(wasm).await?
                }
                (None, Some(url)) => node.install_url(&url, hash).await?,
                (None, None) => return Err(Failure::Input("give a path or --url".into())),
            };
            out.print(&json!({"applicationId": id}), || format!("installed {id}"));
        }
        Apps::Uninstall { id } => {
            let deleted = node.uninstall(id).await?;
            if !deleted && !out.json {
                return Err(Failure::Client(client::Error::Api {
                    status: 404,
                    message: format!("application {id} is not installed"),
                }));
            }
            out.print(&json!({"isDeleted": deleted}), || {
                format!("uninstalled {id}")
            });
        }
    }
    Ok(())
}

async fn contexts(node: &Client, out: Output, command: Contexts) -> Outcome {
    match command {
        Contexts::List => {
            let contexts = node.contexts().await?;
            out.print(&contexts, || {
                table(
                    &["ID", "APPLICATION", "ROOT HASH"],
                    contexts.iter().map(|context| {
                        vec![
                            context.id.to_string(),
                            context.application_id.to_string(),
                            context.root_hash.to_string(),
                        ]
                    }),
                )
            });
        }
        Contexts::Create {
            application,
            params,
        } => {
            parse_json("--params", &params)?;
            let created = node
                .create_context(application, params.into_bytes())
                .await?;
            out.print(&created, || {
                format!(
                    "created {}\n  member: {}",
                    created.context.id, created.member_public_key
                )
            });
        }
        Contexts::Show { id } => {
            let (context, sync) = node.context_sync(id).await?;
            let users = node.context_users(id).await?;
            let keys = node.context_client_keys(id).await?;
            let size = node.context_storage(id).await?;
            let value = json!({
                "context": context, "users": users, "clientKeys": keys, "sizeInBytes": size,
                "sync": sync,
            });
            out.print(&value, || {
                let mut text = format!(
                    "context {}\n  application: {}\n  root hash:   {}\n  last tx:     {}\n  storage:     {size} bytes\n\nmembers:\n",
                    context.id, context.application_id, context.root_hash, context.last_transaction_hash
                );
                text.push_str(&table(
                    &["PUBLIC KEY", "JOINED (unix ms)"],
                    users.iter().map(|user| vec![user.user_id.clone(), user.joined_at.to_string()]),
                ));
                text.push_str("\n\nclient keys:\n");
                text.push_str(&table(
                    &["SIGNING KEY", "CREATED (unix ms)"],
                    keys.iter().map(|key| vec![key.signing_key.clone(), key.created_at.to_string()]),
                ));
                if let Some(sync) = &sync {
                    text.push_str(&format!(
                        "\n\nreplicas (root {}, values {}; members' heights here, then each peer's view):\n",
                        sync.root_hash, sync.values_hash
                    ));
                    text.push_str(&table(
                        &["MEMBER", "LOCAL", "HEIGHT"],
                        sync.members.iter().map(|member| {
                            vec![member.public_key.to_string(), member.local.to_string(), member.height.to_string()]
                        }),
                    ));
                    text.push('\n');
                    text.push_str(&table(
                        &["PEER", "STATUS", "ROOT HASH", "VALUES HASH", "AGE (ms)"],
                        sync.peers.iter().map(|peer| {
                            vec![
                                peer.peer_id.clone(),
                                peer.status.clone(),
                                peer.root_hash.to_string(),
                                peer.values_hash.to_string(),
                                peer.age_ms.to_string(),
                            ]
                        }),
                    ));
                }
                text
            });
        }
        Contexts::Identity => {
            let key = node.create_identity().await?;
            out.print(&json!({"publicKey": key}), || key.to_string());
        }
        Contexts::Invite {
            context,
            invitee,
            inviter,
        } => {
            let inviter = match inviter {
                Some(inviter) => inviter,
                None => local_member(node, context).await?,
            };
            let payload = node.invite(context, inviter, invitee).await?;
            out.print(&json!({"invitationPayload": payload}), || payload.clone());
        }
        Contexts::Join { payload } => {
            let joined = node.join(payload).await?;
            out.print(&joined, || {
                format!(
                    "joined {}
  member: {}",
                    joined.context_id, joined.member_public_key
                )
            });
        }
        Contexts::Delete { id } => {
            let deleted = node.delete_context(id).await?;
            if !deleted && !out.json {
                return Err(Failure::Client(client::Error::Api {
                    status: 404,
                    message: format!("context {id} does not exist"),
                }));
            }
            out.print(&json!({"isDeleted": deleted}), || format!("deleted {id}"));
        }
    }
    Ok(())
}

/// The first member of a context whose calls run on this node.
async fn local_member(node: &Client, context: ContextId) -> Result<PublicKey, Failure> {
    let (_, sync) = node.context_sync(context).await?;
    sync.and_then(|sync| sync.members.into_iter().find(|member| member.local))
        .map(|member| member.public_key)
        .ok_or_else(|| {
            Failure::Client(client::Error::Api {
                status: 400,
                message: format!(
                    "this node holds no member of context {context}: name one with --inviter"
                ),
            })
        })
}

async fn keys(node: &Client, out: Output, command: Keys) -> Outcome {
    match command {
        Keys::List => {
            let did = node.did().await?;
            out.print(&did, || {
                let mut text = String::from("root keys:\n");
                text.push_str(&table(
                    &["KEY", "WALLET", "CREATED (unix ms)"],
                    did.root_keys.iter().map(|key| {
                        vec![
                            key.signing_key.clone(),
                            wallet(&key.wallet),
                            key.created_at.to_string(),
                        ]
                    }),
                ));
                text.push_str("\n\nclient keys:\n");
                text.push_str(&table(
                    &["SIGNING KEY", "CONTEXT", "CREATED (unix ms)"],
                    did.client_keys.iter().map(|key| {
                        vec![
                            key.signing_key.clone(),
                            key.context_id
                                .map_or_else(|| "(administrator)".to_owned(), |id| id.to_string()),
                            key.created_at.to_string(),
                        ]
                    }),
                ));
                text
            });
        }
        Keys::Delete { signing_key } => {
            node.delete_client_key(&signing_key).await?;
            out.print(&json!({"deleted": signing_key}), || {
                format!("deleted {signing_key}")
            });
        }
    }
    Ok(())
}

fn wallet(wallet: &client::primitives::auth::WalletType) -> String {
    match wallet {
        client::primitives::auth::WalletType::Near { .. } => "NEAR".to_owned(),
        client::primitives::auth::WalletType::Eth { chain_id } => format!("ETH (chain {chain_id})"),
    }
}

async fn watch(
    home: &Path,
    node: &Client,
    out: Output,
    contexts: &[ContextId],
    since: Option<u64>,
    events: EventGeneration,
) -> Outcome {
    let options = WatchOptions {
        since: since
            .map(|seq| contexts.iter().map(|id| (*id, seq)).collect())
            .unwrap_or_default(),
        give_up_after: RECONNECT_SAME_NODE,
        events,
    };
    let mut watch = node.watch(contexts, options).await?;
    if !out.json {
        eprintln!("watching {} context(s); Ctrl-C to stop", contexts.len());
    }
    loop {
        let next = match watch.next().await {
            // The node restarted: a new address or operator key, in a new
            // operator file. Follow it, from the last event seen.
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::Unreachable | ErrorKind::Unauthenticated
                ) =>
            {
                watch =
                    follow_restart(home, contexts, watch.last_seen().clone(), events, err).await?;
                eprintln!("the node restarted; resumed from the last event seen");
                continue;
            }
            next => next?,
        };
        match next {
            WatchEvent::Event(event) => {
                let mut stdout = std::io::stdout().lock();
                let line = if out.json {
                    serde_json::to_string(&event).unwrap_or_default()
                } else {
                    let payload = serde_json::to_value(&event.payload).unwrap_or_default();
                    format!(
                        "{} #{} {} {}",
                        event.context_id,
                        event
                            .seq
                            .map_or_else(|| "-".to_owned(), |seq| seq.to_string()),
                        payload["type"].as_str().unwrap_or("?"),
                        payload
                            .get("data")
                            .map(Value::to_string)
                            .unwrap_or_default(),
                    )
                };
                if writeln!(stdout, "{line}")
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    // The reader went away (e.g. `| head`): done.
                    return Ok(());
                }
            }
            WatchEvent::Reconnected { attempts } => {
                eprintln!(
                    "reconnected after {attempts} attempt(s); resumed from the last event seen"
                );
            }
        }
    }
}

/// How long `watch` retries the node's last address before looking for a
/// restarted node in the home's operator file.
const RECONNECT_SAME_NODE: Duration = Duration::from_secs(3);

/// How long `watch` waits for a node to come back.
const WAIT_FOR_RESTART: Duration = Duration::from_secs(60);

/// Follows the node of `home` after a restart (a new operator file), from
/// `since`, for [`WAIT_FOR_RESTART`]; else fails with `lost`.
async fn follow_restart(
    home: &Path,
    contexts: &[ContextId],
    since: std::collections::BTreeMap<ContextId, u64>,
    events: EventGeneration,
    lost: client::Error,
) -> Result<client::Watch, Failure> {
    let started = Instant::now();
    loop {
        let options = WatchOptions {
            since: since.clone(),
            give_up_after: RECONNECT_SAME_NODE,
            events,
        };
        let attempt = match Client::operator(home).await {
            Ok(node) => node.watch(contexts, options).await,
            Err(err) => Err(err),
        };
        match attempt {
            Ok(watch) => return Ok(watch),
            Err(err) if !matches!(err.kind(), ErrorKind::Unreachable) => return Err(err.into()),
            Err(_) if started.elapsed() > WAIT_FOR_RESTART => return Err(lost.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Rows under a header, columns padded to their widest cell.
fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows.collect();
    if rows.is_empty() {
        return "(none)".to_owned();
    }
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(
        rows.iter()
            .map(|row| line(row.iter().map(String::as_str).collect())),
    );
    lines.join("\n")
}

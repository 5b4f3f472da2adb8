//! A typed async client of the node server: the admin API, JSON-RPC
//! (`query`, `mutate`) and WebSocket subscriptions that resume after
//! reconnects, over the wire types of [`server_primitives`].
//!
//! Where to start:
//! - [`Client::connect`] with [`Credentials`]: a registered [`ClientKey`]
//!   (signs each request), an access token, or none (open routes and a
//!   loopback node's dev routes);
//! - [`Client::operator`]: administer the node whose home is on this
//!   machine, with the key it hands its owner ([`operator`]);
//! - [`Client::query`] / [`Client::mutate`]: call an app method;
//! - [`Client::watch`]: a context's events, resumed by `seq` after each
//!   reconnect, losses reported as `Gap` events (never silent);
//! - `wallet` (feature `wallets`): NEAR and MetaMask signers for
//!   [`Client::log_in`].
//!
//! ```no_run
//! # async fn run() -> Result<(), client::Error> {
//! use client::Client;
//! use serde_json::json;
//!
//! let node = Client::operator(std::path::Path::new(".dev-node")).await?;
//! let contexts = node.contexts().await?;
//! let first = contexts.first().expect("a context");
//! let result = node
//!     .mutate(first.id, "set", json!({"key": "a", "value": "1"}))
//!     .await?;
//! println!("new root: {:?}", result.root_hash);
//! # Ok(())
//! # }
//! ```
//!
//! Every failure is an [`Error`] that says which side refused what;
//! [`Error::kind`] sorts them for callers (the CLI's exit codes).

mod error;
mod key;
pub mod operator;
#[cfg(feature = "wallets")]
pub mod wallet;
mod watch;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use server_primitives::admin::{
    ApiErrorResponse, ApiResponse, Application, Context, ContextIdentityResponse, ContextSync,
    ContextUser, CreateContextRequest, CreateContextResponse, DeleteContextResponse, Empty,
    GetContextClientKeysResponse, GetContextResponse, GetContextStorageResponse,
    GetContextUsersResponse, GetDidResponse, HealthStatus, InstallApplicationRequest,
    InstallApplicationResponse, InviteToContextRequest, JoinContextRequest, JoinContextResponse,
    ListApplicationsResponse, ListContextsResponse, UninstallApplicationResponse,
};
use server_primitives::auth::{
    AddPublicKeyRequest, ClientKey as RegisteredKey, Did, GenerateJwtTokenRequest,
    JwtTokenResponse, NodeChallenge, RefreshJwtTokenRequest, RequestChallengeRequest,
};
use server_primitives::jsonrpc::{
    CallParams, CallResult, Request, RequestCall, RequestId, Response, ResponseBody, Version,
};
pub use server_primitives::{self as primitives, ApplicationId, ContextId, Hash, PublicKey};

pub use crate::error::{Error, ErrorKind};
pub use crate::key::ClientKey;
pub use crate::operator::OperatorFile;
pub use crate::watch::{Watch, WatchEvent, WatchOptions};

/// How a client authenticates.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    /// None: open routes only (and a loopback node's dev routes and `/ws`).
    #[default]
    Anonymous,
    /// A registered client key, signing each request.
    Key(ClientKey),
    /// A bearer access token (`POST /admin-api/generate-jwt-token`).
    Token(String),
}

/// A connection to one node.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Arc<str>,
    credentials: Credentials,
    node: PublicKey,
    version: Option<String>,
    ids: Arc<AtomicU64>,
}

/// A request body.
enum Body {
    None,
    Json(Value),
    Wasm(Vec<u8>),
}

impl Client {
    /// Connects to the node at `url` (e.g. `http://127.0.0.1:2528`): reads
    /// its health, to learn the identity signed requests must name.
    ///
    /// # Errors
    /// [`Error::Transport`] when the node does not answer, [`Error::Protocol`]
    /// when what answers is not a node.
    pub async fn connect(url: &str, credentials: Credentials) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|err| Error::Transport(format!("building the HTTP client: {err}")))?;
        let base: Arc<str> = url.trim_end_matches('/').into();
        let health: HealthStatus = decode_data(
            http.get(format!("{base}/admin-api/health"))
                .send()
                .await
                .map_err(|err| Error::transport(&base, &err))?,
        )
        .await?;
        let node = health.node_id.ok_or_else(|| {
            Error::Protocol("the health answer names no node id (not this node server?)".into())
        })?;
        Ok(Self {
            http,
            base,
            credentials,
            node,
            version: health.version,
            ids: Arc::new(AtomicU64::new(1)),
        })
    }

    /// Administers the node whose home is `home`, on this machine, with the
    /// operator key it wrote there ([`operator`]).
    ///
    /// # Errors
    /// [`Error::Local`] without an operator file (the node is not running),
    /// else as [`Client::connect`]; [`Error::Local`] too when the file names
    /// another node than the one answering (a stale file).
    pub async fn operator(home: &Path) -> Result<Self, Error> {
        let file = OperatorFile::read(home)?;
        let client = Self::connect(&file.url, Credentials::Key(file.key()?)).await?;
        if client.node != file.node_id {
            return Err(Error::Local(format!(
                "{} names node {}, but {} is node {}: the file is stale",
                OperatorFile::path(home).display(),
                file.node_id,
                file.url,
                client.node
            )));
        }
        Ok(client)
    }

    /// The same connection with other credentials.
    #[must_use]
    pub fn with_credentials(&self, credentials: Credentials) -> Self {
        Self {
            credentials,
            ..self.clone()
        }
    }

    /// The node's URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The node's identity key.
    #[must_use]
    pub fn node_id(&self) -> PublicKey {
        self.node
    }

    /// The node software's version, as its health said at connect.
    #[must_use]
    pub fn node_version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The credentials requests carry.
    #[must_use]
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    fn auth_headers(&self, method: &Method, path: &str) -> Vec<(String, String)> {
        match &self.credentials {
            Credentials::Anonymous => Vec::new(),
            Credentials::Key(key) => key.auth_headers(self.node, method.as_str(), path, None),
            Credentials::Token(token) => {
                vec![("authorization".to_owned(), format!("Bearer {token}"))]
            }
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<reqwest::Response, Error> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        for (name, value) in self.auth_headers(&method, path) {
            request = request.header(name, value);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Wasm(bytes) => request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    server_primitives::WASM_MEDIA_TYPE,
                )
                .body(bytes),
        };
        request
            .send()
            .await
            .map_err(|err| Error::transport(&self.base, &err))
    }

    /// An admin route's `data`.
    async fn admin<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<T, Error> {
        decode_data(
            self.send(method, &format!("/admin-api{path}"), body)
                .await?,
        )
        .await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.admin(Method::GET, path, Body::None).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: impl Serialize,
    ) -> Result<T, Error> {
        let body = serde_json::to_value(body)
            .map_err(|err| Error::Protocol(format!("encoding the request: {err}")))?;
        self.admin(Method::POST, path, Body::Json(body)).await
    }

    async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.admin(Method::DELETE, path, Body::None).await
    }

    // Node.

    /// `GET /admin-api/health`.
    ///
    /// # Errors
    /// As every call: see [`Error`].
    pub async fn health(&self) -> Result<HealthStatus, Error> {
        self.get("/health").await
    }

    /// The node's metrics in the OpenMetrics text format (`GET /metrics`).
    ///
    /// # Errors
    /// As every call; `404` when the node serves no metrics.
    pub async fn metrics(&self) -> Result<String, Error> {
        let response = self.send(Method::GET, "/metrics", Body::None).await?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|err| Error::transport(&self.base, &err))?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(Error::api(status.as_u16(), &text))
        }
    }

    // Identity.

    /// `POST /admin-api/request-challenge`: a challenge for a wallet login.
    ///
    /// # Errors
    /// As every call.
    pub async fn request_challenge(
        &self,
        context_id: Option<ContextId>,
    ) -> Result<NodeChallenge, Error> {
        self.post("/request-challenge", RequestChallengeRequest { context_id })
            .await
    }

    /// `POST /admin-api/add-client-key`: registers the client key of a
    /// signed login (the node's first wallet becomes its root key).
    ///
    /// # Errors
    /// As every call; `401` for a refused signature.
    pub async fn add_client_key(&self, login: &AddPublicKeyRequest) -> Result<Value, Error> {
        self.post("/add-client-key", login).await
    }

    /// `POST /admin-api/root-key`: adds another root wallet (administrator).
    ///
    /// # Errors
    /// As every call.
    pub async fn add_root_key(&self, login: &AddPublicKeyRequest) -> Result<Value, Error> {
        self.post("/root-key", login).await
    }

    /// `GET /admin-api/did`: root keys and client keys.
    ///
    /// # Errors
    /// As every call.
    pub async fn did(&self) -> Result<Did, Error> {
        Ok(self.get::<GetDidResponse>("/did").await?.did)
    }

    /// `DELETE /admin-api/identity/keys/{key}`: one client key, and every
    /// token minted under it.
    ///
    /// # Errors
    /// As every call.
    pub async fn delete_client_key(&self, signing_key: &str) -> Result<(), Error> {
        self.delete::<Empty>(&format!("/identity/keys/{}", path_segment(signing_key)))
            .await
            .map(|_| ())
    }

    /// `DELETE /admin-api/identity/keys`: every root and client key (the
    /// next wallet login becomes root again).
    ///
    /// # Errors
    /// As every call.
    pub async fn delete_all_keys(&self) -> Result<(), Error> {
        self.delete::<Empty>("/identity/keys").await.map(|_| ())
    }

    /// `POST /admin-api/generate-jwt-token`: tokens for `executor` on `context_id`.
    ///
    /// # Errors
    /// As every call; `403` when `executor` is not a member.
    pub async fn generate_tokens(
        &self,
        context_id: ContextId,
        executor_public_key: PublicKey,
    ) -> Result<JwtTokenResponse, Error> {
        self.post(
            "/generate-jwt-token",
            GenerateJwtTokenRequest {
                context_id,
                executor_public_key,
            },
        )
        .await
    }

    /// `POST /admin-api/refresh-jwt-token`: trades a refresh token for a new pair.
    ///
    /// # Errors
    /// As every call.
    pub async fn refresh_tokens(&self, refresh_token: &str) -> Result<JwtTokenResponse, Error> {
        self.post(
            "/refresh-jwt-token",
            RefreshJwtTokenRequest {
                refresh_token: refresh_token.to_owned(),
            },
        )
        .await
    }

    // Applications.

    /// `GET /admin-api/applications`.
    ///
    /// # Errors
    /// As every call.
    pub async fn applications(&self) -> Result<Vec<Application>, Error> {
        Ok(self
            .get::<ListApplicationsResponse>("/applications")
            .await?
            .apps)
    }

    /// `POST /admin-api/install-application`: the node downloads `url` and
    /// checks it against `hash`.
    ///
    /// # Errors
    /// As every call; `400` naming the rule a URL broke or the mismatch.
    pub async fn install_url(&self, url: &str, hash: Option<Hash>) -> Result<ApplicationId, Error> {
        let body = InstallApplicationRequest {
            url: url.to_owned(),
            hash,
            metadata: Vec::new(),
        };
        Ok(self
            .post::<InstallApplicationResponse>("/install-application", body)
            .await?
            .application_id)
    }

    /// `POST /admin-api/applications`: installs these wasm bytes.
    ///
    /// # Errors
    /// As every call; `400` for bytes that are not an application.
    pub async fn install_bytes(&self, wasm: Vec<u8>) -> Result<ApplicationId, Error> {
        Ok(self
            .admin::<InstallApplicationResponse>(Method::POST, "/applications", Body::Wasm(wasm))
            .await?
            .application_id)
    }

    /// `DELETE /admin-api/applications/{id}`: whether it was installed.
    ///
    /// # Errors
    /// As every call; `409` while a context runs it.
    pub async fn uninstall(&self, id: ApplicationId) -> Result<bool, Error> {
        Ok(self
            .delete::<UninstallApplicationResponse>(&format!("/applications/{id}"))
            .await?
            .is_deleted)
    }

    // Contexts.

    /// `GET /admin-api/contexts`.
    ///
    /// # Errors
    /// As every call.
    pub async fn contexts(&self) -> Result<Vec<Context>, Error> {
        Ok(self
            .get::<ListContextsResponse>("/contexts")
            .await?
            .contexts)
    }

    /// `POST /admin-api/contexts`: a context of `application_id`, its `init`
    /// run with `params` (JSON text bytes).
    ///
    /// # Errors
    /// As every call; `404` for an application that is not installed.
    pub async fn create_context(
        &self,
        application_id: ApplicationId,
        params: Vec<u8>,
    ) -> Result<CreateContextResponse, Error> {
        self.post(
            "/contexts",
            CreateContextRequest {
                application_id,
                initialization_params: params,
            },
        )
        .await
    }

    /// `GET /admin-api/contexts/{id}`.
    ///
    /// # Errors
    /// As every call; `404` for an unknown context.
    pub async fn context(&self, id: ContextId) -> Result<Context, Error> {
        Ok(self
            .get::<GetContextResponse>(&format!("/contexts/{id}"))
            .await?
            .context)
    }

    /// `GET /admin-api/contexts/{id}` with how it stands with the other
    /// nodes that share it (`None` from a node without its network).
    ///
    /// # Errors
    /// As every call; `404` for an unknown context.
    pub async fn context_sync(
        &self,
        id: ContextId,
    ) -> Result<(Context, Option<ContextSync>), Error> {
        let answer = self
            .get::<GetContextResponse>(&format!("/contexts/{id}"))
            .await?;
        Ok((answer.context, answer.sync))
    }

    /// `POST /admin-api/identity/context`: a new member key held by the
    /// node, to be invited into a context.
    ///
    /// # Errors
    /// As every call.
    pub async fn create_identity(&self) -> Result<PublicKey, Error> {
        Ok(self
            .post::<ContextIdentityResponse>("/identity/context", serde_json::json!({}))
            .await?
            .public_key)
    }

    /// `POST /admin-api/contexts/invite`: the invitation payload admitting
    /// `invitee` into a context, signed by `inviter` (a member the node holds).
    ///
    /// # Errors
    /// As every call.
    pub async fn invite(
        &self,
        context_id: ContextId,
        inviter_id: PublicKey,
        invitee_id: PublicKey,
    ) -> Result<String, Error> {
        self.post(
            "/contexts/invite",
            InviteToContextRequest {
                context_id,
                inviter_id,
                invitee_id,
            },
        )
        .await
    }

    /// `POST /admin-api/contexts/join`: joins the context an invitation is
    /// for; the context and the member the node joined as.
    ///
    /// # Errors
    /// As every call; `503` when the inviter's node cannot be reached.
    pub async fn join(&self, invitation_payload: String) -> Result<JoinContextResponse, Error> {
        self.post("/contexts/join", JoinContextRequest { invitation_payload })
            .await
    }

    /// `DELETE /admin-api/contexts/{id}`: whether it existed.
    ///
    /// # Errors
    /// As every call.
    pub async fn delete_context(&self, id: ContextId) -> Result<bool, Error> {
        Ok(self
            .delete::<DeleteContextResponse>(&format!("/contexts/{id}"))
            .await?
            .is_deleted)
    }

    /// `GET /admin-api/contexts/{id}/users`: the context's members.
    ///
    /// # Errors
    /// As every call.
    pub async fn context_users(&self, id: ContextId) -> Result<Vec<ContextUser>, Error> {
        Ok(self
            .get::<GetContextUsersResponse>(&format!("/contexts/{id}/users"))
            .await?
            .context_users)
    }

    /// `GET /admin-api/contexts/{id}/client-keys`.
    ///
    /// # Errors
    /// As every call.
    pub async fn context_client_keys(&self, id: ContextId) -> Result<Vec<RegisteredKey>, Error> {
        Ok(self
            .get::<GetContextClientKeysResponse>(&format!("/contexts/{id}/client-keys"))
            .await?
            .client_keys)
    }

    /// `GET /admin-api/contexts/{id}/storage`: bytes of its state.
    ///
    /// # Errors
    /// As every call.
    pub async fn context_storage(&self, id: ContextId) -> Result<u64, Error> {
        Ok(self
            .get::<GetContextStorageResponse>(&format!("/contexts/{id}/storage"))
            .await?
            .size_in_bytes)
    }

    // JSON-RPC.

    /// A read-only call of `method` with JSON `args` (`query`).
    ///
    /// # Errors
    /// [`Error::Rpc`] with the node's typed error, or as every call.
    pub async fn query(
        &self,
        context_id: ContextId,
        method: &str,
        args: Value,
    ) -> Result<CallResult, Error> {
        self.call(RequestCall::Query(params(context_id, method, args, None)))
            .await
    }

    /// A call whose writes commit atomically (`mutate`); answered once durable.
    ///
    /// # Errors
    /// [`Error::Rpc`] with the node's typed error, or as every call.
    pub async fn mutate(
        &self,
        context_id: ContextId,
        method: &str,
        args: Value,
    ) -> Result<CallResult, Error> {
        self.call(RequestCall::Mutate(params(context_id, method, args, None)))
            .await
    }

    /// Any JSON-RPC call, e.g. with an `executorPublicKey`.
    ///
    /// # Errors
    /// [`Error::Rpc`] with the node's typed error, or as every call.
    pub async fn call(&self, call: RequestCall) -> Result<CallResult, Error> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let request = Request {
            jsonrpc: Version::V2,
            id: RequestId::Number(id),
            call,
        };
        let body = serde_json::to_value(&request)
            .map_err(|err| Error::Protocol(format!("encoding the call: {err}")))?;
        let response = self
            .send(Method::POST, "/jsonrpc", Body::Json(body))
            .await?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| Error::transport(&self.base, &err))?;
        match serde_json::from_slice::<Response>(&bytes) {
            Ok(Response {
                body: ResponseBody::Result(result),
                ..
            }) => Ok(result),
            Ok(Response {
                body: ResponseBody::Error(error),
                ..
            }) => Err(Error::Rpc(Box::new(error))),
            Err(_) => Err(Error::api(
                status.as_u16(),
                &String::from_utf8_lossy(&bytes),
            )),
        }
    }

    // WebSocket.

    /// Follows `contexts`' events over `/ws`, resuming after reconnects.
    ///
    /// # Errors
    /// As [`Watch::open`].
    pub async fn watch(
        &self,
        contexts: &[ContextId],
        options: WatchOptions,
    ) -> Result<Watch, Error> {
        Watch::open(self.clone(), contexts, options).await
    }

    /// `ws://…/ws` (or `wss://`) with the query for `events` and a token.
    pub(crate) fn ws_request(
        &self,
        events: &str,
    ) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

        let base = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            return Err(Error::Local(format!("{} is not an http(s) URL", self.base)));
        };
        let mut url = format!("{base}/ws?events={events}");
        if let Credentials::Token(token) = &self.credentials {
            url.push_str("&token=");
            url.push_str(token);
        }
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|err| Error::Local(format!("{url}: {err}")))?;
        if let Credentials::Key(key) = &self.credentials {
            for (name, value) in key.auth_headers(self.node, "GET", "/ws", None) {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|err| Error::Local(err.to_string()))?;
                let value =
                    HeaderValue::from_str(&value).map_err(|err| Error::Local(err.to_string()))?;
                request.headers_mut().insert(name, value);
            }
        }
        Ok(request)
    }
}

fn params(
    context_id: ContextId,
    method: &str,
    args: Value,
    executor: Option<PublicKey>,
) -> CallParams {
    CallParams {
        context_id,
        method: method.to_owned(),
        args_json: args,
        executor_public_key: executor,
        substitute: Vec::new(),
    }
}

/// Percent-encodes what a path segment may not hold as is.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// The `data` of a successful admin answer, or its error.
async fn decode_data<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, Error> {
    let status = response.status();
    let url = response.url().to_string();
    let bytes = response
        .bytes()
        .await
        .map_err(|err| Error::Transport(format!("reading the answer of {url}: {err}")))?;
    if !status.is_success() {
        return Err(Error::api(
            status.as_u16(),
            &String::from_utf8_lossy(&bytes),
        ));
    }
    serde_json::from_slice::<ApiResponse<T>>(&bytes)
        .map(|answer| answer.data)
        .map_err(|err| Error::Protocol(format!("unexpected answer from {url}: {err}")))
}

impl Error {
    /// An error answer: the API's JSON error body when it is one.
    pub(crate) fn api(status: u16, body: &str) -> Self {
        let message = serde_json::from_str::<ApiErrorResponse>(body)
            .map(|error| error.error.message)
            .unwrap_or_else(|_| body.trim().chars().take(500).collect());
        Self::Api { status, message }
    }

    fn transport(base: &str, err: &reqwest::Error) -> Self {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Transport(format!("{base}: {text}"))
    }
}

//! Every route of the admin API, and the shared state of its handlers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use node::sync::Replication;
use node::{ContextRecord, Node, NodeError};
use node_primitives::{ApplicationId, ContextId, PublicKey};
use server_auth::{Authenticator, ClientPublicKey, Principal};
use server_primitives::admin::{
    ApiErrorResponse, ApiResponse, Application, Context, ContextIdentityResponse, ContextSync,
    ContextUser, CreateContextRequest, CreateContextResponse, DeleteContextResponse, Empty,
    GetContextClientKeysResponse, GetContextResponse, GetContextStorageResponse,
    GetContextUsersResponse, GetDidResponse, HealthStatus, InstallApplicationRequest,
    InstallApplicationResponse, InstallDevApplicationRequest, InviteToContextRequest,
    JoinContextRequest, JoinContextResponse, ListApplicationsResponse, ListContextsResponse,
    MemberSync, PeerSync, UninstallApplicationResponse,
};
use server_primitives::auth::{
    AddPublicKeyRequest, GenerateJwtTokenRequest, JwtTokenResponse, NodeChallenge,
    RefreshJwtTokenRequest, RequestChallengeRequest,
};
use tower_http::cors::{self, CorsLayer};

use crate::ApiError;
use crate::download::Downloads;
use crate::extract::{Admin, Body, ContextReader, PathId};

/// What the handlers share; cloned for every request, so one shared
/// allocation.
#[derive(Debug, Clone)]
pub struct AdminState(Arc<Shared>);

/// The contents of [`AdminState`].
#[derive(Debug)]
pub struct Shared {
    /// The node.
    pub node: Node,
    /// Login, request auth and tokens.
    pub auth: Authenticator,
    /// Whether the unauthenticated `/dev/*` routes are served.
    pub dev_routes: bool,
    /// Downloads of applications installed by URL.
    pub(crate) downloads: Downloads,
    /// The health route's answer: the same for the node's whole run.
    health: Bytes,
    /// Replication with other nodes (`None`: this node shares nothing).
    pub(crate) replication: Option<Arc<Replication>>,
}

impl std::ops::Deref for AdminState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Settings of the admin API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdminConfig {
    /// Whether the unauthenticated `/dev/*` routes are served.
    pub dev_routes: bool,
    /// Whether install by URL may reach loopback, private and link-local
    /// addresses (off: refused, the node's own network is not a target).
    pub install_allow_private_hosts: bool,
}

impl AdminState {
    /// The state of an admin API over `node` and `auth`.
    ///
    /// # Errors
    /// When the HTTP client for downloads cannot be built.
    pub fn new(node: Node, auth: Authenticator, config: AdminConfig) -> Result<Self, ApiError> {
        let health = serde_json::to_vec(&ApiResponse::new(HealthStatus::alive(
            auth.identity().public_key(),
            env!("CARGO_PKG_VERSION"),
        )))
        .map_err(|err| ApiError::internal(format!("the health answer: {err}")))?;
        Ok(Self(Arc::new(Shared {
            node,
            auth,
            dev_routes: config.dev_routes,
            downloads: Downloads::new(config.install_allow_private_hosts)?,
            health: Bytes::from(health),
            replication: None,
        })))
    }

    /// The same, sharing contexts with other nodes through `replication`.
    #[must_use]
    pub fn with_replication(self, replication: Arc<Replication>) -> Self {
        let shared = Arc::try_unwrap(self.0).unwrap_or_else(|shared| Shared {
            node: shared.node.clone(),
            auth: shared.auth.clone(),
            dev_routes: shared.dev_routes,
            downloads: shared.downloads.clone(),
            health: shared.health.clone(),
            replication: None,
        });
        Self(Arc::new(Shared {
            replication: Some(replication),
            ..shared
        }))
    }

    /// Replication, or the error a route that needs it answers.
    fn replication(&self) -> Result<&Arc<Replication>, ApiError> {
        self.replication.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "this node runs without its network: contexts cannot be shared",
            )
        })
    }
}

/// The one route whose body the server does not read ahead of it: an
/// application's wasm bytes (up to the node's application limit) are read
/// by the handler, after the caller is known to be the administrator.
pub const UPLOAD_ROUTE: (Method, &str) = (Method::POST, "/admin-api/applications");

/// What a streamed body that missed the server's read deadline fails with.
pub const BODY_DEADLINE: &str = "the request body did not arrive in time";

/// Largest JSON body accepted by the admin API.
const MAX_BODY: usize = 64 * 1024;

type Reply<T> = Result<Json<ApiResponse<T>>, ApiError>;

fn ok<T>(data: T) -> Reply<T> {
    Ok(Json(ApiResponse::new(data)))
}

/// Runs blocking node and auth work through the node's one blocking boundary.
async fn blocking<T: Send + 'static>(
    state: AdminState,
    work: impl FnOnce(AdminState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let node = state.node.clone();
    node.run_blocking(move |_| work(state)).await
}

/// As [`blocking`], for work that writes `context`: it takes its turn
/// among that context's writers.
async fn blocking_on<T: Send + 'static>(
    state: AdminState,
    context: ContextId,
    work: impl FnOnce(AdminState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let node = state.node.clone();
    node.run_blocking_on(context, move |_| work(state)).await
}

/// The admin API on its own: [`routes`] with [`finish`].
pub fn router(state: AdminState) -> Router {
    finish(routes(state))
}

/// What every route of the server shares: JSON 404 / 405 answers and CORS
/// (answered before any authentication). The composed server adds request
/// ids, tracing spans, metrics and read deadlines around it.
pub fn finish(router: Router) -> Router {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors())
}

/// The `/admin-api` routes, without the shared layers of [`finish`].
pub fn routes(state: AdminState) -> Router {
    let mut api = Router::new()
        .route("/health", get(health))
        .route("/request-challenge", post(request_challenge))
        .route("/add-client-key", post(add_client_key))
        .route("/refresh-jwt-token", post(refresh_jwt_token))
        .route("/root-key", post(add_root_key))
        .route("/did", get(did))
        .route("/identity/keys", axum::routing::delete(delete_keys))
        .route(
            "/identity/keys/{signing_key}",
            axum::routing::delete(delete_client_key),
        )
        .route("/generate-jwt-token", post(generate_jwt_token))
        .route(
            "/applications",
            get(protected_applications)
                .post(upload_application)
                .layer(DefaultBodyLimit::max(
                    state.node.config().max_application_size,
                )),
        )
        .route(
            "/applications/{application_id}",
            axum::routing::delete(uninstall_application),
        )
        .route("/install-application", post(install_application))
        .route(
            "/contexts",
            get(protected_contexts).post(protected_create_context),
        )
        .route(
            "/contexts/{context_id}",
            get(get_context).delete(delete_context),
        )
        .route("/contexts/{context_id}/users", get(context_users))
        .route(
            "/contexts/{context_id}/client-keys",
            get(context_client_keys),
        )
        .route("/contexts/{context_id}/storage", get(context_storage))
        .route("/identity/context", post(create_identity))
        .route("/contexts/invite", post(invite_to_context))
        .route("/contexts/join", post(join_context))
        .route("/openapi.json", get(openapi_document));
    if state.dev_routes {
        api = api
            .route("/dev/install-application", post(dev_install_application))
            .route("/dev/applications", get(applications))
            .route("/dev/contexts", get(contexts).post(create_context));
    }
    Router::new()
        .nest("/admin-api", api)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// CORS as the protocol has it (PROTOCOL §1): any origin, any request header,
/// the methods the API uses, private-network access; preflights are answered
/// before any authentication.
pub fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(cors::Any)
        .allow_headers(cors::Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_private_network(true)
}

/// The OpenAPI 3.1 document of this API.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Calimero node admin API", description = "The admin API of the node server: login, keys, applications, contexts."),
    paths(
        health, request_challenge, add_client_key, add_root_key, did, delete_keys, delete_client_key, generate_jwt_token,
        refresh_jwt_token, applications, protected_applications, install_application, upload_application, uninstall_application,
        dev_install_application, contexts, protected_contexts, create_context, protected_create_context,
        get_context, delete_context, context_users, context_client_keys, context_storage,
        create_identity, invite_to_context, join_context
    ),
    modifiers(&Security)
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The two ways to authenticate a protected route.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "signing_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "signing_key",
                "with wallet_type, signature, challenge and optional context_id: a registered client key's ed25519 signature",
            ))),
        );
    }
}

async fn openapi_document() -> Json<utoipa::openapi::OpenApi> {
    Json(<ApiDoc as utoipa::OpenApi>::openapi())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}

#[utoipa::path(get, path = "/admin-api/health", responses((status = 200, body = ApiResponse<HealthStatus>)))]
async fn health(State(state): State<AdminState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.health.clone(),
    )
        .into_response()
}

#[utoipa::path(post, path = "/admin-api/request-challenge", request_body = RequestChallengeRequest, responses((status = 200, body = ApiResponse<NodeChallenge>), (status = 422, description = "wrong shape", body = ApiErrorResponse)))]
async fn request_challenge(
    State(state): State<AdminState>,
    Body(body): Body<RequestChallengeRequest>,
) -> Reply<NodeChallenge> {
    ok(state
        .auth
        .request_challenge(body.context_id, state.auth.now_ms())?)
}

#[utoipa::path(post, path = "/admin-api/add-client-key", request_body = AddPublicKeyRequest, responses((status = 200, body = ApiResponse<String>), (status = 400, description = "bad input", body = ApiErrorResponse), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "not a root wallet", body = ApiErrorResponse)))]
async fn add_client_key(
    State(state): State<AdminState>,
    Body(body): Body<AddPublicKeyRequest>,
) -> Reply<&'static str> {
    let context = body.context_id;
    let work = move |state: AdminState| {
        // A key registered for a context calls as the ed25519 key inside it,
        // which becomes a member of that context.
        let member = match body.context_id {
            Some(context) => {
                // Only a verified login learns whether the context exists.
                state.auth.check_login(&body, state.auth.now_ms())?;
                existing(&state, context)?;
                let key = ClientPublicKey::parse(&body.payload.message.public_key)?;
                Some((context, PublicKey::from_bytes(key.to_bytes())))
            }
            None => None,
        };
        state.auth.add_client_key(&body, state.auth.now_ms())?;
        if let Some((context, member)) = member {
            state.node.add_member(&context, member)?;
        }
        Ok(())
    };
    // Making a member waits its turn among the context's writers.
    match context {
        Some(context) => blocking_on(state, context, work).await?,
        None => blocking(state, work).await?,
    }
    ok("Client key stored")
}

#[utoipa::path(post, path = "/admin-api/root-key", request_body = AddPublicKeyRequest, security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<String>), (status = 400, description = "bad input", body = ApiErrorResponse), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse)))]
async fn add_root_key(
    State(state): State<AdminState>,
    _admin: Admin,
    Body(body): Body<AddPublicKeyRequest>,
) -> Reply<&'static str> {
    blocking(state, move |state| {
        Ok(state.auth.add_root_key(&body, state.auth.now_ms())?)
    })
    .await?;
    ok("Root key stored")
}

#[utoipa::path(get, path = "/admin-api/did", security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<GetDidResponse>), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse)))]
async fn did(State(state): State<AdminState>, _admin: Admin) -> Reply<GetDidResponse> {
    ok(GetDidResponse {
        did: state.auth.did()?,
    })
}

#[utoipa::path(delete, path = "/admin-api/identity/keys", security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<Empty>), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse)))]
async fn delete_keys(State(state): State<AdminState>, _admin: Admin) -> Reply<Empty> {
    blocking(state, move |state| Ok(state.auth.delete_keys()?)).await?;
    ok(Empty {})
}

/// `DELETE /identity/keys/{signing_key}`: forgets one client key; every
/// token minted under it stops working at once.
#[utoipa::path(delete, path = "/admin-api/identity/keys/{signing_key}", params(("signing_key" = String, Path, description = "the client key (base58)")), security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<Empty>), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "not the administrator", body = ApiErrorResponse), (status = 404, description = "no such key", body = ApiErrorResponse)))]
async fn delete_client_key(
    State(state): State<AdminState>,
    _admin: Admin,
    axum::extract::Path(signing_key): axum::extract::Path<String>,
) -> Reply<Empty> {
    blocking(state, move |state| {
        Ok(state.auth.delete_client_key(&signing_key)?)
    })
    .await?;
    ok(Empty {})
}

#[utoipa::path(post, path = "/admin-api/generate-jwt-token", request_body = GenerateJwtTokenRequest, security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<JwtTokenResponse>), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse), (status = 404, description = "unknown id", body = ApiErrorResponse)))]
async fn generate_jwt_token(
    State(state): State<AdminState>,
    Admin(admin): Admin,
    Body(body): Body<GenerateJwtTokenRequest>,
) -> Reply<JwtTokenResponse> {
    let Principal::ClientKey { signing_key, .. } = admin else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "tokens are minted by a client key",
        ));
    };
    blocking(state, move |state| {
        let context = existing(&state, body.context_id)?;
        let executor = body.executor_public_key;
        if !context.members.contains(&executor) {
            return Err(NodeError::NotMember {
                context: context.id,
                executor,
            }
            .into());
        }
        Ok(state
            .auth
            .issue_tokens(&signing_key, context.id, executor, state.auth.now_ms())?)
    })
    .await
    .and_then(ok)
}

#[utoipa::path(post, path = "/admin-api/refresh-jwt-token", request_body = RefreshJwtTokenRequest, responses((status = 200, body = ApiResponse<JwtTokenResponse>), (status = 403, description = "refresh token refused", body = ApiErrorResponse)))]
async fn refresh_jwt_token(
    State(state): State<AdminState>,
    Body(body): Body<RefreshJwtTokenRequest>,
) -> Reply<JwtTokenResponse> {
    let tokens = blocking(state, move |state| {
        Ok(state
            .auth
            .refresh_tokens(&body.refresh_token, state.auth.now_ms())?)
    })
    .await?;
    ok(tokens)
}

fn application(record: node::ApplicationRecord) -> Application {
    Application {
        id: record.id,
        blob: record.blob,
        size: record.size,
        source: record.source,
        metadata: record.metadata,
    }
}

#[utoipa::path(get, path = "/admin-api/dev/applications", responses((status = 200, body = ApiResponse<ListApplicationsResponse>)))]
async fn applications(State(state): State<AdminState>) -> Reply<ListApplicationsResponse> {
    let apps = state
        .node
        .applications()?
        .into_iter()
        .map(application)
        .collect();
    ok(ListApplicationsResponse { apps })
}

#[utoipa::path(get, path = "/admin-api/applications", security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<ListApplicationsResponse>), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse)))]
async fn protected_applications(
    state: State<AdminState>,
    _admin: Admin,
) -> Reply<ListApplicationsResponse> {
    applications(state).await
}

#[utoipa::path(post, path = "/admin-api/dev/install-application", request_body = InstallDevApplicationRequest, responses((status = 200, body = ApiResponse<InstallApplicationResponse>), (status = 400, description = "bad input", body = ApiErrorResponse), (status = 413, description = "too large", body = ApiErrorResponse)))]
async fn dev_install_application(
    State(state): State<AdminState>,
    Body(body): Body<InstallDevApplicationRequest>,
) -> Reply<InstallApplicationResponse> {
    let path = std::path::PathBuf::from(&body.path);
    if !path.is_absolute() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "path must be absolute",
        ));
    }
    let limit = state.node.config().max_application_size;
    let size = tokio::fs::metadata(&path)
        .await
        .map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read {}: {err}", path.display()),
            )
        })?
        .len();
    if size > limit as u64 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{} has {size} bytes; the limit is {limit}", path.display()),
        ));
    }
    let wasm = tokio::fs::read(&path).await.map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("cannot read {}: {err}", path.display()),
        )
    })?;
    let source = format!("file://{}", path.display());
    let record = blocking(state, move |state| {
        Ok(state
            .node
            .install_application(&wasm, &source, &body.metadata)?)
    })
    .await?;
    ok(InstallApplicationResponse {
        application_id: record.id,
    })
}

/// `POST /install-application`: downloads `url` with a size cap, checks the
/// SHA-256 while streaming, and installs only if everything matches.
#[utoipa::path(post, path = "/admin-api/install-application", request_body = InstallApplicationRequest, security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<InstallApplicationResponse>), (status = 400, description = "bad input", body = ApiErrorResponse), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse), (status = 413, description = "too large", body = ApiErrorResponse), (status = 502, description = "download failed", body = ApiErrorResponse)))]
async fn install_application(
    State(state): State<AdminState>,
    _admin: Admin,
    Body(body): Body<InstallApplicationRequest>,
) -> Reply<InstallApplicationResponse> {
    let limit = state.node.config().max_application_size as u64;
    let wasm = state.downloads.fetch(&body.url, body.hash, limit).await?;
    let source = body.url.clone();
    let record = blocking(state, move |state| {
        Ok(state
            .node
            .install_application(&wasm, &source, &body.metadata)?)
    })
    .await?;
    ok(InstallApplicationResponse {
        application_id: record.id,
    })
}

#[utoipa::path(post, path = "/admin-api/applications", request_body(content = Vec<u8>, content_type = "application/wasm", description = "the wasm bytes"), security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<InstallApplicationResponse>), (status = 400, description = "not a valid application", body = ApiErrorResponse), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse), (status = 413, description = "larger than the node's application limit", body = ApiErrorResponse), (status = 415, description = "not sent as application/wasm or application/octet-stream", body = ApiErrorResponse)))]
async fn upload_application(
    State(state): State<AdminState>,
    _admin: Admin,
    headers: axum::http::HeaderMap,
    wasm: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Reply<InstallApplicationResponse> {
    let wasm_typed = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            server_primitives::is_media_type(value, server_primitives::WASM_MEDIA_TYPE)
                || server_primitives::is_media_type(value, "application/octet-stream")
        });
    if !wasm_typed {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the wasm bytes with `content-type: application/wasm`",
        ));
    }
    let wasm = wasm.map_err(|rejection| {
        let text = rejection.body_text();
        // The server's read deadline ends the body with this error.
        if text.contains(BODY_DEADLINE) {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, BODY_DEADLINE)
        } else {
            ApiError::new(rejection.status(), text)
        }
    })?;
    let record = blocking(state, move |state| {
        Ok(state.node.install_application(&wasm, "upload", &[])?)
    })
    .await?;
    ok(InstallApplicationResponse {
        application_id: record.id,
    })
}

#[utoipa::path(delete, path = "/admin-api/applications/{application_id}", params(("application_id" = ApplicationId, Path, description = "base58 application id")), security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<UninstallApplicationResponse>), (status = 400, description = "bad input", body = ApiErrorResponse), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse), (status = 409, description = "a context runs it", body = ApiErrorResponse)))]
async fn uninstall_application(
    State(state): State<AdminState>,
    _admin: Admin,
    PathId(id): PathId<ApplicationId>,
) -> Reply<UninstallApplicationResponse> {
    let is_deleted = blocking(state, move |state| {
        Ok(state.node.uninstall_application(&id)?)
    })
    .await?;
    ok(UninstallApplicationResponse { is_deleted })
}

fn context(record: &ContextRecord) -> Context {
    Context {
        id: record.id,
        application_id: record.application_id,
        last_transaction_hash: record.last_transaction_hash,
        root_hash: record.root_hash,
    }
}

#[utoipa::path(get, path = "/admin-api/dev/contexts", responses((status = 200, body = ApiResponse<ListContextsResponse>)))]
async fn contexts(State(state): State<AdminState>) -> Reply<ListContextsResponse> {
    let contexts = state.node.contexts()?.iter().map(context).collect();
    ok(ListContextsResponse { contexts })
}

#[utoipa::path(get, path = "/admin-api/contexts", security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<ListContextsResponse>), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse)))]
async fn protected_contexts(
    state: State<AdminState>,
    _admin: Admin,
) -> Reply<ListContextsResponse> {
    contexts(state).await
}

#[utoipa::path(post, path = "/admin-api/dev/contexts", request_body = CreateContextRequest, responses((status = 200, body = ApiResponse<CreateContextResponse>), (status = 404, description = "unknown id", body = ApiErrorResponse), (status = 422, description = "wrong shape", body = ApiErrorResponse)))]
async fn create_context(
    State(state): State<AdminState>,
    Body(body): Body<CreateContextRequest>,
) -> Reply<CreateContextResponse> {
    let application: ApplicationId = body.application_id;
    let (record, member) = blocking(state, move |state| {
        Ok(state
            .node
            .create_context(&application, &body.initialization_params)?)
    })
    .await?;
    ok(CreateContextResponse {
        context: context(&record),
        member_public_key: member,
    })
}

#[utoipa::path(post, path = "/admin-api/contexts", request_body = CreateContextRequest, security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<CreateContextResponse>), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse), (status = 404, description = "unknown id", body = ApiErrorResponse)))]
async fn protected_create_context(
    state: State<AdminState>,
    _admin: Admin,
    body: Body<CreateContextRequest>,
) -> Reply<CreateContextResponse> {
    create_context(state, body).await
}

fn existing(state: &AdminState, id: ContextId) -> Result<ContextRecord, ApiError> {
    Ok(state
        .node
        .context(&id)?
        .ok_or(NodeError::ContextNotFound(id))?)
}

#[utoipa::path(get, path = "/admin-api/contexts/{context_id}", params(("context_id" = ContextId, Path, description = "base58 context id")), security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<GetContextResponse>), (status = 400, description = "bad input", body = ApiErrorResponse), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse), (status = 404, description = "unknown id", body = ApiErrorResponse)))]
async fn get_context(
    State(state): State<AdminState>,
    ContextReader(id): ContextReader,
) -> Reply<GetContextResponse> {
    let record = existing(&state, id)?;
    let sync = match &state.replication {
        Some(replication) => Some(sync_of(replication.sync_state(&id)?)),
        None => None,
    };
    ok(GetContextResponse {
        context: context(&record),
        sync,
    })
}

fn sync_of(state: node::sync::SyncState) -> ContextSync {
    ContextSync {
        shareable: state.shareable,
        root_hash: state.root_hash,
        values_hash: state.values_hash,
        members: state
            .members
            .into_iter()
            .map(|member| MemberSync {
                public_key: member.public_key,
                local: member.local,
                height: member.height,
            })
            .collect(),
        peers: state
            .peers
            .into_iter()
            .map(|peer| PeerSync {
                peer_id: peer.peer_id,
                status: peer.status.to_owned(),
                heads: peer.heads,
                root_hash: peer.root_hash,
                values_hash: peer.values_hash,
                age_ms: peer.age_ms,
            })
            .collect(),
    }
}

#[utoipa::path(post, path = "/admin-api/identity/context", security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<ContextIdentityResponse>), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse)))]
async fn create_identity(
    State(state): State<AdminState>,
    _admin: Admin,
) -> Reply<ContextIdentityResponse> {
    let public_key = blocking(state, |state| Ok(state.node.new_identity()?)).await?;
    ok(ContextIdentityResponse { public_key })
}

#[utoipa::path(post, path = "/admin-api/contexts/invite", request_body = InviteToContextRequest, security(("signing_key" = []), ("bearer" = [])), responses((status = 200, description = "the invitation payload", body = ApiResponse<String>), (status = 400, description = "bad input", body = ApiErrorResponse), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this, or an inviter that is not a member held here", body = ApiErrorResponse), (status = 404, description = "unknown context", body = ApiErrorResponse), (status = 503, description = "this node runs without its network", body = ApiErrorResponse)))]
async fn invite_to_context(
    State(state): State<AdminState>,
    _admin: Admin,
    Body(body): Body<InviteToContextRequest>,
) -> Reply<String> {
    let replication = state.replication()?;
    ok(replication
        .invite(&body.context_id, &body.inviter_id, &body.invitee_id)
        .await?)
}

#[utoipa::path(post, path = "/admin-api/contexts/join", request_body = JoinContextRequest, security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<JoinContextResponse>), (status = 400, description = "not a valid invitation, or one for a key this node does not hold", body = ApiErrorResponse), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse), (status = 503, description = "the inviter's node cannot be reached, or this node runs without its network", body = ApiErrorResponse)))]
async fn join_context(
    State(state): State<AdminState>,
    _admin: Admin,
    Body(body): Body<JoinContextRequest>,
) -> Reply<JoinContextResponse> {
    let replication = state.replication()?;
    let (context_id, member_public_key) = replication.join(&body.invitation_payload).await?;
    ok(JoinContextResponse {
        context_id,
        member_public_key,
    })
}

#[utoipa::path(delete, path = "/admin-api/contexts/{context_id}", params(("context_id" = ContextId, Path, description = "base58 context id")), security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<DeleteContextResponse>), (status = 400, description = "bad input", body = ApiErrorResponse), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse)))]
async fn delete_context(
    State(state): State<AdminState>,
    _admin: Admin,
    PathId(id): PathId<ContextId>,
) -> Reply<DeleteContextResponse> {
    let is_deleted = blocking_on(state, id, move |state| {
        Ok(state.node.delete_context(&id)?)
    })
    .await?;
    ok(DeleteContextResponse { is_deleted })
}

#[utoipa::path(get, path = "/admin-api/contexts/{context_id}/users", params(("context_id" = ContextId, Path, description = "base58 context id")), security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<GetContextUsersResponse>), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse), (status = 404, description = "unknown id", body = ApiErrorResponse)))]
async fn context_users(
    State(state): State<AdminState>,
    _admin: Admin,
    PathId(id): PathId<ContextId>,
) -> Reply<GetContextUsersResponse> {
    let record = existing(&state, id)?;
    let context_users = record
        .members
        .iter()
        .map(|member| ContextUser {
            user_id: member.to_string(),
            joined_at: record.joined_at(member),
        })
        .collect();
    ok(GetContextUsersResponse { context_users })
}

#[utoipa::path(get, path = "/admin-api/contexts/{context_id}/client-keys", params(("context_id" = ContextId, Path, description = "base58 context id")), security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<GetContextClientKeysResponse>), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse), (status = 404, description = "unknown id", body = ApiErrorResponse)))]
async fn context_client_keys(
    State(state): State<AdminState>,
    _admin: Admin,
    PathId(id): PathId<ContextId>,
) -> Reply<GetContextClientKeysResponse> {
    existing(&state, id)?;
    ok(GetContextClientKeysResponse {
        client_keys: state.auth.client_keys_of(&id)?,
    })
}

#[utoipa::path(get, path = "/admin-api/contexts/{context_id}/storage", params(("context_id" = ContextId, Path, description = "base58 context id")), security(("signing_key" = []), ("bearer" = [])), responses((status = 200, body = ApiResponse<GetContextStorageResponse>), (status = 401, description = "no valid credentials", body = ApiErrorResponse), (status = 403, description = "credentials that may not do this (see the authorization table)", body = ApiErrorResponse), (status = 404, description = "unknown id", body = ApiErrorResponse)))]
async fn context_storage(
    State(state): State<AdminState>,
    _admin: Admin,
    PathId(id): PathId<ContextId>,
) -> Reply<GetContextStorageResponse> {
    ok(GetContextStorageResponse {
        size_in_bytes: state.node.storage_size(&id)?,
    })
}

//! The layer every request passes ([`edge_layer`]: request id, head size
//! (`431`), tracing span, dev-route guard, body read deadline, request
//! metrics, the log line of a failure that is the node's own); and the
//! `/metrics` route.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http_body::Body as _;
use node::InternalDetail;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use server_primitives::admin::ApiErrorResponse;
use tracing::Instrument;

use crate::Limits;

/// The largest body any endpoint accepts (JSON-RPC's); each route applies
/// its own, smaller or equal, limit after this one.
const MAX_BODY: usize = 1024 * 1024;

/// The most bytes of request line and headers (names, values and their
/// separators) a request may carry; past it, `431`. Larger heads than the
/// connection's read buffer ([`crate::listen`]) are refused before parsing.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The header that carries a request's id, both ways.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller-chosen request id kept; longer ones are replaced.
const MAX_REQUEST_ID: usize = 128;

/// Media type of the OpenMetrics text exposition format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

/// What the request layer measures. Clones share the same values.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    requests: Family<RequestLabels, Counter>,
    seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    body_timeouts: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            seconds: Family::new_with_constructor(node::latency_histogram),
            body_timeouts: Counter::default(),
        }
    }
}

impl Metrics {
    /// Counts an answered request and its latency.
    fn observe(&self, method: &'static str, route: String, status: StatusCode, took: Duration) {
        let labels = RouteLabels { method, route };
        self.seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: labels.route,
                status: status.as_u16(),
            })
            .inc();
    }

    /// Adds these metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route (the route's pattern, or \
             `unmatched`) and status",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's headers to its response's headers, by method and route",
            Unit::Seconds,
            self.seconds.clone(),
        );
        registry.register(
            "http_body_timeouts",
            "Requests refused with 408 because their body did not arrive in time",
            self.body_timeouts.clone(),
        );
    }
}

/// A bounded label for a request method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Request ids: a random prefix per server start, then a counter, so ids
/// are unique across restarts and cheap to make.
#[derive(Debug, Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        let mut bytes = [0u8; 4];
        // Without randomness the ids are still unique within this run.
        let _ = getrandom::fill(&mut bytes);
        Self {
            prefix: format!("{:08x}", u32::from_be_bytes(bytes)).into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }

    fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::try_from(format!("{}-{n}", self.prefix))
            .unwrap_or_else(|_| HeaderValue::from_static("unnamed"))
    }
}

/// The request's id: the caller's, when it sent a short printable one, or
/// a new one, set on the request for the layers and handlers within.
fn request_id(ids: &RequestIds, request: &mut Request) -> HeaderValue {
    let given = request.headers().get(&REQUEST_ID).filter(|value| {
        value.len() <= MAX_REQUEST_ID && value.as_bytes().iter().all(u8::is_ascii_graphic)
    });
    match given {
        Some(value) => value.clone(),
        None => {
            let id = ids.next();
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    }
}

/// What the edge layer needs, shared by every request.
#[derive(Debug)]
struct Edge {
    ids: RequestIds,
    metrics: Metrics,
    /// The node listens on a loopback address (see [`guard_dev_routes`]).
    loopback: bool,
    body_read_timeout: Duration,
}

/// Wraps `router` in the layer every request passes. `loopback` says the
/// node listens on a loopback address (see [`guard_dev_routes`]).
pub(crate) fn layers(router: Router, limits: &Limits, metrics: Metrics, loopback: bool) -> Router {
    let edge = Edge {
        ids: RequestIds::new(),
        metrics,
        loopback,
        body_read_timeout: limits.body_read_timeout,
    };
    router.layer(from_fn_with_state(Arc::new(edge), edge_layer))
}

/// The layer every request passes, in this order: its id (echoed on the
/// response), the head size check (`431`), a `debug` span, the dev-route
/// guard (`403`), the body read deadline and size limit (`408`, `413`);
/// then the request is counted and timed under its route's pattern, and a
/// failure that is the node's own is logged once, with its detail.
///
/// One layer rather than one per concern: each layer is a service the
/// router clones for every request.
async fn edge_layer(State(edge): State<Arc<Edge>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&edge.ids, &mut request);
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let id_text = id.to_str().unwrap_or("");
    let span = span(&request, id_text);
    let mut response = admit(&edge, request, next).instrument(span).await;
    let status = response.status();
    if let Some(InternalDetail(detail)) = response.extensions_mut().remove::<InternalDetail>() {
        tracing::error!(id = id_text, method, route, %detail, "internal error");
    } else if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        tracing::warn!(id = id_text, method, route, %status, "request failed");
    }
    edge.metrics
        .observe(method, route, status, started.elapsed());
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// The checks before the handler: head size, dev-route guard, body.
async fn admit(edge: &Edge, request: Request, next: Next) -> Response {
    let size = head_size(&request);
    if size > MAX_HEADER_BYTES {
        return refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request line and headers take {size} bytes; at most {MAX_HEADER_BYTES} are accepted"
            ),
        );
    }
    if let Some(reason) = guard_dev_routes(&request, edge.loopback) {
        return refuse(StatusCode::FORBIDDEN, reason);
    }
    read_body_in_time(edge.body_read_timeout, &edge.metrics, request, next).await
}

fn span(request: &Request, id: &str) -> tracing::Span {
    tracing::debug_span!(
        "request",
        id,
        method = %request.method(),
        path = request.uri().path(),
        peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| tracing::field::display(*peer)),
    )
}

/// Bytes of a request's head as it came on the wire: request line and headers.
fn head_size(request: &Request) -> usize {
    let uri = request.uri();
    // The target as sent: origin form (path and query), or absolute form.
    let target = (uri
        .path_and_query()
        .map_or(0, |target| target.as_str().len())
        + uri.scheme_str().map_or(0, |scheme| scheme.len() + 3)
        + uri
            .authority()
            .map_or(0, |authority| authority.as_str().len()))
    .max(1);
    let line = request.method().as_str().len() + target + 11;
    request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + line
}

/// Whether `path` is one of the unauthenticated dev routes.
fn is_dev_route(path: &str) -> bool {
    path.starts_with("/admin-api/dev/") || path == "/jsonrpc/dev"
}

/// Whether a `Host` or `Origin` host names this machine: a loopback address,
/// `localhost`, or a name under `.localhost` (which browsers resolve to
/// loopback themselves).
fn is_loopback_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Keeps the unauthenticated dev routes for this machine's own programs:
/// a browser page from another origin (`Origin` not on loopback) is refused,
/// and so, on a node listening on loopback, is a request addressed to another
/// host name (a DNS rebinding attack), both with `403`. The reason, if it is.
fn guard_dev_routes(request: &Request, loopback: bool) -> Option<String> {
    if is_dev_route(request.uri().path()) {
        dev_route_refusal(request.headers(), loopback)
    } else {
        None
    }
}

/// Why a dev route request with these headers is refused, if it is.
fn dev_route_refusal(headers: &HeaderMap, loopback: bool) -> Option<String> {
    let text = |name: HeaderName| headers.get(name).map(|value| value.to_str().unwrap_or(""));
    if let Some(origin) = text(header::ORIGIN) {
        let local = origin
            .parse::<Uri>()
            .is_ok_and(|uri| uri.host().is_some_and(is_loopback_host));
        if !local {
            return Some(format!(
                "dev routes answer pages served from this machine only, not from origin {origin:?}"
            ));
        }
    }
    if loopback {
        let local = text(header::HOST).is_some_and(|host| {
            host.parse::<Authority>()
                .is_ok_and(|authority| is_loopback_host(authority.host()))
        });
        if !local {
            return Some(
                "dev routes answer requests addressed to a loopback host (127.0.0.1, [::1] or localhost) only"
                    .to_owned(),
            );
        }
    }
    None
}

fn refuse(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(ApiErrorResponse::new(status.as_u16(), message)),
    )
        .into_response()
}

/// Reads the request's body within `timeout` (`408` otherwise) and at most
/// [`MAX_BODY`] bytes of it (`413` otherwise), so a slow sender cannot hold a
/// connection and a handler never waits on the network.
async fn read_body_in_time(
    timeout: Duration,
    metrics: &Metrics,
    request: Request,
    next: Next,
) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (method, path) = server_admin::UPLOAD_ROUTE;
    if request.method() == method && request.uri().path() == path {
        // Read by its handler after authentication, under the same deadline.
        let expires = Box::pin(tokio::time::sleep(timeout));
        return next
            .run(request.map(|inner| Body::new(Deadline { inner, expires })))
            .await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY as u64) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request bodies are limited to {MAX_BODY} bytes"),
        );
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(err)) => {
            let error = err.into_inner();
            if error.is::<http_body_util::LengthLimitError>() {
                refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request bodies are limited to {MAX_BODY} bytes"),
                )
            } else {
                refuse(
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body failed: {error}"),
                )
            }
        }
        Err(_) => {
            metrics.body_timeouts.inc();
            refuse(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} ms",
                    timeout.as_millis()
                ),
            )
        }
    }
}

/// A body that fails once its read deadline has passed.
struct Deadline {
    inner: Body,
    expires: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Deadline {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.expires.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Some(Err(axum::Error::new(
                server_admin::BODY_DEADLINE,
            ))));
        }
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// `GET /metrics`: every registered metric in the OpenMetrics text format.
pub(crate) fn metrics_router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(exposition))
        .with_state(registry)
}

async fn exposition(State(registry): State<Arc<Registry>>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(err) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the metrics failed: {err}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_str(value).expect("value")))
            .collect()
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "127.0.0.1",
            "127.8.9.10",
            "[::1]",
            "localhost",
            "LocalHost",
            "app.localhost",
            "localhost.",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "[::2]",
            "example.com",
            "localhost.example.com",
            "notlocalhost",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn dev_routes_refuse_foreign_origins_and_rebound_hosts() {
        let host = |value| (header::HOST, value);
        let origin = |value| (header::ORIGIN, value);
        let allowed: [&[(HeaderName, &str)]; 4] = [
            &[host("127.0.0.1:2528")],
            &[host("localhost:2528"), origin("http://localhost:3000")],
            &[host("[::1]:2528"), origin("http://127.0.0.1:5173")],
            &[host("app.localhost")],
        ];
        for pairs in allowed {
            assert_eq!(dev_route_refusal(&headers(pairs), true), None, "{pairs:?}");
        }
        let refused: [&[(HeaderName, &str)]; 5] = [
            &[host("127.0.0.1:2528"), origin("https://example.com")],
            &[host("127.0.0.1:2528"), origin("null")],
            &[host("rebound.example.com:2528")],
            &[host("10.1.2.3:2528")],
            &[],
        ];
        for pairs in refused {
            assert!(
                dev_route_refusal(&headers(pairs), true).is_some(),
                "{pairs:?}"
            );
        }
        // A node that listens publicly with dev routes on has opted in to any
        // host name; foreign pages are still refused.
        assert_eq!(
            dev_route_refusal(&headers(&[host("node.example.com")]), false),
            None
        );
        assert!(
            dev_route_refusal(
                &headers(&[host("node.example.com"), origin("https://example.com")]),
                false
            )
            .is_some()
        );
    }

    #[test]
    fn only_dev_routes_are_guarded() {
        assert!(is_dev_route("/admin-api/dev/contexts"));
        assert!(is_dev_route("/jsonrpc/dev"));
        assert!(!is_dev_route("/admin-api/contexts"));
        assert!(!is_dev_route("/jsonrpc"));
        assert!(!is_dev_route("/admin-api/developer"));
    }

    /// Log lines written while it lives, for a test on this thread.
    struct CapturedLogs {
        lines: Arc<std::sync::Mutex<Vec<u8>>>,
        _default: tracing::subscriber::DefaultGuard,
    }

    impl CapturedLogs {
        fn start() -> Self {
            let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
            let sink = lines.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .with_writer(move || Sink(sink.clone()))
                .finish();
            Self {
                lines,
                _default: tracing::subscriber::set_default(subscriber),
            }
        }

        fn text(&self) -> String {
            String::from_utf8_lossy(&self.lines.lock().expect("logs")).into_owned()
        }
    }

    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("logs").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_internal_error_is_logged_once_with_its_request_and_kept_from_the_client() {
        use tower::ServiceExt as _;

        let logs = CapturedLogs::start();
        let router = Router::new().route(
            "/boom",
            get(|| async { server_admin::ApiError::internal("the disk is on fire") }),
        );
        let app = layers(router, &Limits::default(), Metrics::default(), true);
        let response = app
            .oneshot(
                axum::http::Request::get("/boom")
                    .header(REQUEST_ID, "req-7")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[&REQUEST_ID], "req-7");
        assert!(response.extensions().get::<InternalDetail>().is_none());
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("internal error"), "{body}");
        assert!(
            !body.contains("disk"),
            "the detail reached the client: {body}"
        );

        let text = logs.text();
        let lines: Vec<&str> = text.lines().filter(|line| line.contains("disk")).collect();
        assert_eq!(lines.len(), 1, "{text}");
        for part in ["ERROR", "req-7", "/boom", "GET"] {
            assert!(lines[0].contains(part), "{part} missing: {}", lines[0]);
        }
    }
}

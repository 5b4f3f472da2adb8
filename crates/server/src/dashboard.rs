//! The admin dashboard at `/admin-dashboard/`: a page, a script and a style
//! sheet, embedded in the binary, with no build step. The page talks to the
//! same node's admin API, JSON-RPC and `/ws` like any other client; it
//! holds no privilege of its own.
//!
//! Every file is served with a content security policy that allows only
//! these files' own script and style and connections back to this node, so
//! that text from the API (context ids, app output, error messages) can
//! never run as script, and no other site may frame the page.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Where the dashboard is served.
pub const PATH: &str = "/admin-dashboard/";

const INDEX: &str = include_str!("../dashboard/index.html");
const SCRIPT: &str = include_str!("../dashboard/app.js");
const STYLE: &str = include_str!("../dashboard/style.css");

/// Only this node's own files and connections; no framing.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes.
pub(crate) fn router() -> Router {
    Router::new()
        .route(
            "/admin-dashboard",
            get(|| async { Redirect::permanent(PATH) }),
        )
        .route(
            PATH,
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/admin-dashboard/app.js",
            get(|| async { file("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/admin-dashboard/style.css",
            get(|| async { file("text/css; charset=utf-8", STYLE) }),
        )
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

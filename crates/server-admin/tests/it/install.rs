//! Installing an application by URL: streamed, size-capped, hash-checked.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use node::NodeConfig;
use node_primitives::Hash;
use reqwest::StatusCode;
use serde_json::json;
use server_admin::AdminConfig;
use test_utils::wallet::ClientKey;

use crate::support::{As, NOBODY, Served, assert_error, serve, serve_configured, serve_with};

/// Serves the kv-store app at `/app.wasm` on loopback; stops with the test.
async fn file_server() -> String {
    let wasm = test_utils::built_app("kv-store");
    let app = Router::new().route("/app.wasm", get(move || async move { wasm.clone() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

async fn logged_in(served: &Served) -> ClientKey {
    let client = ClientKey::from_seed_byte(0x03);
    served.login(&client).await;
    client
}

#[tokio::test]
async fn installs_by_url_when_the_hash_matches() {
    let served = serve().await;
    let client = logged_in(&served).await;
    let headers = As::Client(&client);
    let base = file_server().await;
    let hash = Hash::digest(test_utils::built_app("kv-store"));
    let request = json!({"url": format!("{base}/app.wasm"), "hash": hash, "metadata": [7]});

    let (status, body) = served
        .post("/install-application", request.clone(), &NOBODY)
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = served.post("/install-application", request, &headers).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["applicationId"], json!(hash));
    let (_, body) = served.get("/applications", &headers).await;
    assert_eq!(
        body["data"]["apps"][0]["source"],
        format!("{base}/app.wasm")
    );
}

#[tokio::test]
async fn a_mismatch_or_a_failed_download_installs_nothing() {
    let served = serve().await;
    let client = logged_in(&served).await;
    let headers = As::Client(&client);
    let base = file_server().await;
    let wrong = Hash::digest(b"something else");
    let (status, body) = served
        .post(
            "/install-application",
            json!({"url": format!("{base}/app.wasm"), "hash": wrong}),
            &headers,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("hash mismatch")
    );
    let (status, body) = served
        .post(
            "/install-application",
            json!({"url": format!("{base}/missing.wasm"), "hash": wrong}),
            &headers,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_GATEWAY);
    let (status, body) = served
        .post(
            "/install-application",
            json!({"url": "ftp://127.0.0.1/app.wasm"}),
            &headers,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = served
        .post(
            "/install-application",
            json!({"url": "not a url"}),
            &headers,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (_, body) = served.get("/applications", &headers).await;
    assert_eq!(body["data"]["apps"], json!([]));
}

#[tokio::test]
async fn downloads_over_the_size_cap_are_refused() {
    let served = serve_with(
        true,
        NodeConfig {
            max_application_size: 1000,
            ..NodeConfig::default()
        },
    )
    .await;
    let client = logged_in(&served).await;
    let headers = As::Client(&client);
    let base = file_server().await;
    let hash = Hash::digest(test_utils::built_app("kv-store"));
    let (status, body) = served
        .post(
            "/install-application",
            json!({"url": format!("{base}/app.wasm"), "hash": hash}),
            &headers,
        )
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = served
        .post(
            "/dev/install-application",
            json!({"path": test_utils::built_app_path("kv-store")}),
            &NOBODY,
        )
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn dev_routes_can_be_turned_off() {
    let served = serve_with(false, NodeConfig::default()).await;
    for path in ["/dev/applications", "/dev/contexts"] {
        let (status, body) = served.get(path, &NOBODY).await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
    }
    let (status, _) = served.get("/health", &NOBODY).await;
    assert_eq!(status, StatusCode::OK);
}

/// A loopback server that counts the requests reaching it, and redirects
/// `/away` to `to`.
async fn counting_server(to: String) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new()
        .route("/app.wasm", get(|| async { "not wasm" }))
        .route(
            "/away",
            get(move || async move { axum::response::Redirect::temporary(&to) }),
        )
        .route(
            "/loop",
            get(|| async { axum::response::Redirect::temporary("/loop") }),
        )
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    next.run(request).await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), hits)
}

#[tokio::test]
async fn the_node_s_own_network_is_refused_before_any_request() {
    let served = serve_configured(AdminConfig::default(), NodeConfig::default()).await;
    let client = logged_in(&served).await;
    let headers = As::Client(&client);
    let (base, hits) = counting_server(String::new()).await;
    let port = base.rsplit(':').next().expect("port");
    let hash = Hash::digest(b"anything");
    for url in [
        format!("{base}/app.wasm"),
        format!("http://localhost:{port}/app.wasm"),
        format!("http://[::ffff:127.0.0.1]:{port}/app.wasm"),
        format!("http://0.0.0.0:{port}/app.wasm"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://10.0.0.1/app.wasm".to_owned(),
    ] {
        let (status, body) = served
            .post(
                "/install-application",
                json!({"url": url, "hash": hash}),
                &headers,
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST);
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("address") && message.contains("install_allow_private_hosts"),
            "{url}: {message}"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a request reached the loopback server"
    );

    // Without a hash, only https.
    let (status, body) = served
        .post(
            "/install-application",
            json!({"url": "http://example.com/app.wasm"}),
            &headers,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("hash")),
        "{body}"
    );
}

#[tokio::test]
async fn redirects_are_followed_five_times_at_most() {
    let served = serve().await;
    let client = logged_in(&served).await;
    let headers = As::Client(&client);
    let (target, target_hits) = counting_server(String::new()).await;
    let (base, hits) = counting_server(format!("{target}/app.wasm")).await;
    let hash = Hash::digest(b"not wasm");
    let (status, body) = served
        .post(
            "/install-application",
            json!({"url": format!("{base}/away"), "hash": hash}),
            &headers,
        )
        .await;
    // Followed (loopback is allowed on this node) to a body that is no app.
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        body.to_string().contains("not a valid wasm module"),
        "{body}"
    );
    assert_eq!(
        (
            hits.load(Ordering::SeqCst),
            target_hits.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
    let (status, body) = served
        .post(
            "/install-application",
            json!({"url": format!("{base}/loop"), "hash": hash}),
            &headers,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("more than 5 redirects"), "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), 1 + 6);
}

//! Health, errors, login, keys, the DID and tokens.

use reqwest::{Method, StatusCode};
use serde_json::json;
use server_primitives::auth::NodeChallenge;
use test_utils::wallet::{ClientKey, EthWallet};

use crate::support::{As, NOBODY, assert_error, bearer, serve, tokens};

#[tokio::test]
async fn health_and_error_envelopes() {
    let served = serve().await;
    let (status, body) = served.get("/health", &NOBODY).await;
    let node_id = served.auth.identity().public_key().to_string();
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"data": {"status": "alive", "nodeId": node_id, "version": env!("CARGO_PKG_VERSION")}})
        )
    );
    let (status, body) = served.get("/no-such-route", &NOBODY).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = served.send(Method::DELETE, "/health", None, &NOBODY).await;
    assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED);

    let url = served.url("/request-challenge");
    let response = served
        .http
        .post(&url)
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = served
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, body) = served
        .post(
            "/request-challenge",
            json!({"contextId": "not-an-id"}),
            &NOBODY,
        )
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let big = "x".repeat(100 * 1024);
    let (status, body) = served
        .post("/request-challenge", json!({"padding": big}), &NOBODY)
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn first_login_becomes_root_and_protects_the_node() {
    let served = serve().await;
    let client = ClientKey::from_seed_byte(0x03);
    let headers = As::Client(&client);

    let (status, body) = served.get("/did", &headers).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = served.get("/did", &NOBODY).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    let (status, body) = served.login(&client).await;
    assert_eq!(
        (status, &body),
        (StatusCode::OK, &json!({"data": "Client key stored"}))
    );
    let (status, body) = served.get("/did", &headers).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let did = &body["data"]["did"];
    assert_eq!(did["id"], "did:cali");
    assert_eq!(did["root_keys"].as_array().expect("roots").len(), 1);
    assert_eq!(did["client_keys"][0]["signingKey"], client.public_key());

    // A replayed login is refused; another wallet is not root.
    let stranger = ClientKey::from_seed_byte(0x06);
    let (status, challenge) = served.post("/request-challenge", json!({}), &NOBODY).await;
    assert_eq!(status, StatusCode::OK);
    let challenge: NodeChallenge =
        serde_json::from_value(challenge["data"].clone()).expect("challenge");
    let eth = EthWallet::from_seed_byte(0x04).login(&challenge, &stranger);
    let (status, body) = served
        .post(
            "/add-client-key",
            serde_json::to_value(&eth).expect("json"),
            &NOBODY,
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    // Signed by a root client key, the same login adds the ETH wallet as root.
    let (status, body) = served
        .post(
            "/root-key",
            serde_json::to_value(&eth).expect("json"),
            &headers,
        )
        .await;
    assert_eq!(
        (status, &body),
        (StatusCode::OK, &json!({"data": "Root key stored"}))
    );
    let (status, body) = served
        .post(
            "/root-key",
            serde_json::to_value(&eth).expect("json"),
            &headers,
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    // An unregistered client key, even signing correctly, is refused.
    let (status, body) = served.get("/did", &As::Client(&stranger)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    let (status, body) = served
        .send(Method::DELETE, "/identity/keys", None, &headers)
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"data": {}})));
    let (status, body) = served.get("/did", &headers).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tokens_authenticate_and_rotate() {
    let served = serve().await;
    let client = ClientKey::from_seed_byte(0x03);
    served.login(&client).await;
    let headers = As::Client(&client);
    let app = served
        .node
        .install_application(&test_utils::built_app("kv-store"), "test", b"")
        .expect("installs");
    let (context, member) = served.node.create_context(&app.id, b"").expect("context");
    let request = json!({"contextId": context.id, "executorPublicKey": member});

    let (status, body) = served
        .post("/generate-jwt-token", request.clone(), &NOBODY)
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = served.post("/generate-jwt-token", request, &headers).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, refresh) = tokens(&body);

    let bearer = bearer(&access);
    let (status, body) = served
        .get(&format!("/contexts/{}", context.id), &bearer)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = served.get("/did", &bearer).await;
    assert_error(status, &body, StatusCode::FORBIDDEN);

    let (status, body) = served
        .post(
            "/refresh-jwt-token",
            json!({"refreshToken": refresh}),
            &NOBODY,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = served
        .post(
            "/refresh-jwt-token",
            json!({"refreshToken": refresh}),
            &NOBODY,
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = served
        .post(
            "/generate-jwt-token",
            json!({"contextId": "11111111111111111111111111111111", "executorPublicKey": member}),
            &headers,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cors_preflights_are_answered_before_auth() {
    let served = serve().await;
    let response = served
        .http
        .request(Method::OPTIONS, served.url("/did"))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "signing_key,signature")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let (status, _) = served
        .get(
            "/health",
            &As::Headers(vec![(
                "origin".to_owned(),
                "http://example.test".to_owned(),
            )]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn every_protected_route_refuses_unauthenticated_callers() {
    let served = serve().await;
    let id = "9YxHobM9hKQFzHHjg3FDtXmCreJWS7Epe1gG1t4jodi";
    let routes = [
        (Method::POST, "/root-key".to_owned(), Some(json!({}))),
        (Method::GET, "/did".to_owned(), None),
        (Method::DELETE, "/identity/keys".to_owned(), None),
        (
            Method::POST,
            "/generate-jwt-token".to_owned(),
            Some(json!({})),
        ),
        (Method::GET, "/applications".to_owned(), None),
        (
            Method::POST,
            "/install-application".to_owned(),
            Some(json!({"url": "http://127.0.0.1/app.wasm"})),
        ),
        (Method::GET, "/contexts".to_owned(), None),
        (
            Method::POST,
            "/contexts".to_owned(),
            Some(json!({"applicationId": id})),
        ),
        (Method::GET, format!("/contexts/{id}"), None),
        (Method::DELETE, format!("/contexts/{id}"), None),
        (Method::GET, format!("/contexts/{id}/users"), None),
        (Method::GET, format!("/contexts/{id}/client-keys"), None),
        (Method::GET, format!("/contexts/{id}/storage"), None),
    ];
    let forger = ClientKey::from_seed_byte(0x09);
    let forged = As::Client(&forger);
    for (method, path, body) in routes {
        let (status, reply) = served
            .send(method.clone(), &path, body.clone(), &NOBODY)
            .await;
        assert_error(status, &reply, StatusCode::UNAUTHORIZED);
        let (status, reply) = served.send(method.clone(), &path, body, &forged).await;
        assert_error(status, &reply, StatusCode::UNAUTHORIZED);
        assert!(
            !reply
                .to_string()
                .contains("registered client key is invalid"),
            "{method} {path}: {reply}"
        );
    }
}

#[tokio::test]
async fn login_bodies_of_the_wrong_shape_are_422() {
    let served = serve().await;
    for path in ["/add-client-key", "/refresh-jwt-token"] {
        let (status, body) = served
            .post(path, json!({"walletSignature": 5}), &NOBODY)
            .await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let unknown = "9YxHobM9hKQFzHHjg3FDtXmCreJWS7Epe1gG1t4jodi";
    let client = ClientKey::from_seed_byte(0x03);
    served.login(&client).await;
    let (status, body) = served
        .get(
            &format!("/contexts/{unknown}/client-keys"),
            &As::Client(&client),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

//! Dev install, applications, contexts, users, client keys and storage.

use reqwest::{Method, StatusCode};
use serde_json::json;
use test_utils::wallet::ClientKey;

use crate::support::{As, NOBODY, assert_error, serve};

#[tokio::test]
async fn install_create_inspect_and_delete_a_context() {
    let served = serve().await;
    let client = ClientKey::from_seed_byte(0x03);
    served.login(&client).await;
    let headers = As::Client(&client);

    let path = test_utils::built_app_path("kv-store");
    let (status, body) = served
        .post(
            "/dev/install-application",
            json!({"path": path, "metadata": [1, 2]}),
            &NOBODY,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let app_id = body["data"]["applicationId"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, body) = served.get("/applications", &headers).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["apps"][0]["id"], app_id.as_str());
    assert_eq!(body["data"]["apps"][0]["metadata"], json!([1, 2]));
    let (status, body) = served.get("/applications", &NOBODY).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    let (status, body) = served
        .post("/contexts", json!({"applicationId": app_id}), &headers)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let context = body["data"]["context"].clone();
    let id = context["id"].as_str().expect("id").to_owned();
    assert_ne!(
        context["rootHash"], "11111111111111111111111111111111",
        "init committed"
    );
    let member = body["data"]["memberPublicKey"].clone();

    let (status, body) = served.get(&format!("/contexts/{id}"), &headers).await;
    assert_eq!(
        (status, &body["data"]["context"]),
        (StatusCode::OK, &context)
    );
    let (status, body) = served.get("/dev/contexts", &NOBODY).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["contexts"].as_array().expect("list").len(), 1);
    let (status, body) = served.get(&format!("/contexts/{id}/users"), &headers).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["contextUsers"][0]["userId"], member);
    let (status, body) = served
        .get(&format!("/contexts/{id}/client-keys"), &headers)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"data": {"clientKeys": []}}))
    );

    let (status, body) = served
        .get(&format!("/contexts/{id}/storage"), &headers)
        .await;
    assert_eq!(status, StatusCode::OK);
    let before = body["data"]["sizeInBytes"].as_u64().expect("size");
    assert!(before > 0);
    let context_id = id.parse().expect("id");
    served
        .node
        .mutate(
            &context_id,
            "set",
            br#"{"key":"greeting","value":"hello"}"#,
            None,
        )
        .expect("set");
    let (_, body) = served
        .get(&format!("/contexts/{id}/storage"), &headers)
        .await;
    let after = body["data"]["sizeInBytes"].as_u64().expect("size");
    assert_eq!(after, served.node.storage_size(&context_id).expect("size"));
    assert!(after > before, "{before} -> {after}");

    let (status, body) = served
        .send(Method::DELETE, &format!("/contexts/{id}"), None, &headers)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"data": {"isDeleted": true}}))
    );
    let (status, body) = served
        .send(Method::DELETE, &format!("/contexts/{id}"), None, &headers)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"data": {"isDeleted": false}}))
    );
    let (status, body) = served.get(&format!("/contexts/{id}"), &headers).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_ids_paths_and_applications_are_typed_errors() {
    let served = serve().await;
    let client = ClientKey::from_seed_byte(0x03);
    served.login(&client).await;
    let headers = As::Client(&client);

    for path in [
        "/contexts/not-base58!",
        "/contexts/abc/storage",
        "/contexts/0OIl/users",
    ] {
        let (status, body) = served.get(path, &headers).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST);
    }
    let unknown = "9YxHobM9hKQFzHHjg3FDtXmCreJWS7Epe1gG1t4jodi";
    for path in [
        format!("/contexts/{unknown}"),
        format!("/contexts/{unknown}/storage"),
        format!("/contexts/{unknown}/users"),
    ] {
        let (status, body) = served.get(&path, &headers).await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
    }
    let (status, body) = served
        .post("/dev/contexts", json!({"applicationId": unknown}), &NOBODY)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = served
        .post(
            "/dev/install-application",
            json!({"path": "/no/such/app.wasm"}),
            &NOBODY,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = served
        .post(
            "/dev/install-application",
            json!({"path": "relative.wasm"}),
            &NOBODY,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let not_wasm = tempfile::NamedTempFile::new().expect("file");
    std::fs::write(not_wasm.path(), b"not wasm").expect("write");
    let (status, body) = served
        .post(
            "/dev/install-application",
            json!({"path": not_wasm.path()}),
            &NOBODY,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = served
        .post("/dev/install-application", json!({"metadata": []}), &NOBODY)
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

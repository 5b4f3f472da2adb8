//! Credentials that cannot be replayed or kept: signed headers expire and
//! name their node and request, tokens are minted for members only and die
//! with the keys they were minted under.

use node_primitives::{ContextId, PublicKey};
use reqwest::{Method, StatusCode};
use serde_json::json;
use test_utils::wallet::{ClientKey, NearWallet};

use crate::support::{As, Served, assert_error, bearer, serve, tokens};

/// A context of the kv-store app and its creator.
fn context(served: &Served) -> (ContextId, PublicKey) {
    let app = served
        .node
        .install_application(&test_utils::built_app("kv-store"), "test", b"")
        .expect("installs");
    let (record, member) = served.node.create_context(&app.id, b"").expect("context");
    (record.id, member)
}

#[tokio::test]
async fn a_header_set_replayed_ten_minutes_later_is_refused() {
    let served = serve().await;
    let admin = ClientKey::from_seed_byte(0x03);
    served.login(&admin).await;
    let node = served.auth.identity().public_key();
    let captured = admin.auth_headers_at(node, "GET", "/admin-api/did", served.clock.secs(), None);
    let (status, body) = served.get("/did", &As::Headers(captured.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A header set is used once.
    let (status, body) = served.get("/did", &As::Headers(captured.clone())).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    // The same set on another route, or one signed for another node.
    let (status, body) = served
        .send(
            Method::DELETE,
            "/identity/keys",
            None,
            &As::Headers(captured.clone()),
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let elsewhere = admin.auth_headers_at(
        PublicKey::from_bytes([1; 32]),
        "GET",
        "/admin-api/did",
        served.clock.secs(),
        None,
    );
    let (status, body) = served.get("/did", &As::Headers(elsewhere)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);

    served.clock.advance_secs(10 * 60);
    let (status, body) = served.get("/did", &As::Headers(captured)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    // A fresh set at the new time works.
    let (status, body) = served.get("/did", &As::Client(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn tokens_are_minted_for_members_only() {
    let served = serve().await;
    let admin = ClientKey::from_seed_byte(0x03);
    served.login(&admin).await;
    let (context, member) = context(&served);
    let stranger = PublicKey::from_bytes([9; 32]);
    let (status, body) = served
        .post(
            "/generate-jwt-token",
            json!({"contextId": context, "executorPublicKey": stranger}),
            &As::Client(&admin),
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("not a member")),
        "{body}"
    );
    let (status, body) = served
        .post(
            "/generate-jwt-token",
            json!({"contextId": context, "executorPublicKey": member}),
            &As::Client(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_key_registered_for_a_context_becomes_its_member() {
    let served = serve().await;
    let admin = ClientKey::from_seed_byte(0x03);
    served.login(&admin).await;
    let (context, _) = context(&served);
    let bound = ClientKey::from_seed_byte(0x05);
    let missing = ContextId::from_bytes([7; 32]);
    let (status, body) = served.login_for(&bound, Some(missing)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND);
    // Only a root wallet's valid login learns whether a context exists.
    for (wallet, expected) in [
        (0x02, StatusCode::UNAUTHORIZED),
        (0x09, StatusCode::FORBIDDEN),
    ] {
        let (_, challenge) = served
            .post(
                "/request-challenge",
                json!({"contextId": missing}),
                &As::Nobody,
            )
            .await;
        let challenge: server_primitives::auth::NodeChallenge =
            serde_json::from_value(challenge["data"].clone()).expect("challenge");
        let mut login =
            NearWallet::from_seed_byte(wallet).login(&challenge, &bound, "calimero-node");
        if wallet == 0x02 {
            login.payload.message.message.push(' ');
        }
        let (status, body) = served
            .post(
                "/add-client-key",
                serde_json::to_value(login).expect("json"),
                &As::Nobody,
            )
            .await;
        assert_error(status, &body, expected);
    }
    let (status, body) = served.login_for(&bound, Some(context)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let members = served
        .node
        .context(&context)
        .expect("read")
        .expect("exists")
        .members;
    assert!(members.contains(&bound.executor()), "{members:?}");
    // Registered for one context, the key cannot be re-registered for none.
    let (status, body) = served.login(&bound).await;
    assert_error(status, &body, StatusCode::CONFLICT);
    // It reads its own context, and nothing of the node's administration.
    let (status, body) = served
        .get(&format!("/contexts/{context}"), &As::Client(&bound))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = served
        .send(Method::DELETE, "/identity/keys", None, &As::Client(&bound))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = served.get("/did", &As::Client(&admin)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the keys are all still there: {body}"
    );
    assert_eq!(
        body["data"]["did"]["client_keys"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn tokens_die_with_the_keys_they_were_minted_under() {
    let served = serve().await;
    let admin = ClientKey::from_seed_byte(0x03);
    let minter = ClientKey::from_seed_byte(0x07);
    served.login(&admin).await;
    served.login(&minter).await;
    let (context, member) = context(&served);
    let request = json!({"contextId": context, "executorPublicKey": member});
    let (status, body) = served
        .post("/generate-jwt-token", request.clone(), &As::Client(&minter))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, refresh) = tokens(&body);
    let own = format!("/contexts/{context}");
    let (status, _) = served.get(&own, &bearer(&access)).await;
    assert_eq!(status, StatusCode::OK);

    // The administrator deletes the minting key: its tokens stop at once.
    let (status, body) = served
        .send(
            Method::DELETE,
            &format!("/identity/keys/{}", minter.public_key()),
            None,
            &As::Client(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = served.get(&own, &bearer(&access)).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = served
        .post(
            "/refresh-jwt-token",
            json!({"refreshToken": refresh}),
            &As::Nobody,
        )
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = served
        .send(
            Method::DELETE,
            &format!("/identity/keys/{}", minter.public_key()),
            None,
            &As::Client(&admin),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND);

    // Registered again, the key does not bring its old tokens back.
    served.login(&minter).await;
    let (status, _) = served.get(&own, &bearer(&access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Deleting every key ends the administrator's own tokens too.
    let (status, body) = served
        .post("/generate-jwt-token", request, &As::Client(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, _) = tokens(&body);
    let (status, _) = served
        .send(Method::DELETE, "/identity/keys", None, &As::Client(&admin))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = served.get(&own, &bearer(&access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

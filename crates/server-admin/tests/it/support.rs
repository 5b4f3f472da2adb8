//! A served admin API and a client for it.

use std::net::SocketAddr;
use std::sync::Arc;

use node::{Node, NodeConfig};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use server_admin::{AdminConfig, AdminState, load_authenticator, router};
use server_auth::{AuthConfig, Authenticator};
use server_primitives::auth::NodeChallenge;
use tempfile::TempDir;
use test_utils::clock::ManualClock;
use test_utils::wallet::{ClientKey, NearWallet};

/// A node serving the admin API on `127.0.0.1:<random port>`; the server stops
/// with the test's runtime.
pub struct Served {
    pub address: SocketAddr,
    pub node: Node,
    pub auth: Authenticator,
    /// The authenticator's clock, which tests move.
    pub clock: ManualClock,
    pub http: reqwest::Client,
    _home: TempDir,
}

/// Who sends a request.
pub enum As<'a> {
    /// No credentials.
    Nobody,
    /// A client key, signing a stamp for each request.
    Client(&'a ClientKey),
    /// These headers as they are.
    Headers(Vec<(String, String)>),
}

/// No credentials.
pub const NOBODY: As<'static> = As::Nobody;

/// A bearer access token.
pub fn bearer(token: &str) -> As<'static> {
    As::Headers(vec![(
        "authorization".to_owned(),
        format!("Bearer {token}"),
    )])
}

/// The access and refresh tokens of a `generate-jwt-token` or
/// `refresh-jwt-token` reply.
pub fn tokens(reply: &Value) -> (String, String) {
    let token = |name: &str| {
        reply["data"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {reply}"))
            .to_owned()
    };
    (token("access_token"), token("refresh_token"))
}

pub async fn serve() -> Served {
    serve_with(true, NodeConfig::default()).await
}

pub async fn serve_with(dev_routes: bool, config: NodeConfig) -> Served {
    // The tests' download servers listen on loopback.
    serve_configured(
        AdminConfig {
            dev_routes,
            install_allow_private_hosts: true,
        },
        config,
    )
    .await
}

pub async fn serve_configured(admin: AdminConfig, config: NodeConfig) -> Served {
    let home = tempfile::tempdir().expect("temp dir");
    let node = Node::open(home.path().join("node.redb"), config).expect("node");
    let clock = ManualClock::now();
    let auth = load_authenticator(&node, AuthConfig::default())
        .expect("auth")
        .with_clock(Arc::new(clock.clone()));
    let app = router(AdminState::new(node.clone(), auth.clone(), admin).expect("state"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Served {
        address,
        node,
        auth,
        clock,
        http: reqwest::Client::new(),
        _home: home,
    }
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/admin-api{path}", self.address)
    }

    /// The headers `who` sends with `method path`.
    pub fn headers(&self, who: &As<'_>, method: &Method, path: &str) -> Vec<(String, String)> {
        match who {
            As::Nobody => Vec::new(),
            As::Client(client) => client.auth_headers_at(
                self.auth.identity().public_key(),
                method.as_str(),
                &format!("/admin-api{}", path.split('?').next().unwrap_or(path)),
                self.clock.secs(),
                None,
            ),
            As::Headers(headers) => headers.clone(),
        }
    }

    /// Sends a request; returns the status and the JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        who: &As<'_>,
    ) -> (StatusCode, Value) {
        let headers = self.headers(who, &method, path);
        let mut request = self.http.request(method, self.url(path));
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{path}: body is not JSON ({err}): {text:?}"));
        (status, json)
    }

    pub async fn get(&self, path: &str, who: &As<'_>) -> (StatusCode, Value) {
        self.send(Method::GET, path, None, who).await
    }

    pub async fn post(&self, path: &str, body: Value, who: &As<'_>) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body), who).await
    }

    /// Logs in with the vectors' NEAR wallet and registers `client`.
    pub async fn login(&self, client: &ClientKey) -> (StatusCode, Value) {
        self.login_for(client, None).await
    }

    /// Logs in with the vectors' NEAR wallet and registers `client` for `context`.
    pub async fn login_for(
        &self,
        client: &ClientKey,
        context: Option<node_primitives::ContextId>,
    ) -> (StatusCode, Value) {
        let (status, challenge) = self
            .post(
                "/request-challenge",
                serde_json::json!({"contextId": context}),
                &NOBODY,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{challenge}");
        let challenge: NodeChallenge =
            serde_json::from_value(challenge["data"].clone()).expect("challenge");
        let body = NearWallet::from_seed_byte(0x02).login(&challenge, client, "calimero-node");
        self.post(
            "/add-client-key",
            serde_json::to_value(body).expect("json"),
            &NOBODY,
        )
        .await
    }
}

/// Asserts the JSON error envelope with `status`.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], expected.as_u16(), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

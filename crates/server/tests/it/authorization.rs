//! The route × principal table of `docs/protocol.md`, walked cell by cell
//! over HTTP and WebSocket against a node on a public listener (`0.0.0.0`)
//! with dev routes on: anonymous, the administrator (a client key a root
//! wallet registered without a context), a client key registered for context
//! A, and an access token for context A. A route the OpenAPI document lists
//! without a row here fails the test.

use std::collections::BTreeSet;

use node_primitives::{ContextId, PublicKey};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::ServerConfig;
use server_primitives::auth::NodeChallenge;
use test_utils::wallet::{ClientKey, EthWallet, NearWallet};
use test_utils::ws;

use super::{Served, serve_on};

/// What a principal gets on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    /// Served to anyone: the handler answers (never 401 / 403).
    Open,
    /// Served: the handler answers (never 401 / 403, never `Unauthorized`).
    Allow,
    /// 401: no valid credentials.
    Unauthenticated,
    /// Refused: 403 on the admin API, `Unauthorized` on JSON-RPC and `/ws`.
    Deny,
}

use Cell::{Allow, Deny, Open, Unauthenticated as No};

/// One row: method, path (the OpenAPI pattern, or a label for rows that are
/// not admin routes), and the cells for anonymous, administrator, context
/// key, access token.
type Row = (&'static str, &'static str, [Cell; 4]);

/// The table of `docs/protocol.md`, in the order it is walked (the row that
/// deletes every key last).
const TABLE: &[Row] = &[
    ("GET", "/admin-api/health", [Open, Open, Open, Open]),
    ("GET", "/admin-api/openapi.json", [Open, Open, Open, Open]),
    (
        "POST",
        "/admin-api/request-challenge",
        [Open, Open, Open, Open],
    ),
    (
        "POST",
        "/admin-api/add-client-key",
        [Open, Open, Open, Open],
    ),
    (
        "POST",
        "/admin-api/refresh-jwt-token",
        [Open, Open, Open, Open],
    ),
    (
        "GET",
        "/admin-api/dev/applications",
        [Open, Open, Open, Open],
    ),
    (
        "POST",
        "/admin-api/dev/install-application",
        [Open, Open, Open, Open],
    ),
    ("GET", "/admin-api/dev/contexts", [Open, Open, Open, Open]),
    ("POST", "/admin-api/dev/contexts", [Open, Open, Open, Open]),
    ("POST", "/jsonrpc/dev", [Open, Open, Open, Open]),
    ("GET", "/metrics", [Open, Open, Open, Open]),
    ("POST", "/admin-api/root-key", [No, Allow, Deny, Deny]),
    ("GET", "/admin-api/did", [No, Allow, Deny, Deny]),
    (
        "POST",
        "/admin-api/generate-jwt-token",
        [No, Allow, Deny, Deny],
    ),
    ("GET", "/admin-api/applications", [No, Allow, Deny, Deny]),
    ("POST", "/admin-api/applications", [No, Allow, Deny, Deny]),
    (
        "DELETE",
        "/admin-api/applications/{application_id}",
        [No, Allow, Deny, Deny],
    ),
    (
        "POST",
        "/admin-api/install-application",
        [No, Allow, Deny, Deny],
    ),
    ("GET", "/admin-api/contexts", [No, Allow, Deny, Deny]),
    ("POST", "/admin-api/contexts", [No, Allow, Deny, Deny]),
    (
        "GET",
        "/admin-api/contexts/{context_id}",
        [No, Allow, Allow, Allow],
    ),
    (
        "GET",
        "/admin-api/contexts/{other}",
        [No, Allow, Deny, Deny],
    ),
    (
        "GET",
        "/admin-api/contexts/{context_id}/users",
        [No, Allow, Deny, Deny],
    ),
    (
        "GET",
        "/admin-api/contexts/{context_id}/client-keys",
        [No, Allow, Deny, Deny],
    ),
    (
        "GET",
        "/admin-api/contexts/{context_id}/storage",
        [No, Allow, Deny, Deny],
    ),
    (
        "DELETE",
        "/admin-api/contexts/{context_id}",
        [No, Allow, Deny, Deny],
    ),
    (
        "DELETE",
        "/admin-api/identity/keys/{signing_key}",
        [No, Allow, Deny, Deny],
    ),
    (
        "POST",
        "/admin-api/identity/context",
        [No, Allow, Deny, Deny],
    ),
    (
        "POST",
        "/admin-api/contexts/invite",
        [No, Allow, Deny, Deny],
    ),
    ("POST", "/admin-api/contexts/join", [No, Allow, Deny, Deny]),
    ("POST", "/jsonrpc", [No, Allow, Allow, Allow]),
    ("POST", "/jsonrpc {other}", [No, Allow, Deny, Deny]),
    (
        "POST",
        "/jsonrpc {another executor}",
        [No, Allow, Deny, Deny],
    ),
    ("POST", "/jsonrpc {non-member}", [No, Deny, Deny, Deny]),
    ("GET", "/ws", [No, Allow, Allow, Allow]),
    ("GET", "/ws {other}", [No, Allow, Deny, Deny]),
    (
        "DELETE",
        "/admin-api/identity/keys",
        [No, Allow, Deny, Deny],
    ),
];

/// Who sends a request.
enum Who {
    Anonymous,
    Key(ClientKey),
    Token(String),
}

struct World {
    served: Served,
    node_id: PublicKey,
    own: ContextId,
    other: ContextId,
    doomed: ContextId,
    member: PublicKey,
    app: node_primitives::ApplicationId,
    principals: [Who; 4],
}

impl World {
    fn headers(&self, who: &Who, method: &str, path: &str) -> Vec<(String, String)> {
        match who {
            Who::Anonymous => Vec::new(),
            Who::Key(key) => key.auth_headers(self.node_id, method, path, None),
            Who::Token(token) => vec![("authorization".to_owned(), format!("Bearer {token}"))],
        }
    }

    async fn send(
        &self,
        who: &Who,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .served
            .http
            .request(method.clone(), self.served.url(path));
        for (name, value) in self.headers(who, method.as_str(), path) {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn challenge(&self, context: Option<ContextId>) -> NodeChallenge {
        let (status, body) = self
            .send(
                &Who::Anonymous,
                "POST",
                "/admin-api/request-challenge",
                Some(json!({"contextId": context})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body["data"].clone()).expect("challenge")
    }

    fn rpc(&self, context: ContextId, executor: Option<PublicKey>) -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "method": "query", "params": {
            "contextId": context, "method": "len", "argsJson": {},
            "executorPublicKey": executor}})
    }

    /// The request of `row` for column `column` (bodies valid enough to reach
    /// the handler), as method, path sent, body.
    async fn request(&self, row: &Row, column: usize) -> (String, String, Option<Value>) {
        let (method, pattern, _) = *row;
        let own = self.own.to_string();
        let path = pattern
            .replace("{context_id}", &own)
            .replace("{other}", &self.other.to_string())
            .replace("{signing_key}", "4XTTMnotregistered")
            .replace(
                "{application_id}",
                &node_primitives::ApplicationId::from_bytes([7; 32]).to_string(),
            );
        let body = match pattern {
            "/admin-api/request-challenge" => Some(json!({})),
            "/admin-api/add-client-key" | "/admin-api/refresh-jwt-token" => Some(json!({})),
            "/admin-api/dev/install-application" => {
                Some(json!({"path": test_utils::built_app_path("kv-store")}))
            }
            "/admin-api/dev/contexts" | "/admin-api/contexts" if method == "POST" => {
                Some(json!({"applicationId": self.app}))
            }
            "/admin-api/root-key" => {
                let login = EthWallet::from_seed_byte(0x04).login(
                    &self.challenge(None).await,
                    &ClientKey::from_seed_byte(0x06),
                );
                Some(serde_json::to_value(login).expect("json"))
            }
            "/admin-api/generate-jwt-token" => {
                Some(json!({"contextId": self.own, "executorPublicKey": self.member}))
            }
            "/admin-api/install-application" => Some(json!({
                "url": "http://127.0.0.1:9/app.wasm",
                "hash": "11111111111111111111111111111111",
                "metadata": []
            })),
            "/admin-api/contexts/invite" => Some(json!({
                "contextId": self.own,
                "inviterId": self.member,
                "inviteeId": PublicKey::from_bytes([9; 32]),
            })),
            "/admin-api/contexts/join" => Some(json!({"invitationPayload": "not an invitation"})),
            "/jsonrpc" | "/jsonrpc/dev" => Some(self.rpc(self.own, None)),
            "/jsonrpc {other}" => Some(self.rpc(self.other, None)),
            "/jsonrpc {another executor}" => {
                // A member of the context other than the caller's own identity.
                let another = match &self.principals[column] {
                    Who::Token(_) => ClientKey::from_seed_byte(0x05).executor(),
                    _ => self.member,
                };
                Some(self.rpc(self.own, Some(another)))
            }
            "/jsonrpc {non-member}" => {
                Some(self.rpc(self.own, Some(PublicKey::from_bytes([9; 32]))))
            }
            _ => None,
        };
        let path = match pattern {
            "/admin-api/contexts/{context_id}" if method == "DELETE" => {
                format!("/admin-api/contexts/{}", self.doomed)
            }
            label if label.starts_with("/jsonrpc {") => "/jsonrpc".to_owned(),
            label if label.starts_with("/ws") => "/ws".to_owned(),
            _ => path,
        };
        (method.to_owned(), path, body)
    }

    /// What column `column` gets on `row`.
    async fn outcome(&self, row: &Row, column: usize) -> Cell {
        let who = &self.principals[column];
        let (method, path, body) = self.request(row, column).await;
        if row.1.starts_with("/ws") {
            return self.ws_outcome(who, row.1.contains("{other}")).await;
        }
        let (status, reply) = self.send(who, &method, &path, body).await;
        match status {
            StatusCode::UNAUTHORIZED => No,
            StatusCode::FORBIDDEN => {
                assert!(
                    reply["error"]["message"].as_str().is_some(),
                    "403 without a JSON error: {reply}"
                );
                Deny
            }
            _ if reply["error"]["data"]["type"] == "Unauthorized" => Deny,
            _ if row.2[0] == Open => Open,
            _ => Allow,
        }
    }

    async fn ws_outcome(&self, who: &Who, other: bool) -> Cell {
        let base = format!("ws://{}/ws", self.served.address);
        let (url, headers) = match who {
            Who::Token(token) => (format!("{base}?token={token}"), Vec::new()),
            _ => (base, self.headers(who, "GET", "/ws")),
        };
        let mut client = match ws::connect_with(&url, &headers).await {
            Ok(client) => client,
            Err(401) => return No,
            Err(status) => panic!("/ws answered {status}"),
        };
        let context = if other { self.other } else { self.own };
        ws::send(
            &mut client,
            json!({"id": 1, "method": "subscribe", "params": {"contextIds": [context]}}),
        )
        .await;
        let reply = ws::next_json(&mut client).await;
        if reply["error"]["type"] == "Unauthorized" {
            Deny
        } else {
            assert_eq!(reply["result"]["contextIds"][0], json!(context), "{reply}");
            Allow
        }
    }
}

async fn world() -> World {
    let served = serve_on(
        "0.0.0.0:0",
        ServerConfig {
            dev_routes: true,
            metrics: true,
            ..ServerConfig::default()
        },
    )
    .await;
    let node_id = served.auth.identity().public_key();
    let app = served
        .node
        .install_application(&test_utils::built_app("kv-store"), "test", b"")
        .expect("installs")
        .id;
    let mut contexts = Vec::new();
    for _ in 0..3 {
        contexts.push(served.node.create_context(&app, b"").expect("context"));
    }
    let (own, member) = (contexts[0].0.id, contexts[0].1);
    let admin = ClientKey::from_seed_byte(0x03);
    let bound = ClientKey::from_seed_byte(0x05);
    let mut world = World {
        served,
        node_id,
        own,
        other: contexts[1].0.id,
        doomed: contexts[2].0.id,
        member,
        app,
        principals: [
            Who::Anonymous,
            Who::Anonymous,
            Who::Anonymous,
            Who::Anonymous,
        ],
    };
    // The root wallet registers a client key for context A over HTTP.
    let challenge = world.challenge(Some(own)).await;
    let login = NearWallet::from_seed_byte(0x02).login(&challenge, &bound, "calimero-node");
    let (status, body) = world
        .send(
            &Who::Anonymous,
            "POST",
            "/admin-api/add-client-key",
            Some(serde_json::to_value(login).expect("json")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The administrator mints a token for A's creator.
    let (status, body) = world
        .send(
            &Who::Key(admin.clone()),
            "POST",
            "/admin-api/generate-jwt-token",
            Some(json!({"contextId": own, "executorPublicKey": member})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["data"]["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    world.principals = [
        Who::Anonymous,
        Who::Key(admin),
        Who::Key(bound),
        Who::Token(token),
    ];
    world
}

#[tokio::test]
async fn every_route_and_principal_gets_what_the_table_says() {
    let world = world().await;
    let mut failures = Vec::new();
    for row in TABLE {
        // The administrator last: its `DELETE /identity/keys` ends every login.
        for column in [0, 2, 3, 1] {
            let expected = row.2[column];
            let got = world.outcome(row, column).await;
            if got != expected {
                failures.push(format!(
                    "{} {} as {}: expected {expected:?}, got {got:?}",
                    row.0,
                    row.1,
                    ["anonymous", "administrator", "context key", "access token"][column]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_documented_route_has_a_row() {
    let served = super::serve(ServerConfig::default()).await;
    let document: Value = served
        .http
        .get(served.url("/admin-api/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("the OpenAPI document");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .expect("operations")
                .keys()
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let rows: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|(method, path, _)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    let missing: Vec<_> = documented.difference(&rows).collect();
    assert!(missing.is_empty(), "routes without a row: {missing:?}");
    let protocol = std::fs::read_to_string(test_utils::workspace_root().join("docs/protocol.md"))
        .expect("docs/protocol.md");
    for (method, path, _) in TABLE {
        assert!(
            protocol.contains(&format!("| `{method} {path}` |")),
            "docs/protocol.md has no row `{method} {path}`"
        );
    }
}

//! The OpenAPI document is served, lists every route, and describes the live
//! responses exactly (every field present where required, no field unknown).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use test_utils::wallet::ClientKey;

use crate::support::{As, NOBODY, serve};

/// Resolves `$ref`s within the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(
                doc,
                doc.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling {reference}")),
            )
        }
        None => schema,
    }
}

fn kind_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// Checks `value` against `schema`; returns what does not fit.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    for combinator in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(combinator).and_then(Value::as_array) {
            return if options
                .iter()
                .any(|option| check(doc, option, value, at).is_ok())
            {
                Ok(())
            } else {
                Err(format!("{at}: {value} fits none of {combinator}"))
            };
        }
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        return parts
            .iter()
            .try_for_each(|part| check(doc, part, value, at));
    }
    match schema.get("type") {
        Some(Value::String(kind)) if !kind_matches(kind, value) => {
            return Err(format!("{at}: {value} is not {kind}"));
        }
        Some(Value::Array(kinds))
            if !kinds
                .iter()
                .filter_map(Value::as_str)
                .any(|kind| kind_matches(kind, value)) =>
        {
            return Err(format!("{at}: {value} is none of {kinds:?}"));
        }
        _ => {}
    }
    if let (Some(object), Some(properties)) = (
        value.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) {
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: missing required {name}"));
            }
        }
        for (name, field) in object {
            let property = properties
                .get(name)
                .ok_or_else(|| format!("{at}: {name} is not in the schema"))?;
            check(doc, property, field, &format!("{at}.{name}"))?;
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            check(doc, schema, item, &format!("{at}[{index}]"))?;
        }
    }
    Ok(())
}

fn response_schema<'a>(doc: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    let operation = &doc["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let response = &operation["responses"][status.to_string()];
    &response["content"]["application/json"]["schema"]
}

#[tokio::test]
async fn the_document_describes_every_route_and_the_live_responses() {
    let served = serve().await;
    let (status, doc) = served.get("/openapi.json", &NOBODY).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().expect("version").starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    for path in [
        "/admin-api/health",
        "/admin-api/request-challenge",
        "/admin-api/add-client-key",
        "/admin-api/root-key",
        "/admin-api/did",
        "/admin-api/identity/keys",
        "/admin-api/generate-jwt-token",
        "/admin-api/refresh-jwt-token",
        "/admin-api/applications",
        "/admin-api/install-application",
        "/admin-api/dev/install-application",
        "/admin-api/dev/applications",
        "/admin-api/dev/contexts",
        "/admin-api/contexts",
        "/admin-api/contexts/{context_id}",
        "/admin-api/contexts/{context_id}/users",
        "/admin-api/contexts/{context_id}/client-keys",
        "/admin-api/contexts/{context_id}/storage",
    ] {
        assert!(
            paths.iter().any(|p| p.as_str() == path),
            "{path} is not documented"
        );
    }

    let client = ClientKey::from_seed_byte(0x03);
    served.login(&client).await;
    let headers = As::Client(&client);
    let path = test_utils::built_app_path("kv-store");
    let mut live: Vec<(&str, &str, Value)> = Vec::new();
    live.push((
        "/admin-api/health",
        "get",
        served.get("/health", &NOBODY).await.1,
    ));
    live.push((
        "/admin-api/request-challenge",
        "post",
        served
            .post("/request-challenge", json!({}), &NOBODY)
            .await
            .1,
    ));
    let installed = served
        .post("/dev/install-application", json!({"path": path}), &NOBODY)
        .await
        .1;
    let app = installed["data"]["applicationId"].clone();
    live.push(("/admin-api/dev/install-application", "post", installed));
    live.push((
        "/admin-api/applications",
        "get",
        served.get("/applications", &headers).await.1,
    ));
    let created = served
        .post("/contexts", json!({"applicationId": app}), &headers)
        .await
        .1;
    let id = created["data"]["context"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let member = created["data"]["memberPublicKey"].clone();
    live.push(("/admin-api/contexts", "post", created));
    live.push((
        "/admin-api/contexts",
        "get",
        served.get("/contexts", &headers).await.1,
    ));
    live.push((
        "/admin-api/did",
        "get",
        served.get("/did", &headers).await.1,
    ));
    for suffix in ["", "/users", "/client-keys", "/storage"] {
        let body = served
            .get(&format!("/contexts/{id}{suffix}"), &headers)
            .await
            .1;
        live.push((
            ["/admin-api/contexts/{context_id}", suffix].concat().leak(),
            "get",
            body,
        ));
    }
    let tokens = served
        .post(
            "/generate-jwt-token",
            json!({"contextId": id, "executorPublicKey": member}),
            &headers,
        )
        .await
        .1;
    live.push(("/admin-api/generate-jwt-token", "post", tokens));
    live.push((
        "/admin-api/contexts/{context_id}",
        "delete",
        served
            .send(Method::DELETE, &format!("/contexts/{id}"), None, &headers)
            .await
            .1,
    ));
    live.push((
        "/admin-api/identity/keys",
        "delete",
        served
            .send(Method::DELETE, "/identity/keys", None, &headers)
            .await
            .1,
    ));

    for (path, method, body) in &live {
        let schema = response_schema(&doc, path, method, 200);
        check(&doc, schema, body, &format!("{method} {path}"))
            .unwrap_or_else(|err| panic!("{err}\n{body}"));
    }
    // Error bodies fit the documented error schema too.
    let (status, body) = served.get("/did", &NOBODY).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    check(
        &doc,
        response_schema(&doc, "/admin-api/did", "get", 401),
        &body,
        "401",
    )
    .expect("error schema");
    // A mutated body is caught by the check: it can fail.
    let health = json!({"data": {"status": "alive", "extra": 1}});
    assert!(
        check(
            &doc,
            response_schema(&doc, "/admin-api/health", "get", 200),
            &health,
            "mutated"
        )
        .is_err()
    );
}

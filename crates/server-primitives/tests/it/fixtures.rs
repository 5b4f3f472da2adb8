//! Every fixture parses into its type and serializes back to the same JSON
//! (field order aside); every fixture file is listed; invalid ones are refused.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use server_primitives::admin::*;
use server_primitives::auth::*;
use server_primitives::{jsonrpc, ws};

type Check = fn(&Value) -> Result<Value, serde_json::Error>;

fn round_trip<T: DeserializeOwned + Serialize>(json: &Value) -> Result<Value, serde_json::Error> {
    let typed: T = serde_json::from_value(json.clone())?;
    serde_json::to_value(&typed)
}

/// `(file under tests/fixtures, check)` for every valid message.
fn valid() -> Vec<(&'static str, Check)> {
    vec![
        ("admin/health.json", round_trip::<ApiResponse<HealthStatus>>),
        ("admin/error.json", round_trip::<ApiErrorResponse>),
        (
            "admin/request_challenge_request.json",
            round_trip::<RequestChallengeRequest>,
        ),
        (
            "admin/request_challenge_request_context.json",
            round_trip::<RequestChallengeRequest>,
        ),
        (
            "admin/request_challenge_response.json",
            round_trip::<ApiResponse<NodeChallenge>>,
        ),
        (
            "admin/add_client_key_near.json",
            round_trip::<AddPublicKeyRequest>,
        ),
        (
            "admin/add_client_key_eth.json",
            round_trip::<AddPublicKeyRequest>,
        ),
        (
            "admin/add_client_key_response.json",
            round_trip::<ApiResponse<String>>,
        ),
        (
            "admin/root_key_response.json",
            round_trip::<ApiResponse<String>>,
        ),
        (
            "admin/install_application_request.json",
            round_trip::<InstallApplicationRequest>,
        ),
        (
            "admin/install_dev_application_request.json",
            round_trip::<InstallDevApplicationRequest>,
        ),
        (
            "admin/install_application_response.json",
            round_trip::<ApiResponse<InstallApplicationResponse>>,
        ),
        (
            "admin/list_applications_response.json",
            round_trip::<ApiResponse<ListApplicationsResponse>>,
        ),
        (
            "admin/did_response.json",
            round_trip::<ApiResponse<GetDidResponse>>,
        ),
        (
            "admin/create_context_request.json",
            round_trip::<CreateContextRequest>,
        ),
        (
            "admin/create_context_response.json",
            round_trip::<ApiResponse<CreateContextResponse>>,
        ),
        (
            "admin/list_contexts_response.json",
            round_trip::<ApiResponse<ListContextsResponse>>,
        ),
        (
            "admin/get_context_response.json",
            round_trip::<ApiResponse<GetContextResponse>>,
        ),
        (
            "admin/delete_context_response.json",
            round_trip::<ApiResponse<DeleteContextResponse>>,
        ),
        (
            "admin/context_users_response.json",
            round_trip::<ApiResponse<GetContextUsersResponse>>,
        ),
        (
            "admin/context_client_keys_response.json",
            round_trip::<ApiResponse<GetContextClientKeysResponse>>,
        ),
        (
            "admin/context_storage_response.json",
            round_trip::<ApiResponse<GetContextStorageResponse>>,
        ),
        (
            "admin/delete_keys_response.json",
            round_trip::<ApiResponse<Empty>>,
        ),
        (
            "admin/generate_jwt_token_request.json",
            round_trip::<GenerateJwtTokenRequest>,
        ),
        (
            "admin/refresh_jwt_token_request.json",
            round_trip::<RefreshJwtTokenRequest>,
        ),
        (
            "admin/jwt_token_response.json",
            round_trip::<ApiResponse<JwtTokenResponse>>,
        ),
        (
            "auth/challenge_content.json",
            round_trip::<ChallengeContent>,
        ),
        (
            "auth/wallet_signed_message.json",
            round_trip::<WalletSignedMessage>,
        ),
        ("auth/jwt_claims_access.json", round_trip::<JwtClaims>),
        ("auth/jwt_claims_refresh.json", round_trip::<JwtClaims>),
        ("auth/request_stamp.json", round_trip::<RequestStamp>),
        ("jsonrpc/query_request.json", round_trip::<jsonrpc::Request>),
        (
            "jsonrpc/mutate_request.json",
            round_trip::<jsonrpc::Request>,
        ),
        (
            "jsonrpc/execute_request.json",
            round_trip::<jsonrpc::Request>,
        ),
        (
            "jsonrpc/execute_substitute_request.json",
            round_trip::<jsonrpc::Request>,
        ),
        (
            "jsonrpc/null_id_request.json",
            round_trip::<jsonrpc::Request>,
        ),
        (
            "jsonrpc/result_response.json",
            round_trip::<jsonrpc::Response>,
        ),
        (
            "jsonrpc/result_null_response.json",
            round_trip::<jsonrpc::Response>,
        ),
        (
            "jsonrpc/mutate_result_response.json",
            round_trip::<jsonrpc::Response>,
        ),
        ("jsonrpc/error_parse.json", round_trip::<jsonrpc::Response>),
        (
            "jsonrpc/error_internal.json",
            round_trip::<jsonrpc::Response>,
        ),
        ("jsonrpc/error_serde.json", round_trip::<jsonrpc::Response>),
        (
            "jsonrpc/error_function_call.json",
            round_trip::<jsonrpc::Response>,
        ),
        (
            "jsonrpc/error_function_call_payload.json",
            round_trip::<jsonrpc::Response>,
        ),
        (
            "jsonrpc/error_context_not_found.json",
            round_trip::<jsonrpc::Response>,
        ),
        (
            "jsonrpc/error_uninitialized.json",
            round_trip::<jsonrpc::Response>,
        ),
        (
            "jsonrpc/error_unauthorized.json",
            round_trip::<jsonrpc::Response>,
        ),
        (
            "jsonrpc/error_application_not_installed.json",
            round_trip::<jsonrpc::Response>,
        ),
        (
            "jsonrpc/error_call_internal.json",
            round_trip::<jsonrpc::Response>,
        ),
        (
            "jsonrpc/error_query_not_installed.json",
            round_trip::<jsonrpc::Response>,
        ),
        (
            "jsonrpc/error_mutate_internal.json",
            round_trip::<jsonrpc::Response>,
        ),
        ("ws/subscribe_request.json", round_trip::<ws::Request>),
        ("ws/subscribe_since_request.json", round_trip::<ws::Request>),
        ("ws/unsubscribe_request.json", round_trip::<ws::Request>),
        ("ws/subscription_reply.json", round_trip::<ws::Response>),
        ("ws/error_parse.json", round_trip::<ws::Response>),
        ("ws/error_limit.json", round_trip::<ws::Response>),
        ("ws/error_unauthorized.json", round_trip::<ws::Response>),
        (
            "ws/event_transaction_executed.json",
            round_trip::<ws::Response>,
        ),
        ("ws/event_peer_joined.json", round_trip::<ws::Response>),
        ("ws/event_outcome.json", round_trip::<ws::Response>),
        ("ws/event_state_mutation.json", round_trip::<ws::Response>),
        ("ws/event_execution.json", round_trip::<ws::Response>),
        ("ws/event_gap.json", round_trip::<ws::Response>),
    ]
}

/// `(file, check, what the error must name)` for every invalid message.
fn invalid() -> Vec<(&'static str, Check, &'static str)> {
    vec![
        (
            "invalid/context_bad_alphabet.json",
            round_trip::<Context>,
            "invalid ContextId",
        ),
        (
            "invalid/context_short_id.json",
            round_trip::<Context>,
            "invalid ApplicationId",
        ),
        (
            "invalid/context_long_hash.json",
            round_trip::<Context>,
            "invalid Hash",
        ),
        (
            "invalid/jsonrpc_bad_context.json",
            round_trip::<jsonrpc::Request>,
            "invalid ContextId",
        ),
        (
            "invalid/ws_subscribe_bad_id.json",
            round_trip::<ws::Request>,
            "invalid ContextId",
        ),
        (
            "invalid/install_bad_hash.json",
            round_trip::<InstallApplicationRequest>,
            "invalid Hash",
        ),
    ]
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

fn load(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{name}: {err}"));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{name} is not JSON: {err}"))
}

#[test]
fn every_valid_fixture_round_trips() {
    for (name, check) in valid() {
        let original = load(name);
        let again = check(&original).unwrap_or_else(|err| panic!("{name} does not parse: {err}"));
        assert_eq!(again, original, "{name} changed in a round trip");
    }
}

#[test]
fn every_invalid_fixture_is_refused_with_a_typed_error() {
    for (name, check, expected) in invalid() {
        let err = check(&load(name)).expect_err(name).to_string();
        assert!(
            err.contains(expected),
            "{name}: {err:?} does not say {expected:?}"
        );
    }
}

#[test]
fn every_fixture_file_is_checked() {
    let listed: BTreeSet<String> = valid()
        .into_iter()
        .map(|(name, _)| name)
        .chain(invalid().into_iter().map(|(name, _, _)| name))
        .map(str::to_owned)
        .collect();
    let mut on_disk = BTreeSet::new();
    for group in std::fs::read_dir(fixtures_dir()).expect("fixtures dir") {
        let group = group.expect("dir entry").path();
        for file in std::fs::read_dir(&group).expect("group dir") {
            let file = file.expect("dir entry").path();
            let relative = file.strip_prefix(fixtures_dir()).expect("below fixtures");
            on_disk.insert(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    assert_eq!(listed, on_disk, "fixtures on disk and in the table differ");
}

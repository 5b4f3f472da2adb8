//! Calls by method and outcome, and their latency.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use server_primitives::jsonrpc::RpcError;

/// The outcome label of an answered call: `ok` or the error's `type`.
pub(crate) fn outcome_name(error: Option<&RpcError>) -> &'static str {
    match error {
        None => "ok",
        Some(RpcError::ParseError(_)) => "ParseError",
        Some(RpcError::InternalError(_)) => "InternalError",
        Some(RpcError::SerdeError { .. }) => "SerdeError",
        Some(RpcError::FunctionCallError(_)) => "FunctionCallError",
        Some(RpcError::CallError(_)) => "CallError",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MethodLabel {
    method: &'static str,
}

/// What `/jsonrpc` measures. Clones share the same values.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    calls: Family<CallLabels, Counter>,
    seconds: Family<MethodLabel, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            seconds: Family::new_with_constructor(node::latency_histogram),
        }
    }
}

impl Metrics {
    /// Adds these metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "jsonrpc_calls",
            "JSON-RPC requests answered, by method (query, mutate, execute, none) and \
             outcome (ok, an error type, or unauthorized / overloaded / bad_body)",
            self.calls.clone(),
        );
        registry.register_with_unit(
            "jsonrpc_call_duration",
            "Time from receiving a JSON-RPC request to its answer, by method",
            Unit::Seconds,
            self.seconds.clone(),
        );
    }

    /// Counts one answered request.
    pub fn record(&self, method: &'static str, outcome: &'static str, took: Duration) {
        self.calls
            .get_or_create(&CallLabels { method, outcome })
            .inc();
        self.seconds
            .get_or_create(&MethodLabel { method })
            .observe(took.as_secs_f64());
    }
}

//! Health check and call-counter endpoints. These requests are not counted.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::SandboxState;

pub(crate) fn routes() -> Router<SandboxState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/_sandbox/calls", get(all_calls).delete(reset_calls))
        .route("/_sandbox/calls/{key}", get(calls_for_key))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Every call by key and endpoint, and the successful ones (`successes`). A provider that
/// honours idempotency keys bills only the first success of a key and endpoint.
async fn all_calls(State(state): State<SandboxState>) -> Json<Value> {
    Json(json!({ "calls": state.all_calls(), "successes": state.all_successes() }))
}

async fn calls_for_key(State(state): State<SandboxState>, Path(key): Path<String>) -> Json<Value> {
    let calls = state.calls_for(&key);
    let successes = state.successes_for(&key);
    let total: u64 = calls.values().sum();
    Json(json!({ "key": key, "calls": calls, "successes": successes, "total": total }))
}

async fn reset_calls(State(state): State<SandboxState>) -> StatusCode {
    state.reset_calls();
    tracing::info!("sandbox call counters reset");
    StatusCode::NO_CONTENT
}

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::AppState;

/// Liveness: the process answers. Checks no dependency.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: NATS is connected and the database answers.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let nats = state.broker.client.connection_state() == async_nats::connection::State::Connected;
    let database = state.db.execute_unprepared("SELECT 1").await.is_ok();
    let status = if nats && database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({ "nats": nats, "database": database })))
}

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::AppState;
use crate::openapi;

/// Liveness: the process serves requests. Checks no dependency.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    summary = "Liveness",
    description = "Returns 200 while the process serves requests. Checks no dependency.",
    responses(
        (status = 200, description = "The process is up.", body = openapi::Liveness),
        (status = 408, response = openapi::RequestTimeout),
    ),
)]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: NATS is connected and the database responds.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    summary = "Readiness",
    description = "200 when NATS is connected and the database responds, else 503, and 503 \
        from the moment shutdown begins. The body names the dependency that is down.",
    responses(
        (status = 200, description = "Ready.", body = openapi::Readiness),
        (status = 408, response = openapi::RequestTimeout),
        (status = 503, description = "NATS or the database is down.", body = openapi::Readiness),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let nats = state.broker.client.connection_state() == async_nats::connection::State::Connected;
    let database = state.db.execute_unprepared("SELECT 1").await.is_ok();
    let draining = state.draining.load(std::sync::atomic::Ordering::SeqCst);
    let status = if nats && database && !draining {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "nats": nats, "database": database, "draining": draining })),
    )
}

/// Prometheus metrics of this process.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "health",
    summary = "Prometheus metrics",
    description = "Metrics in the Prometheus text format; docs/metrics.md lists them.",
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain", body = String),
        (status = 408, response = openapi::RequestTimeout),
    ),
)]
pub async fn metrics() -> impl IntoResponse {
    let handle = dataorch_telemetry::ops::metrics_handle();
    handle.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
}

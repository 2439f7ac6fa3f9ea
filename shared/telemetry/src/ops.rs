//! Prometheus metrics and the operations endpoints every service serves: `/healthz` (the
//! process answers; no dependency is checked), `/readyz` (the service's own readiness
//! check) and `/metrics` (Prometheus text format).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder on first use and returns its handle. The
/// services of a local stack share one process, and so one recorder.
pub fn metrics_handle() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed; then this handle stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// A readiness check: resolves to true when the service can do its work.
pub type ReadinessCheck = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

#[derive(Clone)]
struct OpsState {
    metrics: PrometheusHandle,
    ready: ReadinessCheck,
}

/// Routes `/healthz`, `/readyz` and `/metrics`, to serve on their own or merged into an API.
pub fn routes<S: Clone + Send + Sync + 'static>(ready: ReadinessCheck) -> Router<S> {
    let state = OpsState {
        metrics: metrics_handle(),
        ready,
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<OpsState>) -> impl IntoResponse {
    if (state.ready)().await {
        (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "not ready" })),
        )
    }
}

async fn render_metrics(State(state): State<OpsState>) -> impl IntoResponse {
    state.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Serves the operations routes on `listen` until `shutdown` resolves.
pub async fn serve(
    listen: &str,
    ready: ReadinessCheck,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| anyhow::anyhow!("cannot bind ops.listen {listen}: {error}"))?;
    tracing::info!(address = %listener.local_addr()?, "operations server listening");
    axum::serve(listener, routes::<()>(ready))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

//! The gateway: the HTTP API in front of dataorch.
//!
//! It authenticates API keys, validates requests, publishes execute and continue commands
//! to JetStream (responding only once JetStream has stored them) and serves reads from the
//! SQL read model that the projector writes. It never writes run state.

mod auth;
mod consistency;
mod error;
mod extract;
mod idempotency;
pub mod keys;
mod metrics;
mod openapi;
mod ratelimit;
mod routes;
mod server;
mod views;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use dataorch_config::Settings;
use dataorch_messaging::Broker;
use dataorch_storage::DatabaseConnection;
use tracing::Instrument;

pub use auth::hash_token;
pub use error::ApiError;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub broker: Broker,
    /// Execute `Idempotency-Key` records.
    pub idempotency: async_nats::jetstream::kv::Store,
    /// Token of the key-administration endpoints; empty disables them.
    pub admin_token: dataorch_config::Secret,
    pub rate_limits: ratelimit::RateLimits,
    /// Seals personal fields in execute commands.
    pub data_key: dataorch_contracts::sealing::DataKey,
    pub db: DatabaseConnection,
    /// Maximum wait for the read model to reflect the caller's writes.
    pub consistency_timeout: Duration,
    /// Set when shutdown begins, so that `/readyz` fails before the listener closes.
    pub draining: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Builds the router with every route and layer.
pub fn router(settings: &Settings, state: AppState) -> Router {
    let api = Router::new()
        .route("/applications", post(routes::applications::create))
        .route("/applications/{id}", get(routes::applications::show))
        .route(
            "/applications/{application_id}/data_orch",
            get(routes::logs::list),
        )
        .route(
            "/applications/{application_id}/data_orch/{log_id}",
            get(routes::logs::show),
        )
        .route(
            "/data_orchestration/templates",
            get(routes::templates::list),
        )
        .route(
            "/data_orchestration/execute",
            post(routes::orchestration::execute),
        )
        .route(
            "/data_orchestration/{log_id}/continue_pass",
            put(routes::orchestration::continue_pass),
        );
    let api = api.layer(middleware::from_fn_with_state(
        state.clone(),
        auth::authenticate,
    ));

    Router::new()
        .nest("/api/v2", api)
        .route(
            "/admin/v1/tenants/{tenant_id}/keys",
            post(routes::admin::create_key).get(routes::admin::list_keys),
        )
        .route(
            "/admin/v1/keys/{key_id}",
            axum::routing::delete(routes::admin::revoke_key),
        )
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .merge(openapi::routes())
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn(problem_details))
        .layer(middleware::from_fn(http_metrics))
        .layer(DefaultBodyLimit::max(settings.gateway.body_limit_bytes))
        .layer(middleware::from_fn_with_state(
            Duration::from_millis(settings.gateway.request_timeout_ms),
            deadline,
        ))
        .layer(middleware::from_fn(http_trace))
}

async fn fallback() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "No route matches this path.",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This method is not allowed on this path.",
    )
}

/// Ends a request that takes longer than the configured deadline, including one whose body
/// arrives too slowly, with a 408 in the API's error format.
async fn deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout_ms = timeout.as_millis() as u64, "request timed out");
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "The request did not complete within {} ms. Send the body at once; retrying an execute with the same Idempotency-Key is safe.",
                    timeout.as_millis()
                ),
            )
            .into_response()
        }
    }
}

/// Runs each request in a server span named `{method} {route}`, a child of the caller's W3C
/// trace context when the request carries one.
async fn http_trace(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_string());
    let method = request.method().to_string();
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.clone(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = name,
        otel.kind = "server",
        http.request.method = method,
        http.route = route.as_deref().unwrap_or(""),
        url.path = request.uri().path(),
        http.response.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    dataorch_telemetry::trace::set_parent(
        &span,
        &dataorch_telemetry::trace::carrier_from_headers(request.headers()),
    );
    dataorch_telemetry::trace::record_ids(&span);
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        tracing::warn!(parent: &span, status = response.status().as_u16(), "request failed");
    }
    response
}

/// Times every request by route template, method and status.
async fn http_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let method = request.method().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    ::metrics::histogram!(
        metrics::HTTP_REQUEST_DURATION_SECONDS,
        "route" => route,
        "method" => method,
        "status" => status
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// Re-renders errors as RFC 9457 problem documents for clients that accept them.
async fn problem_details(request: Request, next: Next) -> Response {
    let headers = request.headers().clone();
    let response = next.run(request).await;
    match response.extensions().get::<ApiError>() {
        Some(error) => {
            let wants_problem = headers
                .get_all(axum::http::header::ACCEPT)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .any(|value| value.contains("application/problem+json"));
            if wants_problem {
                error.clone().render(&headers)
            } else {
                response
            }
        }
        None => response,
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes open requests.
pub async fn run(
    settings: Settings,
    broker: Broker,
    db: DatabaseConnection,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let idempotency = broker
        .idempotency_store(
            Duration::from_secs(settings.gateway.idempotency_ttl_secs),
            settings.nats.replicas,
        )
        .await?;
    let state = AppState {
        broker,
        idempotency,
        admin_token: settings.gateway.admin_token.clone(),
        rate_limits: ratelimit::RateLimits::new(&settings.rate_limit),
        data_key: dataorch_contracts::sealing::DataKey::from_base64(
            settings.security.data_key.expose(),
        )?,
        db,
        consistency_timeout: Duration::from_millis(settings.gateway.consistency_timeout_ms),
        draining: Default::default(),
    };
    let rate_limits = state.rate_limits.clone();
    dataorch_telemetry::ops::metrics_handle();
    let draining = state.draining.clone();
    let shutdown = async move {
        shutdown.await;
        draining.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let app = router(&settings, state);
    // Forget idle keys' buckets once a minute, so memory follows the active keys only.
    let shrinker = tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(60));
        loop {
            interval.tick().await;
            rate_limits.shrink();
        }
    });
    let address = listener.local_addr()?;
    tracing::info!(%address, "gateway listening");
    let limits = server::Limits {
        header_read_timeout: Duration::from_millis(settings.gateway.header_read_timeout_ms),
        max_header_bytes: settings.gateway.max_header_bytes,
        drain_timeout: Duration::from_secs(settings.gateway.shutdown_grace_secs),
    };
    let served = server::serve(listener, app, limits, shutdown).await;
    shrinker.abort();
    served?;
    tracing::info!("gateway stopped");
    Ok(())
}

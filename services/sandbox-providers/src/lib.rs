//! Sandbox providers: an HTTP service that imitates the data providers dataorch calls.
//!
//! Four provider kinds are served, each under its own path prefix, so a worker's base URL for
//! a kind is `http://host:port/<kind>`:
//!
//! - `/kyb`: business verification in Middesk's shapes.
//! - `/business_credit`: business credit search, scores and reports in Experian's shapes.
//! - `/consumer_credit`: Experian Credit Profile v2 credit reports.
//! - `/bank_data`: Plaid Link tokens, balances and transactions.
//!
//! Responses are derived from SHA-256 hashes of the request, so the same request gets the same
//! body. The exceptions are KYB `created_at`/`updated_at` and the link token `expiration`,
//! which come from the clock. Magic values in the request (business names, tax id, BIN and
//! SSN suffixes, Plaid personas) select documented outcomes, listed in the crate README.
//!
//! Every provider request also passes through the failure-injection middleware in
//! [`scenario`](crate::scenario): it is counted under its `Idempotency-Key`, delayed by
//! [`SandboxConfig::default_latency_ms`], and can be made slow, hung, failed, flaky,
//! malformed or huge through the `X-Sandbox-Scenario` header. Admin endpoints under
//! `/_sandbox` read and reset the counters.

mod admin;
mod bank_data;
mod business_credit;
mod consumer_credit;
mod derive;
mod error;
mod kyb;
mod request;
mod scenario;
mod state;

use std::future::Future;

use anyhow::Context;
use axum::Router;
use serde::Deserialize;

pub use state::SandboxState;

use error::Provider;

/// Settings of the sandbox service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// Delay added to every provider request before its response, in milliseconds.
    pub default_latency_ms: u64,
}

/// Builds the service's routes: the four provider kinds, `/_sandbox` admin and `/healthz`.
pub fn router(state: SandboxState) -> Router {
    Router::new()
        .merge(scenario::with_injection(
            Provider::Kyb,
            kyb::routes(),
            &state,
        ))
        .merge(scenario::with_injection(
            Provider::BusinessCredit,
            business_credit::routes(),
            &state,
        ))
        .merge(scenario::with_injection(
            Provider::ConsumerCredit,
            consumer_credit::routes(),
            &state,
        ))
        .merge(scenario::with_injection(
            Provider::BankData,
            bank_data::routes(),
            &state,
        ))
        .merge(admin::routes())
        .fallback(error::not_found_fallback)
        .method_not_allowed_fallback(error::method_not_allowed_fallback)
        .with_state(state)
}

/// Serves the sandbox on `listener` until `shutdown` completes.
///
/// When `shutdown` completes, the server stops accepting connections, responds 503 to requests
/// held by the `timeout` and `slow` scenarios, and returns once open requests finish.
pub async fn run(
    config: SandboxConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = SandboxState::new(config);
    let app = router(state.clone());

    let address = listener
        .local_addr()
        .context("failed to read the listener's local address")?;
    tracing::info!(
        listen.address = %address,
        sandbox.default_latency_ms = state.default_latency().as_millis() as u64,
        "sandbox providers started"
    );

    let stopping = state.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("sandbox providers stopping: releasing held requests");
            stopping.begin_shutdown();
        })
        .await
        .context("sandbox HTTP server failed")?;

    tracing::info!(listen.address = %address, "sandbox providers stopped");
    Ok(())
}

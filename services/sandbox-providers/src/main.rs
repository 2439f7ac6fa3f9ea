//! `dataorch-sandbox-providers`: runs the sandbox providers service.
//!
//! Environment:
//! - `DATAORCH_SANDBOX_LISTEN`: address to listen on, default `127.0.0.1:8090`.
//! - `DATAORCH_SANDBOX_LATENCY_MS`: delay added to every provider request, in milliseconds,
//!   default 0.
//! - `RUST_LOG`: log filter, default `info`.
//!
//! Runs until Ctrl-C or SIGTERM, then stops accepting connections, responds 503 to requests
//! held by the `timeout` and `slow` scenarios and exits.

use anyhow::Context;
use dataorch_sandbox::{SandboxConfig, run};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

const DEFAULT_LISTEN: &str = "127.0.0.1:8090";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = env_or("DATAORCH_SANDBOX_LISTEN", DEFAULT_LISTEN)?;
    let latency = env_or("DATAORCH_SANDBOX_LATENCY_MS", "0")?;
    let config = SandboxConfig {
        default_latency_ms: latency.parse().with_context(|| {
            format!("invalid DATAORCH_SANDBOX_LATENCY_MS `{latency}`: expected whole milliseconds")
        })?,
    };

    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("failed to listen on {listen} (DATAORCH_SANDBOX_LISTEN)"))?;

    run(config, listener, shutdown_signal()).await
}

/// Reads an environment variable, using `default` when it is unset.
fn env_or(name: &str, default: &str) -> anyhow::Result<String> {
    match std::env::var(name) {
        Ok(value) => Ok(value),
        Err(std::env::VarError::NotPresent) => Ok(default.to_owned()),
        Err(error) => Err(error).with_context(|| format!("invalid {name}")),
    }
}

/// Completes on Ctrl-C, or on SIGTERM where that exists.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "failed to listen for Ctrl-C; stop the process with SIGTERM");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "failed to listen for SIGTERM; stop the process with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => tracing::info!("received Ctrl-C"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}

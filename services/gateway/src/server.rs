//! The HTTP server loop. axum's `serve` has no header-read timeout, so connections are
//! served with hyper directly: a client that does not finish its request headers within
//! `gateway.header_read_timeout_ms` is disconnected, which keeps slowloris and idle
//! connections from piling up, and a request head over `gateway.max_header_bytes` gets 431.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    /// Maximum wait for open connections to finish after shutdown begins.
    pub drain_timeout: Duration,
}

/// Serves `app` until `shutdown` resolves, then stops accepting and lets open connections
/// finish their requests for up to `limits.drain_timeout`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Some(limits.header_read_timeout))
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(connection) => connection,
            Err(error) => {
                // Running out of file descriptors must not end the server; wait and retry.
                tracing::warn!(error = %error, "failed to accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }

    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        let grace_secs = limits.drain_timeout.as_secs();
        tracing::warn!(
            grace_secs,
            "connections still open after the grace period; closing them"
        );
    }
    Ok(())
}

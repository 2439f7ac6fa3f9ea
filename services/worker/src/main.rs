//! The dataorch-worker binary: loads configuration, then runs the worker until SIGTERM,
//! with the operations server (`/healthz`, `/readyz`, `/metrics`) on `ops.listen`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = dataorch_telemetry::Shutdown::on_signal();
    let settings = dataorch_telemetry::load_settings_from_args()
        .unwrap_or_else(|e| dataorch_telemetry::exit_with_config_error(format!("{e:#}")));
    settings
        .validate_worker()
        .unwrap_or_else(|e| dataorch_telemetry::exit_with_config_error(e));
    let _telemetry = dataorch_telemetry::init(&settings.telemetry, "dataorch-worker")?;
    dataorch_telemetry::ops::metrics_handle();

    let broker = dataorch_messaging::Broker::connect(&settings.nats).await?;
    let bound = Arc::new(AtomicBool::new(false));

    if !settings.ops.listen.is_empty() {
        let (broker, bound, draining) = (broker.clone(), bound.clone(), shutdown.clone());
        // Ready while bound to the consumer and connected; not ready once SIGTERM arrives.
        let ready: dataorch_telemetry::ops::ReadinessCheck = Arc::new(move || {
            let ready =
                bound.load(Ordering::SeqCst) && broker.is_connected() && !draining.has_begun();
            Box::pin(async move { ready })
        });
        let listen = settings.ops.listen.clone();
        let stop = shutdown.wait();
        tokio::spawn(async move {
            if let Err(error) = dataorch_telemetry::ops::serve(&listen, ready, stop).await {
                tracing::error!(error = %format!("{error:#}"), "operations server failed");
            }
        });
    }

    dataorch_worker::run_with_readiness(settings, broker, bound, shutdown.wait()).await
}

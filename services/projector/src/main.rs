//! The dataorch-projector binary: loads configuration, then runs the projector until
//! SIGTERM, with the operations server (`/healthz`, `/readyz`, `/metrics`) on `ops.listen`.

use std::sync::Arc;

use sea_orm::ConnectionTrait;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = dataorch_telemetry::Shutdown::on_signal();
    let settings = dataorch_telemetry::load_settings_from_args()
        .unwrap_or_else(|e| dataorch_telemetry::exit_with_config_error(format!("{e:#}")));
    settings
        .validate_projector()
        .unwrap_or_else(|e| dataorch_telemetry::exit_with_config_error(e));
    let _telemetry = dataorch_telemetry::init(&settings.telemetry, "dataorch-projector")?;
    dataorch_telemetry::ops::metrics_handle();

    let broker = dataorch_messaging::Broker::connect(&settings.nats).await?;
    let db = dataorch_storage::connect(&settings.database).await?;

    if !settings.ops.listen.is_empty() {
        let (broker, db, draining) = (broker.clone(), db.clone(), shutdown.clone());
        // Ready while NATS and the database answer; not ready once SIGTERM arrives.
        let ready: dataorch_telemetry::ops::ReadinessCheck = Arc::new(move || {
            let (broker, db, draining) = (broker.clone(), db.clone(), draining.clone());
            Box::pin(async move {
                !draining.has_begun()
                    && broker.is_connected()
                    && db.execute_unprepared("SELECT 1").await.is_ok()
            })
        });
        let listen = settings.ops.listen.clone();
        let stop = shutdown.wait();
        tokio::spawn(async move {
            if let Err(error) = dataorch_telemetry::ops::serve(&listen, ready, stop).await {
                tracing::error!(error = %format!("{error:#}"), "operations server failed");
            }
        });
    }

    dataorch_projector::run(settings, broker, db, shutdown.wait()).await
}

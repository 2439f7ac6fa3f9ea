//! The dataorch-worker binary: loads configuration, then runs the service until SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = dataorch_telemetry::shutdown_signal();
    let settings = dataorch_telemetry::load_settings_from_args()
        .unwrap_or_else(|e| dataorch_telemetry::exit_with_config_error(format!("{e:#}")));
    settings
        .validate_worker()
        .unwrap_or_else(|e| dataorch_telemetry::exit_with_config_error(e));
    dataorch_telemetry::init(&settings.telemetry)?;

    let broker = dataorch_messaging::Broker::connect(&settings.nats).await?;

    dataorch_worker::run(settings, broker, shutdown).await
}

//! The dataorch-gateway binary: loads configuration, then runs the service until SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = dataorch_telemetry::shutdown_signal();
    let settings = dataorch_telemetry::load_settings_from_args()
        .unwrap_or_else(|e| dataorch_telemetry::exit_with_config_error(format!("{e:#}")));
    settings
        .validate_gateway()
        .unwrap_or_else(|e| dataorch_telemetry::exit_with_config_error(e));
    let _telemetry = dataorch_telemetry::init(&settings.telemetry, "dataorch-gateway")?;

    let broker = dataorch_messaging::Broker::connect(&settings.nats).await?;
    let db = dataorch_storage::connect(&settings.database).await?;
    let listener = tokio::net::TcpListener::bind(&settings.gateway.listen).await?;

    dataorch_gateway::run(settings, broker, db, listener, shutdown).await
}

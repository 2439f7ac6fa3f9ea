//! Logging setup and the small pieces every service binary shares: loading configuration
//! from the command line and waiting for a shutdown signal.
//!
//! Log lines carry the same dotted field names in every service (`log.id`,
//! `application.id`, `template.id`, `step.key`, `tenant.id`, `duration_ms`); see
//! `docs/architecture.md`.

pub mod ops;
pub mod trace;

use std::path::PathBuf;

use dataorch_config::{LogFormat, Settings, TelemetrySettings};
use tracing_subscriber::EnvFilter;

/// Flushes and shuts down trace export when dropped; keep it alive for the whole process.
pub struct TelemetryGuard {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("trace export did not shut down cleanly: {error}");
        }
    }
}

/// Installs the global log subscriber and the OpenTelemetry tracer of `service`.
/// `RUST_LOG` overrides `telemetry.log_level`. Spans are exported over OTLP/HTTP when the
/// standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set,
/// configured by the other standard `OTEL_*` variables; without an endpoint nothing is
/// exported, but trace context still travels between services.
pub fn init(settings: &TelemetrySettings, service: &str) -> anyhow::Result<TelemetryGuard> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_level))
        .map_err(|error| {
            anyhow::anyhow!(
                "invalid telemetry.log_level `{}`: {error}",
                settings.log_level
            )
        })?;

    let exporting = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|value| !value.is_empty()));
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_string())
        .build();
    let mut builder =
        opentelemetry_sdk::trace::SdkTracerProvider::builder().with_resource(resource);
    if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .map_err(|error| anyhow::anyhow!("cannot build the OTLP exporter: {error}"))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    install(&provider, service, filter, settings.log_format)?;
    Ok(TelemetryGuard { provider })
}

/// Installs the global subscriber with logs in `format` and spans recorded by `provider`;
/// tests pass a provider with an in-memory exporter.
pub fn install(
    provider: &opentelemetry_sdk::trace::SdkTracerProvider,
    service: &str,
    filter: EnvFilter,
    format: LogFormat,
) -> anyhow::Result<()> {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    trace::install_propagator();
    opentelemetry::global::set_tracer_provider(provider.clone());
    let spans = tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_string()));
    // Colours only on a terminal, so that log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let text = (format == LogFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_target(true)
            .with_ansi(ansi)
    });
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .with(spans)
        .try_init()
        .map_err(|error| anyhow::anyhow!("cannot install the log subscriber: {error}"))
}

/// Loads settings for a service binary from `--config FILE` (or `DATAORCH_CONFIG`) and the
/// environment. Errors are printed to stderr by the caller, before logging is up.
pub fn load_settings_from_args() -> anyhow::Result<Settings> {
    let mut args = std::env::args().skip(1);
    let mut file: Option<PathBuf> = std::env::var_os("DATAORCH_CONFIG").map(PathBuf::from);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => {
                let path = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--config needs a file path"))?;
                file = Some(PathBuf::from(path));
            }
            "--help" | "-h" => {
                println!(
                    "usage: {} [--config FILE]\n\nSettings come from built-in defaults, FILE (or DATAORCH_CONFIG), then DATAORCH__SECTION__KEY environment variables.",
                    binary_name()
                );
                std::process::exit(0);
            }
            other => anyhow::bail!(
                "unknown argument `{other}`; usage: {} [--config FILE]",
                binary_name()
            ),
        }
    }
    Ok(Settings::load(file.as_deref())?)
}

fn binary_name() -> String {
    std::env::args().next().unwrap_or_else(|| "dataorch".into())
}

/// Returns a future that resolves on SIGTERM or SIGINT (Ctrl-C). The signal handlers are
/// installed when this is called, not when the future is first polled, so a signal that
/// arrives while the service is still connecting is not lost and does not kill the process.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => tracing::info!("received SIGTERM; shutting down"),
                        _ = interrupt.recv() => tracing::info!("received SIGINT; shutting down"),
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                    tracing::info!("received Ctrl-C; shutting down");
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("received Ctrl-C; shutting down");
    }
}

/// A shutdown that several tasks can wait for, and that readiness checks can read.
#[derive(Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    /// Starts listening for SIGTERM and SIGINT now (see [`shutdown_signal`]).
    pub fn on_signal() -> Shutdown {
        let signal = shutdown_signal();
        let (sender, receiver) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            signal.await;
            let _ = sender.send(true);
        });
        Shutdown(receiver)
    }

    /// Returns whether shutdown has begun; readiness checks fail from then on.
    pub fn has_begun(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when shutdown begins.
    pub fn wait(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.0.clone();
        async move {
            let _ = receiver.wait_for(|begun| *begun).await;
        }
    }
}

/// Prints a startup error to stderr and exits with status 2. Used before logging is up.
pub fn exit_with_config_error(error: impl std::fmt::Display) -> ! {
    eprintln!("error: {error}");
    std::process::exit(2);
}

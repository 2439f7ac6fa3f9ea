//! Logging setup and the small pieces every service binary shares: loading configuration
//! from the command line and waiting for a shutdown signal.
//!
//! Log lines carry the same dotted field names in every service (`log.id`,
//! `application.id`, `template.id`, `step.key`, `tenant.id`, `duration_ms`); see
//! `docs/architecture.md`.

pub mod ops;

use std::path::PathBuf;

use dataorch_config::{LogFormat, Settings, TelemetrySettings};
use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber. `RUST_LOG` overrides `telemetry.log_level`.
pub fn init(settings: &TelemetrySettings) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log_level))
        .map_err(|error| {
            anyhow::anyhow!(
                "invalid telemetry.log_level `{}`: {error}",
                settings.log_level
            )
        })?;
    // Colours only on a terminal, so that log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(ansi);
    let result = match settings.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    result.map_err(|error| anyhow::anyhow!("cannot install the log subscriber: {error}"))
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

    /// Whether shutdown has begun; readiness checks fail from then on.
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

//! Configuration for every dataorch service.
//!
//! Layers, later ones winning: the built-in defaults of [`Settings`], an optional TOML file
//! (`--config` or `DATAORCH_CONFIG`), then environment variables named
//! `DATAORCH__<SECTION>__<KEY>` (for example `DATAORCH__GATEWAY__LISTEN`). Each service calls
//! [`Settings::validate`] at start and exits with a message naming the bad key.
//! `deploy/local/dataorch.toml` lists every key with its default.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};

/// A string that never appears in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub nats: NatsSettings,
    pub database: DatabaseSettings,
    pub gateway: GatewaySettings,
    pub worker: WorkerSettings,
    pub projector: ProjectorSettings,
    pub sandbox: SandboxSettings,
    pub providers: ProviderSettings,
    pub telemetry: TelemetrySettings,
    pub rate_limit: RateLimitSettings,
    pub security: SecuritySettings,
    pub ops: OpsSettings,
}

/// The operations HTTP server of the worker and the projector: `/healthz`, `/readyz` and
/// `/metrics`. The gateway serves the same paths on its API port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpsSettings {
    /// Address such as `0.0.0.0:9090`; empty turns the server off.
    pub listen: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// Base64 of the 32-byte key that seals personal fields in commands; the same on every
    /// gateway and worker. `dataorch data-key` prints a new one.
    pub data_key: Secret,
}

/// Per-key request limits of the gateway, counted in each replica's memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Quota of every key whose tenant has none of its own.
    pub default: RateLimitQuota,
    /// Quotas by tenant id, for the keys of that tenant.
    pub tenants: std::collections::HashMap<String, RateLimitQuota>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            default: RateLimitQuota::default(),
            tenants: Default::default(),
        }
    }
}

/// `burst` requests at once, refilled at `per_second` requests per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitQuota {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for RateLimitQuota {
    fn default() -> Self {
        RateLimitQuota {
            per_second: 100,
            burst: 200,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsSettings {
    /// Server URL, `nats://host:port`.
    pub url: String,
    /// Prefix of stream and consumer names; lets several deployments share one server.
    pub stream_prefix: String,
    /// First token of every subject the services publish.
    pub subject_prefix: String,
    /// Replicas of each stream: 1 for a single server, 3 for a three-node cluster.
    pub replicas: usize,
    /// Deadline for connecting and for each JetStream request, in milliseconds.
    pub request_timeout_ms: u64,
    /// Window in which JetStream drops a command whose message id it has already stored,
    /// in seconds.
    pub duplicate_window_secs: u64,
}

impl Default for NatsSettings {
    fn default() -> Self {
        NatsSettings {
            url: "nats://127.0.0.1:4222".into(),
            stream_prefix: "DATAORCH".into(),
            subject_prefix: "dataorch".into(),
            replicas: 1,
            request_timeout_ms: 5_000,
            duplicate_window_secs: 120,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH?mode=rwc` or `postgres://USER:PASSWORD@HOST/DB`.
    pub url: Secret,
    pub max_connections: u32,
    /// Run pending migrations when a service starts (convenient locally; in Kubernetes a
    /// Job runs them once instead).
    pub migrate_on_start: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: Secret::new("sqlite://dataorch.db?mode=rwc"),
            max_connections: 8,
            migrate_on_start: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    pub listen: String,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// How long a read waits for the projector to catch up with the caller's writes, and
    /// how long a continue waits for the run to move past its halt, in milliseconds.
    pub consistency_timeout_ms: u64,
    /// Deadline of a whole request, in milliseconds.
    pub request_timeout_ms: u64,
    /// How long an execute `Idempotency-Key` is remembered, in seconds.
    pub idempotency_ttl_secs: u64,
    /// Time a client has to send a request's headers, in milliseconds; slower connections
    /// are closed, so idle or slowloris connections cannot pile up.
    pub header_read_timeout_ms: u64,
    /// Largest request head (request line and headers), in bytes; larger heads get 431.
    pub max_header_bytes: usize,
    /// Bearer token of the key-administration endpoints (`/admin/v1/...`); empty disables
    /// them.
    pub admin_token: Secret,
    /// After SIGTERM, how long open requests may take to finish, in seconds.
    pub shutdown_grace_secs: u64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            listen: "127.0.0.1:8080".into(),
            body_limit_bytes: 256 * 1024,
            consistency_timeout_ms: 3_000,
            request_timeout_ms: 15_000,
            idempotency_ttl_secs: 86_400,
            header_read_timeout_ms: 5_000,
            max_header_bytes: 16 * 1024,
            admin_token: Secret::default(),
            shutdown_grace_secs: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// Runs one worker replica executes at the same time.
    pub max_concurrent_runs: usize,
    /// Time JetStream waits for an ack before it redelivers a command to another worker, in
    /// seconds. Workers send in-progress acks at a third of it while a run is active.
    pub ack_wait_secs: u64,
    /// Deliveries of one command before JetStream stops redelivering it.
    pub max_deliver: i64,
    /// Largest provider response body accepted, in bytes. Step outputs travel in run events,
    /// and a NATS message is at most 1 MiB by default, so keep this well below that.
    pub max_response_bytes: usize,
    /// After SIGTERM, how long runs in flight may take to finish before their commands are
    /// released to other workers, in seconds.
    pub shutdown_grace_secs: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            max_concurrent_runs: 256,
            ack_wait_secs: 30,
            max_deliver: 5,
            max_response_bytes: 512 * 1024,
            shutdown_grace_secs: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectorSettings {
    /// Most stream messages written to the database in one transaction. The projector
    /// writes whatever has arrived, up to this many, without waiting for a batch to fill.
    pub batch_size: usize,
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        ProjectorSettings { batch_size: 256 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    pub listen: String,
    /// Delay added to every sandbox provider response, in milliseconds.
    pub latency_ms: u64,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            listen: "127.0.0.1:8090".into(),
            latency_ms: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSettings {
    pub kyb: ProviderConnection,
    pub business_credit: ProviderConnection,
    pub consumer_credit: ProviderConnection,
    pub bank_data: ProviderConnection,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        let sandbox = |kind: &str| ProviderConnection {
            base_url: format!("http://127.0.0.1:8090/{kind}"),
            api_key: Secret::default(),
        };
        ProviderSettings {
            kyb: sandbox("kyb"),
            business_credit: sandbox("business_credit"),
            consumer_credit: sandbox("consumer_credit"),
            bank_data: sandbox("bank_data"),
        }
    }
}

/// The address and credential of one provider kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConnection {
    pub base_url: String,
    /// Sent as `Authorization: Bearer <api_key>` when not empty.
    pub api_key: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// `tracing` filter directive, e.g. `info` or `info,dataorch_worker=debug`. `RUST_LOG`
    /// wins when set.
    pub log_level: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            log_format: LogFormat::Text,
            log_level: "info".into(),
        }
    }
}

/// A configuration fault, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot load configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl Settings {
    /// Loads defaults, then `file` if given, then `DATAORCH__*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Settings::load_from(file, Environment::default().source(None))
    }

    /// Loads like [`Settings::load`] with an explicit environment, for tests.
    pub fn load_from(
        file: Option<&Path>,
        environment: Environment,
    ) -> Result<Settings, ConfigError> {
        let defaults = Config::try_from(&Settings::default())?;
        let mut builder = Config::builder().add_source(defaults);
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }
        let environment = environment
            .prefix("DATAORCH")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true);
        let settings: Settings = builder.add_source(environment).build()?.try_deserialize()?;
        Ok(settings)
    }

    /// Checks the keys every service reads; services check their own sections on top.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.nats.url.starts_with("nats://") || self.nats.url.starts_with("tls://")) {
            return Err(invalid(
                "nats.url",
                format!("`{}` must start with nats:// or tls://", self.nats.url),
            ));
        }
        if !valid_name(&self.nats.stream_prefix) {
            return Err(invalid(
                "nats.stream_prefix",
                "use letters, digits, `_` and `-` only",
            ));
        }
        if !valid_name(&self.nats.subject_prefix) {
            return Err(invalid(
                "nats.subject_prefix",
                "use letters, digits, `_` and `-` only",
            ));
        }
        if !(1..=5).contains(&self.nats.replicas) {
            return Err(invalid("nats.replicas", "must be between 1 and 5"));
        }
        if self.nats.duplicate_window_secs == 0 {
            return Err(invalid(
                "nats.duplicate_window_secs",
                "must be greater than 0",
            ));
        }
        if self.nats.request_timeout_ms == 0 {
            return Err(invalid("nats.request_timeout_ms", "must be greater than 0"));
        }
        let url = self.database.url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid(
                "database.max_connections",
                "must be greater than 0",
            ));
        }
        Ok(())
    }

    fn validate_ops(&self) -> Result<(), ConfigError> {
        if !self.ops.listen.is_empty() {
            parse_listen("ops.listen", &self.ops.listen)?;
        }
        Ok(())
    }

    fn validate_data_key(&self) -> Result<(), ConfigError> {
        let key = self.security.data_key.expose().trim();
        // Base64 of 32 bytes is 44 characters ending in one `=`; the sealing code checks
        // the alphabet when it decodes the key.
        let valid = key.len() == 44 && key.ends_with('=') && !key.ends_with("==");
        if !valid {
            return Err(invalid(
                "security.data_key",
                "must be 32 bytes in base64, the same on every gateway and worker; `dataorch data-key` prints a new one",
            ));
        }
        Ok(())
    }

    pub fn validate_gateway(&self) -> Result<(), ConfigError> {
        self.validate()?;
        self.validate_data_key()?;
        parse_listen("gateway.listen", &self.gateway.listen)?;
        if self.gateway.body_limit_bytes < 1024 {
            return Err(invalid("gateway.body_limit_bytes", "must be at least 1024"));
        }
        let admin_token = self.gateway.admin_token.expose();
        if !admin_token.is_empty() && admin_token.len() < 32 {
            return Err(invalid(
                "gateway.admin_token",
                "must be empty (admin endpoints off) or at least 32 characters",
            ));
        }
        let quotas =
            std::iter::once(&self.rate_limit.default).chain(self.rate_limit.tenants.values());
        if quotas
            .into_iter()
            .any(|quota| quota.per_second == 0 || quota.burst == 0)
        {
            return Err(invalid(
                "rate_limit",
                "every per_second and burst must be greater than 0",
            ));
        }
        if self.gateway.header_read_timeout_ms == 0 {
            return Err(invalid(
                "gateway.header_read_timeout_ms",
                "must be greater than 0",
            ));
        }
        if self.gateway.max_header_bytes < 8192 {
            return Err(invalid("gateway.max_header_bytes", "must be at least 8192"));
        }
        if self.gateway.idempotency_ttl_secs < 60 {
            return Err(invalid(
                "gateway.idempotency_ttl_secs",
                "must be at least 60 seconds",
            ));
        }
        if self.gateway.request_timeout_ms == 0 {
            return Err(invalid(
                "gateway.request_timeout_ms",
                "must be greater than 0",
            ));
        }
        Ok(())
    }

    pub fn validate_worker(&self) -> Result<(), ConfigError> {
        self.validate()?;
        self.validate_ops()?;
        self.validate_data_key()?;
        if self.worker.max_concurrent_runs == 0 {
            return Err(invalid(
                "worker.max_concurrent_runs",
                "must be greater than 0",
            ));
        }
        if self.worker.ack_wait_secs < 3 {
            return Err(invalid(
                "worker.ack_wait_secs",
                "must be at least 3 seconds",
            ));
        }
        if self.worker.max_deliver < 1 {
            return Err(invalid("worker.max_deliver", "must be at least 1"));
        }
        for (key, connection) in [
            ("providers.kyb.base_url", &self.providers.kyb),
            (
                "providers.business_credit.base_url",
                &self.providers.business_credit,
            ),
            (
                "providers.consumer_credit.base_url",
                &self.providers.consumer_credit,
            ),
            ("providers.bank_data.base_url", &self.providers.bank_data),
        ] {
            let url = &connection.base_url;
            // NOTE: the worker's HTTP client is built without TLS, so https:// is rejected
            // here rather than failing on the first provider call.
            if !url.starts_with("http://") {
                return Err(invalid(
                    key,
                    format!(
                        "`{url}` must start with http://; TLS to providers is not built in yet"
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn validate_projector(&self) -> Result<(), ConfigError> {
        self.validate()?;
        self.validate_ops()?;
        if self.projector.batch_size == 0 || self.projector.batch_size > 10_000 {
            return Err(invalid(
                "projector.batch_size",
                "must be between 1 and 10000",
            ));
        }
        Ok(())
    }

    pub fn validate_sandbox(&self) -> Result<(), ConfigError> {
        parse_listen("sandbox.listen", &self.sandbox.listen).map(|_| ())
    }
}

/// Parses a `host:port` listen address, naming `key` when it is invalid.
pub fn parse_listen(key: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        invalid(
            key,
            format!("`{value}` is not an IP address and port such as 127.0.0.1:8080"),
        )
    })
}

fn valid_name(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn with_env(pairs: &[(&str, &str)]) -> Environment {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::default().source(Some(map))
    }

    #[test]
    fn defaults_validate() {
        let settings = Settings::load_from(None, with_env(&[])).unwrap();
        assert_eq!(settings, Settings::default());
        settings.validate_projector().unwrap();
        let error = settings.validate_gateway().unwrap_err().to_string();
        assert!(error.contains("security.data_key"), "{error}");

        let with_key = Settings::load_from(
            None,
            with_env(&[(
                "DATAORCH__SECURITY__DATA_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            )]),
        )
        .unwrap();
        with_key.validate_gateway().unwrap();
        with_key.validate_worker().unwrap();
    }

    #[test]
    fn environment_variables_override_defaults() {
        let settings = Settings::load_from(
            None,
            with_env(&[
                ("DATAORCH__GATEWAY__LISTEN", "0.0.0.0:9000"),
                ("DATAORCH__WORKER__MAX_CONCURRENT_RUNS", "12"),
                ("DATAORCH__PROVIDERS__KYB__BASE_URL", "http://kyb.internal"),
                ("DATAORCH__DATABASE__URL", "postgres://db/dataorch"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.gateway.listen, "0.0.0.0:9000");
        assert_eq!(settings.worker.max_concurrent_runs, 12);
        assert_eq!(settings.providers.kyb.base_url, "http://kyb.internal");
        assert_eq!(settings.database.url.expose(), "postgres://db/dataorch");
    }

    #[test]
    fn single_underscore_prefix_is_not_read() {
        let settings = Settings::load_from(
            None,
            with_env(&[("DATAORCH_GATEWAY__LISTEN", "0.0.0.0:9000")]),
        )
        .unwrap();
        assert_eq!(settings.gateway.listen, "127.0.0.1:8080");
    }

    #[test]
    fn invalid_value_names_key() {
        let mut settings = Settings::default();
        settings.security.data_key = Secret::new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        settings.gateway.listen = "localhost".into();
        let error = settings.validate_gateway().unwrap_err().to_string();
        assert!(error.contains("gateway.listen"), "{error}");
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let settings = Settings::default();
        let text = format!("{settings:?}");
        assert!(!text.contains("dataorch.db"), "{text}");
    }

    #[test]
    fn shipped_file_lists_valid_keys() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/dataorch.toml");
        let settings = Settings::load_from(Some(&path), with_env(&[])).unwrap();
        assert_eq!(settings, Settings::default(), "the file lists the defaults");
        settings.validate_projector().unwrap();
    }
}

//! HTTP connectors for the provider kinds. Each connector turns application data into the
//! provider's requests and the responses into a step output that rules can read. Outputs
//! keep the providers' own field names and never contain SSNs, dates of birth or access
//! tokens.

mod bank_data;
mod business_credit;
mod consumer_credit;
mod kyb;

use std::collections::BTreeMap;
use std::time::Duration;

use dataorch_config::{ProviderConnection, ProviderSettings};
use dataorch_contracts::application::ApplicationData;
use dataorch_contracts::template::ProviderKind;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

/// Returns the idempotency key of the provider calls made by step `step_key` of run
/// `log_id`. It is the same for every attempt and every worker, so a provider that honours
/// it bills a step once however often it is retried or taken over. A step that makes one
/// paid call per owner appends `-owner<index>`.
pub fn idempotency_key(log_id: i64, step_key: &str) -> String {
    format!("dataorch-{log_id}-{step_key}")
}

/// A failed provider call.
#[derive(Debug)]
pub struct ProviderError {
    pub message: String,
    /// Whether another attempt may succeed (network faults, timeouts, 408, 429, 5xx).
    pub retryable: bool,
}

impl ProviderError {
    pub fn retryable(message: impl Into<String>) -> Self {
        ProviderError {
            message: message.into(),
            retryable: true,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        ProviderError {
            message: message.into(),
            retryable: false,
        }
    }
}

/// The HTTP client and connections shared by every step of a worker.
pub struct ProviderClient {
    http: reqwest::Client,
    connections: ProviderSettings,
    max_response_bytes: usize,
}

/// One provider call in progress: connection, idempotency key and extra headers.
pub(crate) struct Call<'a> {
    client: &'a ProviderClient,
    connection: &'a ProviderConnection,
    idempotency_key: String,
    headers: &'a BTreeMap<String, String>,
}

impl ProviderClient {
    pub fn new(connections: &ProviderSettings, max_response_bytes: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("dataorch-worker/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ProviderClient {
            http,
            connections: connections.clone(),
            max_response_bytes,
        })
    }

    /// Runs the whole exchange of one provider step and returns its output.
    pub async fn call(
        &self,
        kind: ProviderKind,
        log_id: i64,
        step_key: &str,
        application: &ApplicationData,
        headers: &BTreeMap<String, String>,
    ) -> Result<Value, ProviderError> {
        let connection = match kind {
            ProviderKind::Kyb => &self.connections.kyb,
            ProviderKind::BusinessCredit => &self.connections.business_credit,
            ProviderKind::ConsumerCredit => &self.connections.consumer_credit,
            ProviderKind::BankData => &self.connections.bank_data,
        };
        let call = Call {
            client: self,
            connection,
            idempotency_key: idempotency_key(log_id, step_key),
            headers,
        };
        match kind {
            ProviderKind::Kyb => kyb::verify(&call, log_id, application).await,
            ProviderKind::BusinessCredit => business_credit::report(&call, application).await,
            ProviderKind::ConsumerCredit => consumer_credit::reports(&call, application).await,
            ProviderKind::BankData => bank_data::analyse(&call, application).await,
        }
    }
}

impl<'a> Call<'a> {
    /// Returns a call whose idempotency key has `suffix` appended, for a step that makes
    /// one paid call per item (one credit report per owner).
    pub(crate) fn for_item(&self, suffix: &str) -> Call<'a> {
        Call {
            client: self.client,
            connection: self.connection,
            idempotency_key: format!("{}-{suffix}", self.idempotency_key),
            headers: self.headers,
        }
    }

    /// Sends one request and returns the JSON body of a 2xx response.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Value, ProviderError> {
        let url = format!("{}{path}", self.connection.base_url.trim_end_matches('/'));
        let mut request = self
            .client
            .http
            .request(method.clone(), &url)
            .header("Idempotency-Key", &self.idempotency_key)
            .header("Accept", "application/json");
        let api_key = self.connection.api_key.expose();
        if !api_key.is_empty() {
            request = request.bearer_auth(api_key);
        }
        for (name, value) in self.headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        // An HTTP client span, named by method as the HTTP conventions require when no route
        // template is known; the provider receives its context in `traceparent`.
        let span = tracing::info_span!(
            "provider request",
            otel.name = method.as_str(),
            otel.kind = "client",
            http.request.method = method.as_str(),
            server.address = server_address(&url),
            url.path = path,
            http.response.status_code = tracing::field::Empty,
        );
        for (name, value) in dataorch_telemetry::trace::inject(&span) {
            request = request.header(name, value);
        }
        self.exchange(request, format!("{method} {path}"))
            .instrument(span)
            .await
    }

    /// Sends a built request and reads its response, within the caller's client span.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: String,
    ) -> Result<Value, ProviderError> {
        let mut response = request.send().await.map_err(|error| {
            ProviderError::retryable(format!("{endpoint} failed: {}", without_url(&error)))
        })?;
        let status = response.status();
        tracing::Span::current().record("http.response.status_code", status.as_u16());

        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| {
            ProviderError::retryable(format!(
                "{endpoint}: reading the body failed: {}",
                without_url(&error)
            ))
        })? {
            if bytes.len() + chunk.len() > self.client.max_response_bytes {
                return Err(ProviderError::permanent(format!(
                    "{endpoint}: response body exceeds {} bytes",
                    self.client.max_response_bytes
                )));
            }
            bytes.extend_from_slice(&chunk);
        }

        if !status.is_success() {
            let detail = error_detail(&bytes);
            let message = format!("{endpoint} returned HTTP {}{detail}", status.as_u16());
            let retryable = status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT;
            return Err(ProviderError { message, retryable });
        }
        // Strict parsing: a response with a key twice or a number beyond 2^53 is ambiguous, so
        // it fails the attempt like invalid JSON rather than being read one way silently.
        dataorch_contracts::strict_json::parse(&bytes).map_err(|error| {
            let detail = match error {
                dataorch_contracts::strict_json::StrictError::Syntax(message) => message,
                dataorch_contracts::strict_json::StrictError::Content { path, message } => {
                    format!("{path} {message}")
                }
            };
            ProviderError::retryable(format!("{endpoint} returned invalid JSON: {detail}"))
        })
    }
}

/// Returns the host of `url`, the `server.address` of an HTTP client span.
fn server_address(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_string))
        .unwrap_or_default()
}

/// Formats a reqwest error without its URL, which may carry identifiers.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "invalid body"
    } else {
        "request failed"
    };
    match std::error::Error::source(error) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_string(),
    }
}

/// Extracts a short, readable detail from a provider error body in any of the providers'
/// error shapes (`errors[].message`, Plaid's `error_code` and `error_message`).
fn error_detail(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    if let Some(code) = value.get("error_code").and_then(Value::as_str) {
        let text = value
            .get("error_message")
            .and_then(Value::as_str)
            .unwrap_or("");
        return format!(": {code} {}", truncate(text, 200))
            .trim_end()
            .to_string();
    }
    if let Some(message) = value.pointer("/errors/0/message").and_then(Value::as_str) {
        return format!(": {}", truncate(message, 200));
    }
    String::new()
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// Reads a string field of a provider response, or fails with the field's path.
pub(crate) fn required_str<'v>(
    value: &'v Value,
    pointer: &str,
    endpoint: &str,
) -> Result<&'v str, ProviderError> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ProviderError::permanent(format!("{endpoint} response has no string at {pointer}"))
        })
}

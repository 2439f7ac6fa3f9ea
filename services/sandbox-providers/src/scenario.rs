//! Call counting and failure injection for every provider route.
//!
//! Each provider request is first counted under its `Idempotency-Key` and endpoint, then
//! delayed by the configured latency, then handled as the `X-Sandbox-Scenario` header requests:
//!
//! | value | response |
//! |---|---|
//! | `slow:<ms>` | the normal response, after `<ms>` more milliseconds |
//! | `timeout` | none for 24 hours, then 504; 503 if the server shuts down first |
//! | `error:<status>` | `<status>` (400-599) with the provider's error body |
//! | `flaky:<n>` | 503 while this key and endpoint have been called at most `n` times |
//! | `malformed` | 200 with the invalid JSON `{"truncated": ` |
//! | `huge` | the normal response with a 5 MiB `sandbox_padding` string added to the body |

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::SandboxState;
use crate::error::Provider;
use crate::request::idempotency_key;

/// Header that selects an injected failure.
pub(crate) const SCENARIO_HEADER: &str = "x-sandbox-scenario";

const VALID_FORMS: &str = "slow:<ms>, timeout, error:<status 400-599>, flaky:<n>, malformed, huge";

/// How long the `timeout` scenario keeps a request open while the server runs.
const TIMEOUT_HOLD: Duration = Duration::from_secs(24 * 60 * 60);

/// Size of the string the `huge` scenario adds to a body, in bytes.
pub(crate) const HUGE_PADDING_BYTES: usize = 5 * 1024 * 1024;

/// Body of the `malformed` scenario: JSON cut off after the first key.
pub(crate) const MALFORMED_BODY: &str = r#"{"truncated": "#;

/// One parsed `X-Sandbox-Scenario` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Slow(u64),
    Timeout,
    Error(StatusCode),
    Flaky(u64),
    Malformed,
    Huge,
}

impl Scenario {
    /// Parses a header value, or returns `None` when it is not one of the valid forms.
    fn parse(value: &str) -> Option<Scenario> {
        match value.trim().split_once(':') {
            None => match value.trim() {
                "timeout" => Some(Scenario::Timeout),
                "malformed" => Some(Scenario::Malformed),
                "huge" => Some(Scenario::Huge),
                _ => None,
            },
            Some(("slow", millis)) => millis.parse().ok().map(Scenario::Slow),
            Some(("error", status)) => status
                .parse::<u16>()
                .ok()
                .filter(|status| (400..=599).contains(status))
                .and_then(|status| StatusCode::from_u16(status).ok())
                .map(Scenario::Error),
            Some(("flaky", failures)) => failures.parse().ok().map(Scenario::Flaky),
            Some(_) => None,
        }
    }
}

#[derive(Clone)]
struct InjectionContext {
    state: SandboxState,
    provider: Provider,
}

/// Adds counting and failure injection to a provider's routes.
pub(crate) fn with_injection(
    provider: Provider,
    routes: Router<SandboxState>,
    state: &SandboxState,
) -> Router<SandboxState> {
    let context = InjectionContext {
        state: state.clone(),
        provider,
    };
    routes.route_layer(middleware::from_fn_with_state(context, inject))
}

async fn inject(
    State(context): State<InjectionContext>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let endpoint = endpoint_name(&request);
    let key = idempotency_key(request.headers());
    let call_number = context.state.record_call(&key, &endpoint);
    request.extensions_mut().insert(context.provider);

    let response = match read_scenario(request.headers()) {
        Ok(scenario) => respond(&context, scenario, call_number, request, next).await,
        Err(message) => context.provider.error(StatusCode::BAD_REQUEST, message),
    };
    if response.status().is_success() {
        context.state.record_success(&key, &endpoint);
    }

    tracing::debug!(
        sandbox.endpoint = %endpoint,
        sandbox.idempotency_key = %key,
        sandbox.call_number = call_number,
        http.status = response.status().as_u16(),
        duration_ms = started.elapsed().as_millis() as u64,
        "provider request completed"
    );
    response
}

/// Names an endpoint by method and route template, such as `GET /kyb/v1/businesses/{id}`.
fn endpoint_name(request: &Request) -> String {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| request.uri().path(), MatchedPath::as_str);
    format!("{} {path}", request.method())
}

/// Reads the scenario header: `Ok(None)` when absent, `Err` with a message when invalid.
fn read_scenario(headers: &HeaderMap) -> Result<Option<Scenario>, String> {
    let Some(value) = headers.get(SCENARIO_HEADER) else {
        return Ok(None);
    };
    let Ok(text) = value.to_str() else {
        return Err(format!(
            "invalid X-Sandbox-Scenario header: the value is not visible ASCII; \
             valid forms: {VALID_FORMS}"
        ));
    };
    match Scenario::parse(text) {
        Some(scenario) => Ok(Some(scenario)),
        None => Err(format!(
            "invalid X-Sandbox-Scenario header value `{text}`; valid forms: {VALID_FORMS}"
        )),
    }
}

async fn respond(
    context: &InjectionContext,
    scenario: Option<Scenario>,
    call_number: u64,
    request: Request,
    next: Next,
) -> Response {
    let provider = context.provider;

    let mut delay = context.state.default_latency();
    if let Some(Scenario::Slow(millis)) = scenario {
        delay = delay.saturating_add(Duration::from_millis(millis));
    }
    if !context.state.sleep_unless_shutdown(delay).await {
        return shutting_down(provider);
    }

    match scenario {
        None | Some(Scenario::Slow(_)) => next.run(request).await,
        Some(Scenario::Timeout) => {
            if context.state.sleep_unless_shutdown(TIMEOUT_HOLD).await {
                provider.error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the timeout scenario held this request for 24 hours",
                )
            } else {
                shutting_down(provider)
            }
        }
        Some(Scenario::Error(status)) => provider.error(
            status,
            format!(
                "error injected by X-Sandbox-Scenario: error:{}",
                status.as_u16()
            ),
        ),
        Some(Scenario::Flaky(failures)) if call_number <= failures => provider.error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "error injected by X-Sandbox-Scenario: flaky:{failures} fails call \
                 {call_number} of {failures} for this idempotency key; retry"
            ),
        ),
        Some(Scenario::Flaky(_)) => next.run(request).await,
        Some(Scenario::Malformed) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            MALFORMED_BODY,
        )
            .into_response(),
        Some(Scenario::Huge) => add_padding(next.run(request).await).await,
    }
}

fn shutting_down(provider: Provider) -> Response {
    provider.error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the sandbox is shutting down; retry against a running sandbox",
    )
}

/// Adds a `sandbox_padding` string of [`HUGE_PADDING_BYTES`] to a JSON object body. Other
/// bodies are wrapped as `{"body": ..., "sandbox_padding": ...}`.
async fn add_padding(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(error = %error, "failed to read a response body to pad it");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };

    let padding = Value::String("x".repeat(HUGE_PADDING_BYTES));
    let padded = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(mut object)) => {
            object.insert("sandbox_padding".to_owned(), padding);
            Value::Object(object)
        }
        Ok(other) => json!({ "body": other, "sandbox_padding": padding }),
        Err(_) => json!({
            "body": String::from_utf8_lossy(&bytes),
            "sandbox_padding": padding,
        }),
    };

    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(padded.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_every_valid_form() {
        let cases = [
            ("slow:250", Scenario::Slow(250)),
            ("timeout", Scenario::Timeout),
            ("error:502", Scenario::Error(StatusCode::BAD_GATEWAY)),
            ("flaky:2", Scenario::Flaky(2)),
            ("malformed", Scenario::Malformed),
            ("huge", Scenario::Huge),
            (" huge ", Scenario::Huge),
        ];
        for (value, expected) in cases {
            assert_eq!(Scenario::parse(value), Some(expected), "value {value:?}");
        }
    }

    #[test]
    fn parse_rejects_invalid_values() {
        let cases = [
            "",
            "slow",
            "slow:",
            "slow:-1",
            "error:200",
            "error:600",
            "error:abc",
            "flaky:x",
            "teapot",
            "timeout:5",
            "huge:1",
        ];
        for value in cases {
            assert_eq!(Scenario::parse(value), None, "value {value:?}");
        }
    }
}

//! Provider kinds and the error bodies each one sends.
//!
//! A failure response has the shape of the provider the path belongs to, so that a worker's
//! error handling receives the same bodies as in production:
//!
//! - Middesk: `{"errors": [{"message", "parameter"?}]}`.
//! - Experian (business and consumer): `{"errors": [{"errorCode", "errorType", "message"}]}`.
//! - Plaid: `{"error_type", "error_code", "error_message", "display_message", "request_id"}`.

use axum::Json;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::derive;

/// One imitated provider kind, named by its path prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provider {
    Kyb,
    BusinessCredit,
    ConsumerCredit,
    BankData,
}

impl Provider {
    const ALL: [Provider; 4] = [
        Provider::Kyb,
        Provider::BusinessCredit,
        Provider::ConsumerCredit,
        Provider::BankData,
    ];

    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Provider::Kyb => "/kyb",
            Provider::BusinessCredit => "/business_credit",
            Provider::ConsumerCredit => "/consumer_credit",
            Provider::BankData => "/bank_data",
        }
    }

    fn for_path(path: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|provider| {
            path.strip_prefix(provider.prefix())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }

    /// Builds this provider's error response for a failure without a provider-specific code.
    pub(crate) fn error(self, status: StatusCode, message: impl Into<String>) -> Response {
        let message = message.into();
        match self {
            Provider::Kyb => middesk_error(status, message, None),
            Provider::BusinessCredit | Provider::ConsumerCredit => {
                ExperianError::new(status, code_from_reason(status), message).into_response()
            }
            Provider::BankData => PlaidError::from_status(status, message).into_response(),
        }
    }
}

/// Builds a Middesk error body. `parameter` names the request field at fault.
pub(crate) fn middesk_error(
    status: StatusCode,
    message: impl Into<String>,
    parameter: Option<String>,
) -> Response {
    let mut error = json!({ "message": message.into() });
    if let Some(parameter) = parameter {
        error["parameter"] = json!(parameter);
    }
    (status, Json(json!({ "errors": [error] }))).into_response()
}

/// An Experian error. `code` is the sandbox's own upper-snake-case code, such as
/// `MISSING_FIELD`.
pub(crate) struct ExperianError {
    status: StatusCode,
    code: String,
    message: String,
}

impl ExperianError {
    pub(crate) fn new(
        status: StatusCode,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ExperianError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// Returns the trimmed value, or a `MISSING_FIELD` error when it is missing or blank.
    pub(crate) fn require(value: Option<String>, field: &str) -> Result<String, Self> {
        match value.map(|value| value.trim().to_owned()) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ExperianError::missing_field(field)),
        }
    }

    pub(crate) fn missing_field(field: &str) -> Self {
        ExperianError::new(
            StatusCode::BAD_REQUEST,
            "MISSING_FIELD",
            format!("missing required field `{field}`"),
        )
    }

    pub(crate) fn invalid_field(field: &str, expected: &str) -> Self {
        ExperianError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            format!("invalid field `{field}`: expected {expected}"),
        )
    }
}

impl IntoResponse for ExperianError {
    fn into_response(self) -> Response {
        let error_type = if self.status.is_server_error() {
            "Server Error"
        } else {
            "Client Error"
        };
        let body = json!({
            "errors": [{
                "errorCode": self.code,
                "errorType": error_type,
                "message": self.message,
            }]
        });
        (self.status, Json(body)).into_response()
    }
}

/// A Plaid error. `display_message` is the text Plaid meant for end users, `None` for errors
/// the user cannot act on.
pub(crate) struct PlaidError {
    pub(crate) status: StatusCode,
    pub(crate) error_type: &'static str,
    pub(crate) error_code: String,
    pub(crate) error_message: String,
    pub(crate) display_message: Option<String>,
}

impl PlaidError {
    pub(crate) fn invalid_request(code: &str, message: impl Into<String>) -> Self {
        PlaidError {
            status: StatusCode::BAD_REQUEST,
            error_type: "INVALID_REQUEST",
            error_code: code.to_owned(),
            error_message: message.into(),
            display_message: None,
        }
    }

    pub(crate) fn invalid_input(code: &str, message: impl Into<String>) -> Self {
        PlaidError {
            error_type: "INVALID_INPUT",
            ..PlaidError::invalid_request(code, message)
        }
    }

    /// Maps a bare HTTP status to the Plaid error type and code that carry it.
    fn from_status(status: StatusCode, message: String) -> Self {
        let (error_type, error_code) = match status.as_u16() {
            400 => ("INVALID_REQUEST", "INVALID_FIELD"),
            401 => ("INVALID_INPUT", "INVALID_API_KEYS"),
            404 => ("INVALID_REQUEST", "NOT_FOUND"),
            405 => ("INVALID_REQUEST", "INVALID_HTTP_METHOD"),
            429 => ("RATE_LIMIT_EXCEEDED", "RATE_LIMIT_EXCEEDED"),
            503 => ("API_ERROR", "PLANNED_MAINTENANCE"),
            code if code >= 500 => ("API_ERROR", "INTERNAL_SERVER_ERROR"),
            _ => ("INVALID_REQUEST", "INVALID_FIELD"),
        };
        PlaidError {
            status,
            error_type,
            error_code: error_code.to_owned(),
            error_message: message,
            display_message: None,
        }
    }
}

impl IntoResponse for PlaidError {
    fn into_response(self) -> Response {
        let mut rng = derive::SeededRng::from_parts(&[
            b"plaid.error",
            self.error_code.as_bytes(),
            self.error_message.as_bytes(),
        ]);
        let body = json!({
            "error_type": self.error_type,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "display_message": self.display_message,
            "request_id": rng.alphanumeric(15),
        });
        (self.status, Json(body)).into_response()
    }
}

/// Turns a status's reason phrase into a code: 503 gives `SERVICE_UNAVAILABLE`.
fn code_from_reason(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => reason
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect(),
        None => format!("HTTP_{}", status.as_u16()),
    }
}

/// Responds to paths no route matches, in the provider's shape under a provider prefix.
pub(crate) async fn not_found_fallback(method: Method, uri: Uri) -> Response {
    let message = format!("endpoint {method} {} not found", uri.path());
    match Provider::for_path(uri.path()) {
        Some(provider) => provider.error(StatusCode::NOT_FOUND, message),
        None => {
            let body = json!({
                "error": format!(
                    "{message}; provider kinds are served under /kyb, /business_credit, \
                     /consumer_credit and /bank_data"
                )
            });
            (StatusCode::NOT_FOUND, Json(body)).into_response()
        }
    }
}

/// Responds to a known path called with the wrong method.
pub(crate) async fn method_not_allowed_fallback(method: Method, uri: Uri) -> Response {
    let message = format!("method {method} is not allowed on {}", uri.path());
    match Provider::for_path(uri.path()) {
        Some(provider) => provider.error(StatusCode::METHOD_NOT_ALLOWED, message),
        None => (
            StatusCode::METHOD_NOT_ALLOWED,
            Json(json!({ "error": message })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_found_by_prefix() {
        assert_eq!(
            Provider::for_path("/kyb/v1/businesses"),
            Some(Provider::Kyb)
        );
        assert_eq!(Provider::for_path("/bank_data"), Some(Provider::BankData));
        assert_eq!(Provider::for_path("/kybx/v1"), None);
        assert_eq!(Provider::for_path("/healthz"), None);
    }

    #[test]
    fn reason_code_is_upper_snake_case() {
        assert_eq!(
            code_from_reason(StatusCode::SERVICE_UNAVAILABLE),
            "SERVICE_UNAVAILABLE"
        );
        assert_eq!(
            code_from_reason(StatusCode::from_u16(599).unwrap()),
            "HTTP_599"
        );
    }
}

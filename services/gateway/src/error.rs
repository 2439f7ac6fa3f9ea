//! The gateway's one error type and its HTTP form.
//!
//! Bodies follow the Laravel shape of the reference API: `message`, `errors` (422 only) and
//! `meta.error_code`, a stable snake_case code. A client that sends
//! `Accept: application/problem+json` gets the same error as an RFC 9457 problem document.
//! 5xx bodies never carry internals; the cause is logged once, here.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dataorch_messaging::MessagingError;
use serde_json::{Value, json};

pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub errors: Option<FieldErrors>,
    /// Seconds after which a retry makes sense, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: None,
            retry_after: None,
        }
    }

    pub fn unauthenticated() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated.",
        )
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found."),
        )
    }

    /// Builds a 422 that names one field.
    pub fn field(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut errors = FieldErrors::new();
        errors.insert(field.to_string(), vec![message.clone()]);
        ApiError::validation_with_code(code, errors, Some(message))
    }

    /// Builds a 422 with every field error; the message is the first one, Laravel style.
    pub fn validation(errors: FieldErrors) -> Self {
        ApiError::validation_with_code("validation_failed", errors, None)
    }

    fn validation_with_code(
        code: &'static str,
        errors: FieldErrors,
        message: Option<String>,
    ) -> Self {
        let count: usize = errors.values().map(Vec::len).sum();
        let first = errors
            .values()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_else(|| "The given data was invalid.".into());
        let message = message.unwrap_or_else(|| {
            if count > 1 {
                format!(
                    "{first} (and {} more error{})",
                    count - 1,
                    if count > 2 { "s" } else { "" }
                )
            } else {
                first
            }
        });
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            message,
            errors: Some(errors),
            retry_after: None,
        }
    }

    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, context, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error.",
        )
    }

    pub fn database(error: sea_orm::DbErr) -> Self {
        tracing::error!(error = %error, "database request failed");
        let mut api_error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "The database is unavailable. Retrying the request later is safe.",
        );
        api_error.retry_after = Some(1);
        api_error
    }

    pub fn broker(error: MessagingError) -> Self {
        match error {
            MessagingError::Unavailable(_) => {
                tracing::warn!(error = %error, "NATS unavailable; request rejected");
                let mut api_error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "broker_unavailable",
                    "The message broker is unavailable, so the request was not accepted. Retrying it is safe.",
                );
                api_error.retry_after = Some(1);
                api_error
            }
            other => ApiError::internal("publishing a command", other),
        }
    }

    fn laravel_body(&self) -> Value {
        let mut body = json!({ "message": self.message, "meta": { "error_code": self.code } });
        if let Some(errors) = &self.errors {
            body["errors"] = json!(errors);
        }
        body
    }

    fn problem_body(&self) -> Value {
        let mut body = json!({
            "type": format!("https://dataorch.dev/errors/{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.message,
            "error_code": self.code,
        });
        if let Some(errors) = &self.errors {
            body["errors"] = json!(errors);
        }
        body
    }

    /// Renders the error in the form the request's `Accept` header requests.
    pub fn render(self, request_headers: &HeaderMap) -> Response {
        let wants_problem = request_headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.contains("application/problem+json"));
        let (body, content_type) = if wants_problem {
            (self.problem_body(), "application/problem+json")
        } else {
            (self.laravel_body(), "application/json")
        };
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Handlers and extractors cannot see the request's `Accept` header, so errors render as
/// Laravel bodies and carry a copy of themselves. The `problem_details` middleware
/// re-renders them for clients that request RFC 9457.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let copy = self.clone();
        let mut response = self.render(&HeaderMap::new());
        response.extensions_mut().insert(copy);
        response
    }
}

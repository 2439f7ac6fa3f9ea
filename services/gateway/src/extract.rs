//! Request body and path extraction with API-shaped errors.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header;
use serde_json::Value;

use crate::error::ApiError;

/// A JSON object body. Rejects a wrong content type (415), a body over the limit (413),
/// malformed JSON (400) and any JSON that is not an object (422).
pub struct JsonObject(pub serde_json::Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json"
            && !(mime.starts_with("application/") && mime.ends_with("+json"))
        {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The request body must be JSON; send Content-Type: application/json.",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "The request body is larger than the gateway accepts.",
                    )
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_body",
                        "The request body could not be read.",
                    )
                }
            })?;
        let value =
            dataorch_contracts::strict_json::parse(&bytes).map_err(|error| match error {
                dataorch_contracts::strict_json::StrictError::Syntax(message) => {
                    let message = if message.contains("recursion limit") {
                        "The request body is nested more than 128 levels deep.".to_string()
                    } else {
                        format!("The request body is not valid JSON: {message}.")
                    };
                    ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", message)
                }
                dataorch_contracts::strict_json::StrictError::Content { path, message } => {
                    let field = if path.is_empty() {
                        "body".to_string()
                    } else {
                        path
                    };
                    let mut errors = crate::error::FieldErrors::new();
                    errors.insert(field.clone(), vec![format!("The {field} field {message}.")]);
                    ApiError::validation(errors)
                }
            })?;
        match value {
            Value::Object(map) => Ok(JsonObject(map)),
            _ => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "The request body must be a JSON object.",
            )),
        }
    }
}

/// Reads a required string field, in the reference API's wording.
pub fn required_string(
    body: &serde_json::Map<String, Value>,
    field: &str,
    errors: &mut crate::error::FieldErrors,
) -> Option<String> {
    let label = field.replace('_', " ");
    match body.get(field) {
        None | Some(Value::Null) => {
            errors
                .entry(field.to_string())
                .or_default()
                .push(format!("The {label} field is required."));
            None
        }
        Some(Value::String(text)) if text.trim().is_empty() => {
            errors
                .entry(field.to_string())
                .or_default()
                .push(format!("The {label} field is required."));
            None
        }
        Some(Value::String(text)) if text.chars().count() > 200 => {
            errors.entry(field.to_string()).or_default().push(format!(
                "The {label} field must not be greater than 200 characters."
            ));
            None
        }
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            errors
                .entry(field.to_string())
                .or_default()
                .push(format!("The {label} field must be a string."));
            None
        }
    }
}

/// Parses a log id from a path segment. Anything but a positive integer in plain decimal
/// digits (no sign, no leading zero) is 404, as an unknown route would be.
pub fn parse_log_id(segment: &str) -> Result<i64, ApiError> {
    let plain = !segment.is_empty()
        && segment.bytes().all(|b| b.is_ascii_digit())
        && !segment.starts_with('0');
    match segment.parse::<i64>() {
        Ok(id) if plain && id > 0 => Ok(id),
        _ => Err(ApiError::not_found("Log")),
    }
}

/// Normalizes a resource id from a path or body: UUIDs in any case become the lower-case
/// hyphenated form they are stored in; other ids are used as given.
pub fn normalize_id(id: &str) -> String {
    match uuid::Uuid::parse_str(id) {
        Ok(uuid) => uuid.hyphenated().to_string(),
        Err(_) => id.to_string(),
    }
}

/// A query string, with rejections (a repeated or malformed parameter) as API errors.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!(
                    "The query string is invalid: {}. Give each parameter once.",
                    rejection
                        .body_text()
                        .trim_start_matches("Failed to deserialize query string: ")
                ),
            )),
        }
    }
}

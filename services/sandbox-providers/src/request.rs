//! Request parsing shared by the provider handlers.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::derive;
use crate::error::{ExperianError, PlaidError, Provider, middesk_error};

/// Header whose value groups retries of one logical call.
pub(crate) const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Returns the `Idempotency-Key` header, or `""` when the request has none.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> String {
    headers
        .get(IDEMPOTENCY_KEY_HEADER)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// A JSON request body parsed into `T`. A body that cannot be read or parsed is rejected
/// with 400 in the shape of the provider the route belongs to.
///
/// Unknown fields are ignored, as the imitated providers do, so credentials that real
/// clients put in the body (Plaid's `client_id` and `secret`) are accepted.
pub(crate) struct ProviderJson<T> {
    pub(crate) value: T,
    raw: Bytes,
}

impl<T> ProviderJson<T> {
    /// Derives a UUID v5 from `purpose` and the raw body, so identical requests get
    /// identical ids.
    pub(crate) fn derive_id(&self, purpose: &str) -> uuid::Uuid {
        derive::uuid_from(&[purpose.as_bytes(), &self.raw])
    }
}

impl<S, T> FromRequest<S> for ProviderJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Some(provider) = request.extensions().get::<Provider>().copied() else {
            tracing::error!(
                http.path = request.uri().path(),
                "provider route is missing the failure-injection layer"
            );
            return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
        };

        let raw = match Bytes::from_request(request, state).await {
            Ok(raw) => raw,
            Err(rejection) => {
                return Err(provider.error(rejection.status(), rejection.body_text()));
            }
        };

        match parse_json(&raw) {
            Ok(value) => Ok(ProviderJson { value, raw }),
            Err(error) => Err(error.into_provider_response(provider)),
        }
    }
}

/// Reason a request body failed to parse.
enum BodyError {
    /// The body is not JSON. The message has serde_json's position but no input text.
    Syntax(String),
    /// The body is JSON but a field has the wrong type or a required field is missing.
    Data {
        path: String,
        /// serde_json's message, which can quote the offending value.
        detail: String,
    },
}

fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, BodyError> {
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_data() {
            BodyError::Data {
                path,
                detail: inner.to_string(),
            }
        } else {
            BodyError::Syntax(inner.to_string())
        }
    })?;
    deserializer
        .end()
        .map_err(|error| BodyError::Syntax(error.to_string()))?;
    Ok(value)
}

impl BodyError {
    fn into_provider_response(self, provider: Provider) -> Response {
        let syntax = matches!(self, BodyError::Syntax(_));
        let message = match &self {
            BodyError::Syntax(detail) => format!("request body is not valid JSON: {detail}"),
            // Values in a credit report request are personal data, so its messages name the
            // field but never quote the value.
            BodyError::Data { path, .. } if provider == Provider::ConsumerCredit => {
                format!("request body field `{path}` has the wrong type or is missing")
            }
            BodyError::Data { path, detail } => {
                format!("request body field `{path}` is invalid: {detail}")
            }
        };

        match provider {
            Provider::Kyb => {
                let parameter = match self {
                    BodyError::Data { path, .. } if path != "." => Some(path),
                    _ => None,
                };
                middesk_error(StatusCode::BAD_REQUEST, message, parameter)
            }
            Provider::BusinessCredit | Provider::ConsumerCredit => {
                let code = if syntax {
                    "INVALID_JSON"
                } else {
                    "INVALID_REQUEST_BODY"
                };
                ExperianError::new(StatusCode::BAD_REQUEST, code, message).into_response()
            }
            Provider::BankData => {
                let code = if syntax {
                    "INVALID_BODY"
                } else {
                    "INVALID_FIELD"
                };
                PlaidError::invalid_request(code, message).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Sample {
        #[allow(dead_code)]
        name: String,
    }

    #[test]
    fn trailing_text_is_syntax_error() {
        let result = parse_json::<Sample>(br#"{"name": "a"} extra"#);
        assert!(matches!(result, Err(BodyError::Syntax(_))));
    }

    #[test]
    fn wrong_type_names_field_path() {
        let Err(BodyError::Data { path, .. }) = parse_json::<Sample>(br#"{"name": 5}"#) else {
            panic!("expected a data error");
        };
        assert_eq!(path, "name");
    }

    #[test]
    fn missing_header_gives_empty_key() {
        assert_eq!(idempotency_key(&HeaderMap::new()), "");
    }
}

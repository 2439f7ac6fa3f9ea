//! Bearer API keys and per-key rate limits.
//!
//! The `authenticate` middleware runs on every `/api/v2` route: it looks the token's
//! SHA-256 hash up (tokens are random 256-bit values, so a fast hash is enough to make a
//! leaked table useless), applies the key's rate limit, and stores the [`Caller`] for the
//! handlers. The lookup happens on every request, so a revoked key stops working at once on
//! every replica.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: String,
    pub key_id: String,
    /// The key's name, recorded as the actor of a continue.
    pub key_name: String,
}

/// Returns the stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 256)
        .then_some(token)
}

/// Authenticates the request and applies the key's rate limit. Requests without a valid key
/// go on unauthenticated; handlers that need a caller reject them with 401.
pub async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let caller = match bearer_token(&parts) {
        Some(token) => {
            match dataorch_storage::queries::active_key_by_hash(&state.db, &hash_token(token)).await
            {
                Ok(Some(key)) => Some(Caller {
                    tenant_id: key.tenant_id,
                    key_id: key.id,
                    key_name: key.name,
                }),
                Ok(None) => None,
                Err(error) => return ApiError::database(error).into_response(),
            }
        }
        None => None,
    };
    let Some(caller) = caller else {
        return next.run(Request::from_parts(parts, body)).await;
    };

    let decision = state.rate_limits.check(&caller.tenant_id, &caller.key_id);
    if let Some(decision) = &decision
        && !decision.allowed
    {
        tracing::info!(tenant.id = %caller.tenant_id, key.id = %caller.key_id, "rate limit exceeded");
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "Too many requests for this API key; retry in {} s.",
                decision.retry_after_secs
            ),
        );
        error.retry_after = Some(decision.retry_after_secs);
        let mut response = error.into_response();
        decision.apply(response.headers_mut());
        return response;
    }

    parts.extensions.insert(caller);
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some(decision) = decision {
        decision.apply(response.headers_mut());
    }
    response
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(ApiError::unauthenticated)
    }
}

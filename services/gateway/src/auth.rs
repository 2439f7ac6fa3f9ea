//! Bearer API keys. Only the SHA-256 hash of a token is stored; the tokens are random
//! 256-bit values, so a fast hash is enough to make a leaked table useless.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant_id: String,
    /// The key's name, recorded as the actor of a continue.
    pub key_name: String,
}

/// Returns the stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthenticated());
        };
        let Ok(value) = value.to_str() else {
            return Err(ApiError::unauthenticated());
        };
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(ApiError::unauthenticated()),
        };
        if token.is_empty() || token.len() > 256 {
            return Err(ApiError::unauthenticated());
        }
        let key = dataorch_storage::queries::active_key_by_hash(&state.db, &hash_token(token))
            .await
            .map_err(ApiError::database)?;
        match key {
            Some(key) => Ok(Caller {
                tenant_id: key.tenant_id,
                key_name: key.name,
            }),
            None => Err(ApiError::unauthenticated()),
        }
    }
}

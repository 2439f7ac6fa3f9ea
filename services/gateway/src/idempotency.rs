//! `Idempotency-Key` on execute, following the IETF idempotency-key draft: a repeat with the
//! same body returns the first request's log, the same key with another body is 422, and a
//! repeat while the first request is still being accepted is 409.
//!
//! Records live in a JetStream key-value bucket for `gateway.idempotency_ttl_secs` (24 hours
//! by default), far longer than the stream's two-minute duplicate window, and are shared by
//! every gateway replica. A record is created with a create-if-absent write, so exactly one
//! of several concurrent requests with the same key publishes the command.

use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Age after which a pending record counts as abandoned. Its gateway died between storing
/// the command and finishing the record, so the next request finishes it.
const ABANDONED_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    /// SHA-256 of the request fields that define the run.
    body_hash: String,
    /// The log id once the command is stored.
    log_id: Option<i64>,
    started_at: DateTime<Utc>,
}

/// The next action of an execute with a key.
pub enum Claim {
    /// This request owns the key: publish, then call [`finish`] with the revision.
    New { key: String, revision: u64 },
    /// An earlier request with the same body already created this log.
    Done { log_id: i64 },
    /// An earlier request was abandoned before it recorded its log. Publish again with the
    /// same message id, which returns the stored command if there is one, then finish.
    Resume { key: String, revision: u64 },
}

/// Reads the `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub fn header_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let valid = value.to_str().ok().filter(|text| {
        !text.is_empty() && text.len() <= 255 && text.bytes().all(|b| b.is_ascii_graphic())
    });
    match valid {
        Some(text) => Ok(Some(text.to_string())),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
        )),
    }
}

/// Returns the bucket key for a tenant's client key. Client keys are hashed because bucket
/// keys allow only a few characters.
fn bucket_key(tenant_id: &str, client_key: &str) -> String {
    let digest = Sha256::digest(format!("{tenant_id}\n{client_key}").as_bytes());
    format!("execute.{}", hex::encode(digest))
}

/// Returns the hash that identifies a request body.
pub fn body_hash(template_id: &str, application_id: &str) -> String {
    hex::encode(Sha256::digest(
        format!("{template_id}\n{application_id}").as_bytes(),
    ))
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %error, "idempotency store unavailable");
    let mut api_error = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "broker_unavailable",
        "The message broker is unavailable, so the request was not accepted. Retrying it is safe.",
    );
    api_error.retry_after = Some(1);
    api_error
}

/// Claims `client_key` for a request with `hash`.
pub async fn claim(
    store: &kv::Store,
    tenant_id: &str,
    client_key: &str,
    hash: &str,
) -> Result<Claim, ApiError> {
    let key = bucket_key(tenant_id, client_key);
    let record = Record {
        body_hash: hash.to_string(),
        log_id: None,
        started_at: Utc::now(),
    };
    let payload = Bytes::from(
        serde_json::to_vec(&record)
            .map_err(|e| ApiError::internal("encoding idempotency record", e))?,
    );
    match store.create(&key, payload).await {
        Ok(revision) => return Ok(Claim::New { key, revision }),
        Err(error) if matches!(error.kind(), CreateErrorKind::AlreadyExists) => {}
        Err(error) => return Err(unavailable(error)),
    }

    let entry = store.entry(&key).await.map_err(unavailable)?;
    let Some(entry) = entry else {
        // Expired between the two calls; the client may simply retry.
        return Err(in_progress());
    };
    let existing: Record = serde_json::from_slice(&entry.value)
        .map_err(|e| ApiError::internal("decoding idempotency record", e))?;
    if existing.body_hash != hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different request body; use a new key for a new request.",
        ));
    }
    match existing.log_id {
        Some(log_id) => Ok(Claim::Done { log_id }),
        None => {
            let age = (Utc::now() - existing.started_at)
                .to_std()
                .unwrap_or_default();
            if age < ABANDONED_AFTER {
                Err(in_progress())
            } else {
                Ok(Claim::Resume {
                    key,
                    revision: entry.revision,
                })
            }
        }
    }
}

fn in_progress() -> ApiError {
    let mut error = ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_key_in_progress",
        "A request with this Idempotency-Key is still being accepted; retry shortly to get its result.",
    );
    error.retry_after = Some(1);
    error
}

/// Records the log id under a claimed key. A lost race (another gateway finished an
/// abandoned record first) is harmless: both publishes used one message id.
pub async fn finish(store: &kv::Store, key: &str, revision: u64, hash: &str, log_id: i64) {
    let record = Record {
        body_hash: hash.to_string(),
        log_id: Some(log_id),
        started_at: Utc::now(),
    };
    let Ok(payload) = serde_json::to_vec(&record) else {
        return;
    };
    if let Err(error) = store.update(key, Bytes::from(payload), revision).await {
        tracing::warn!(log.id = log_id, error = %error, "failed to record the log id of an Idempotency-Key");
    }
}

/// Returns the JetStream message id of a keyed execute, so that a publish repeated within
/// the duplicate window stores one command.
pub fn message_id(tenant_id: &str, client_key: &str) -> String {
    format!(
        "execute:{}",
        &bucket_key(tenant_id, client_key)["execute.".len()..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_tenant_scoped() {
        assert_ne!(bucket_key("a", "k"), bucket_key("b", "k"));
        assert_eq!(bucket_key("a", "k"), bucket_key("a", "k"));
    }

    #[test]
    fn body_hash_separates_fields() {
        assert_ne!(body_hash("ab", "c"), body_hash("a", "bc"));
    }
}

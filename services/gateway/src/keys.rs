//! API key management shared by the admin endpoints and the command line.
//!
//! Tokens are `do_` and 64 hex digits (256 random bits). Only their SHA-256 hash is
//! stored. Every request looks its key up in the database, so a revocation takes effect on
//! every gateway replica with the next request.

use chrono::Utc;
use dataorch_storage::entities::api_keys;
use dataorch_storage::{DatabaseConnection, DbErr, queries};

use crate::auth::hash_token;

/// A key as created: the token is returned once and never stored.
pub struct CreatedKey {
    pub key: api_keys::Model,
    pub token: String,
}

/// Creates the tenant if needed and a new key named `name` for it.
pub async fn create(
    db: &DatabaseConnection,
    tenant_id: &str,
    name: &str,
) -> Result<CreatedKey, DbErr> {
    let now = dataorch_contracts::time::now_micros();
    queries::ensure_tenant(db, tenant_id, tenant_id, Utc::now()).await?;
    let token = format!("do_{}", hex::encode(rand::random::<[u8; 32]>()));
    let key = api_keys::Model {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant_id.to_string(),
        name: name.to_string(),
        key_hash: hash_token(&token),
        created_at: now,
        revoked_at: None,
    };
    queries::insert_api_key(db, key.clone()).await?;
    Ok(CreatedKey { key, token })
}

/// Revokes a key by id; returns it, or `None` for an unknown id.
pub async fn revoke(db: &DatabaseConnection, id: &str) -> Result<Option<api_keys::Model>, DbErr> {
    queries::revoke_api_key(db, id, dataorch_contracts::time::now_micros()).await
}

/// Lists a tenant's keys, newest first.
pub async fn list(db: &DatabaseConnection, tenant_id: &str) -> Result<Vec<api_keys::Model>, DbErr> {
    queries::api_keys(db, tenant_id).await
}

/// Checks that a tenant id or key name is 1 to 64 letters, digits, `-`, `_` or `.`.
pub fn valid_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

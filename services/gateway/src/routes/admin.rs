//! Key administration behind the admin token (`gateway.admin_token`). With no admin token
//! configured these routes answer 404, as if they did not exist.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use dataorch_contracts::time::format_api;
use dataorch_storage::entities::api_keys;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, FieldErrors};
use crate::extract::{JsonObject, required_string};
use crate::keys;
use crate::{AppState, openapi};

/// A request that presented the admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let expected = state.admin_token.expose();
        if expected.is_empty() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "route_not_found",
                "No route matches this path.",
            ));
        }
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map_or("", |(_, token)| token.trim());
        // Comparing digests keeps the comparison time independent of where the tokens differ.
        if Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.as_bytes()) {
            Ok(Admin)
        } else {
            Err(ApiError::unauthenticated())
        }
    }
}

fn key_view(key: &api_keys::Model) -> Value {
    json!({
        "id": key.id,
        "tenant_id": key.tenant_id,
        "name": key.name,
        "created_at": format_api(&key.created_at),
        "revoked_at": key.revoked_at.as_ref().map(format_api),
    })
}

fn check_tenant(tenant_id: &str) -> Result<(), ApiError> {
    if keys::valid_name(tenant_id) {
        Ok(())
    } else {
        Err(ApiError::field(
            "validation_failed",
            "tenant_id",
            "The tenant id must be 1 to 64 letters, digits, `-`, `_` or `.`.",
        ))
    }
}

/// `POST /admin/v1/tenants/{tenant_id}/keys`: creates a key; the token is shown only here.
#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant_id}/keys",
    operation_id = "createApiKey",
    tag = "administration",
    summary = "Create an API key",
    description = "Creates the tenant if it is new and a key for it. The token is shown only in this answer; only its SHA-256 hash is stored.",
    security(("adminAuth" = [])),
    params(("tenant_id" = String, Path, description = "1 to 64 letters, digits, `-`, `_` or `.`.")),
    request_body(content = openapi::CreateKeyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The key and its token.", body = openapi::CreatedAdminKeyEnvelope),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthenticated),
        (status = 404, response = openapi::NotFound),
        (status = 408, response = openapi::RequestTimeout),
        (status = 413, response = openapi::PayloadTooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::ValidationFailed),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
)]
pub async fn create_key(
    State(state): State<AppState>,
    _admin: Admin,
    Path(tenant_id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    check_tenant(&tenant_id)?;
    let mut errors = FieldErrors::new();
    let name = required_string(&body, "name", &mut errors);
    for field in body.keys().filter(|field| field.as_str() != "name") {
        errors
            .entry(field.clone())
            .or_default()
            .push(format!("The {field} field is not allowed."));
    }
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    if !keys::valid_name(&name) {
        return Err(ApiError::field(
            "validation_failed",
            "name",
            "The name must be 1 to 64 letters, digits, `-`, `_` or `.`.",
        ));
    }
    let created = keys::create(&state.db, &tenant_id, &name)
        .await
        .map_err(ApiError::database)?;
    tracing::info!(tenant.id = %tenant_id, key.id = %created.key.id, "API key created");
    let mut data = key_view(&created.key);
    data["token"] = Value::String(created.token);
    Ok((StatusCode::CREATED, Json(json!({ "data": data }))))
}

/// `GET /admin/v1/tenants/{tenant_id}/keys`: the tenant's keys, without tokens or hashes.
#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant_id}/keys",
    operation_id = "listApiKeys",
    tag = "administration",
    summary = "List a tenant's API keys",
    description = "The tenant's keys, newest first, revoked ones included; never tokens or hashes.",
    security(("adminAuth" = [])),
    params(("tenant_id" = String, Path, description = "1 to 64 letters, digits, `-`, `_` or `.`.")),
    responses(
        (status = 200, description = "The keys.", body = openapi::AdminKeyListEnvelope),
        (status = 401, response = openapi::Unauthenticated),
        (status = 404, response = openapi::NotFound),
        (status = 408, response = openapi::RequestTimeout),
        (status = 422, response = openapi::ValidationFailed),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
)]
pub async fn list_keys(
    State(state): State<AppState>,
    _admin: Admin,
    Path(tenant_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    check_tenant(&tenant_id)?;
    let list = keys::list(&state.db, &tenant_id)
        .await
        .map_err(ApiError::database)?;
    Ok(Json(
        json!({ "data": list.iter().map(key_view).collect::<Vec<_>>() }),
    ))
}

/// `DELETE /admin/v1/keys/{key_id}`: revokes a key at once on every gateway replica.
#[utoipa::path(
    delete,
    path = "/admin/v1/keys/{key_id}",
    operation_id = "revokeApiKey",
    tag = "administration",
    summary = "Revoke an API key",
    description = "Revokes the key; it stops working at once on every gateway replica. Revoking twice keeps the first revocation time.",
    security(("adminAuth" = [])),
    params(("key_id" = String, Path, description = "The key's id.")),
    responses(
        (status = 200, description = "The revoked key.", body = openapi::AdminKeyEnvelope),
        (status = 401, response = openapi::Unauthenticated),
        (status = 404, response = openapi::NotFound),
        (status = 408, response = openapi::RequestTimeout),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    _admin: Admin,
    Path(key_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    match keys::revoke(&state.db, &key_id)
        .await
        .map_err(ApiError::database)?
    {
        Some(key) => {
            tracing::info!(tenant.id = %key.tenant_id, key.id = %key.id, "API key revoked");
            Ok(Json(json!({ "data": key_view(&key) })))
        }
        None => Err(ApiError::not_found("API key")),
    }
}

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use dataorch_contracts::application::ApplicationData;
use dataorch_contracts::time::now_micros;
use dataorch_storage::entities::applications;
use dataorch_storage::queries;
use serde_json::{Value, json};

use super::body_errors::field_error;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonObject, normalize_id};
use crate::views;

/// `POST /api/v2/applications`: registers application data for later runs.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let data: ApplicationData =
        serde_path_to_error::deserialize(Value::Object(body)).map_err(|error| {
            let path = error.path().to_string();
            ApiError::validation(field_error(&path, &error.into_inner().to_string()))
        })?;
    data.validate().map_err(ApiError::validation)?;

    let row = applications::Model {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: caller.tenant_id,
        external_id: data.external_id.clone(),
        data: serde_json::to_string(&data)
            .map_err(|e| ApiError::internal("encoding application", e))?,
        created_at: now_micros(),
    };
    queries::insert_application(&state.db, row.clone())
        .await
        .map_err(ApiError::database)?;
    tracing::info!(application.id = %row.id, tenant.id = %row.tenant_id, "application registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "data": views::application(&row, data.masked()) })),
    ))
}

/// `GET /api/v2/applications/{id}`: the application with personal fields masked.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let row = queries::application(&state.db, &caller.tenant_id, &normalize_id(&id))
        .await
        .map_err(ApiError::database)?
        .ok_or_else(|| ApiError::not_found("Application"))?;
    let data: ApplicationData = serde_json::from_str(&row.data)
        .map_err(|e| ApiError::internal("decoding stored application", e))?;
    Ok(Json(
        json!({ "data": views::application(&row, data.masked()) }),
    ))
}

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
use crate::openapi;
use crate::views;

/// `POST /api/v2/applications`: registers application data for later runs.
#[utoipa::path(
    post,
    path = "/api/v2/applications",
    operation_id = "createApplication",
    tag = "applications",
    summary = "Register an application",
    description = "Registers the business, owners, requested loan and bank link that template \
        steps read. A field that is not in the schema is rejected with 422 naming it. The \
        answer masks owners' SSNs to their last four digits, dates of birth to their year and \
        the bank link token to its last four characters.",
    security(("bearerAuth" = [])),
    request_body(content = openapi::ApplicationInput, content_type = "application/json"),
    responses(
        (status = 201, description = "The application, personal fields masked.", body = openapi::ApplicationEnvelope),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthenticated),
        (status = 408, response = openapi::RequestTimeout),
        (status = 413, response = openapi::PayloadTooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::ValidationFailed),
        (status = 429, response = openapi::TooManyRequests),
        (status = 500, response = openapi::InternalError),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/api/v2/applications/{id}",
    operation_id = "showApplication",
    tag = "applications",
    summary = "Show an application",
    description = "The application with personal fields masked, as `POST /api/v2/applications` \
        returned it.",
    security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "The application's id.")),
    responses(
        (status = 200, description = "The application, personal fields masked.", body = openapi::ApplicationEnvelope),
        (status = 401, response = openapi::Unauthenticated),
        (status = 404, response = openapi::NotFound),
        (status = 408, response = openapi::RequestTimeout),
        (status = 429, response = openapi::TooManyRequests),
        (status = 500, response = openapi::InternalError),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
)]
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

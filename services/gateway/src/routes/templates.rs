use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use dataorch_storage::queries;
use serde_json::json;

use super::IncludeQuery;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::openapi;
use crate::views;

/// `GET /api/v2/data_orchestration/templates`: the newest published version of each template.
#[utoipa::path(
    get,
    path = "/api/v2/data_orchestration/templates",
    operation_id = "listTemplates",
    tag = "data orchestration",
    summary = "List published templates",
    description = "The newest published version of each of the tenant's templates.",
    security(("bearerAuth" = [])),
    params(openapi::IncludeParams),
    responses(
        (status = 200, description = "The templates.", body = openapi::TemplateListEnvelope),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthenticated),
        (status = 408, response = openapi::RequestTimeout),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<IncludeQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let rows = queries::published_templates(&state.db, &caller.tenant_id)
        .await
        .map_err(ApiError::database)?;
    let data: Vec<_> = rows
        .iter()
        .map(|row| views::template(row, query.steps()))
        .collect();
    Ok(Json(json!({ "data": data })))
}

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
use crate::views;

/// `GET /api/v2/data_orchestration/templates`: the newest published version of each template.
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

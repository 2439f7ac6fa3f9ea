use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use dataorch_storage::entities::logs;
use dataorch_storage::queries;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::consistency;
use crate::error::ApiError;
use crate::extract::{ApiQuery, normalize_id, parse_log_id};
use crate::openapi;
use crate::views;

const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 500;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    before: Option<String>,
    include: Option<String>,
}

/// `GET /api/v2/applications/{application_id}/data_orch`: the application's logs, newest first.
#[utoipa::path(
    get,
    path = "/api/v2/applications/{application_id}/data_orch",
    operation_id = "listLogs",
    tag = "data orchestration",
    summary = "List an application's logs",
    description = "The application's logs, newest first. Without parameters this behaves \
        like the reference API; `limit` and `before` page through the list.",
    security(("bearerAuth" = [])),
    params(
        ("application_id" = String, Path, description = "The application's id."),
        openapi::LogListParams,
    ),
    responses(
        (status = 200, description = "The logs, newest first.", body = openapi::LogListEnvelope),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthenticated),
        (status = 404, response = openapi::NotFound),
        (status = 408, response = openapi::RequestTimeout),
        (status = 422, response = openapi::ValidationFailed),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(application_id): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = match query.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u64>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
            _ => {
                return Err(ApiError::field(
                    "validation_failed",
                    "limit",
                    format!("The limit field must be an integer between 1 and {MAX_LIMIT}."),
                ));
            }
        },
    };
    let before = match query.before.as_deref() {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(before) if before > 0 => Some(before),
            _ => {
                return Err(ApiError::field(
                    "validation_failed",
                    "before",
                    "The before field must be a positive log id.",
                ));
            }
        },
    };
    let application_id = normalize_id(&application_id);
    let include_steps = query
        .include
        .as_deref()
        .is_some_and(|value| value.split(',').any(|p| p.trim() == "steps"));

    queries::application(&state.db, &caller.tenant_id, &application_id)
        .await
        .map_err(ApiError::database)?
        .ok_or_else(|| ApiError::not_found("Application"))?;
    consistency::wait_for_all_commands(&state).await?;

    let rows =
        queries::logs_for_application(&state.db, &caller.tenant_id, &application_id, limit, before)
            .await
            .map_err(ApiError::database)?;
    let mut data = Vec::with_capacity(rows.len());
    for row in &rows {
        data.push(render(&state, row, include_steps).await?);
    }
    Ok(Json(json!({ "data": data })))
}

/// `GET /api/v2/applications/{application_id}/data_orch/{log_id}`.
#[utoipa::path(
    get,
    path = "/api/v2/applications/{application_id}/data_orch/{log_id}",
    operation_id = "showLog",
    tag = "data orchestration",
    summary = "Show one log",
    description = "One log of the application. 404 for an unknown log, a log of another \
        application or tenant, or a `log_id` that is not a positive integer.",
    security(("bearerAuth" = [])),
    params(
        ("application_id" = String, Path, description = "The application's id."),
        ("log_id" = i64, Path, minimum = 1, description = "The log's id."),
        openapi::IncludeParams,
    ),
    responses(
        (status = 200, description = "The log.", body = openapi::LogEnvelope),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthenticated),
        (status = 404, response = openapi::NotFound),
        (status = 408, response = openapi::RequestTimeout),
        (status = 429, response = openapi::TooManyRequests),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((application_id, log_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<super::IncludeQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let log_id = parse_log_id(&log_id)?;
    let application_id = normalize_id(&application_id);
    let row = find_log(&state, &caller, log_id).await?;
    if row.application_id != application_id {
        return Err(ApiError::not_found("Log"));
    }
    Ok(Json(
        json!({ "data": render(&state, &row, query.steps()).await? }),
    ))
}

/// Finds a log of the caller's tenant. A log id the commands stream has reached but the read
/// model has not is waited for, so a GET right after an execute finds the run.
pub async fn find_log(
    state: &AppState,
    caller: &Caller,
    log_id: i64,
) -> Result<logs::Model, ApiError> {
    if let Some(row) = queries::log(&state.db, &caller.tenant_id, log_id)
        .await
        .map_err(ApiError::database)?
    {
        return Ok(row);
    }
    let accepted = match state.broker.commands_last_sequence().await {
        Ok(last) => log_id as u64 <= last,
        Err(_) => false,
    };
    if accepted
        && consistency::wait_for_commands(state, log_id as u64).await?
        && let Some(row) = queries::log(&state.db, &caller.tenant_id, log_id)
            .await
            .map_err(ApiError::database)?
    {
        return Ok(row);
    }
    Err(ApiError::not_found("Log"))
}

async fn render(
    state: &AppState,
    row: &logs::Model,
    include_steps: bool,
) -> Result<Value, ApiError> {
    let log = views::log(row);
    if !include_steps {
        return Ok(log);
    }
    let steps = queries::log_steps(&state.db, row.id)
        .await
        .map_err(ApiError::database)?;
    let overrides = queries::log_overrides(&state.db, row.id)
        .await
        .map_err(ApiError::database)?;
    Ok(views::with_steps(log, &steps, &overrides))
}

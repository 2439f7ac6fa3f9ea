use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use dataorch_contracts::application::ApplicationData;
use dataorch_contracts::commands::{Command, CommandEnvelope, ContinueCommand, ExecuteCommand};
use dataorch_contracts::status::RunStatus;
use dataorch_contracts::template::Template;
use dataorch_contracts::time::{format_api, now_micros};
use dataorch_storage::queries;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::AppState;
use crate::auth::Caller;
use crate::consistency;
use crate::error::{ApiError, FieldErrors};
use crate::extract::{JsonObject, normalize_id, parse_log_id, required_string};
use crate::openapi;
use crate::routes::logs::find_log;
use crate::{idempotency, views};

/// Longest `comment` accepted on a continue, in characters.
const MAX_COMMENT_CHARS: usize = 2_000;

/// `POST /api/v2/data_orchestration/execute`: accepts a run. The response is sent only after
/// JetStream has stored the command, whose sequence becomes the log id.
#[utoipa::path(
    post,
    path = "/api/v2/data_orchestration/execute",
    operation_id = "executeTemplate",
    tag = "data orchestration",
    summary = "Start a run",
    description = "Starts a run of a published template for an application and responds once \
        the run is stored, with its log in status 1 (pending) and a `Location` header. The \
        reference API returns 200 here, not 201.\n\n\
        422 codes: `validation_failed` (a field is missing, invalid or unknown, or the \
        template or application does not exist for the caller's tenant) and \
        `idempotency_key_reused`.\n\n\
        With an `Idempotency-Key`, a repeat with the same body returns the first request's \
        log, the same key with another body is 422 `idempotency_key_reused`, and a repeat \
        while the first request is still being accepted is 409. Keys are per tenant and kept \
        for `gateway.idempotency_ttl_secs` (24 hours by default).",
    security(("bearerAuth" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "1 to 255 visible ASCII characters that identify this request. \
                Repeats with the same key get the first request's response."),
    ),
    request_body(content = openapi::ExecuteRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The run was accepted, and its log has status 1.", body = openapi::LogEnvelope,
            headers(("Location" = String, description = "The log's path."))),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthenticated),
        (status = 408, response = openapi::RequestTimeout),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::PayloadTooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::ValidationFailed),
        (status = 429, response = openapi::TooManyRequests),
        (status = 500, response = openapi::InternalError),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
)]
pub async fn execute(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let mut errors = FieldErrors::new();
    let template_id = required_string(&body, "template_id", &mut errors);
    let application_id = required_string(&body, "application_id", &mut errors);
    for key in body.keys() {
        if key != "template_id" && key != "application_id" {
            errors
                .entry(key.clone())
                .or_default()
                .push(format!("The {key} field is not allowed."));
        }
    }
    let (Some(template_id), Some(application_id)) = (template_id, application_id) else {
        return Err(ApiError::validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (template_id, application_id) = (normalize_id(&template_id), normalize_id(&application_id));
    let client_key = idempotency::header_key(&headers)?;
    require_broker(&state)?;

    let template_row = queries::published_template(&state.db, &caller.tenant_id, &template_id)
        .await
        .map_err(ApiError::database)?;
    let application_row = queries::application(&state.db, &caller.tenant_id, &application_id)
        .await
        .map_err(ApiError::database)?;
    if template_row.is_none() {
        errors.insert(
            "template_id".into(),
            vec!["The selected template id is invalid: no published template with this id.".into()],
        );
    }
    if application_row.is_none() {
        errors.insert(
            "application_id".into(),
            vec!["The selected application id is invalid.".into()],
        );
    }
    let (Some(template_row), Some(application_row)) = (template_row, application_row) else {
        return Err(ApiError::validation(errors));
    };
    let template: Template = serde_json::from_str(&template_row.definition)
        .map_err(|e| ApiError::internal("decoding stored template", e))?;
    let application: ApplicationData = serde_json::from_str(&application_row.data)
        .map_err(|e| ApiError::internal("decoding stored application", e))?;

    // A keyed repeat returns the first request's log.
    let hash = idempotency::body_hash(&template_row.id, &application_id);
    let claim = match &client_key {
        Some(client_key) => Some(
            idempotency::claim(&state.idempotency, &caller.tenant_id, client_key, &hash).await?,
        ),
        None => None,
    };
    if let Some(idempotency::Claim::Done { log_id }) = claim {
        let row = find_log(&state, &caller, log_id).await?;
        return Ok(log_response(views::log(&row), &application_id, log_id));
    }

    let created_at = now_micros();
    let command = ExecuteCommand {
        tenant_id: caller.tenant_id.clone(),
        application_id: application_id.clone(),
        created_at,
        template,
        application: state
            .data_key
            .seal(&application, &caller.tenant_id, &application_id),
    };
    let message_id = client_key
        .as_deref()
        .map(|key| idempotency::message_id(&caller.tenant_id, key));
    let publish = publish_span("dataorch.commands.execute");
    let envelope = CommandEnvelope::new(
        Command::Execute(Box::new(command)),
        dataorch_telemetry::trace::inject(&publish),
    );
    let (sequence, duplicate) = state
        .broker
        .publish_command(&envelope, message_id.as_deref())
        .instrument(publish)
        .await
        .map_err(ApiError::broker)?;
    let log_id = sequence as i64;
    if let Some(
        idempotency::Claim::New { key, revision } | idempotency::Claim::Resume { key, revision },
    ) = &claim
    {
        idempotency::finish(&state.idempotency, key, *revision, &hash, log_id).await;
    }
    tracing::info!(log.id = log_id, template.id = %template_row.id, application.id = %application_id, tenant.id = %caller.tenant_id, duplicate, "run accepted");
    if duplicate {
        // JetStream kept the first command of this message id, so return that command's log.
        let row = find_log(&state, &caller, log_id).await?;
        return Ok(log_response(views::log(&row), &application_id, log_id));
    }

    let log = json!({
        "id": log_id,
        "outcome": Value::Null,
        "internal_error": Value::Null,
        "status": RunStatus::Pending.code(),
        "created_at": format_api(&created_at),
        "started_at": Value::Null,
        "finished_at": Value::Null,
        "master_status": RunStatus::Pending.name(),
        "application_id": application_id,
        "template_id": template_row.id,
        "template_version": template_row.version,
    });
    Ok(log_response(log, &application_id, log_id))
}

/// `200 {"data": log}` with the log's `Location`.
fn log_response(log: Value, application_id: &str, log_id: i64) -> axum::response::Response {
    let location = format!("/api/v2/applications/{application_id}/data_orch/{log_id}");
    let mut response = (StatusCode::OK, Json(json!({ "data": log }))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Rejects a write at once while NATS is disconnected, instead of letting it wait for the
/// publish deadline.
fn require_broker(state: &AppState) -> Result<(), ApiError> {
    if state.broker.is_connected() {
        Ok(())
    } else {
        Err(ApiError::broker(
            dataorch_messaging::MessagingError::Unavailable("not connected".into()),
        ))
    }
}

/// `PUT /api/v2/data_orchestration/{log_id}/continue_pass`: continues a halted run as pass.
#[utoipa::path(
    put,
    path = "/api/v2/data_orchestration/{log_id}/continue_pass",
    operation_id = "continuePass",
    tag = "data orchestration",
    summary = "Continue a halted run as pass",
    description = "Records a pass for the step the run is halted on and lets the run go on. \
        404 for an unknown log or a `log_id` that is not a positive integer.\n\n\
        422 codes: `validation_failed` (a field is missing, invalid or unknown), \
        `application_mismatch` (`application_id` does not own the log) and `run_not_halted`.",
    security(("bearerAuth" = [])),
    params(("log_id" = i64, Path, minimum = 1, description = "The log's id.")),
    request_body(content = openapi::ContinueRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "The continue was accepted.", body = openapi::ContinueAccepted),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthenticated),
        (status = 404, response = openapi::NotFound),
        (status = 408, response = openapi::RequestTimeout),
        (status = 413, response = openapi::PayloadTooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::ValidationFailed),
        (status = 429, response = openapi::TooManyRequests),
        (status = 500, response = openapi::InternalError),
        (status = 503, response = openapi::ServiceUnavailable),
    ),
)]
pub async fn continue_pass(
    State(state): State<AppState>,
    caller: Caller,

    Path(log_id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<impl IntoResponse, ApiError> {
    let log_id = parse_log_id(&log_id)?;
    let mut errors = FieldErrors::new();
    let application_id = required_string(&body, "application_id", &mut errors);
    let comment = match body.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.chars().count() <= MAX_COMMENT_CHARS => {
            Some(text.clone())
        }
        Some(Value::String(_)) => {
            errors.entry("comment".into()).or_default().push(format!(
                "The comment field must not be greater than {MAX_COMMENT_CHARS} characters."
            ));
            None
        }
        Some(_) => {
            errors
                .entry("comment".into())
                .or_default()
                .push("The comment field must be a string.".into());
            None
        }
    };
    for key in body.keys() {
        if key != "application_id" && key != "comment" {
            errors
                .entry(key.clone())
                .or_default()
                .push(format!("The {key} field is not allowed."));
        }
    }
    let Some(application_id) = application_id else {
        return Err(ApiError::validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let application_id = normalize_id(&application_id);
    require_broker(&state)?;

    let row = find_log(&state, &caller, log_id).await?;
    if row.application_id != application_id {
        return Err(ApiError::field(
            "application_mismatch",
            "application_id",
            "The application id does not own this log.",
        ));
    }
    let status = RunStatus::from_code(row.status).unwrap_or(RunStatus::Error);
    let Some(step_key) = row
        .halted_step
        .clone()
        .filter(|_| status == RunStatus::Halted)
    else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "run_not_halted",
            format!(
                "The run is {}, not halted; only a halted run can be continued as pass.",
                status.name()
            ),
        ));
    };

    let command = ContinueCommand {
        tenant_id: caller.tenant_id.clone(),
        log_id,
        application_id,
        step_key: step_key.clone(),
        actor: caller.key_name.clone(),
        comment,
        requested_at: now_micros(),
    };
    // Concurrent continues of one halt share a message id, so JetStream stores one of them;
    // the worker's conditional append covers repeats after the duplicate window.
    let message_id = format!("continue:{log_id}:{step_key}:{}", row.last_event_seq);
    // The continue request has a trace of its own, linked to the run's.
    if let Ok((_, run_trace)) = state.broker.execute_command(log_id).await {
        dataorch_telemetry::trace::add_link(&tracing::Span::current(), &run_trace);
    }
    let publish = publish_span("dataorch.commands.continue");
    let envelope = CommandEnvelope::new(
        Command::Continue(command),
        dataorch_telemetry::trace::inject(&publish),
    );
    state
        .broker
        .publish_command(&envelope, Some(&message_id))
        .instrument(publish)
        .await
        .map_err(ApiError::broker)?;
    tracing::info!(log.id = log_id, step.key = %step_key, tenant.id = %caller.tenant_id, "continue accepted");

    // Read-your-writes: respond once the read model shows the run past this halt.
    let halt_sequence = row.last_event_seq;
    // The command is stored: from here on the answer is 202 whatever the database does, so
    // a client never retries a continue that was accepted.
    let moved = consistency::wait_until(&state, || async {
        let current = queries::log(&state.db, &caller.tenant_id, log_id).await;
        Ok(current
            .ok()
            .flatten()
            .is_some_and(|current| current.last_event_seq > halt_sequence))
    })
    .await
    .unwrap_or(false);
    if !moved {
        tracing::warn!(
            log.id = log_id,
            "continue accepted but not yet visible in the read model"
        );
    }
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

/// Creates a producer span for publishing to `destination`, named by the OpenTelemetry
/// messaging conventions.
fn publish_span(destination: &'static str) -> tracing::Span {
    tracing::info_span!(
        "publish",
        otel.name = format!("send {destination}"),
        otel.kind = "producer",
        messaging.system = dataorch_telemetry::trace::attributes::MESSAGING_SYSTEM,
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = destination,
    )
}

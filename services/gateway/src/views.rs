//! JSON shapes of the API's objects, built from read-model rows.

use chrono::{DateTime, Utc};
use dataorch_contracts::status::RunStatus;
use dataorch_contracts::time::format_api;
use dataorch_storage::entities::{applications, log_overrides, log_steps, logs, templates};
use serde_json::{Value, json};

fn timestamp(at: Option<&DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |at| Value::String(format_api(at)))
}

/// Builds the log object: the reference fields plus `application_id`, `template_id` and
/// `template_version`.
pub fn log(row: &logs::Model) -> Value {
    let status = RunStatus::from_code(row.status);
    json!({
        "id": row.id,
        "outcome": row.outcome,
        "internal_error": row.internal_error,
        "status": row.status,
        "created_at": timestamp(Some(&row.created_at)),
        "started_at": timestamp(row.started_at.as_ref()),
        "finished_at": timestamp(row.finished_at.as_ref()),
        "master_status": status.map(RunStatus::name),
        "application_id": row.application_id,
        "template_id": row.template_id,
        "template_version": row.template_version,
    })
}

/// Adds `steps` and `overrides` to a log object.
pub fn with_steps(
    mut log: Value,
    steps: &[log_steps::Model],
    overrides: &[log_overrides::Model],
) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .map(|step| {
            json!({
                "key": step.key,
                "type": step.step_type,
                "status": step.status,
                "outcome": step.outcome,
                "reason": step.reason,
                "attempts": step.attempts,
                "started_at": timestamp(step.started_at.as_ref()),
                "finished_at": timestamp(step.finished_at.as_ref()),
                "error": step.error,
                "output": step.output.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok()),
            })
        })
        .collect();
    let overrides: Vec<Value> = overrides
        .iter()
        .map(|entry| {
            json!({
                "step": entry.step,
                "actor": entry.actor,
                "comment": entry.comment,
                "created_at": timestamp(Some(&entry.created_at)),
            })
        })
        .collect();
    log["steps"] = Value::Array(steps);
    log["overrides"] = Value::Array(overrides);
    log
}

/// Builds the template object of the reference list, plus `version` and, on request, `steps`.
pub fn template(row: &templates::Model, include_steps: bool) -> Value {
    let workflow: Value = serde_json::from_str(&row.workflow).unwrap_or_else(|_| json!([]));
    let mut value = json!({
        "id": row.id,
        "short_id": row.short_id,
        "name": row.name,
        "description": row.description,
        "workflow": workflow,
        "trigger": row.trigger,
        "created_at": timestamp(Some(&row.created_at)),
        "updated_at": timestamp(Some(&row.updated_at)),
        "deleted_at": timestamp(row.deleted_at.as_ref()),
        "status": row.status,
        "version": row.version,
    });
    if include_steps {
        let definition: Value = serde_json::from_str(&row.definition).unwrap_or(Value::Null);
        value["steps"] = definition
            .get("steps")
            .cloned()
            .unwrap_or_else(|| json!([]));
    }
    value
}

/// Builds an application object with personal fields masked.
pub fn application(row: &applications::Model, masked: Value) -> Value {
    let mut value = json!({ "id": row.id, "created_at": timestamp(Some(&row.created_at)) });
    if let Value::Object(fields) = masked {
        for (key, field) in fields {
            value[key] = field;
        }
    }
    value
}

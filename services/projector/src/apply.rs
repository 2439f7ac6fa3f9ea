//! Writes batches of stream messages into the read model.

use std::collections::BTreeMap;

use bytes::Bytes;
use dataorch_contracts::commands::Command;
use dataorch_contracts::events::RunEvent;
use dataorch_contracts::status::RunStatus;
use dataorch_messaging::{decode_command, decode_event};
use dataorch_storage::entities::{log_overrides, log_steps, logs, projection_offsets};
use dataorch_storage::{COMMANDS_OFFSET, EVENTS_OFFSET};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set, TransactionTrait};

/// Writes the pending rows of the execute commands in `messages` (sequence, payload) and
/// advances the commands offset, in one transaction. Continue commands only advance the
/// offset: their effect reaches the read model through the run's events.
pub async fn apply_command_batch(
    db: &DatabaseConnection,
    messages: &[(u64, Bytes)],
) -> Result<(), DbErr> {
    let Some(last_sequence) = messages.last().map(|(sequence, _)| *sequence) else {
        return Ok(());
    };
    let mut rows = Vec::new();
    let mut spans = Vec::new();
    for (sequence, payload) in messages {
        match decode_command(payload) {
            Ok(envelope) => {
                if let Command::Execute(command) = envelope.command {
                    spans.push(write_span(
                        "dataorch.commands.execute",
                        *sequence as i64,
                        &envelope.trace_context,
                    ));
                    rows.push(logs::ActiveModel {
                        id: Set(*sequence as i64),
                        tenant_id: Set(command.tenant_id),
                        application_id: Set(command.application_id),
                        template_id: Set(command.template.id),
                        template_version: Set(command.template.version),
                        status: Set(RunStatus::Pending.code()),
                        outcome: Set(None),
                        internal_error: Set(None),
                        created_at: Set(command.created_at),
                        started_at: Set(None),
                        finished_at: Set(None),
                        halted_step: Set(None),
                        last_event_seq: Set(0),
                    });
                }
            }
            // NOTE: an undecodable command cannot become a row; it is skipped and logged so
            // that one bad message cannot stop the projection.
            Err(error) => {
                tracing::error!(stream.sequence = sequence, error = %error, "skipping undecodable command")
            }
        }
    }

    let transaction = db.begin().await?;
    if !rows.is_empty() {
        logs::Entity::insert_many(rows)
            .on_conflict(OnConflict::column(logs::Column::Id).do_nothing().to_owned())
            .try_insert()
            .exec(&transaction)
            .await?;
    }
    save_offset(&transaction, COMMANDS_OFFSET, last_sequence).await?;
    transaction.commit().await?;
    record_batch(COMMANDS_OFFSET, messages.len(), last_sequence);
    drop(spans);
    Ok(())
}

/// A consumer span for writing what one message says about run `log_id`, in the trace of
/// `trace_context`.
fn write_span(
    destination: &'static str,
    log_id: i64,
    trace_context: &dataorch_contracts::commands::TraceContext,
) -> tracing::Span {
    let span = tracing::info_span!(
        "project",
        otel.name = format!("process {destination}"),
        otel.kind = "consumer",
        messaging.system = dataorch_telemetry::trace::attributes::MESSAGING_SYSTEM,
        messaging.operation.type = "process",
        messaging.destination.name = destination,
        log.id = log_id,
    );
    dataorch_telemetry::trace::set_parent(&span, trace_context);
    span
}

fn record_batch(stream: &'static str, size: usize, last_sequence: u64) {
    metrics::histogram!(crate::metrics::BATCH_SIZE, "stream" => stream).record(size as f64);
    metrics::gauge!(crate::metrics::OFFSET, "stream" => stream).set(last_sequence as f64);
}

/// Writes the newest run snapshot per run in `messages` and advances the events offset, in
/// one transaction. A row changes only when the event is newer than what it reflects, so
/// replayed and late events change nothing.
pub async fn apply_event_batch(
    db: &DatabaseConnection,
    messages: &[(u64, Bytes)],
) -> Result<(), DbErr> {
    let Some(last_sequence) = messages.last().map(|(sequence, _)| *sequence) else {
        return Ok(());
    };
    // Every event carries the whole run state, so only the newest event per run matters.
    let mut newest: BTreeMap<i64, (u64, RunEvent)> = BTreeMap::new();
    let mut event_times = Vec::with_capacity(messages.len());
    for (sequence, payload) in messages {
        match decode_event(payload) {
            Ok(event) => {
                event_times.push(event.at);
                let keep = newest
                    .get(&event.log_id)
                    .is_none_or(|(seen, _)| sequence > seen);
                if keep {
                    newest.insert(event.log_id, (*sequence, event));
                }
            }
            Err(error) => {
                tracing::error!(stream.sequence = sequence, error = %error, "skipping undecodable event")
            }
        }
    }

    // One span per run written, in the run's trace, closed when the transaction commits.
    let spans: Vec<tracing::Span> = newest
        .values()
        .map(|(_, event)| write_span("dataorch.events", event.log_id, &event.trace_context))
        .collect();

    let mut log_rows = Vec::new();
    let mut step_rows = Vec::new();
    let mut override_rows = Vec::new();
    for (sequence, event) in newest.values() {
        let sequence = *sequence as i64;
        let state = &event.state;
        log_rows.push(logs::ActiveModel {
            id: Set(state.log_id),
            tenant_id: Set(state.tenant_id.clone()),
            application_id: Set(state.application_id.clone()),
            template_id: Set(state.template_id.clone()),
            template_version: Set(state.template_version),
            status: Set(state.status.code()),
            outcome: Set(state.outcome.map(|o| o.as_str().to_string())),
            internal_error: Set(state.internal_error.clone()),
            created_at: Set(state.created_at),
            started_at: Set(state.started_at),
            finished_at: Set(state.finished_at),
            halted_step: Set(state.halted_step.clone()),
            last_event_seq: Set(sequence),
        });
        for (position, step) in state.steps.iter().enumerate() {
            step_rows.push(log_steps::ActiveModel {
                log_id: Set(state.log_id),
                key: Set(step.key.clone()),
                position: Set(position as i32),
                step_type: Set(step.step_type.clone()),
                status: Set(step.status.as_str().to_string()),
                outcome: Set(step.outcome.map(|o| o.as_str().to_string())),
                reason: Set(step.reason.clone()),
                attempts: Set(step.attempts as i32),
                started_at: Set(step.started_at),
                finished_at: Set(step.finished_at),
                error: Set(step.error.clone()),
                output: Set(step.output.as_ref().map(|output| output.to_string())),
                overridden: Set(step.overridden),
                event_seq: Set(sequence),
            });
        }
        for (position, entry) in state.overrides.iter().enumerate() {
            override_rows.push(log_overrides::ActiveModel {
                log_id: Set(state.log_id),
                position: Set(position as i32),
                step: Set(entry.step.clone()),
                actor: Set(entry.actor.clone()),
                comment: Set(entry.comment.clone()),
                created_at: Set(entry.at),
                event_seq: Set(sequence),
            });
        }
    }

    let transaction = db.begin().await?;
    // Chunks keep each statement under SQLite's limit of bound parameters.
    for chunk in chunks(log_rows, 500) {
        logs::Entity::insert_many(chunk)
            .on_conflict(newer_wins(
                vec![logs::Column::Id],
                "logs",
                "last_event_seq",
                &[
                    logs::Column::TenantId,
                    logs::Column::ApplicationId,
                    logs::Column::TemplateId,
                    logs::Column::TemplateVersion,
                    logs::Column::Status,
                    logs::Column::Outcome,
                    logs::Column::InternalError,
                    logs::Column::CreatedAt,
                    logs::Column::StartedAt,
                    logs::Column::FinishedAt,
                    logs::Column::HaltedStep,
                    logs::Column::LastEventSeq,
                ],
            ))
            .try_insert()
            .exec(&transaction)
            .await?;
    }
    for chunk in chunks(step_rows, 400) {
        log_steps::Entity::insert_many(chunk)
            .on_conflict(newer_wins(
                vec![log_steps::Column::LogId, log_steps::Column::Key],
                "log_steps",
                "event_seq",
                &[
                    log_steps::Column::Position,
                    log_steps::Column::StepType,
                    log_steps::Column::Status,
                    log_steps::Column::Outcome,
                    log_steps::Column::Reason,
                    log_steps::Column::Attempts,
                    log_steps::Column::StartedAt,
                    log_steps::Column::FinishedAt,
                    log_steps::Column::Error,
                    log_steps::Column::Output,
                    log_steps::Column::Overridden,
                    log_steps::Column::EventSeq,
                ],
            ))
            .try_insert()
            .exec(&transaction)
            .await?;
    }
    for chunk in chunks(override_rows, 500) {
        log_overrides::Entity::insert_many(chunk)
            .on_conflict(newer_wins(
                vec![
                    log_overrides::Column::LogId,
                    log_overrides::Column::Position,
                ],
                "log_overrides",
                "event_seq",
                &[
                    log_overrides::Column::Step,
                    log_overrides::Column::Actor,
                    log_overrides::Column::Comment,
                    log_overrides::Column::CreatedAt,
                    log_overrides::Column::EventSeq,
                ],
            ))
            .try_insert()
            .exec(&transaction)
            .await?;
    }
    save_offset(&transaction, EVENTS_OFFSET, last_sequence).await?;
    transaction.commit().await?;
    record_batch(EVENTS_OFFSET, messages.len(), last_sequence);
    drop(spans);
    let now = chrono::Utc::now();
    for at in event_times {
        if let Ok(lag) = (now - at).to_std() {
            metrics::histogram!(crate::metrics::PROJECTION_LAG_SECONDS).record(lag.as_secs_f64());
        }
    }
    Ok(())
}

/// `ON CONFLICT (keys) DO UPDATE SET columns = excluded.columns WHERE excluded.<seq> > <table>.<seq>`.
fn newer_wins<C>(keys: Vec<C>, table: &str, sequence_column: &str, columns: &[C]) -> OnConflict
where
    C: sea_orm::sea_query::IntoIden + Copy,
{
    OnConflict::columns(keys)
        .update_columns(columns.iter().copied())
        .action_and_where(
            Expr::col((Alias::new("excluded"), Alias::new(sequence_column)))
                .gt(Expr::col((Alias::new(table), Alias::new(sequence_column)))),
        )
        .to_owned()
}

async fn save_offset(
    transaction: &impl sea_orm::ConnectionTrait,
    stream: &str,
    sequence: u64,
) -> Result<(), DbErr> {
    let row = projection_offsets::ActiveModel {
        stream: Set(stream.to_string()),
        sequence: Set(sequence as i64),
    };
    projection_offsets::Entity::insert(row)
        .on_conflict(newer_wins(
            vec![projection_offsets::Column::Stream],
            "projection_offsets",
            "sequence",
            &[projection_offsets::Column::Sequence],
        ))
        .try_insert()
        .exec(transaction)
        .await
        .map(|_| ())
}

fn chunks<T>(rows: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut result = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        result.push(rows.by_ref().take(size).collect());
    }
    result
}

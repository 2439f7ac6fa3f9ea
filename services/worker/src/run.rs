//! The run driver: rebuilds a run from its newest event, appends events conditionally and
//! schedules ready steps.

use std::collections::HashSet;
use std::sync::Arc;

use dataorch_contracts::commands::{Command, CommandEnvelope, ContinueCommand, ExecuteCommand};
use dataorch_contracts::events::{EventKind, RunEvent};
use dataorch_contracts::sealing::DataKey;
use dataorch_contracts::state::RunState;
use dataorch_contracts::status::{RunStatus, StepStatus};
use dataorch_contracts::template::{OutcomeAction, Step};
use dataorch_contracts::time::now_micros;
use dataorch_messaging::{Broker, MessagingError};
use serde_json::{Map, Value};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::providers::ProviderClient;
use crate::steps::{StepInput, StepResult, execute_step};

/// The result of handling a command.
#[derive(Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The command's work is done (or there was nothing to do); acknowledge it.
    Done,
    /// Another worker appended to the run; leave the command to it.
    Yielded,
}

/// The run being driven: its latest state and the sequence of the event that contains it.
struct Cursor<'a> {
    broker: &'a Broker,
    template: &'a dataorch_contracts::template::Template,
    state: RunState,
    sequence: u64,
}

impl Cursor<'_> {
    /// Appends `event` if no other writer appended since the last read.
    async fn append(&mut self, event: EventKind) -> Result<(), MessagingError> {
        let name = event.name();
        let publish = tracing::info_span!(
            "publish",
            otel.name = "send dataorch.events",
            otel.kind = "producer",
            messaging.system = dataorch_telemetry::trace::attributes::MESSAGING_SYSTEM,
            messaging.operation.type = "send",
            messaging.destination.name = "dataorch.events",
            event.name = name,
        );
        let trace_context = dataorch_telemetry::trace::inject(&publish);
        let next =
            RunEvent::next(&self.state, event, now_micros(), trace_context).map_err(|error| {
                MessagingError::Invalid(format!("event {name} does not apply: {error}"))
            })?;
        let sequence = self
            .broker
            .append_event(&next, self.sequence)
            .instrument(publish)
            .await?;
        tracing::debug!(
            log.id = self.state.log_id,
            event.name = name,
            stream.sequence = sequence,
            "event appended"
        );
        self.state = next.state;
        self.sequence = sequence;
        self.record_metrics(&next.event, next.at);
        Ok(())
    }

    /// Counts runs and times steps from the events this worker stored.
    fn record_metrics(&self, event: &EventKind, at: chrono::DateTime<chrono::Utc>) {
        let template = self.template.short_id.clone();
        let finished =
            |status: &'static str, outcome: Option<dataorch_contracts::status::Outcome>| {
                let outcome = outcome.map_or("none", |outcome| outcome.as_str());
                metrics::counter!(crate::metrics::RUNS_FINISHED, "template" => template.clone(), "status" => status, "outcome" => outcome)
                .increment(1);
            };
        match event {
            EventKind::RunStarted => {
                metrics::counter!(crate::metrics::RUNS_STARTED, "template" => template.clone())
                    .increment(1);
            }
            EventKind::RunHalted { outcome, .. } => finished("halted", Some(*outcome)),
            EventKind::RunCompleted { outcome } => finished("completed", Some(*outcome)),
            EventKind::RunErrored { .. } => finished("error", None),
            EventKind::StepFinished { step, .. } | EventKind::StepFailed { step, .. } => {
                let result = if matches!(event, EventKind::StepFinished { .. }) {
                    "finished"
                } else {
                    "failed"
                };
                let Some(definition) = self.template.step(step) else {
                    return;
                };
                let provider = match &definition.kind {
                    dataorch_contracts::template::StepKind::Provider { provider, .. } => {
                        provider.as_str()
                    }
                    _ => "none",
                };
                let started = self.state.step(step).and_then(|state| state.started_at);
                if let Some(seconds) = started
                    .and_then(|started| (at - started).to_std().ok())
                    .map(|d| d.as_secs_f64())
                {
                    metrics::histogram!(
                        crate::metrics::STEP_DURATION_SECONDS,
                        "step_type" => definition.kind.type_name(),
                        "provider" => provider,
                        "result" => result
                    )
                    .record(seconds);
                }
            }
            _ => {}
        }
    }
}

/// Handles one command for run `log_id`. `delivered` is JetStream's delivery count.
pub async fn drive(
    broker: &Broker,
    providers: &Arc<ProviderClient>,
    data_key: &DataKey,
    log_id: i64,
    envelope: CommandEnvelope,
    delivered: i64,
) -> Result<RunOutcome, MessagingError> {
    let (mut execute, continue_command, trace_context) = match envelope.command {
        Command::Execute(command) => (*command, None, envelope.trace_context),
        Command::Continue(command) => {
            let (execute, trace_context) = broker.execute_command(command.log_id).await?;
            (execute, Some(command), trace_context)
        }
    };
    if continue_command.is_some() {
        // A continue runs in the trace of its request, linked to the run's own trace.
        dataorch_telemetry::trace::add_link(&tracing::Span::current(), &trace_context);
    }

    // Personal fields arrive sealed. A command this worker cannot open (another data key)
    // fails, is retried and in the end quarantined, so it can be redriven once fixed.
    execute.application = data_key
        .open(
            &execute.application,
            &execute.tenant_id,
            &execute.application_id,
        )
        .map_err(|error| MessagingError::Invalid(format!("log {log_id}: {error}")))?;

    let stored = broker.last_event(log_id).await?;
    let (state, sequence) = match stored {
        Some(stored) => (stored.event.state, stored.sequence),
        None => (RunState::accepted(log_id, &execute), 0),
    };
    let mut cursor = Cursor {
        broker,
        template: &execute.template,
        state,
        sequence,
    };

    let result = advance(
        &mut cursor,
        providers,
        &execute,
        continue_command.as_ref(),
        delivered,
    )
    .await;
    match result {
        Err(MessagingError::Conflict { .. }) => Ok(RunOutcome::Yielded),
        other => other,
    }
}

async fn advance(
    cursor: &mut Cursor<'_>,
    providers: &Arc<ProviderClient>,
    execute: &ExecuteCommand,
    continue_command: Option<&ContinueCommand>,
    delivered: i64,
) -> Result<RunOutcome, MessagingError> {
    let log_id = cursor.state.log_id;
    match continue_command {
        Some(command) => {
            let halted_here = cursor.state.status == RunStatus::Halted
                && cursor.state.halted_step.as_deref() == Some(command.step_key.as_str());
            if !halted_here {
                tracing::info!(log.id = log_id, step.key = %command.step_key, status = cursor.state.status.name(), "continue does not match the run's halt; nothing to do");
                return Ok(RunOutcome::Done);
            }
            cursor
                .append(EventKind::RunContinued {
                    step: command.step_key.clone(),
                    actor: command.actor.clone(),
                    comment: command.comment.clone(),
                })
                .await?;
            tracing::info!(log.id = log_id, step.key = %command.step_key, "run continued as pass");
        }
        None => match cursor.state.status {
            RunStatus::Pending => {
                cursor.append(EventKind::RunStarted).await?;
                tracing::info!(log.id = log_id, template.id = %execute.template.id, application.id = %execute.application_id, tenant.id = %execute.tenant_id, "run started");
            }
            RunStatus::Running => {
                tracing::info!(
                    log.id = log_id,
                    delivered,
                    "resuming a run another worker left"
                );
            }
            RunStatus::Halted | RunStatus::Completed | RunStatus::Error => {
                return Ok(RunOutcome::Done);
            }
        },
    }

    schedule(cursor, providers, execute).await?;
    Ok(RunOutcome::Done)
}

/// Runs ready steps until the run halts, completes or errors.
async fn schedule(
    cursor: &mut Cursor<'_>,
    providers: &Arc<ProviderClient>,
    execute: &ExecuteCommand,
) -> Result<(), MessagingError> {
    let template = &execute.template;
    let log_id = cursor.state.log_id;
    let masked_application = execute.application.masked();
    let mut in_flight: JoinSet<(String, StepResult)> = JoinSet::new();
    let mut running: HashSet<String> = HashSet::new();

    loop {
        // A completed step whose outcome halts or stops the run takes effect once no step is
        // in flight, so parallel steps record their results first.
        if let Some((step, action)) = first_blocking_step(&cursor.state, template.steps.as_slice())
        {
            if in_flight.is_empty() {
                let outcome = cursor
                    .state
                    .step(&step.key)
                    .and_then(|s| s.outcome)
                    .unwrap_or(dataorch_contracts::status::Outcome::Fail);
                match action {
                    OutcomeAction::Halt => {
                        cursor
                            .append(EventKind::RunHalted {
                                step: step.key.clone(),
                                outcome,
                            })
                            .await?;
                        tracing::info!(log.id = log_id, step.key = %step.key, outcome = outcome.as_str(), "run halted");
                    }
                    _ => {
                        cursor.append(EventKind::RunCompleted { outcome }).await?;
                        tracing::info!(log.id = log_id, step.key = %step.key, outcome = outcome.as_str(), "run stopped by step outcome");
                    }
                }
                return Ok(());
            }
        } else {
            for step in ready_steps(&cursor.state, template.steps.as_slice(), &running) {
                let attempt = cursor
                    .state
                    .step(&step.key)
                    .map(|s| s.attempts)
                    .unwrap_or(0)
                    + 1;
                cursor
                    .append(EventKind::StepStarted {
                        step: step.key.clone(),
                        attempt,
                    })
                    .await?;
                let input = StepInput {
                    log_id,
                    step: step.clone(),
                    first_attempt: attempt,
                    application: execute.application.clone(),
                    masked_application: masked_application.clone(),
                    outputs: completed_outputs(&cursor.state),
                };
                let providers = providers.clone();
                running.insert(step.key.clone());
                let span = tracing::info_span!(
                    "step",
                    otel.name = format!("step {}", step.key),
                    step.key = %step.key,
                    step.type = step.kind.type_name(),
                    log.id = log_id,
                );
                in_flight.spawn(
                    async move {
                        let key = input.step.key.clone();
                        (key, execute_step(&providers, input).await)
                    }
                    .instrument(span),
                );
            }
        }

        if in_flight.is_empty() {
            let outcome = cursor.state.overall_outcome();
            cursor.append(EventKind::RunCompleted { outcome }).await?;
            tracing::info!(log.id = log_id, outcome = outcome.as_str(), "run completed");
            return Ok(());
        }

        let Some(joined) = in_flight.join_next().await else {
            continue;
        };
        let (key, result) =
            joined.map_err(|error| MessagingError::Other(format!("step task failed: {error}")))?;
        running.remove(&key);
        match result {
            StepResult::Finished {
                outcome,
                reason,
                attempts,
                output,
            } => {
                tracing::info!(log.id = log_id, step.key = %key, outcome = outcome.as_str(), reason = %reason, attempts, "step finished");
                cursor
                    .append(EventKind::StepFinished {
                        step: key,
                        outcome,
                        reason,
                        attempts,
                        output,
                    })
                    .await?;
            }
            StepResult::Failed { attempts, error } => {
                tracing::warn!(log.id = log_id, step.key = %key, attempts, error = %error, "step failed; ending the run");
                in_flight.abort_all();
                let message = format!("step {key} failed after {attempts} attempt(s): {error}");
                cursor
                    .append(EventKind::StepFailed {
                        step: key,
                        attempts,
                        error,
                    })
                    .await?;
                cursor
                    .append(EventKind::RunErrored { error: message })
                    .await?;
                return Ok(());
            }
        }
    }
}

/// Returns the first completed, not overridden step (in template order) whose outcome
/// halts or stops the run.
fn first_blocking_step<'t>(
    state: &RunState,
    steps: &'t [Step],
) -> Option<(&'t Step, OutcomeAction)> {
    steps.iter().find_map(|step| {
        let step_state = state.step(&step.key)?;
        if step_state.status != StepStatus::Completed || step_state.overridden {
            return None;
        }
        let action = step.on.action(step_state.outcome?);
        (action != OutcomeAction::Continue).then_some((step, action))
    })
}

/// Steps not yet completed and not running here whose needs have all completed. A step a
/// dead worker left `running` counts as not started, so it runs again.
fn ready_steps<'t>(
    state: &RunState,
    steps: &'t [Step],
    running: &HashSet<String>,
) -> Vec<&'t Step> {
    steps
        .iter()
        .filter(|step| !running.contains(&step.key))
        .filter(|step| {
            state
                .step(&step.key)
                .is_some_and(|s| matches!(s.status, StepStatus::Pending | StepStatus::Running))
        })
        .filter(|step| {
            step.needs.iter().all(|need| {
                state
                    .step(need)
                    .is_some_and(|s| s.status == StepStatus::Completed)
            })
        })
        .collect()
}

fn completed_outputs(state: &RunState) -> Value {
    let mut outputs = Map::new();
    for step in &state.steps {
        if step.status == StepStatus::Completed {
            outputs.insert(step.key.clone(), step.output.clone().unwrap_or(Value::Null));
        }
    }
    Value::Object(outputs)
}

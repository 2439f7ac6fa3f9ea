//! Run state: the fold of a run's events, carried in full by every event as a snapshot.
//!
//! A worker resumes a run from the snapshot in the run's last event; the projector writes
//! rows from the snapshot of the newest event it reads for a run. [`RunState::apply`] is the
//! single definition of how an event changes a run, used to produce each snapshot.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::commands::ExecuteCommand;
use crate::events::EventKind;
use crate::status::{Outcome, RunStatus, StepStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub log_id: i64,
    pub tenant_id: String,
    pub application_id: String,
    pub template_id: String,
    pub template_version: i32,
    pub status: RunStatus,
    pub outcome: Option<Outcome>,
    pub internal_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Step that halted the run while `status` is halted.
    pub halted_step: Option<String>,
    /// One entry per template step, in template order.
    pub steps: Vec<StepState>,
    pub overrides: Vec<Override>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    pub key: String,
    #[serde(rename = "type")]
    pub step_type: String,
    pub status: StepStatus,
    pub outcome: Option<Outcome>,
    pub reason: Option<String>,
    pub attempts: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub output: Option<Value>,
    /// True once `continue_pass` has overridden this step's outcome.
    #[serde(default)]
    pub overridden: bool,
}

/// A `continue_pass` that was applied to a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub step: String,
    pub actor: String,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// The reason an event could not be applied to a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ApplyError(pub String);

impl RunState {
    /// Creates the state of an accepted run, before any event.
    pub fn accepted(log_id: i64, command: &ExecuteCommand) -> RunState {
        RunState {
            log_id,
            tenant_id: command.tenant_id.clone(),
            application_id: command.application_id.clone(),
            template_id: command.template.id.clone(),
            template_version: command.template.version,
            status: RunStatus::Pending,
            outcome: None,
            internal_error: None,
            created_at: command.created_at,
            started_at: None,
            finished_at: None,
            halted_step: None,
            steps: command
                .template
                .steps
                .iter()
                .map(|step| StepState {
                    key: step.key.clone(),
                    step_type: step.kind.type_name().to_string(),
                    status: StepStatus::Pending,
                    outcome: None,
                    reason: None,
                    attempts: 0,
                    started_at: None,
                    finished_at: None,
                    error: None,
                    output: None,
                    overridden: false,
                })
                .collect(),
            overrides: Vec::new(),
        }
    }

    pub fn step(&self, key: &str) -> Option<&StepState> {
        self.steps.iter().find(|step| step.key == key)
    }

    fn step_mut(&mut self, key: &str) -> Result<&mut StepState, ApplyError> {
        self.steps
            .iter_mut()
            .find(|step| step.key == key)
            .ok_or_else(|| ApplyError(format!("the run has no step `{key}`")))
    }

    /// Returns the run's outcome if it completed now: the most severe step outcome, where an
    /// overridden step counts as pass.
    pub fn overall_outcome(&self) -> Outcome {
        self.steps
            .iter()
            .filter(|step| !step.overridden)
            .filter_map(|step| step.outcome)
            .fold(Outcome::Pass, Outcome::worst)
    }

    /// Marks steps that will never run as skipped, and steps still running as cancelled.
    fn close_unfinished_steps(&mut self, at: DateTime<Utc>) {
        for step in &mut self.steps {
            match step.status {
                StepStatus::Pending => step.status = StepStatus::Skipped,
                StepStatus::Running => {
                    step.status = StepStatus::Cancelled;
                    step.finished_at = Some(at);
                }
                _ => {}
            }
        }
    }

    /// Applies one event, rejecting events that do not fit the run's current status.
    pub fn apply(&mut self, event: &EventKind, at: DateTime<Utc>) -> Result<(), ApplyError> {
        if self.status.is_terminal() {
            return Err(ApplyError(format!(
                "the run is already {} and takes no further events",
                self.status.name()
            )));
        }
        match event {
            EventKind::RunStarted => {
                self.status = RunStatus::Running;
                self.started_at.get_or_insert(at);
            }
            EventKind::StepStarted { step, attempt } => {
                let state = self.step_mut(step)?;
                state.status = StepStatus::Running;
                state.attempts = *attempt;
                state.started_at.get_or_insert(at);
                state.error = None;
            }
            EventKind::StepFinished {
                step,
                outcome,
                reason,
                attempts,
                output,
            } => {
                let state = self.step_mut(step)?;
                state.status = StepStatus::Completed;
                state.outcome = Some(*outcome);
                state.reason = Some(reason.clone());
                state.attempts = *attempts;
                state.finished_at = Some(at);
                state.output = Some(output.clone());
                state.error = None;
            }
            EventKind::StepFailed {
                step,
                attempts,
                error,
            } => {
                let state = self.step_mut(step)?;
                state.status = StepStatus::Failed;
                state.attempts = *attempts;
                state.finished_at = Some(at);
                state.error = Some(error.clone());
            }
            EventKind::RunHalted { step, outcome } => {
                self.step_mut(step)?;
                self.status = RunStatus::Halted;
                self.outcome = Some(*outcome);
                self.halted_step = Some(step.clone());
            }
            EventKind::RunContinued {
                step,
                actor,
                comment,
            } => {
                if self.status != RunStatus::Halted || self.halted_step.as_deref() != Some(step) {
                    return Err(ApplyError(format!(
                        "the run is not halted at step `{step}`"
                    )));
                }
                self.step_mut(step)?.overridden = true;
                self.overrides.push(Override {
                    step: step.clone(),
                    actor: actor.clone(),
                    comment: comment.clone(),
                    at,
                });
                self.status = RunStatus::Running;
                self.outcome = None;
                self.halted_step = None;
            }
            EventKind::RunCompleted { outcome } => {
                self.status = RunStatus::Completed;
                self.outcome = Some(*outcome);
                self.finished_at = Some(at);
                self.halted_step = None;
                self.close_unfinished_steps(at);
            }
            EventKind::RunErrored { error } => {
                self.status = RunStatus::Error;
                self.internal_error = Some(error.clone());
                self.outcome = None;
                self.finished_at = Some(at);
                self.halted_step = None;
                self.close_unfinished_steps(at);
            }
        }
        Ok(())
    }
}

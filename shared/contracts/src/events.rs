//! Run events that workers append to a run's subject on the events stream.
//!
//! Appends are conditional on the run's last event sequence, so each event was written by
//! the one worker that held the run at that moment. Every event carries the run state after
//! it (see [`crate::state`]), so readers never need the earlier events of a run.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::SCHEMA_VERSION;
use crate::commands::TraceContext;
use crate::state::{ApplyError, RunState};
use crate::status::Outcome;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    RunStarted,
    StepStarted {
        step: String,
        attempt: u32,
    },
    StepFinished {
        step: String,
        outcome: Outcome,
        reason: String,
        attempts: u32,
        output: Value,
    },
    /// A step gave up after its retries; a `RunErrored` follows.
    StepFailed {
        step: String,
        attempts: u32,
        error: String,
    },
    RunHalted {
        step: String,
        outcome: Outcome,
    },
    RunContinued {
        step: String,
        actor: String,
        comment: Option<String>,
    },
    RunCompleted {
        outcome: Outcome,
    },
    RunErrored {
        error: String,
    },
}

impl EventKind {
    /// Returns the snake_case event type, as used in logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RunStarted => "run_started",
            EventKind::StepStarted { .. } => "step_started",
            EventKind::StepFinished { .. } => "step_finished",
            EventKind::StepFailed { .. } => "step_failed",
            EventKind::RunHalted { .. } => "run_halted",
            EventKind::RunContinued { .. } => "run_continued",
            EventKind::RunCompleted { .. } => "run_completed",
            EventKind::RunErrored { .. } => "run_errored",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    pub schema_version: u16,
    pub log_id: i64,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub trace_context: TraceContext,
    pub event: EventKind,
    /// The run state after this event.
    pub state: RunState,
}

impl RunEvent {
    /// Applies `event` to a copy of `previous` and returns the event carrying the new state.
    pub fn next(
        previous: &RunState,
        event: EventKind,
        at: DateTime<Utc>,
        trace_context: TraceContext,
    ) -> Result<RunEvent, ApplyError> {
        let mut state = previous.clone();
        state.apply(&event, at)?;
        Ok(RunEvent {
            schema_version: SCHEMA_VERSION,
            log_id: previous.log_id,
            at,
            trace_context,
            event,
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;
    use crate::commands::ExecuteCommand;
    use crate::status::{RunStatus, StepStatus};
    use crate::template::Template;

    fn command() -> ExecuteCommand {
        let template = Template::from_yaml(
            r#"
id: 0b6f3f9a-8d4e-4d62-9a57-3d3f2b1e0c11
short_id: t1
name: Test
version: 3
steps:
  - {key: a, type: review}
  - {key: b, type: review, needs: [a]}
"#,
        )
        .unwrap();
        let application = serde_json::from_value(json!({
            "business": {"name": "B", "tin": "123456789",
                "address": {"line1": "1", "city": "C", "state": "IL", "postal_code": "62701"}},
            "loan": {"requested_amount": 1000.0, "term_months": 12}
        }))
        .unwrap();
        ExecuteCommand {
            tenant_id: "t".into(),
            application_id: "app".into(),
            created_at: DateTime::from_timestamp(1, 0).unwrap(),
            template,
            application,
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn halt_continue_complete() {
        let start = RunState::accepted(7, &command());
        let events = [
            EventKind::RunStarted,
            EventKind::StepStarted {
                step: "a".into(),
                attempt: 1,
            },
            EventKind::StepFinished {
                step: "a".into(),
                outcome: Outcome::Review,
                reason: "MANUAL_REVIEW".into(),
                attempts: 1,
                output: json!({}),
            },
            EventKind::RunHalted {
                step: "a".into(),
                outcome: Outcome::Review,
            },
            EventKind::RunContinued {
                step: "a".into(),
                actor: "ops".into(),
                comment: None,
            },
            EventKind::StepStarted {
                step: "b".into(),
                attempt: 1,
            },
            EventKind::StepFinished {
                step: "b".into(),
                outcome: Outcome::Pass,
                reason: "OK".into(),
                attempts: 1,
                output: json!({}),
            },
        ];
        let mut state = start;
        for (index, event) in events.into_iter().enumerate() {
            state = RunEvent::next(&state, event, at(index as i64 + 2), TraceContext::new())
                .unwrap()
                .state;
        }
        assert_eq!(state.overall_outcome(), Outcome::Pass);
        assert_eq!(state.status, RunStatus::Running);
        assert_eq!(state.overrides.len(), 1);
        assert_eq!(state.steps[1].status, StepStatus::Completed);
    }

    #[test]
    fn continue_of_other_step_is_rejected() {
        let mut state = RunState::accepted(7, &command());
        state.apply(&EventKind::RunStarted, at(2)).unwrap();
        state
            .apply(
                &EventKind::RunHalted {
                    step: "b".into(),
                    outcome: Outcome::Fail,
                },
                at(3),
            )
            .unwrap();
        let continued = EventKind::RunContinued {
            step: "a".into(),
            actor: "ops".into(),
            comment: None,
        };
        assert!(state.apply(&continued, at(4)).is_err());
        assert_eq!(state.status, RunStatus::Halted);
    }

    #[test]
    fn terminal_run_takes_no_events() {
        let mut state = RunState::accepted(7, &command());
        state
            .apply(
                &EventKind::RunErrored {
                    error: "boom".into(),
                },
                at(2),
            )
            .unwrap();
        assert!(state.apply(&EventKind::RunStarted, at(3)).is_err());
        assert_eq!(state.status, RunStatus::Error);
    }
}

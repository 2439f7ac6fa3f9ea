//! Run and step statuses and outcomes, with their wire spellings.

use serde::{Deserialize, Serialize};

/// Status of a run. The integer values are the wire format of the log object's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Pending,
    Running,
    Halted,
    Completed,
    Error,
}

impl RunStatus {
    /// Returns the wire code: 1 pending, 2 running, 3 halted, 4 completed, 5 error.
    pub fn code(self) -> i32 {
        match self {
            RunStatus::Pending => 1,
            RunStatus::Running => 2,
            RunStatus::Halted => 3,
            RunStatus::Completed => 4,
            RunStatus::Error => 5,
        }
    }

    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            1 => RunStatus::Pending,
            2 => RunStatus::Running,
            3 => RunStatus::Halted,
            4 => RunStatus::Completed,
            5 => RunStatus::Error,
            _ => return None,
        })
    }

    /// Returns the name used in `master_status`.
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Halted => "halted",
            RunStatus::Completed => "completed",
            RunStatus::Error => "error",
        }
    }

    /// Whether no further event can change the run (halted runs can still be continued).
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Error)
    }
}

/// Decision of a step or of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Review,
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Review => "review",
            Outcome::Fail => "fail",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pass" => Some(Outcome::Pass),
            "review" => Some(Outcome::Review),
            "fail" => Some(Outcome::Fail),
            _ => None,
        }
    }

    /// Severity used to combine outcomes: the most severe one wins.
    pub fn severity(self) -> u8 {
        match self {
            Outcome::Pass => 0,
            Outcome::Review => 1,
            Outcome::Fail => 2,
        }
    }

    /// Returns the more severe of two outcomes.
    pub fn worst(self, other: Outcome) -> Outcome {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

/// Status of one step inside a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Completed,
    Failed,
    /// Never ran: the run ended before the step's turn.
    Skipped,
    /// Was running when the run ended in error; its result was discarded.
    Cancelled,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Completed => "completed",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip() {
        for code in 1..=5 {
            let status = RunStatus::from_code(code).unwrap();
            assert_eq!(status.code(), code);
        }
        assert_eq!(RunStatus::from_code(0), None);
        assert_eq!(RunStatus::from_code(6), None);
    }

    #[test]
    fn worst_outcome_prefers_fail() {
        assert_eq!(Outcome::Pass.worst(Outcome::Review), Outcome::Review);
        assert_eq!(Outcome::Fail.worst(Outcome::Review), Outcome::Fail);
        assert_eq!(Outcome::Pass.worst(Outcome::Pass), Outcome::Pass);
    }
}

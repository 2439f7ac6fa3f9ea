//! Rule evaluation with the Common Expression Language (CEL).
//!
//! Expressions see two variables: `application` (the application data with personal fields
//! masked) and `steps` (a map from step key to that step's output). An expression must
//! evaluate to a boolean; anything else, or a reference to a missing field, is an evaluation
//! error that ends the run with a readable `internal_error`.

use cel::{Context, Program, Value as CelValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::status::Outcome;
use crate::template::{Rule, RuleDefault};

/// Compiles an expression, returning a readable message when it does not parse.
pub fn compile(expression: &str) -> Result<Program, String> {
    if expression.trim().is_empty() {
        return Err("expression must not be empty".to_string());
    }
    Program::compile(expression).map_err(|error| format!("invalid CEL expression: {error}"))
}

/// A condition that matched during a rule step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedRule {
    pub outcome: Outcome,
    pub reason: String,
}

/// Result of a rule step: the most severe matched outcome, its reason, and every match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleDecision {
    pub outcome: Outcome,
    pub reason: String,
    pub matched: Vec<MatchedRule>,
}

/// Variables an expression can read.
pub struct RuleInput<'a> {
    pub application: &'a Value,
    pub steps: &'a Value,
}

impl RuleInput<'_> {
    fn context(&self) -> Result<Context<'static, 'static>, String> {
        let mut context = Context::default();
        context
            .add_variable("application", self.application.clone())
            .map_err(|error| format!("application data cannot be used in rules: {error}"))?;
        context
            .add_variable("steps", self.steps.clone())
            .map_err(|error| format!("step outputs cannot be used in rules: {error}"))?;
        Ok(context)
    }
}

/// Evaluates one boolean expression.
pub fn evaluate_condition(expression: &str, input: &RuleInput<'_>) -> Result<bool, String> {
    let program = compile(expression)?;
    let context = input.context()?;
    run(&program, expression, &context)
}

fn run(program: &Program, expression: &str, context: &Context<'_, '_>) -> Result<bool, String> {
    match program.execute(context) {
        Ok(CelValue::Bool(value)) => Ok(value),
        Ok(other) => Err(format!(
            "expression `{expression}` returned {} instead of a boolean",
            type_name(&other)
        )),
        Err(error) => Err(format!("expression `{expression}` failed: {error}")),
    }
}

fn type_name(value: &CelValue) -> &'static str {
    match value {
        CelValue::Int(_) => "an int",
        CelValue::UInt(_) => "a uint",
        CelValue::Float(_) => "a double",
        CelValue::String(_) => "a string",
        CelValue::Null => "null",
        CelValue::List(_) => "a list",
        CelValue::Map(_) => "a map",
        _ => "a non-boolean value",
    }
}

/// Evaluates every rule in order. The decision is the most severe matched outcome with the
/// reason of the first rule that yielded it, or `default` when none matched.
pub fn decide(
    rules: &[Rule],
    default: &RuleDefault,
    input: &RuleInput<'_>,
) -> Result<RuleDecision, String> {
    let context = input.context()?;
    let mut matched = Vec::new();
    for rule in rules {
        let program = compile(&rule.when)?;
        if run(&program, &rule.when, &context)? {
            matched.push(MatchedRule {
                outcome: rule.outcome,
                reason: rule.reason.clone(),
            });
        }
    }

    let worst = matched.iter().map(|m| m.outcome).reduce(Outcome::worst);
    let decision = match worst {
        Some(outcome) => {
            let reason = matched
                .iter()
                .find(|m| m.outcome == outcome)
                .map(|m| m.reason.clone())
                .unwrap_or_default();
            RuleDecision {
                outcome,
                reason,
                matched,
            }
        }
        None => RuleDecision {
            outcome: default.outcome,
            reason: default.reason.clone(),
            matched,
        },
    };
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(when: &str, outcome: Outcome, reason: &str) -> Rule {
        Rule {
            when: when.to_string(),
            outcome,
            reason: reason.to_string(),
        }
    }

    fn default_pass() -> RuleDefault {
        RuleDefault {
            outcome: Outcome::Pass,
            reason: "OK".to_string(),
        }
    }

    #[test]
    fn worst_matched_outcome_wins() {
        let application = json!({"loan": {"requested_amount": 2_000_000.0}});
        let steps = json!({"credit": {"score": 40}});
        let input = RuleInput {
            application: &application,
            steps: &steps,
        };
        let rules = vec![
            rule(
                "application.loan.requested_amount > 1000000.0",
                Outcome::Review,
                "LARGE",
            ),
            rule("steps.credit.score < 50", Outcome::Fail, "LOW_SCORE"),
        ];
        let decision = decide(&rules, &default_pass(), &input).unwrap();
        assert_eq!(decision.outcome, Outcome::Fail);
        assert_eq!(decision.reason, "LOW_SCORE");
        assert_eq!(decision.matched.len(), 2);
    }

    #[test]
    fn default_applies_when_nothing_matches() {
        let application = json!({});
        let steps = json!({"credit": {"score": 80}});
        let input = RuleInput {
            application: &application,
            steps: &steps,
        };
        let rules = vec![rule("steps.credit.score < 50", Outcome::Fail, "LOW_SCORE")];
        let decision = decide(&rules, &default_pass(), &input).unwrap();
        assert_eq!(decision.outcome, Outcome::Pass);
        assert_eq!(decision.reason, "OK");
    }

    #[test]
    fn non_boolean_result_is_error() {
        let application = json!({});
        let steps = json!({"credit": {"score": 80}});
        let input = RuleInput {
            application: &application,
            steps: &steps,
        };
        let error = evaluate_condition("steps.credit.score", &input).unwrap_err();
        assert!(error.contains("instead of a boolean"), "{error}");
    }

    #[test]
    fn missing_field_is_error() {
        let application = json!({});
        let steps = json!({});
        let input = RuleInput {
            application: &application,
            steps: &steps,
        };
        assert!(evaluate_condition("steps.credit.score > 1", &input).is_err());
    }
}

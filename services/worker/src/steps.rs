//! Execution of one step: provider calls with retries, rules and reviews.

use std::time::Duration;

use dataorch_contracts::application::ApplicationData;
use dataorch_contracts::rules::{self, RuleInput};
use dataorch_contracts::status::Outcome;
use dataorch_contracts::template::{RetryPolicy, Step, StepKind};
use rand::RngExt;
use serde_json::{Value, json};

use crate::providers::{ProviderClient, ProviderError};

/// Everything a step needs, owned so that it can run on its own task.
pub struct StepInput {
    pub log_id: i64,
    pub step: Step,
    /// Attempt number of the first attempt this execution makes (above 1 after a takeover).
    pub first_attempt: u32,
    /// Full application data, personal fields included, for provider requests.
    pub application: ApplicationData,
    /// Application data with personal fields masked, for rules.
    pub masked_application: Value,
    /// Outputs of completed steps, by step key.
    pub outputs: Value,
}

#[derive(Debug)]
pub enum StepResult {
    Finished {
        outcome: Outcome,
        reason: String,
        attempts: u32,
        output: Value,
    },
    Failed {
        attempts: u32,
        error: String,
    },
}

pub async fn execute_step(providers: &ProviderClient, input: StepInput) -> StepResult {
    match &input.step.kind {
        StepKind::Provider { provider, headers } => {
            call_with_retries(providers, &input, *provider, headers).await
        }
        StepKind::Rule {
            rules: list,
            default,
        } => {
            let rule_input = RuleInput {
                application: &input.masked_application,
                steps: &input.outputs,
            };
            match rules::decide(list, default, &rule_input) {
                Ok(decision) => StepResult::Finished {
                    outcome: decision.outcome,
                    reason: decision.reason,
                    attempts: input.first_attempt,
                    output: json!({ "matched": decision.matched }),
                },
                Err(error) => StepResult::Failed {
                    attempts: input.first_attempt,
                    error,
                },
            }
        }
        StepKind::Review { when, reason } => {
            let required = match when {
                None => Ok(true),
                Some(expression) => {
                    let rule_input = RuleInput {
                        application: &input.masked_application,
                        steps: &input.outputs,
                    };
                    rules::evaluate_condition(expression, &rule_input)
                }
            };
            match required {
                Ok(true) => StepResult::Finished {
                    outcome: Outcome::Review,
                    reason: reason.clone(),
                    attempts: input.first_attempt,
                    output: json!({ "review_required": true }),
                },
                Ok(false) => StepResult::Finished {
                    outcome: Outcome::Pass,
                    reason: "REVIEW_NOT_REQUIRED".to_string(),
                    attempts: input.first_attempt,
                    output: json!({ "review_required": false }),
                },
                Err(error) => StepResult::Failed {
                    attempts: input.first_attempt,
                    error,
                },
            }
        }
    }
}

async fn call_with_retries(
    providers: &ProviderClient,
    input: &StepInput,
    provider: dataorch_contracts::template::ProviderKind,
    headers: &std::collections::BTreeMap<String, String>,
) -> StepResult {
    let step = &input.step;
    let timeout = Duration::from_millis(step.timeout_ms);
    let max_attempts = step.retry.max_attempts.max(input.first_attempt);
    let mut attempt = input.first_attempt;
    loop {
        let call = providers.call(
            provider,
            input.log_id,
            &step.key,
            &input.application,
            headers,
        );
        let result = match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(ProviderError::retryable(format!(
                "timed out after {} ms",
                step.timeout_ms
            ))),
        };
        match result {
            Ok(output) => {
                return StepResult::Finished {
                    outcome: Outcome::Pass,
                    reason: "DATA_RECEIVED".to_string(),
                    attempts: attempt,
                    output,
                };
            }
            Err(error) if error.retryable && attempt < max_attempts => {
                metrics::counter!(crate::metrics::PROVIDER_ERRORS, "provider" => provider.as_str(), "retryable" => "true").increment(1);
                metrics::counter!(crate::metrics::PROVIDER_RETRIES, "provider" => provider.as_str()).increment(1);
                let delay = backoff(&step.retry, attempt + 1);
                tracing::warn!(log.id = input.log_id, step.key = %step.key, attempt, error = %error.message, delay_ms = delay.as_millis() as u64, "provider call failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(error) => {
                let retryable = if error.retryable { "true" } else { "false" };
                metrics::counter!(crate::metrics::PROVIDER_ERRORS, "provider" => provider.as_str(), "retryable" => retryable)
                    .increment(1);
                return StepResult::Failed {
                    attempts: attempt,
                    error: format!("provider {}: {}", provider.as_str(), error.message),
                };
            }
        }
    }
}

/// Returns the delay before attempt `next_attempt`: the policy's exponential backoff, moved
/// up or down at random by at most `jitter` of itself.
fn backoff(policy: &RetryPolicy, next_attempt: u32) -> Duration {
    let base = policy.base_backoff_ms(next_attempt) as f64;
    let spread = base * policy.jitter;
    let millis = if spread > 0.0 {
        base + rand::rng().random_range(-spread..=spread)
    } else {
        base
    };
    Duration::from_millis(millis.max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_jitter() {
        let policy = RetryPolicy {
            max_attempts: 5,
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            jitter: 0.5,
        };
        for _ in 0..100 {
            let delay = backoff(&policy, 3).as_millis();
            assert!((100..=300).contains(&delay), "{delay}");
        }
    }

    #[test]
    fn backoff_without_jitter_is_exact() {
        let policy = RetryPolicy {
            max_attempts: 5,
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            jitter: 0.0,
        };
        assert_eq!(backoff(&policy, 2), Duration::from_millis(100));
        assert_eq!(backoff(&policy, 5), Duration::from_millis(800));
    }
}

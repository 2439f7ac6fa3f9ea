//! Templates: the definition of a run's steps, as stored and as executed.
//!
//! A template is parsed from YAML or JSON and validated before it is saved: unknown keys and
//! step types, duplicate step keys, `needs` that name a missing step, cycles in `needs`, and
//! rule expressions that do not compile are rejected with the path of the fault
//! (`steps[3].rules[0].when`). Published versions are immutable; a run carries the whole
//! definition of the version it started with.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rules;
use crate::status::Outcome;

/// Lifecycle state of a template version. The integers are the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateStatus {
    Draft,
    Published,
    Archived,
}

impl TemplateStatus {
    pub fn code(self) -> i32 {
        match self {
            TemplateStatus::Draft => 1,
            TemplateStatus::Published => 2,
            TemplateStatus::Archived => 3,
        }
    }
}

/// A template version as written in a template file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// UUID, stable across versions.
    pub id: String,
    /// Short human-typed identifier, unique per tenant.
    pub short_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub workflow: Vec<String>,
    /// Application event that starts the template automatically, if any.
    #[serde(default)]
    pub trigger: Option<String>,
    pub version: i32,
    pub steps: Vec<Step>,
}

/// One step of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub key: String,
    #[serde(flatten)]
    pub kind: StepKind,
    /// Keys of steps that must finish before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Deadline of one attempt, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// The run's action after this step yields each outcome.
    #[serde(default)]
    pub on: OutcomePolicy,
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// Step type and the settings that belong to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepKind {
    /// An HTTP call to a provider connection configured on the workers.
    Provider {
        provider: ProviderKind,
        /// Extra request headers sent on every call of this step.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    /// Conditions over `{application, steps}`; see [`Rule`].
    Rule {
        rules: Vec<Rule>,
        #[serde(default = "RuleDefault::pass")]
        default: RuleDefault,
    },
    /// A halt for a person to look, continued with `continue_pass`.
    Review {
        /// Optional CEL condition; when it is false the step passes without a halt.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        when: Option<String>,
        #[serde(default = "default_review_reason")]
        reason: String,
    },
}

fn default_review_reason() -> String {
    "MANUAL_REVIEW".to_string()
}

impl StepKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            StepKind::Provider { .. } => "provider",
            StepKind::Rule { .. } => "rule",
            StepKind::Review { .. } => "review",
        }
    }
}

/// Provider kinds the workers can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Kyb,
    BusinessCredit,
    ConsumerCredit,
    BankData,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Kyb => "kyb",
            ProviderKind::BusinessCredit => "business_credit",
            ProviderKind::ConsumerCredit => "consumer_credit",
            ProviderKind::BankData => "bank_data",
        }
    }
}

/// A condition that yields an outcome and a reason code when its CEL expression is true.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub when: String,
    pub outcome: Outcome,
    pub reason: String,
}

/// Outcome and reason of a rule step when no condition matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDefault {
    pub outcome: Outcome,
    pub reason: String,
}

impl RuleDefault {
    fn pass() -> Self {
        RuleDefault {
            outcome: Outcome::Pass,
            reason: "RULES_PASSED".to_string(),
        }
    }
}

/// Attempts and exponential backoff with jitter for a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Fraction of each backoff drawn at random, between 0 and 1.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff_ms: 200,
            max_backoff_ms: 5_000,
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// Returns the backoff before attempt `next_attempt` (2 for the first retry), before
    /// jitter: `initial * 2^(next_attempt - 2)`, capped at `max_backoff_ms`.
    pub fn base_backoff_ms(&self, next_attempt: u32) -> u64 {
        let exponent = next_attempt.saturating_sub(2).min(20);
        self.initial_backoff_ms
            .saturating_mul(1 << exponent)
            .min(self.max_backoff_ms)
    }
}

/// The run's action after a step yields an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeAction {
    /// Go on with the following steps.
    Continue,
    /// Stop in status 3 until someone continues the run as pass.
    Halt,
    /// Finish the run now (status 4) with this outcome.
    Stop,
}

/// Action per outcome. Defaults: pass continues, review and fail halt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutcomePolicy {
    pub pass: OutcomeAction,
    pub review: OutcomeAction,
    pub fail: OutcomeAction,
}

impl Default for OutcomePolicy {
    fn default() -> Self {
        OutcomePolicy {
            pass: OutcomeAction::Continue,
            review: OutcomeAction::Halt,
            fail: OutcomeAction::Halt,
        }
    }
}

impl OutcomePolicy {
    pub fn action(&self, outcome: Outcome) -> OutcomeAction {
        match outcome {
            Outcome::Pass => self.pass,
            Outcome::Review => self.review,
            Outcome::Fail => self.fail,
        }
    }
}

/// A fault in a template, with the path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TemplateError {
    pub path: String,
    pub message: String,
}

impl TemplateError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        TemplateError {
            path: path.into(),
            message: message.into(),
        }
    }
}

const STEP_COMMON_KEYS: &[&str] = &["key", "type", "needs", "timeout_ms", "retry", "on"];

fn step_type_keys(step_type: &str) -> Option<&'static [&'static str]> {
    match step_type {
        "provider" => Some(&["provider", "headers"]),
        "rule" => Some(&["rules", "default"]),
        "review" => Some(&["when", "reason"]),
        _ => None,
    }
}

impl Template {
    /// Parses and validates a template written in YAML (JSON is valid YAML too).
    pub fn from_yaml(source: &str) -> Result<Template, TemplateError> {
        let value: Value = serde_yaml_ng::from_str(source)
            .map_err(|error| TemplateError::new("$", format!("invalid YAML: {error}")))?;
        Template::from_value(value)
    }

    /// Validates and converts a JSON value into a template.
    pub fn from_value(value: Value) -> Result<Template, TemplateError> {
        check_step_keys(&value)?;
        let template: Template = serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            TemplateError::new(path, error.into_inner().to_string())
        })?;
        template.validate()?;
        Ok(template)
    }

    /// Checks the rules that serde cannot: identifiers, references, cycles and expressions.
    pub fn validate(&self) -> Result<(), TemplateError> {
        if self.id.trim().is_empty() {
            return Err(TemplateError::new("id", "must not be empty"));
        }
        if self.short_id.trim().is_empty() {
            return Err(TemplateError::new("short_id", "must not be empty"));
        }
        if self.name.trim().is_empty() {
            return Err(TemplateError::new("name", "must not be empty"));
        }
        if self.version < 1 {
            return Err(TemplateError::new("version", "must be 1 or greater"));
        }
        if self.steps.is_empty() {
            return Err(TemplateError::new(
                "steps",
                "a template needs at least one step",
            ));
        }

        let mut positions = HashMap::new();
        for (index, step) in self.steps.iter().enumerate() {
            let path = format!("steps[{index}]");
            validate_step(step, &path)?;
            if positions.insert(step.key.as_str(), index).is_some() {
                return Err(TemplateError::new(
                    format!("{path}.key"),
                    format!("duplicate step key `{}`", step.key),
                ));
            }
        }

        for (index, step) in self.steps.iter().enumerate() {
            for (need_index, need) in step.needs.iter().enumerate() {
                if !positions.contains_key(need.as_str()) {
                    return Err(TemplateError::new(
                        format!("steps[{index}].needs[{need_index}]"),
                        format!("step `{need}` does not exist"),
                    ));
                }
                if need == &step.key {
                    return Err(TemplateError::new(
                        format!("steps[{index}].needs[{need_index}]"),
                        "a step cannot need itself",
                    ));
                }
            }
        }

        self.check_cycles(&positions)
    }

    fn check_cycles(&self, positions: &HashMap<&str, usize>) -> Result<(), TemplateError> {
        // Depth-first search with three colours; a grey node seen again closes a cycle.
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            White,
            Grey,
            Black,
        }
        let mut marks = vec![Mark::White; self.steps.len()];

        fn visit(
            template: &Template,
            positions: &HashMap<&str, usize>,
            marks: &mut [Mark],
            index: usize,
            trail: &mut Vec<usize>,
        ) -> Result<(), TemplateError> {
            marks[index] = Mark::Grey;
            trail.push(index);
            for need in &template.steps[index].needs {
                let next = positions[need.as_str()];
                match marks[next] {
                    Mark::Grey => {
                        let start = trail.iter().position(|&i| i == next).unwrap_or(0);
                        let mut names: Vec<&str> = trail[start..]
                            .iter()
                            .map(|&i| template.steps[i].key.as_str())
                            .collect();
                        names.push(template.steps[next].key.as_str());
                        return Err(TemplateError::new(
                            format!("steps[{index}].needs"),
                            format!("cycle in needs: {}", names.join(" -> ")),
                        ));
                    }
                    Mark::White => visit(template, positions, marks, next, trail)?,
                    Mark::Black => {}
                }
            }
            trail.pop();
            marks[index] = Mark::Black;
            Ok(())
        }

        for index in 0..self.steps.len() {
            if marks[index] == Mark::White {
                visit(self, positions, &mut marks, index, &mut Vec::new())?;
            }
        }
        Ok(())
    }

    pub fn step(&self, key: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.key == key)
    }
}

fn check_step_keys(value: &Value) -> Result<(), TemplateError> {
    let Some(steps) = value.get("steps").and_then(Value::as_array) else {
        return Ok(());
    };
    for (index, step) in steps.iter().enumerate() {
        let Some(object) = step.as_object() else {
            return Err(TemplateError::new(
                format!("steps[{index}]"),
                "must be a mapping",
            ));
        };
        let Some(step_type) = object.get("type").and_then(Value::as_str) else {
            return Err(TemplateError::new(
                format!("steps[{index}].type"),
                "missing; use one of provider, rule, review",
            ));
        };
        let Some(type_keys) = step_type_keys(step_type) else {
            return Err(TemplateError::new(
                format!("steps[{index}].type"),
                format!("unknown step type `{step_type}`; use one of provider, rule, review"),
            ));
        };
        for key in object.keys() {
            if !STEP_COMMON_KEYS.contains(&key.as_str()) && !type_keys.contains(&key.as_str()) {
                return Err(TemplateError::new(
                    format!("steps[{index}].{key}"),
                    format!("unknown field for a {step_type} step"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_step(step: &Step, path: &str) -> Result<(), TemplateError> {
    let valid_key = !step.key.is_empty()
        && step.key.len() <= 64
        && step
            .key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && step.key.starts_with(|c: char| c.is_ascii_lowercase());
    if !valid_key {
        return Err(TemplateError::new(
            format!("{path}.key"),
            format!(
                "`{}` is not a valid step key; use 1 to 64 lower-case letters, digits and \
                 underscores, starting with a letter",
                step.key
            ),
        ));
    }
    if step.timeout_ms == 0 || step.timeout_ms > 600_000 {
        return Err(TemplateError::new(
            format!("{path}.timeout_ms"),
            "must be between 1 and 600000 milliseconds",
        ));
    }
    let retry = &step.retry;
    if retry.max_attempts == 0 || retry.max_attempts > 20 {
        return Err(TemplateError::new(
            format!("{path}.retry.max_attempts"),
            "must be between 1 and 20",
        ));
    }
    if !(0.0..=1.0).contains(&retry.jitter) {
        return Err(TemplateError::new(
            format!("{path}.retry.jitter"),
            "must be between 0 and 1",
        ));
    }
    if retry.max_backoff_ms < retry.initial_backoff_ms {
        return Err(TemplateError::new(
            format!("{path}.retry.max_backoff_ms"),
            "must not be smaller than initial_backoff_ms",
        ));
    }

    match &step.kind {
        StepKind::Provider { headers, .. } => {
            for name in headers.keys() {
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !valid {
                    return Err(TemplateError::new(
                        format!("{path}.headers.{name}"),
                        "is not a valid HTTP header name",
                    ));
                }
            }
        }
        StepKind::Rule { rules, default } => {
            if rules.is_empty() {
                return Err(TemplateError::new(
                    format!("{path}.rules"),
                    "a rule step needs at least one rule",
                ));
            }
            for (index, rule) in rules.iter().enumerate() {
                rules::compile(&rule.when).map_err(|message| {
                    TemplateError::new(format!("{path}.rules[{index}].when"), message)
                })?;
                check_reason(&rule.reason, &format!("{path}.rules[{index}].reason"))?;
            }
            check_reason(&default.reason, &format!("{path}.default.reason"))?;
        }
        StepKind::Review { when, reason } => {
            if let Some(when) = when {
                rules::compile(when)
                    .map_err(|message| TemplateError::new(format!("{path}.when"), message))?;
            }
            check_reason(reason, &format!("{path}.reason"))?;
        }
    }
    Ok(())
}

fn check_reason(reason: &str, path: &str) -> Result<(), TemplateError> {
    let valid = !reason.is_empty()
        && reason.len() <= 64
        && reason
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(TemplateError::new(
            path,
            format!(
                "`{reason}` is not a valid reason code; use upper-case letters, digits and underscores"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
id: 0b6f3f9a-8d4e-4d62-9a57-3d3f2b1e0c11
short_id: t1
name: Test
version: 1
steps:
  - key: kyb
    type: provider
    provider: kyb
  - key: check
    type: rule
    needs: [kyb]
    rules:
      - when: 'steps.kyb.status == "rejected"'
        outcome: fail
        reason: KYB_REJECTED
"#;

    #[test]
    fn valid_template_parses() {
        let template = Template::from_yaml(VALID).unwrap();
        assert_eq!(template.steps.len(), 2);
        assert_eq!(template.steps[1].needs, vec!["kyb".to_string()]);
        assert_eq!(template.steps[0].retry.max_attempts, 3);
    }

    #[test]
    fn unknown_step_type_names_path() {
        let source = VALID.replace("type: rule", "type: lambda");
        let error = Template::from_yaml(&source).unwrap_err();
        assert_eq!(error.path, "steps[1].type");
        assert!(error.message.contains("lambda"), "{error}");
    }

    #[test]
    fn unknown_step_field_is_rejected() {
        let source = VALID.replace(
            "    provider: kyb\n",
            "    provider: kyb\n    colour: red\n",
        );
        let error = Template::from_yaml(&source).unwrap_err();
        assert_eq!(error.path, "steps[0].colour");
    }

    #[test]
    fn missing_need_is_rejected() {
        let source = VALID.replace("needs: [kyb]", "needs: [kyc]");
        let error = Template::from_yaml(&source).unwrap_err();
        assert_eq!(error.path, "steps[1].needs[0]");
    }

    #[test]
    fn cycle_is_rejected() {
        let source = VALID.replace(
            "    provider: kyb\n",
            "    provider: kyb\n    needs: [check]\n",
        );
        let error = Template::from_yaml(&source).unwrap_err();
        assert!(error.message.contains("cycle"), "{error}");
    }

    #[test]
    fn bad_expression_names_path() {
        let source = VALID.replace(r#"steps.kyb.status == "rejected""#, "steps.kyb.status ==");
        let error = Template::from_yaml(&source).unwrap_err();
        assert_eq!(error.path, "steps[1].rules[0].when");
    }

    #[test]
    fn bad_outcome_names_path() {
        let source = VALID.replace("outcome: fail", "outcome: maybe");
        let error = Template::from_yaml(&source).unwrap_err();
        assert!(error.path.starts_with("steps[1]"), "{error}");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let retry = RetryPolicy {
            max_attempts: 5,
            initial_backoff_ms: 100,
            max_backoff_ms: 300,
            jitter: 0.0,
        };
        assert_eq!(retry.base_backoff_ms(2), 100);
        assert_eq!(retry.base_backoff_ms(3), 200);
        assert_eq!(retry.base_backoff_ms(4), 300);
    }
}

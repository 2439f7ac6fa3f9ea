//! Route handlers, one module per resource.

pub mod admin;
pub mod applications;
mod body_errors;
pub mod health;
pub mod logs;
pub mod orchestration;
pub mod templates;

use serde::Deserialize;

/// `?include=steps` and friends.
#[derive(Debug, Default, Deserialize)]
pub struct IncludeQuery {
    #[serde(default)]
    pub include: Option<String>,
}

impl IncludeQuery {
    pub fn steps(&self) -> bool {
        self.include
            .as_deref()
            .is_some_and(|value| value.split(',').any(|part| part.trim() == "steps"))
    }
}

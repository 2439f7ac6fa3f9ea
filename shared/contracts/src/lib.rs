//! Contracts between dataorch services.
//!
//! Everything that crosses a process boundary is defined here: the commands the gateway
//! publishes, the run events workers append, the run state folded from those events, the
//! template format and the application data that steps read. Each message carries
//! [`SCHEMA_VERSION`]; a consumer rejects a message of a newer major version instead of
//! guessing at its meaning.

pub mod application;
pub mod commands;
pub mod events;
pub mod rules;
pub mod sealing;
pub mod state;
pub mod status;
pub mod strict_json;
pub mod template;
pub mod time;

/// Major version of every message body defined in this crate.
pub const SCHEMA_VERSION: u16 = 1;

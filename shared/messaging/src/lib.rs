//! NATS JetStream plumbing shared by the services: stream and consumer names, subjects,
//! publishing commands, and appending and reading run events.
//!
//! Two streams carry everything:
//! - `<PREFIX>_COMMANDS` (`<prefix>.commands.execute`, `<prefix>.commands.continue`): what the
//!   gateway accepted. The sequence of an execute command is the run's log id.
//! - `<PREFIX>_EVENTS` (`<prefix>.events.<log id>`): run events, one subject per run, each
//!   appended on the condition that the subject's last sequence is the one the writer read.
//!
//! - `<PREFIX>_DEAD_LETTERS` (`<prefix>.dead.commands`): commands a worker could not process,
//!   with the reason in headers, until an operator redrives or deletes them.
//!
//! The command and event streams keep messages by limits (not work-queue retention) because the worker pool
//! and the projector each read every command, and the read model is rebuilt from them.

mod broker;
mod names;

pub use broker::{Broker, DeadLetter, MessagingError, StoredEvent, decode_command, decode_event};
pub use names::Names;

/// NATS header carrying the W3C trace context. NATS header names are case-sensitive, so it
/// is always written in lower case.
pub const TRACEPARENT_HEADER: &str = "traceparent";

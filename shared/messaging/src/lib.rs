//! NATS JetStream plumbing shared by the services: stream and consumer names, subjects,
//! publishing commands, and appending and reading run events.
//!
//! Two streams carry everything:
//! - `<PREFIX>_COMMANDS` (`<prefix>.commands.execute`, `<prefix>.commands.continue`): what the
//!   gateway accepted. The sequence of an execute command is the run's log id.
//! - `<PREFIX>_EVENTS` (`<prefix>.events.<log id>`): run events, one subject per run, each
//!   appended on the condition that the subject's last sequence is the one the writer read.
//!
//! Both streams keep messages by limits (not work-queue retention) because the worker pool
//! and the projector each read every command, and the read model is rebuilt from them.

mod broker;
mod names;

pub use broker::{Broker, MessagingError, StoredEvent, decode_command, decode_event};
pub use names::Names;

/// NATS header carrying the W3C trace context. NATS header names are case-sensitive, so it
/// is always written in lower case.
pub const TRACEPARENT_HEADER: &str = "traceparent";

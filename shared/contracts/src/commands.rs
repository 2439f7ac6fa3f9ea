//! Commands the gateway publishes to the commands stream.
//!
//! The JetStream sequence of an execute command is the run's log id, so a worker or the
//! projector can always fetch the command, and with it the pinned template and the
//! application data, by log id alone.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::SCHEMA_VERSION;
use crate::application::ApplicationData;
use crate::template::Template;

/// W3C trace context carrier (`traceparent`, `tracestate`), also sent as NATS headers.
pub type TraceContext = BTreeMap<String, String>;

/// A command body with its schema version and trace context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    pub schema_version: u16,
    #[serde(default)]
    pub trace_context: TraceContext,
    pub command: Command,
}

impl CommandEnvelope {
    pub fn new(command: Command, trace_context: TraceContext) -> Self {
        CommandEnvelope {
            schema_version: SCHEMA_VERSION,
            trace_context,
            command,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    Execute(Box<ExecuteCommand>),
    Continue(ContinueCommand),
}

impl Command {
    pub fn tenant_id(&self) -> &str {
        match self {
            Command::Execute(command) => &command.tenant_id,
            Command::Continue(command) => &command.tenant_id,
        }
    }
}

/// Start a run of `template` for `application`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteCommand {
    pub tenant_id: String,
    pub application_id: String,
    /// When the gateway accepted the request; becomes the log's `created_at`.
    pub created_at: DateTime<Utc>,
    /// The whole published template version the run is pinned to.
    pub template: Template,
    /// The application data as it was when the run was accepted.
    /// The gateway seals the personal fields (see [`crate::sealing`]); workers open them.
    pub application: ApplicationData,
}

/// Continue a halted run as pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinueCommand {
    pub tenant_id: String,
    pub log_id: i64,
    pub application_id: String,
    /// The halted step this continue overrides. A continue never passes another step, so a
    /// repeated continue cannot pass a later halt.
    pub step_key: String,
    /// Who asked: the API key's name.
    pub actor: String,
    #[serde(default)]
    pub comment: Option<String>,
    pub requested_at: DateTime<Utc>,
}

//! Database access shared by the gateway (admin tables, read-model queries) and the
//! projector (read-model writes): entities, connection setup and queries.
//!
//! The read model (`logs`, `log_steps`, `log_overrides`, `projection_offsets`) has one
//! writer, the projector. The gateway writes only the admin tables (`tenants`, `api_keys`,
//! `applications`, `templates`).

mod connect;
pub mod entities;
pub mod queries;

pub use connect::{connect, migrate};
pub use sea_orm::{DatabaseConnection, DbErr};

/// Name of the commands stream's row in `projection_offsets`.
pub const COMMANDS_OFFSET: &str = "commands";
/// Name of the events stream's row in `projection_offsets`.
pub const EVENTS_OFFSET: &str = "events";

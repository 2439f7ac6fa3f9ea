//! sea-orm entities, one module per table.

pub mod api_keys;
pub mod applications;
pub mod log_overrides;
pub mod log_steps;
pub mod logs;
pub mod projection_offsets;
pub mod templates;
pub mod tenants;

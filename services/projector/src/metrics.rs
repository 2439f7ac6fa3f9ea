//! Metric names of the projector, with their units and labels.

/// Histogram, seconds: from an event's time to the commit of the row that shows it.
pub const PROJECTION_LAG_SECONDS: &str = "dataorch_projection_lag_seconds";
/// Histogram: stream messages written in one database transaction. Labels: `stream`
/// (`commands`, `events`).
pub const BATCH_SIZE: &str = "dataorch_projector_batch_size";
/// Gauge: the last stream sequence applied. Labels: `stream`.
pub const OFFSET: &str = "dataorch_projector_offset";

//! Metric names of the worker, with their units and labels. Labels never carry ids: the
//! template label is the template's short id, of which a tenant has a handful.

/// Counter: runs a worker started. Labels: `template`.
pub const RUNS_STARTED: &str = "dataorch_runs_started_total";
/// Counter: runs that halted, completed or errored. Labels: `template`, `status`
/// (`halted`, `completed`, `error`), `outcome` (`pass`, `fail`, `review`, `none`).
pub const RUNS_FINISHED: &str = "dataorch_runs_finished_total";
/// Histogram, seconds: one step from start to result, retries included. Labels:
/// `step_type`, `provider` (`none` for rule and review steps), `result` (`finished`,
/// `failed`).
pub const STEP_DURATION_SECONDS: &str = "dataorch_step_duration_seconds";
/// Counter: failed provider attempts. Labels: `provider`, `retryable` (`true`, `false`).
pub const PROVIDER_ERRORS: &str = "dataorch_provider_errors_total";
/// Counter: provider attempts repeated after a failure. Labels: `provider`.
pub const PROVIDER_RETRIES: &str = "dataorch_provider_retries_total";
/// Counter: commands received on their second or later delivery.
pub const COMMANDS_REDELIVERED: &str = "dataorch_commands_redelivered_total";
/// Counter: commands moved to the dead-letter stream.
pub const COMMANDS_QUARANTINED: &str = "dataorch_commands_quarantined_total";
/// Gauge: commands in the stream not yet delivered to any worker.
pub const CONSUMER_PENDING: &str = "dataorch_worker_consumer_pending";
/// Gauge: commands delivered to workers and not yet acknowledged.
pub const CONSUMER_ACK_PENDING: &str = "dataorch_worker_consumer_ack_pending";
/// Gauge: commands JetStream has redelivered and not yet seen acknowledged.
pub const CONSUMER_REDELIVERED: &str = "dataorch_worker_consumer_redelivered";

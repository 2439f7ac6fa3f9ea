//! Workers: stateless executors of template steps.
//!
//! Every replica binds the same durable pull consumer on the commands stream. For each
//! command a worker reads the run's newest event (its snapshot of the run state), appends
//! events conditionally on that event's sequence, and runs the steps that are ready, in
//! parallel where `needs` allows. A worker keeps nothing about a run between commands, so
//! any replica can pick up any run.
//!
//! Retries and giving up:
//! - A provider step retries failed attempts with exponential backoff and jitter up to the
//!   step's `retry.max_attempts`; then the run ends in status 5 with the error as
//!   `internal_error`. Client errors (4xx other than 408 and 429) are not retried.
//! - While a run is active the worker sends in-progress acks every third of `ack_wait`. If
//!   the worker dies, JetStream redelivers the command after `ack_wait` and the next
//!   worker continues from the stored events; a step that was in flight is repeated with
//!   the same provider idempotency key.
//! - When an append finds that another worker appended first, this worker stops working on
//!   the run at once and leaves the command to the other worker.
//! - When NATS is unreachable the command is negatively acknowledged with a 5 s delay.

mod analytics;
mod consumer;
pub mod metrics;
mod providers;
mod run;
mod steps;

pub use consumer::{run, run_with_readiness};
pub use providers::{ProviderClient, idempotency_key};

//! Read-your-writes: bounded waits for the projector to catch up with a caller's writes.
//!
//! A log id is the sequence of its execute command, so "the read model has applied the
//! commands stream up to sequence N" means every run accepted up to log id N has a row.

use std::time::Duration;

use dataorch_storage::{COMMANDS_OFFSET, queries};
use tokio::time::Instant;

use crate::AppState;
use crate::error::ApiError;

const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Waits until the projector has applied the commands stream up to `sequence`, or the
/// configured timeout passes. Returns whether it caught up.
pub async fn wait_for_commands(state: &AppState, sequence: u64) -> Result<bool, ApiError> {
    let deadline = Instant::now() + state.consistency_timeout;
    loop {
        let applied = queries::projection_offset(&state.db, COMMANDS_OFFSET)
            .await
            .map_err(ApiError::database)?;
        if applied >= sequence {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                sequence,
                applied,
                "projector is behind; answering from the read model as it is"
            );
            return Ok(false);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Waits until the projector has applied every command accepted so far, so that a list
/// shows the caller's own executes. Without NATS the read model is served as it is.
pub async fn wait_for_all_commands(state: &AppState) -> Result<(), ApiError> {
    match state.broker.commands_last_sequence().await {
        Ok(last) => wait_for_commands(state, last).await.map(|_| ()),
        Err(error) => {
            tracing::warn!(error = %error, "cannot read the commands stream; serving the read model without waiting");
            Ok(())
        }
    }
}

/// Polls `check` until it returns true or the configured timeout passes.
pub async fn wait_until<F, Fut>(state: &AppState, mut check: F) -> Result<bool, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, ApiError>>,
{
    let deadline = Instant::now() + state.consistency_timeout;
    loop {
        if check().await? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

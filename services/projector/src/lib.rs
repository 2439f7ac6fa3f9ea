//! The projector: the only writer of the log read model.
//!
//! It reads the commands stream (execute commands become `pending` rows) and the events
//! stream (each event's run snapshot becomes the run's rows) with ephemeral pull consumers
//! that start after the offsets stored in `projection_offsets`. Each batch is written in one
//! transaction together with the new offset, so a crash between the write and the next
//! batch replays at most that batch, and replaying changes nothing: rows are upserted only
//! when the incoming event sequence is newer than the one the row reflects. Pointed at an
//! empty database, the projector rebuilds the whole read model from the streams.
//!
//! When a stream read fails (broker restart, network fault, missed heartbeats), the
//! projector waits one second and resumes from the stored offset with a new consumer. Run one projector per database.

mod apply;
pub mod metrics;

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use dataorch_config::Settings;
use dataorch_messaging::Broker;
use dataorch_storage::{COMMANDS_OFFSET, DatabaseConnection, EVENTS_OFFSET, queries};
use futures::StreamExt;
use tokio::sync::watch;

/// Idle heartbeat requested from the server; two missed ones end the read with an error.
const HEARTBEAT: Duration = Duration::from_secs(1);

pub use apply::{apply_command_batch, apply_event_batch};

/// Projects both streams until `shutdown` resolves. The current batch is committed before
/// the function returns.
pub async fn run(
    settings: Settings,
    broker: Broker,
    db: DatabaseConnection,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let batch_size = settings.projector.batch_size;

    let commands = tokio::spawn(project_stream(
        broker.clone(),
        db.clone(),
        false,
        batch_size,
        stop_rx.clone(),
    ));
    let events = tokio::spawn(project_stream(broker, db, true, batch_size, stop_rx));
    tracing::info!(batch_size, "projector started");

    shutdown.await;
    tracing::info!("projector stopping after the current batch");
    let _ = stop_tx.send(true);
    commands
        .await
        .context("commands projection task panicked")?;
    events.await.context("events projection task panicked")?;
    tracing::info!("projector stopped");
    Ok(())
}

async fn project_stream(
    broker: Broker,
    db: DatabaseConnection,
    events: bool,
    batch_size: usize,
    mut stop: watch::Receiver<bool>,
) {
    let stream_name = if events {
        EVENTS_OFFSET
    } else {
        COMMANDS_OFFSET
    };
    loop {
        if *stop.borrow() {
            return;
        }
        match project_once(&broker, &db, events, batch_size, &mut stop).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(stream = stream_name, error = %format!("{error:#}"), "projection interrupted, resuming from the stored offset in 1 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

/// Reads from the stored offset until stopped; returns `Ok` only when stopped. Any read
/// error, including a missed heartbeat after a broker restart, returns `Err` so that the
/// caller starts again from the stored offset with a new consumer.
async fn project_once(
    broker: &Broker,
    db: &DatabaseConnection,
    events: bool,
    batch_size: usize,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let stream_name = if events {
        EVENTS_OFFSET
    } else {
        COMMANDS_OFFSET
    };
    let offset = queries::projection_offset(db, stream_name)
        .await
        .context("reading projection offset")?;
    let consumer = broker.replay_consumer(events, offset + 1).await?;
    let messages = consumer
        .stream()
        .max_messages_per_batch(batch_size)
        .heartbeat(HEARTBEAT)
        .messages()
        .await
        .context("opening the stream consumer")?;
    let mut batches = messages.ready_chunks(batch_size);
    tracing::debug!(
        stream = stream_name,
        from_sequence = offset + 1,
        "projecting"
    );

    let mut expected = offset + 1;
    loop {
        let batch = tokio::select! {
            batch = batches.next() => batch,
            _ = stop.changed() => return Ok(()),
        };
        let Some(batch) = batch else {
            anyhow::bail!("the {stream_name} stream consumer ended");
        };
        let mut messages = Vec::with_capacity(batch.len());
        for message in batch {
            let message = message.context("reading from the stream")?;
            let sequence = message
                .info()
                .map_err(|e| anyhow::anyhow!("message without metadata: {e}"))?
                .stream_sequence;
            if sequence < expected {
                anyhow::bail!("the {stream_name} stream went back from {expected} to {sequence}");
            }
            expected = sequence + 1;
            messages.push((sequence, message.payload.clone()));
        }
        if events {
            apply_event_batch(db, &messages).await?;
        } else {
            apply_command_batch(db, &messages).await?;
        }
    }
}

/// Waits until the read model reflects both streams up to their last sequence at the time
/// of the call, or `timeout` passes. Returns whether it caught up.
pub async fn wait_until_caught_up(
    broker: &Broker,
    db: &DatabaseConnection,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let (commands, events) = broker.last_sequences().await?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let applied_commands = queries::projection_offset(db, COMMANDS_OFFSET).await?;
        let applied_events = queries::projection_offset(db, EVENTS_OFFSET).await?;
        if applied_commands >= commands && applied_events >= events {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

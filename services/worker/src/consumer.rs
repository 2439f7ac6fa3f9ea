//! The message loop: pulls commands, bounds concurrency, keeps deliveries alive and acks.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::AckKind;
use async_nats::jetstream::message::Acker;
use dataorch_config::Settings;
use dataorch_contracts::commands::Command;
use dataorch_messaging::{Broker, MessagingError, decode_command};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::providers::ProviderClient;
use crate::run::{RunOutcome, drive};

/// Consumes commands until `shutdown` resolves, then stops pulling and lets the runs in
/// flight finish for up to `ack_wait`; runs still active after that are left unacknowledged
/// so that JetStream hands them to another worker.
pub async fn run(
    settings: Settings,
    broker: Broker,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let worker = &settings.worker;
    let ack_wait = Duration::from_secs(worker.ack_wait_secs);
    let max_ack_pending = (worker.max_concurrent_runs as i64)
        .saturating_mul(4)
        .max(1_000);
    let consumer = broker
        .worker_consumer(ack_wait, worker.max_deliver, max_ack_pending)
        .await
        .context("binding the worker consumer")?;
    let providers = Arc::new(ProviderClient::new(
        &settings.providers,
        worker.max_response_bytes,
    )?);
    let permits = Arc::new(Semaphore::new(worker.max_concurrent_runs));
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(worker.max_concurrent_runs.min(256))
        .messages()
        .await
        .context("opening the worker message stream")?;
    tracing::info!(
        max_concurrent_runs = worker.max_concurrent_runs,
        ack_wait_secs = worker.ack_wait_secs,
        "worker started"
    );

    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.context("semaphore closed")?,
            _ = &mut shutdown => break,
        };
        let message = tokio::select! {
            message = messages.next() => message,
            _ = &mut shutdown => break,
        };
        let Some(message) = message else {
            anyhow::bail!("the worker message stream ended");
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(error = %error, "failed to pull a command; retrying");
                continue;
            }
        };
        let broker = broker.clone();
        let providers = providers.clone();
        tasks.spawn(async move {
            handle(broker, providers, message, ack_wait).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }

    drop(messages);
    while tasks.try_join_next().is_some() {}
    let in_flight = tasks.len();
    tracing::info!(
        in_flight,
        "worker stopping: no new commands, waiting for runs in flight"
    );
    let drained = tokio::time::timeout(ack_wait, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            still_running = tasks.len(),
            "runs still active at shutdown are left for redelivery"
        );
        tasks.shutdown().await;
    }
    tracing::info!("worker stopped");
    Ok(())
}

async fn handle(
    broker: Broker,
    providers: Arc<ProviderClient>,
    message: async_nats::jetstream::Message,
    ack_wait: Duration,
) {
    let (sequence, delivered) = match message.info() {
        Ok(info) => (info.stream_sequence, info.delivered),
        Err(error) => {
            tracing::error!(error = %error, "command without JetStream metadata; terminating it");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
    };
    let (message, acker) = message.split();
    let acker = Arc::new(acker);

    let envelope = match decode_command(&message.payload) {
        Ok(envelope) => envelope,
        Err(error) => {
            // NOTE: the poison command is terminated and logged; there is no run to mark
            // because the command could not be read.
            tracing::error!(stream.sequence = sequence, error = %error, "undecodable command; terminating it");
            let _ = acker.ack_with(AckKind::Term).await;
            return;
        }
    };
    let log_id = match &envelope.command {
        Command::Execute(_) => sequence as i64,
        Command::Continue(command) => command.log_id,
    };

    let keepalive = tokio::spawn(keep_alive(acker.clone(), ack_wait));
    let result = drive(&broker, &providers, log_id, envelope, delivered).await;
    keepalive.abort();

    match result {
        Ok(outcome) => {
            if let RunOutcome::Yielded = outcome {
                tracing::info!(
                    log.id = log_id,
                    "another worker holds the run; leaving the command to it"
                );
                return;
            }
            if let Err(error) = acker.double_ack().await {
                tracing::warn!(log.id = log_id, error = %error, "failed to acknowledge a finished command; it will be redelivered and found done");
            }
        }
        Err(error) => {
            let delay = match error {
                MessagingError::Unavailable(_) => Duration::from_secs(5),
                _ => Duration::from_secs(1),
            };
            tracing::warn!(log.id = log_id, error = %error, delay_ms = delay.as_millis() as u64, "run interrupted; command will be redelivered");
            let _ = acker.ack_with(AckKind::Nak(Some(delay))).await;
        }
    }
}

/// Sends in-progress acks so that JetStream does not redeliver a command whose run is still
/// being worked on.
async fn keep_alive(acker: Arc<Acker>, ack_wait: Duration) {
    let interval = (ack_wait / 3).max(Duration::from_millis(500));
    loop {
        tokio::time::sleep(interval).await;
        if let Err(error) = acker.ack_with(AckKind::Progress).await {
            tracing::warn!(error = %error, "failed to send an in-progress ack");
        }
    }
}

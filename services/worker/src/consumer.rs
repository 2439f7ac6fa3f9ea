//! The message loop: pulls commands, bounds concurrency, keeps deliveries alive, acks,
//! quarantines what cannot be processed, and drains on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::message::Acker;
use dataorch_config::Settings;
use dataorch_contracts::commands::Command;
use dataorch_contracts::events::{EventKind, RunEvent};
use dataorch_contracts::time::now_micros;
use dataorch_messaging::{Broker, MessagingError, decode_command};
use futures::StreamExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::providers::ProviderClient;
use crate::run::{RunOutcome, drive};

/// What every command handler shares.
struct Context {
    broker: Broker,
    data_key: dataorch_contracts::sealing::DataKey,
    providers: Arc<ProviderClient>,
    ack_wait: Duration,
    max_deliver: i64,
    /// Becomes true when the grace period after shutdown has run out: handlers then release
    /// their commands to other workers at once.
    released: watch::Receiver<bool>,
}

/// Consumes commands until `shutdown` resolves. Then it stops pulling, lets runs in flight
/// finish for up to `worker.shutdown_grace_secs`, and releases the rest (a nak without
/// delay) so that another worker continues them at once.
pub async fn run(
    settings: Settings,
    broker: Broker,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_readiness(settings, broker, Arc::new(AtomicBool::new(false)), shutdown).await
}

/// Runs like [`run`] and keeps `ready` true while the worker is bound to its consumer and
/// taking commands.
pub async fn run_with_readiness(
    settings: Settings,
    broker: Broker,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let worker = &settings.worker;
    let ack_wait = Duration::from_secs(worker.ack_wait_secs);
    let grace = Duration::from_secs(worker.shutdown_grace_secs);
    let max_ack_pending = (worker.max_concurrent_runs as i64)
        .saturating_mul(4)
        .max(1_000);
    let consumer = broker
        .worker_consumer(ack_wait, worker.max_deliver, max_ack_pending)
        .await
        .context("binding the worker consumer")?;
    let (release, released) = watch::channel(false);
    let context = Arc::new(Context {
        data_key: dataorch_contracts::sealing::DataKey::from_base64(
            settings.security.data_key.expose(),
        )?,
        broker,
        providers: Arc::new(ProviderClient::new(
            &settings.providers,
            worker.max_response_bytes,
        )?),
        ack_wait,
        max_deliver: worker.max_deliver,
        released,
    });
    let permits = Arc::new(Semaphore::new(worker.max_concurrent_runs));
    let gauges = tokio::spawn(report_consumer(consumer.clone()));
    ready.store(true, Ordering::SeqCst);
    let batch = worker.max_concurrent_runs.min(256);
    tracing::info!(
        max_concurrent_runs = worker.max_concurrent_runs,
        ack_wait_secs = worker.ack_wait_secs,
        "worker started"
    );

    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    'pull: loop {
        let mut messages = tokio::select! {
            messages = open_messages(&consumer, batch) => messages,
            _ = &mut shutdown => break 'pull,
        };
        loop {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => permit.context("semaphore closed")?,
                _ = &mut shutdown => break 'pull,
            };
            let message = tokio::select! {
                message = messages.next() => message,
                _ = &mut shutdown => break 'pull,
            };
            let message = match message {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    tracing::warn!(error = %error, "failed to pull commands; retrying");
                    continue;
                }
                None => {
                    tracing::warn!("the command stream ended; opening it again");
                    continue 'pull;
                }
            };
            let context = context.clone();
            tasks.spawn(async move {
                handle(&context, message).await;
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
        }
    }

    ready.store(false, Ordering::SeqCst);
    gauges.abort();
    while tasks.try_join_next().is_some() {}
    tracing::info!(
        in_flight = tasks.len(),
        grace_secs = grace.as_secs(),
        "worker stopping: pulling no more commands"
    );
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            still_running = tasks.len(),
            "grace period over; releasing the remaining commands to other workers"
        );
        let _ = release.send(true);
        while tasks.join_next().await.is_some() {}
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// Publishes the consumer's pending, ack-pending and redelivered counts every 5 s.
async fn report_consumer(mut consumer: PullConsumer) {
    loop {
        if let Ok(info) = consumer.info().await {
            metrics::gauge!(crate::metrics::CONSUMER_PENDING).set(info.num_pending as f64);
            metrics::gauge!(crate::metrics::CONSUMER_ACK_PENDING).set(info.num_ack_pending as f64);
            metrics::gauge!(crate::metrics::CONSUMER_REDELIVERED).set(info.num_redelivered as f64);
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Opens the pull stream, retrying every second while NATS is unreachable.
async fn open_messages(
    consumer: &PullConsumer,
    batch: usize,
) -> async_nats::jetstream::consumer::pull::Stream {
    loop {
        match consumer
            .stream()
            .max_messages_per_batch(batch)
            .messages()
            .await
        {
            Ok(messages) => return messages,
            Err(error) => {
                tracing::warn!(error = %error, "cannot open the command stream; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn handle(context: &Context, message: async_nats::jetstream::Message) {
    let (sequence, delivered) = match message.info() {
        Ok(info) => (info.stream_sequence, info.delivered),
        Err(error) => {
            tracing::error!(error = %error, "command without JetStream metadata; terminating it");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        }
    };
    let subject = message.subject.to_string();
    let (message, acker) = message.split();
    let acker = Arc::new(acker);

    let envelope = match decode_command(&message.payload) {
        Ok(envelope) => envelope,
        Err(error) => {
            // Retrying cannot help a command this build cannot read.
            let reason = format!("undecodable command: {error}");
            quarantine(
                context,
                &acker,
                &subject,
                sequence,
                delivered,
                message.payload.clone(),
                None,
                &reason,
            )
            .await;
            return;
        }
    };
    let log_id = match &envelope.command {
        Command::Execute(_) => sequence as i64,
        Command::Continue(command) => command.log_id,
    };
    if delivered > 1 {
        metrics::counter!(crate::metrics::COMMANDS_REDELIVERED).increment(1);
    }

    let destination = match &envelope.command {
        Command::Execute(_) => "dataorch.commands.execute",
        Command::Continue(_) => "dataorch.commands.continue",
    };
    let span = tracing::info_span!(
        "process",
        otel.name = format!("process {destination}"),
        otel.kind = "consumer",
        messaging.system = dataorch_telemetry::trace::attributes::MESSAGING_SYSTEM,
        messaging.operation.type = "process",
        messaging.destination.name = destination,
        messaging.message.delivery_count = delivered,
        log.id = log_id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    dataorch_telemetry::trace::set_parent(&span, &envelope.trace_context);
    dataorch_telemetry::trace::record_ids(&span);

    let keepalive = tokio::spawn(keep_alive(acker.clone(), context.ack_wait));
    let mut released = context.released.clone();
    let work = drive(
        &context.broker,
        &context.providers,
        &context.data_key,
        log_id,
        envelope,
        delivered,
    )
    .instrument(span);
    let result = tokio::select! {
        result = work => Some(result),
        _ = released.wait_for(|released| *released) => None,
    };
    keepalive.abort();

    match result {
        None => {
            tracing::info!(log.id = log_id, "released to another worker at shutdown");
            let _ = acker.ack_with(AckKind::Nak(None)).await;
        }
        Some(Ok(RunOutcome::Yielded)) => {
            tracing::info!(
                log.id = log_id,
                "another worker holds the run; leaving the command to it"
            );
        }
        Some(Ok(RunOutcome::Done)) => {
            if let Err(error) = acker.double_ack().await {
                tracing::warn!(log.id = log_id, error = %error, "failed to acknowledge a finished command; it will be redelivered and found done");
            }
        }
        Some(Err(error))
            if delivered >= context.max_deliver
                && !matches!(error, MessagingError::Unavailable(_)) =>
        {
            let reason = format!("failed on each of {delivered} deliveries, last with: {error}");
            quarantine(
                context,
                &acker,
                &subject,
                sequence,
                delivered,
                message.payload.clone(),
                Some(log_id),
                &reason,
            )
            .await;
        }
        Some(Err(error)) => {
            let delay = match error {
                MessagingError::Unavailable(_) => Duration::from_secs(5),
                _ => Duration::from_secs(1),
            };
            tracing::warn!(log.id = log_id, delivered, error = %error, delay_ms = delay.as_millis() as u64, "run interrupted; command will be redelivered");
            let _ = acker.ack_with(AckKind::Nak(Some(delay))).await;
        }
    }
}

/// Moves a command to the dead-letter stream, marks its run errored when there is one, and
/// terminates the delivery. If the dead-letter write fails, the command is left for
/// redelivery instead, so it is never dropped.
#[allow(clippy::too_many_arguments)]
async fn quarantine(
    context: &Context,
    acker: &Acker,
    subject: &str,
    sequence: u64,
    delivered: i64,
    payload: bytes::Bytes,
    log_id: Option<i64>,
    reason: &str,
) {
    match context
        .broker
        .quarantine(subject, sequence, delivered, payload, reason)
        .await
    {
        Ok(dead_sequence) => {
            metrics::counter!(crate::metrics::COMMANDS_QUARANTINED).increment(1);
            tracing::error!(
                stream.sequence = sequence,
                dead_letter.sequence = dead_sequence,
                log.id = log_id,
                reason,
                "command quarantined"
            );
        }
        Err(error) => {
            tracing::error!(stream.sequence = sequence, error = %error, reason, "failed to quarantine a command; it will be redelivered");
            let _ = acker
                .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                .await;
            return;
        }
    }
    if let Some(log_id) = log_id {
        mark_errored(&context.broker, log_id, reason).await;
    }
    let _ = acker.ack_with(AckKind::Term).await;
}

/// Ends a run in status 5 with `reason` as its `internal_error`, unless it has already
/// finished or has no events to build on.
async fn mark_errored(broker: &Broker, log_id: i64, reason: &str) {
    let stored = match broker.last_event(log_id).await {
        Ok(Some(stored)) => stored,
        Ok(None) => match broker.execute_command(log_id).await {
            Ok((command, trace_context)) => {
                let state = dataorch_contracts::state::RunState::accepted(log_id, &command);
                append_error(broker, &state, 0, reason, trace_context).await;
                return;
            }
            Err(_) => return,
        },
        Err(error) => {
            tracing::warn!(log.id = log_id, error = %error, "cannot read the run to mark it errored");
            return;
        }
    };
    if stored.event.state.status.is_terminal() {
        return;
    }
    append_error(
        broker,
        &stored.event.state,
        stored.sequence,
        reason,
        stored.event.trace_context.clone(),
    )
    .await;
}

async fn append_error(
    broker: &Broker,
    state: &dataorch_contracts::state::RunState,
    sequence: u64,
    reason: &str,
    trace_context: dataorch_contracts::commands::TraceContext,
) {
    let error = format!("quarantined: {reason}");
    let Ok(event) = RunEvent::next(
        state,
        EventKind::RunErrored { error },
        now_micros(),
        trace_context,
    ) else {
        return;
    };
    if let Err(error) = broker.append_event(&event, sequence).await {
        tracing::warn!(log.id = state.log_id, error = %error, "failed to mark a quarantined run errored");
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

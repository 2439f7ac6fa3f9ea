use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy};
use async_nats::jetstream::consumer::{PullConsumer, pull};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{
    Config as StreamConfig, DirectGetErrorKind, RetentionPolicy, StorageType, Stream,
};
use async_nats::jetstream::{self, Context, kv};
use bytes::Bytes;
use dataorch_config::NatsSettings;
use dataorch_contracts::SCHEMA_VERSION;
use dataorch_contracts::commands::{Command, CommandEnvelope, ExecuteCommand, TraceContext};
use dataorch_contracts::events::RunEvent;

use crate::TRACEPARENT_HEADER;
use crate::names::Names;

/// Failures of broker operations, grouped by what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    /// The broker cannot be reached or did not answer in time; retrying later is safe.
    #[error("NATS is unavailable: {0}")]
    Unavailable(String),
    /// A conditional append lost the race: another writer appended to the run first.
    #[error("another writer appended to run {log_id} first")]
    Conflict { log_id: i64 },
    #[error("{0} not found")]
    NotFound(String),
    /// A stored message could not be decoded.
    #[error("invalid message: {0}")]
    Invalid(String),
    #[error("NATS request failed: {0}")]
    Other(String),
}

/// An event read back from the events stream with its stream sequence.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub sequence: u64,
    pub event: RunEvent,
}

/// A connection to NATS with the dataorch streams in place.
#[derive(Clone)]
pub struct Broker {
    pub client: async_nats::Client,
    pub jetstream: Context,
    pub names: Names,
    commands: Stream,
    events: Stream,
    dead_letters: Stream,
}

/// A quarantined command, as stored in the dead-letter stream.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Sequence in the dead-letter stream, used to redrive it.
    pub sequence: u64,
    pub original_subject: String,
    pub original_sequence: u64,
    pub deliveries: u64,
    pub reason: String,
    pub quarantined_at: String,
    pub payload: Bytes,
}

const REASON_HEADER: &str = "Dataorch-Reason";
const ORIGINAL_SUBJECT_HEADER: &str = "Dataorch-Original-Subject";
const ORIGINAL_SEQUENCE_HEADER: &str = "Dataorch-Original-Sequence";
const DELIVERIES_HEADER: &str = "Dataorch-Deliveries";

fn unavailable(error: impl std::fmt::Display) -> MessagingError {
    MessagingError::Unavailable(error.to_string())
}

impl Broker {
    /// Connects and creates or updates both streams.
    pub async fn connect(settings: &NatsSettings) -> Result<Broker, MessagingError> {
        let timeout = Duration::from_millis(settings.request_timeout_ms);
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(timeout)
            .request_timeout(Some(timeout))
            .retry_on_initial_connect()
            .max_reconnects(None)
            // Reconnect within a second of the server coming back, instead of the client's
            // default backoff of several seconds.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((50u64 << attempts.min(5)).min(1_000))
            })
            .name("dataorch")
            .connect(&settings.url)
            .await
            .map_err(unavailable)?;
        Broker::with_client(client, settings).await
    }

    pub async fn with_client(
        client: async_nats::Client,
        settings: &NatsSettings,
    ) -> Result<Broker, MessagingError> {
        let mut jetstream = jetstream::new(client.clone());
        jetstream.set_timeout(Duration::from_millis(settings.request_timeout_ms));
        let names = Names::new(settings);

        let commands = ensure_stream(
            &jetstream,
            StreamConfig {
                name: names.commands_stream.clone(),
                description: Some("Commands accepted by the dataorch gateway".into()),
                subjects: vec![names.commands_filter()],
                retention: RetentionPolicy::Limits,
                storage: StorageType::File,
                num_replicas: settings.replicas,
                allow_direct: true,
                duplicate_window: Duration::from_secs(settings.duplicate_window_secs),
                ..StreamConfig::default()
            },
        )
        .await?;
        let events = ensure_stream(
            &jetstream,
            StreamConfig {
                name: names.events_stream.clone(),
                description: Some("Run events appended by dataorch workers".into()),
                subjects: vec![names.events_filter()],
                retention: RetentionPolicy::Limits,
                storage: StorageType::File,
                num_replicas: settings.replicas,
                allow_direct: true,
                ..StreamConfig::default()
            },
        )
        .await?;

        let dead_letters = ensure_stream(
            &jetstream,
            StreamConfig {
                name: names.dead_letter_stream.clone(),
                description: Some("Commands dataorch workers could not process".into()),
                subjects: vec![names.dead_letter_subject()],
                retention: RetentionPolicy::Limits,
                storage: StorageType::File,
                num_replicas: settings.replicas,
                ..StreamConfig::default()
            },
        )
        .await?;

        Ok(Broker {
            client,
            jetstream,
            names,
            commands,
            events,
            dead_letters,
        })
    }

    /// Publishes a command and waits until JetStream has stored it. Returns the stream
    /// sequence and whether JetStream treated it as a duplicate of `message_id`.
    pub async fn publish_command(
        &self,
        envelope: &CommandEnvelope,
        message_id: Option<&str>,
    ) -> Result<(u64, bool), MessagingError> {
        let subject = match envelope.command {
            Command::Execute(_) => self.names.execute_subject(),
            Command::Continue(_) => self.names.continue_subject(),
        };
        let payload =
            serde_json::to_vec(envelope).map_err(|e| MessagingError::Invalid(e.to_string()))?;
        let mut message = PublishMessage::build()
            .payload(Bytes::from(payload))
            .headers(trace_headers(&envelope.trace_context));
        if let Some(id) = message_id {
            message = message.message_id(id);
        }
        let ack_future = self
            .jetstream
            .send_publish(subject, message)
            .await
            .map_err(publish_error)?;
        let ack = ack_future.await.map_err(publish_error)?;
        Ok((ack.sequence, ack.duplicate))
    }

    /// Reads the execute command whose sequence is `log_id`.
    pub async fn execute_command(
        &self,
        log_id: i64,
    ) -> Result<(ExecuteCommand, TraceContext), MessagingError> {
        let sequence =
            u64::try_from(log_id).map_err(|_| MessagingError::NotFound(format!("log {log_id}")))?;
        let message = self
            .commands
            .get_raw_message(sequence)
            .await
            .map_err(|error| {
                use async_nats::jetstream::stream::RawMessageErrorKind;
                match error.kind() {
                    RawMessageErrorKind::NoMessageFound => {
                        MessagingError::NotFound(format!("log {log_id}"))
                    }
                    _ => unavailable(error),
                }
            })?;
        let envelope = decode_command(&message.payload)?;
        match envelope.command {
            Command::Execute(command) => Ok((*command, envelope.trace_context)),
            Command::Continue(_) => Err(MessagingError::NotFound(format!("log {log_id}"))),
        }
    }

    /// Reads the newest event of a run, or `None` when the run has none yet.
    pub async fn last_event(&self, log_id: i64) -> Result<Option<StoredEvent>, MessagingError> {
        let subject = self.names.event_subject(log_id);
        match self.events.direct_get_last_for_subject(subject).await {
            Ok(message) => {
                let event = decode_event(&message.payload)?;
                Ok(Some(StoredEvent {
                    sequence: message.sequence,
                    event,
                }))
            }
            Err(error) if matches!(error.kind(), DirectGetErrorKind::NotFound) => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Appends an event to its run's subject if the subject's last sequence is still
    /// `expected_last` (0 for a run without events). Returns the new event's sequence, or
    /// [`MessagingError::Conflict`] when another writer appended first.
    pub async fn append_event(
        &self,
        event: &RunEvent,
        expected_last: u64,
    ) -> Result<u64, MessagingError> {
        let subject = self.names.event_subject(event.log_id);
        let payload =
            serde_json::to_vec(event).map_err(|e| MessagingError::Invalid(e.to_string()))?;
        let message = PublishMessage::build()
            .payload(Bytes::from(payload))
            .headers(trace_headers(&event.trace_context))
            .expected_last_subject_sequence(expected_last);
        let result = async {
            let ack_future = self.jetstream.send_publish(subject, message).await?;
            ack_future.await
        }
        .await;
        match result {
            Ok(ack) => Ok(ack.sequence),
            Err(error) if matches!(error.kind(), PublishErrorKind::WrongLastSequence) => {
                Err(MessagingError::Conflict {
                    log_id: event.log_id,
                })
            }
            Err(error) => Err(publish_error(error)),
        }
    }

    /// Returns the sequence of the newest message in the commands stream.
    pub async fn commands_last_sequence(&self) -> Result<u64, MessagingError> {
        let mut stream = self.commands.clone();
        let info = stream.info().await.map_err(unavailable)?;
        Ok(info.state.last_sequence)
    }

    /// Creates or binds the durable pull consumer shared by all workers.
    pub async fn worker_consumer(
        &self,
        ack_wait: Duration,
        max_deliver: i64,
        max_ack_pending: i64,
    ) -> Result<PullConsumer, MessagingError> {
        let config = pull::Config {
            durable_name: Some(self.names.worker_consumer.clone()),
            description: Some("dataorch workers".into()),
            filter_subject: self.names.commands_filter(),
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::All,
            ack_wait,
            max_deliver,
            max_ack_pending,
            ..pull::Config::default()
        };
        upsert_consumer(&self.commands, config).await
    }

    /// Creates an ephemeral pull consumer that reads the commands stream (or the events
    /// stream when `events` is true) in sequence order from `start_sequence`, without acks.
    /// The projector uses it with the sequence after its stored offset, so the database, not
    /// the broker, records how far it got, and an empty database replays the whole stream.
    /// The server deletes the consumer a minute after its reader goes away.
    pub async fn replay_consumer(
        &self,
        events: bool,
        start_sequence: u64,
    ) -> Result<PullConsumer, MessagingError> {
        let (stream, filter) = if events {
            (&self.events, self.names.events_filter())
        } else {
            (&self.commands, self.names.commands_filter())
        };
        let deliver_policy = if start_sequence <= 1 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence { start_sequence }
        };
        let config = pull::Config {
            filter_subject: filter,
            deliver_policy,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            ..pull::Config::default()
        };
        stream.create_consumer(config).await.map_err(unavailable)
    }

    /// Creates or updates the key-value bucket of execute idempotency keys, whose entries
    /// expire after `ttl`.
    pub async fn idempotency_store(
        &self,
        ttl: Duration,
        replicas: usize,
    ) -> Result<kv::Store, MessagingError> {
        let config = kv::Config {
            bucket: format!(
                "{}_IDEMPOTENCY",
                self.names.commands_stream.trim_end_matches("_COMMANDS")
            ),
            description: "Execute Idempotency-Key records".into(),
            history: 1,
            max_age: ttl,
            storage: StorageType::File,
            num_replicas: replicas,
            ..kv::Config::default()
        };
        self.jetstream
            .create_or_update_key_value(config)
            .await
            .map_err(unavailable)
    }

    /// Whether the client is connected to NATS right now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Copies a command that could not be processed into the dead-letter stream, with why.
    pub async fn quarantine(
        &self,
        original_subject: &str,
        original_sequence: u64,
        deliveries: i64,
        payload: Bytes,
        reason: &str,
    ) -> Result<u64, MessagingError> {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGINAL_SUBJECT_HEADER, original_subject);
        headers.insert(
            ORIGINAL_SEQUENCE_HEADER,
            original_sequence.to_string().as_str(),
        );
        headers.insert(DELIVERIES_HEADER, deliveries.to_string().as_str());
        // Header values are single lines; keep the reason short and printable.
        let reason: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(500)
            .collect();
        headers.insert(REASON_HEADER, reason.as_str());
        let message = PublishMessage::build()
            .payload(payload)
            .headers(headers)
            .message_id(format!("dead:{original_sequence}"));
        let ack = self
            .jetstream
            .send_publish(self.names.dead_letter_subject(), message)
            .await
            .map_err(publish_error)?
            .await
            .map_err(publish_error)?;
        Ok(ack.sequence)
    }

    /// Lists quarantined commands, oldest first, at most `limit`.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, MessagingError> {
        let mut stream = self.dead_letters.clone();
        let state = stream.info().await.map_err(unavailable)?.state.clone();
        let mut letters = Vec::new();
        if state.messages == 0 {
            return Ok(letters);
        }
        let mut sequence = state.first_sequence;
        while sequence <= state.last_sequence && letters.len() < limit {
            match self.dead_letter(sequence).await {
                Ok(letter) => letters.push(letter),
                Err(MessagingError::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
            sequence += 1;
        }
        Ok(letters)
    }

    /// Reads one quarantined command.
    pub async fn dead_letter(&self, sequence: u64) -> Result<DeadLetter, MessagingError> {
        use async_nats::jetstream::stream::RawMessageErrorKind;
        let message =
            self.dead_letters
                .get_raw_message(sequence)
                .await
                .map_err(|error| match error.kind() {
                    RawMessageErrorKind::NoMessageFound => {
                        MessagingError::NotFound(format!("dead letter {sequence}"))
                    }
                    _ => unavailable(error),
                })?;
        let header = |name: &str| {
            message
                .headers
                .get(name)
                .map(|value| value.as_str().to_string())
                .unwrap_or_default()
        };
        Ok(DeadLetter {
            sequence,
            original_subject: header(ORIGINAL_SUBJECT_HEADER),
            original_sequence: header(ORIGINAL_SEQUENCE_HEADER).parse().unwrap_or(0),
            deliveries: header(DELIVERIES_HEADER).parse().unwrap_or(0),
            reason: header(REASON_HEADER),
            quarantined_at: message.time.to_string(),
            payload: message.payload,
        })
    }

    /// Publishes a quarantined command again to its original subject, then removes it from
    /// the dead-letter stream. Returns the new command's sequence.
    pub async fn redrive(&self, sequence: u64) -> Result<u64, MessagingError> {
        let letter = self.dead_letter(sequence).await?;
        let commands_prefix = format!(
            "{}.",
            self.names
                .commands_filter()
                .trim_end_matches('>')
                .trim_end_matches('.')
        );
        if !letter.original_subject.starts_with(&commands_prefix) {
            return Err(MessagingError::Invalid(format!(
                "dead letter {sequence} came from `{}`, not a commands subject",
                letter.original_subject
            )));
        }
        let message = PublishMessage::build().payload(letter.payload.clone());
        let ack = self
            .jetstream
            .send_publish(letter.original_subject.clone(), message)
            .await
            .map_err(publish_error)?
            .await
            .map_err(publish_error)?;
        self.dead_letters
            .delete_message(sequence)
            .await
            .map_err(unavailable)?;
        Ok(ack.sequence)
    }

    /// Returns the last sequence of the commands and events streams.
    pub async fn last_sequences(&self) -> Result<(u64, u64), MessagingError> {
        let commands = self.commands_last_sequence().await?;
        let mut events = self.events.clone();
        let info = events.info().await.map_err(unavailable)?;
        Ok((commands, info.state.last_sequence))
    }
}

async fn ensure_stream(
    jetstream: &Context,
    config: StreamConfig,
) -> Result<Stream, MessagingError> {
    let name = config.name.clone();
    match jetstream.get_stream(&name).await {
        Ok(_) => {
            jetstream.update_stream(config).await.map_err(unavailable)?;
            jetstream.get_stream(&name).await.map_err(unavailable)
        }
        Err(_) => jetstream
            .get_or_create_stream(config)
            .await
            .map_err(unavailable),
    }
}

async fn upsert_consumer(
    stream: &Stream,
    config: pull::Config,
) -> Result<PullConsumer, MessagingError> {
    // `create_consumer` updates the mutable fields of an existing durable consumer.
    stream.create_consumer(config).await.map_err(unavailable)
}

fn publish_error(error: async_nats::jetstream::context::PublishError) -> MessagingError {
    match error.kind() {
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::StreamNotFound => unavailable(error),
        _ => MessagingError::Other(error.to_string()),
    }
}

fn trace_headers(trace_context: &TraceContext) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(traceparent) = trace_context.get(TRACEPARENT_HEADER) {
        headers.insert(TRACEPARENT_HEADER, traceparent.as_str());
    }
    headers
}

/// Decodes a command body, rejecting schema versions newer than this build understands.
pub fn decode_command(payload: &[u8]) -> Result<CommandEnvelope, MessagingError> {
    let envelope: CommandEnvelope = serde_json::from_slice(payload)
        .map_err(|e| MessagingError::Invalid(format!("command: {e}")))?;
    if envelope.schema_version > SCHEMA_VERSION {
        return Err(MessagingError::Invalid(format!(
            "command schema version {} is newer than {SCHEMA_VERSION}",
            envelope.schema_version
        )));
    }
    Ok(envelope)
}

/// Decodes an event body, rejecting schema versions newer than this build understands.
pub fn decode_event(payload: &[u8]) -> Result<RunEvent, MessagingError> {
    let event: RunEvent = serde_json::from_slice(payload)
        .map_err(|e| MessagingError::Invalid(format!("event: {e}")))?;
    if event.schema_version > SCHEMA_VERSION {
        return Err(MessagingError::Invalid(format!(
            "event schema version {} is newer than {SCHEMA_VERSION}",
            event.schema_version
        )));
    }
    Ok(event)
}

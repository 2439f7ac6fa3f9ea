//! Test harness: a whole dataorch stack per test on real components.
//!
//! [`TestApp::start`] runs a real `nats-server` on a free port with its own temporary
//! JetStream store, a fresh SQLite file (or, when `DATAORCH_TEST_DATABASE_URL` is set, a
//! fresh PostgreSQL database created on that server), and every service in-process on port 0.
//! Two tenants are seeded, each with an API key and the shipped templates.

mod database;

use std::time::{Duration, Instant};

use bytes::Bytes;
use dataorch::nats::NatsServer;
use dataorch::samples::{self, Scenario};
use dataorch::stack::Stack;
use dataorch_config::{Secret, Settings};
use dataorch_contracts::application::ApplicationData;
use dataorch_contracts::template::{Template, TemplateStatus};
use dataorch_messaging::Broker;
use dataorch_storage::DatabaseConnection;
use futures::StreamExt;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tempfile::TempDir;

pub use database::{TestDatabase, assert_same_read_model, dump_read_model};

/// Id of the shipped small-business funding template.
pub const FUNDING_TEMPLATE: &str = "5d0c7a4e-2f1b-4c8e-9f6a-3b2d1e0f9a87";
pub const TENANT_A: &str = "tenant-a";
pub const TENANT_B: &str = "tenant-b";

/// Options for [`TestApp::start_with`].
pub struct Options {
    pub workers: usize,
    pub ack_wait_secs: u64,
    pub duplicate_window_secs: u64,
    pub max_deliver: i64,
    pub max_response_bytes: usize,
    /// Changes any other setting before the stack starts.
    pub configure: fn(&mut Settings),
}

impl Default for Options {
    fn default() -> Self {
        let worker = dataorch_config::WorkerSettings::default();
        Options {
            workers: 2,
            ack_wait_secs: 10,
            duplicate_window_secs: 120,
            max_deliver: worker.max_deliver,
            max_response_bytes: worker.max_response_bytes,
            configure: |_| {},
        }
    }
}

/// An HTTP response: status, headers and JSON body (or the text as a JSON string).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

pub struct TestApp {
    pub stack: Option<Stack>,
    pub nats: NatsServer,
    pub database: TestDatabase,
    pub settings: Settings,
    pub base: String,
    pub sandbox: String,
    /// API key of tenant A, the tenant most tests act as.
    pub token: String,
    /// API key of tenant B, for isolation checks.
    pub other_token: String,
    pub http: reqwest::Client,
    _dir: TempDir,
}

impl TestApp {
    pub async fn start() -> TestApp {
        TestApp::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> TestApp {
        let dir = tempfile::Builder::new()
            .prefix("dataorch-test-")
            .tempdir()
            .expect("temporary folder");
        let nats = NatsServer::start(&dir.path().join("nats"))
            .expect("nats-server starts; run scripts/install-tools.sh");
        let database = TestDatabase::create(dir.path()).await;

        let mut settings = Settings::default();
        settings.nats.url = nats.url.clone();
        settings.nats.stream_prefix = format!("T{}", uuid::Uuid::new_v4().simple());
        settings.database.url = Secret::new(database.url.clone());
        settings.database.max_connections = 4;
        settings.worker.ack_wait_secs = options.ack_wait_secs;
        settings.nats.duplicate_window_secs = options.duplicate_window_secs;
        settings.worker.max_deliver = options.max_deliver;
        settings.worker.max_response_bytes = options.max_response_bytes;
        (options.configure)(&mut settings);
        settings.gateway.consistency_timeout_ms = 5_000;

        let gateway = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let sandbox = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox");
        let stack = Stack::start(settings.clone(), gateway, sandbox, options.workers)
            .await
            .expect("stack starts");

        let templates = dataorch::repository_root().join("templates");
        let token = dataorch::admin::create_api_key(&stack.db, TENANT_A, "underwriter-a")
            .await
            .expect("key a");
        let other_token = dataorch::admin::create_api_key(&stack.db, TENANT_B, "underwriter-b")
            .await
            .expect("key b");
        dataorch::admin::import_template_dir(&stack.db, TENANT_A, &templates)
            .await
            .expect("templates a");
        dataorch::admin::import_template_dir(&stack.db, TENANT_B, &templates)
            .await
            .expect("templates b");

        TestApp {
            base: stack.gateway_url(),
            sandbox: stack.sandbox_url(),
            settings: stack.settings.clone(),
            stack: Some(stack),
            nats,
            database,
            token,
            other_token,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn stack(&self) -> &Stack {
        self.stack.as_ref().expect("stack is running")
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.stack().db
    }

    /// Sends a request with `token` (none when `None`) and returns the response.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("gateway answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request(Method::GET, path, Some(&self.token), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.request(Method::POST, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.request(Method::PUT, path, Some(&self.token), Some(body))
            .await
    }

    /// Registers an application for tenant A and returns its id.
    pub async fn create_application(&self, application: &ApplicationData) -> String {
        let answer = self
            .post(
                "/api/v2/applications",
                serde_json::to_value(application).unwrap(),
            )
            .await;
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        answer.body["data"]["id"]
            .as_str()
            .expect("application id")
            .to_string()
    }

    /// Executes `template_id` for `application_id` as tenant A and returns the log id.
    pub async fn execute(&self, template_id: &str, application_id: &str) -> i64 {
        let answer = self
            .post(
                "/api/v2/data_orchestration/execute",
                json!({ "template_id": template_id, "application_id": application_id }),
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body["data"]["id"].as_i64().expect("log id")
    }

    /// Reads a log with its steps.
    pub async fn log(&self, application_id: &str, log_id: i64) -> Value {
        let answer = self
            .get(&format!(
                "/api/v2/applications/{application_id}/data_orch/{log_id}?include=steps"
            ))
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body["data"].clone()
    }

    /// Polls a log until its status is one of `statuses`, failing after 30 s.
    pub async fn wait_for_status(
        &self,
        application_id: &str,
        log_id: i64,
        statuses: &[i64],
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log(application_id, log_id).await;
            if statuses.contains(&log["status"].as_i64().unwrap_or(0)) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "log {log_id} never reached {statuses:?}: {log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Saves a template for a tenant from YAML, published.
    pub async fn add_template(&self, tenant_id: &str, yaml: &str) -> Template {
        let template = Template::from_yaml(yaml).expect("test template is valid");
        dataorch_storage::queries::save_template(
            self.db(),
            tenant_id,
            &template,
            TemplateStatus::Published,
            chrono::Utc::now(),
        )
        .await
        .expect("template saved");
        template
    }

    /// Returns the sandbox's call counts for one idempotency key, by endpoint.
    pub async fn sandbox_calls(&self, key: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/_sandbox/calls/{key}", self.sandbox))
            .send()
            .await
            .expect("sandbox answers");
        response.json().await.expect("sandbox JSON")
    }

    /// Waits until the projector has applied both streams up to their current end.
    pub async fn wait_for_projection(&self) {
        let stack = self.stack();
        let caught_up = dataorch_projector::wait_until_caught_up(
            &stack.broker,
            &stack.db,
            Duration::from_secs(20),
        )
        .await
        .expect("offsets readable");
        assert!(caught_up, "projector did not catch up within 20 s");
    }

    /// Stops the stack, checking that the projector had caught up, and drops the database.
    pub async fn shutdown(mut self) {
        self.wait_for_projection().await;
        if let Some(stack) = self.stack.take() {
            stack.stop().await.expect("every service stops cleanly");
        }
        self.database.drop_database().await;
    }
}

/// Returns the first sample application of the shipped SBA data with this scenario and
/// size.
pub fn sample(scenario: Scenario, large: bool) -> ApplicationData {
    let csv = dataorch::repository_root().join("samples/sba-7a-fy2021-sample.csv");
    samples::from_csv(&csv)
        .expect("SBA samples load")
        .into_iter()
        .find(|a| {
            samples::scenario_of(a) == Some(scenario)
                && (a.loan.requested_amount >= samples::LARGE_REQUEST_USD) == large
        })
        .expect("a sample with this scenario exists")
}

/// Reads every message of the events stream (or of one run's subject) in order.
pub async fn stream_messages(
    broker: &Broker,
    events: bool,
    subject: Option<String>,
) -> Vec<(u64, Bytes)> {
    use async_nats::jetstream::consumer::pull::OrderedConfig;
    let name = if events {
        &broker.names.events_stream
    } else {
        &broker.names.commands_stream
    };
    let mut stream = broker
        .jetstream
        .get_stream(name)
        .await
        .expect("stream exists");
    let last = stream
        .info()
        .await
        .expect("stream info")
        .state
        .last_sequence;
    let filter = subject.unwrap_or_else(|| {
        if events {
            broker.names.events_filter()
        } else {
            broker.names.commands_filter()
        }
    });
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: filter,
            ..OrderedConfig::default()
        })
        .await
        .expect("ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut collected = Vec::new();
    loop {
        let next =
            tokio::time::timeout(std::time::Duration::from_millis(500), messages.next()).await;
        let Ok(Some(message)) = next else { break };
        let message = message.expect("message");
        let info = message.info().expect("metadata");
        let (sequence, pending) = (info.stream_sequence, info.pending);
        collected.push((sequence, message.payload.clone()));
        if pending == 0 || sequence >= last {
            break;
        }
    }
    collected
}

/// Checks from a run's events that no step ran again after it finished: each step has at
/// most one `step_finished`, and no `step_started` follows it. Returns the provider steps
/// that finished, by key.
pub async fn assert_steps_never_rerun(broker: &Broker, log_id: i64) -> Vec<String> {
    use dataorch_contracts::events::EventKind;
    let messages = stream_messages(broker, true, Some(broker.names.event_subject(log_id))).await;
    let mut finished: Vec<String> = Vec::new();
    for (sequence, payload) in &messages {
        let event = dataorch_messaging::decode_event(payload).expect("event decodes");
        match &event.event {
            EventKind::StepStarted { step, .. } => {
                assert!(
                    !finished.contains(step),
                    "log {log_id}: step {step} started again at {sequence} after it finished"
                );
            }
            EventKind::StepFinished { step, .. } => {
                assert!(
                    !finished.contains(step),
                    "log {log_id}: step {step} finished twice"
                );
                finished.push(step.clone());
            }
            _ => {}
        }
    }
    finished
}

//! A dataorch deployment of separate processes on one machine: the real service binaries,
//! a real nats-server, a SQLite read model, and the sandbox providers. Faults are injected
//! by signalling the processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use dataorch::nats::{NatsServer, free_port};
use dataorch::samples::{self, Scenario};
use dataorch_config::{Secret, Settings};
use dataorch_contracts::application::ApplicationData;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const FUNDING_TEMPLATE: &str = dataorch_tests::FUNDING_TEMPLATE;

/// A service process with its log file.
pub struct Process {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Process {
    /// Kills the process at once, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Cluster {
    pub dir: TempDir,
    pub nats: NatsServer,
    pub settings: Settings,
    pub gateway_url: String,
    pub sandbox_url: String,
    pub token: String,
    pub http: reqwest::Client,
    pub gateway: Option<Process>,
    pub projector: Option<Process>,
    pub workers: Vec<Process>,
    sandbox: Option<Process>,
    env: Vec<(String, String)>,
    bin_dir: PathBuf,
    spawned: usize,
}

/// Returns the folder of the service binaries: the target folder of this test executable.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target folder")
        .to_path_buf();
    let gateway = dir.join("dataorch-gateway");
    assert!(
        gateway.exists(),
        "{} is missing: build the service binaries first with `cargo build --bins` (scripts/faults.sh does)",
        gateway.display()
    );
    dir
}

impl Cluster {
    /// Starts nats-server, the sandbox, the projector, `workers` workers and the gateway.
    pub async fn start(workers: usize, ack_wait_secs: u64) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("dataorch-faults-")
            .tempdir()
            .unwrap();
        let nats = NatsServer::start(&dir.path().join("nats")).expect("nats-server starts");
        let gateway_port = free_port().unwrap();
        let sandbox_port = free_port().unwrap();
        let database = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("dataorch.db").display()
        );

        let mut settings = Settings::default();
        settings.nats.url = nats.url.clone();
        settings.database.url = Secret::new(database.clone());
        settings.worker.ack_wait_secs = ack_wait_secs;
        let sandbox = format!("http://127.0.0.1:{sandbox_port}");
        let mut env = vec![
            ("DATAORCH__NATS__URL".to_string(), nats.url.clone()),
            ("DATAORCH__DATABASE__URL".to_string(), database),
            (
                "DATAORCH__DATABASE__MAX_CONNECTIONS".to_string(),
                "4".to_string(),
            ),
            (
                "DATAORCH__GATEWAY__LISTEN".to_string(),
                format!("127.0.0.1:{gateway_port}"),
            ),
            (
                "DATAORCH__WORKER__ACK_WAIT_SECS".to_string(),
                ack_wait_secs.to_string(),
            ),
            (
                "DATAORCH__WORKER__SHUTDOWN_GRACE_SECS".to_string(),
                "10".to_string(),
            ),
            ("DATAORCH__WORKER__MAX_DELIVER".to_string(), "3".to_string()),
            (
                "DATAORCH_SANDBOX_LISTEN".to_string(),
                format!("127.0.0.1:{sandbox_port}"),
            ),
            ("DATAORCH_SANDBOX_LATENCY_MS".to_string(), "20".to_string()),
            ("RUST_LOG".to_string(), "info".to_string()),
            (
                "DATAORCH__SECURITY__DATA_KEY".to_string(),
                dataorch_contracts::sealing::DataKey::generate(),
            ),
        ];
        for kind in ["kyb", "business_credit", "consumer_credit", "bank_data"] {
            let key = format!("DATAORCH__PROVIDERS__{}__BASE_URL", kind.to_uppercase());
            env.push((key, format!("{sandbox}/{kind}")));
        }

        // Migrate and seed before any service starts.
        let db = dataorch_storage::connect(&settings.database).await.unwrap();
        let token = dataorch::admin::create_api_key(&db, "tenant-a", "operator")
            .await
            .unwrap();
        let templates = dataorch::repository_root().join("templates");
        dataorch::admin::import_template_dir(&db, "tenant-a", &templates)
            .await
            .unwrap();
        db.close().await.ok();

        let mut cluster = Cluster {
            sandbox: None,
            dir,
            nats,
            settings,
            gateway_url: format!("http://127.0.0.1:{gateway_port}"),
            sandbox_url: sandbox,
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            gateway: None,
            projector: None,
            workers: Vec::new(),
            env,
            bin_dir: bin_dir(),
            spawned: 0,
        };
        cluster.sandbox = Some(cluster.spawn("dataorch-sandbox-providers"));
        cluster
            .wait_for_health(&format!("{}/healthz", cluster.sandbox_url))
            .await;
        cluster.start_projector();
        for _ in 0..workers {
            cluster.start_worker();
        }
        cluster.start_gateway().await;
        cluster
    }

    fn spawn(&mut self, binary: &str) -> Process {
        self.spawn_with(binary, &[])
    }

    /// Starts a service with extra environment variables.
    pub fn spawn_with(&mut self, binary: &str, extra: &[(&str, String)]) -> Process {
        self.spawned += 1;
        let name = format!("{binary}-{}", self.spawned);
        let log = self.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(self.bin_dir.join(binary))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        Process { name, child, log }
    }

    async fn wait_for_health(&self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = self.http.get(url).send().await
                && response.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "{url} never became healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn start_gateway(&mut self) {
        let gateway = self.spawn("dataorch-gateway");
        self.gateway = Some(gateway);
        self.wait_for_health(&format!("{}/healthz", self.gateway_url))
            .await;
    }

    pub fn start_projector(&mut self) {
        let projector = self.spawn("dataorch-projector");
        self.projector = Some(projector);
    }

    pub fn start_worker(&mut self) {
        let worker = self.spawn("dataorch-worker");
        self.workers.push(worker);
    }

    /// Kills the nats-server at once (SIGKILL), keeping its store.
    pub fn kill_nats(&mut self) {
        self.nats.kill();
    }

    /// Starts the nats-server again on the same port and store.
    pub fn start_nats(&mut self) {
        self.nats = NatsServer::start_on(&self.dir.path().join("nats"), self.nats.port)
            .expect("nats-server restarts");
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.gateway_url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(error) => panic!("request to {path} failed: {error}"),
        }
    }

    pub async fn create_application(&self, application: &ApplicationData) -> String {
        let (status, body) = self
            .request(
                reqwest::Method::POST,
                "/api/v2/applications",
                Some(serde_json::to_value(application).unwrap()),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["data"]["id"].as_str().unwrap().to_string()
    }

    /// Executes a template; returns the log id, or the status and body of a non-2xx response.
    pub async fn execute(
        &self,
        template_id: &str,
        application_id: &str,
    ) -> Result<i64, (u16, Value)> {
        let body = json!({ "template_id": template_id, "application_id": application_id });
        let (status, answer) = self
            .request(
                reqwest::Method::POST,
                "/api/v2/data_orchestration/execute",
                Some(body),
            )
            .await;
        if status == 200 {
            Ok(answer["data"]["id"].as_i64().unwrap())
        } else {
            Err((status, answer))
        }
    }

    pub async fn log(&self, application_id: &str, log_id: i64) -> Value {
        let path =
            format!("/api/v2/applications/{application_id}/data_orch/{log_id}?include=steps");
        let (status, body) = self.request(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}\n{}", self.logs());
        body["data"].clone()
    }

    /// Waits until every run has status 3, 4 or 5.
    pub async fn wait_final(&self, runs: &[(String, i64)], timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut logs = Vec::new();
            for (application_id, log_id) in runs {
                logs.push(self.log(application_id, *log_id).await);
            }
            let pending: Vec<i64> = logs
                .iter()
                .filter(|log| ![3, 4, 5].contains(&log["status"].as_i64().unwrap_or(0)))
                .map(|log| log["id"].as_i64().unwrap())
                .collect();
            if pending.is_empty() {
                return logs;
            }
            assert!(
                Instant::now() < deadline,
                "runs {pending:?} never settled; logs in {}",
                self.dir.path().display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Returns the last lines of every service log, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let mut entries: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "log") {
                let content = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = content.lines().collect();
                let tail = &lines[lines.len().saturating_sub(15)..];
                text.push_str(&format!("--- {}\n{}\n", path.display(), tail.join("\n")));
            }
        }
        text
    }

    pub async fn sandbox_calls(&self) -> Value {
        self.http
            .get(format!("{}/_sandbox/calls", self.sandbox_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Runs the dataorch command line against this cluster.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(self.bin_dir.join("dataorch"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("dataorch runs")
    }

    /// Checks that paid provider calls were not duplicated. Every call must carry the
    /// deterministic key of an existing run and step, and no step may run again once its
    /// result is recorded. A key may see a second successful call only as a retry of a call
    /// whose result was never recorded (its worker died, or NATS was down); a provider that
    /// honours idempotency keys serves that from its cache and bills once.
    pub async fn assert_paid_once(&self, runs: &[(String, i64)]) {
        let broker = dataorch_messaging::Broker::connect(&self.settings.nats)
            .await
            .unwrap();
        for (_, log_id) in runs {
            dataorch_tests::assert_steps_never_rerun(&broker, *log_id).await;
        }
        let calls = self.sandbox_calls().await;
        let keys = calls["calls"].as_object().cloned().unwrap_or_default();
        assert!(!keys.is_empty());
        for key in keys.keys() {
            let base = match key.rsplit_once("-owner") {
                Some((head, index))
                    if !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    head
                }
                _ => key.as_str(),
            };
            let parsed = base
                .strip_prefix("dataorch-")
                .and_then(|rest| rest.split_once('-'));
            let known =
                parsed.is_some_and(|(log, _)| runs.iter().any(|(_, id)| id.to_string() == log));
            assert!(known, "call with a key of no run: {key:?}");
        }
    }

    /// Rebuilds the read model from the streams into a fresh database and checks that it
    /// equals the cluster's.
    pub async fn assert_rebuild_matches(&self) {
        let broker = dataorch_messaging::Broker::connect(&self.settings.nats)
            .await
            .unwrap();
        let db = dataorch_storage::connect(&self.settings.database)
            .await
            .unwrap();
        let caught_up =
            dataorch_projector::wait_until_caught_up(&broker, &db, Duration::from_secs(30))
                .await
                .unwrap();
        assert!(caught_up, "the projector did not catch up");
        let current = dataorch_tests::dump_read_model(&db).await;

        let mut settings = self.settings.clone();
        let fresh = format!(
            "sqlite://{}?mode=rwc",
            self.dir.path().join("rebuild.db").display()
        );
        settings.database.url = Secret::new(fresh);
        let rebuilt_db = dataorch_storage::connect(&settings.database).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let projector = tokio::spawn(dataorch_projector::run(
            settings,
            broker.clone(),
            rebuilt_db.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        assert!(
            dataorch_projector::wait_until_caught_up(&broker, &rebuilt_db, Duration::from_secs(30))
                .await
                .unwrap()
        );
        let _ = stop.send(());
        projector.await.unwrap().unwrap();
        dataorch_tests::assert_same_read_model(
            &dataorch_tests::dump_read_model(&rebuilt_db).await,
            &current,
        );
    }

    /// Stops every service with SIGTERM and checks that each exits cleanly in time.
    pub fn stop(mut self) {
        let mut services: Vec<Process> = Vec::new();
        services.extend(self.gateway.take());
        services.append(&mut self.workers);
        services.extend(self.projector.take());
        for mut service in services {
            let status = service.terminate(Duration::from_secs(15));
            let log = std::fs::read_to_string(&service.log).unwrap_or_default();
            assert!(
                status.is_some_and(|s| s.success()),
                "{} did not stop cleanly ({status:?}):\n{log}",
                service.name
            );
        }
        if let Some(mut sandbox) = self.sandbox.take() {
            sandbox.kill();
        }
    }
}

/// Returns one application per sample scenario with the status and outcome an undisturbed
/// run of the funding template reaches.
pub fn expected_cases() -> Vec<(ApplicationData, i64, Option<&'static str>)> {
    let csv = dataorch::repository_root().join("samples/sba-7a-fy2021-sample.csv");
    let all = samples::from_csv(&csv).unwrap();
    let first = |scenario: Scenario, large: bool| {
        all.iter()
            .find(|a| {
                samples::scenario_of(a) == Some(scenario)
                    && (a.loan.requested_amount >= samples::LARGE_REQUEST_USD) == large
            })
            .cloned()
            .unwrap()
    };
    vec![
        (first(Scenario::Clean, false), 4, Some("pass")),
        (first(Scenario::OwnerLowScore, false), 3, Some("fail")),
        (first(Scenario::TinMismatch, false), 3, Some("fail")),
        (first(Scenario::BusinessThinFile, false), 3, Some("review")),
        (first(Scenario::BankInstitutionDown, false), 5, None),
        (first(Scenario::Clean, true), 3, Some("review")),
    ]
}

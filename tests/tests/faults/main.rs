//! The fault suite: the services run as separate processes against a real nats-server,
//! and each scenario kills, restarts or signals them while runs are in flight, then checks
//! the invariants by reading the API, the streams and the sandbox's call counters.
//!
//! Run with `bash scripts/faults.sh`, which builds the service binaries first.

mod cluster;

use std::time::{Duration, Instant};

use cluster::{Cluster, FUNDING_TEMPLATE, expected_cases};
use serde_json::json;

/// Registers `rounds` copies of every expected case and executes the funding template for
/// each; returns the runs with the status and outcome each must reach.
async fn start_runs(
    cluster: &Cluster,
    rounds: usize,
) -> Vec<((String, i64), i64, Option<&'static str>)> {
    let mut runs = Vec::new();
    for _ in 0..rounds {
        for (application, status, outcome) in expected_cases() {
            let application_id = cluster.create_application(&application).await;
            let log_id = cluster
                .execute(FUNDING_TEMPLATE, &application_id)
                .await
                .expect("execute accepted");
            runs.push(((application_id, log_id), status, outcome));
        }
    }
    runs
}

fn run_ids(runs: &[((String, i64), i64, Option<&'static str>)]) -> Vec<(String, i64)> {
    runs.iter().map(|(run, ..)| run.clone()).collect()
}

async fn assert_expected(cluster: &Cluster, runs: &[((String, i64), i64, Option<&'static str>)]) {
    let ids: Vec<(String, i64)> = runs.iter().map(|(run, ..)| run.clone()).collect();
    let logs = cluster.wait_final(&ids, Duration::from_secs(90)).await;
    for (log, (_, status, outcome)) in logs.iter().zip(runs) {
        assert_eq!(log["status"], *status, "{log}");
        assert_eq!(log["outcome"].as_str(), *outcome, "{log}");
    }
}

#[tokio::test]
async fn killed_workers_lose_no_run() {
    let mut cluster = Cluster::start(3, 3).await;
    let runs = start_runs(&cluster, 3).await;

    // SIGKILL a worker every 300 ms and start a replacement, while the runs are in flight.
    for round in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let victim = round % cluster.workers.len();
        cluster.workers[victim].kill();
        cluster.workers.remove(victim);
        cluster.start_worker();
    }

    let started = Instant::now();
    assert_expected(&cluster, &runs).await;
    // A takeover waits at most ack_wait (3 s) per kill, not indefinitely.
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "took {:?}",
        started.elapsed()
    );
    cluster.assert_paid_once(&run_ids(&runs)).await;
    cluster.assert_rebuild_matches().await;
    cluster.stop();
}

#[tokio::test]
async fn slow_worker_is_not_duplicated() {
    let cluster = Cluster::start(2, 3).await;
    let db = dataorch_storage::connect(&cluster.settings.database)
        .await
        .unwrap();
    let template = dataorch_contracts::template::Template::from_yaml(
        r#"
id: 7f000000-0000-4000-8000-000000000001
short_id: slow-bureau
name: Slow bureau
version: 1
steps:
  - key: owners
    type: provider
    provider: consumer_credit
    timeout_ms: 20000
    headers: {X-Sandbox-Scenario: "slow:7000"}
"#,
    )
    .unwrap();
    dataorch_storage::queries::save_template(
        &db,
        "tenant-a",
        &template,
        dataorch_contracts::template::TemplateStatus::Published,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let (application, ..) = expected_cases().remove(0);
    let application_id = cluster.create_application(&application).await;
    let log_id = cluster
        .execute(&template.id, &application_id)
        .await
        .unwrap();

    let logs = cluster
        .wait_final(&[(application_id, log_id)], Duration::from_secs(30))
        .await;

    // The step outlived ack_wait (3 s) twice over; in-progress acks kept it with one worker.
    assert_eq!(logs[0]["status"], 4, "{}", logs[0]);
    assert_eq!(logs[0]["steps"][0]["attempts"], 1);
    let calls = cluster.sandbox_calls().await;
    let key = format!("dataorch-{log_id}-owners-owner0");
    assert_eq!(
        calls["calls"][&key]["POST /consumer_credit/v2/credit-report"], 1,
        "{calls}"
    );
    cluster.stop();
}

#[tokio::test]
async fn broker_restart_loses_nothing() {
    let mut cluster = Cluster::start(2, 3).await;
    let cases = expected_cases();
    let mut applications = Vec::new();
    for (application, ..) in &cases {
        applications.push(cluster.create_application(application).await);
    }

    let mut accepted = Vec::new();
    let mut rejected = 0;
    for round in 0..30 {
        if round == 10 {
            cluster.kill_nats();
            tokio::time::sleep(Duration::from_millis(300)).await;
            // A request during the outage fails fast with 503 and a retry hint, never hangs.
            let started = Instant::now();
            let result = cluster.execute(FUNDING_TEMPLATE, &applications[0]).await;
            assert!(
                started.elapsed() < Duration::from_secs(8),
                "a request hung for {:?}",
                started.elapsed()
            );
            let (status, body) = result.expect_err("the broker is down");
            assert_eq!(status, 503, "{body}");
            assert_eq!(body["meta"]["error_code"], "broker_unavailable");
            rejected += 1;
            tokio::time::sleep(Duration::from_millis(1200)).await;
            cluster.start_nats();
        }
        // A client honouring Retry-After: each request is retried on 503 until accepted.
        let index = round % cases.len();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let started = Instant::now();
            let result = cluster
                .execute(FUNDING_TEMPLATE, &applications[index])
                .await;
            assert!(
                started.elapsed() < Duration::from_secs(8),
                "an execute hung for {:?}",
                started.elapsed()
            );
            match result {
                Ok(log_id) => {
                    accepted.push((applications[index].clone(), log_id, index));
                    break;
                }
                Err((status, body)) => {
                    assert_eq!(status, 503, "{body}");
                    rejected += 1;
                    assert!(Instant::now() < deadline, "the gateway never recovered");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    assert_eq!(accepted.len(), 30, "{rejected} rejected");

    let ids: Vec<(String, i64)> = accepted
        .iter()
        .map(|(app, log, _)| (app.clone(), *log))
        .collect();
    let logs = cluster.wait_final(&ids, Duration::from_secs(90)).await;
    for (log, (_, _, index)) in logs.iter().zip(&accepted) {
        let (_, status, outcome) = &cases[*index];
        assert_eq!(log["status"], *status, "{log}");
        assert_eq!(log["outcome"].as_str(), *outcome, "{log}");
    }
    cluster.assert_paid_once(&ids).await;
    cluster.assert_rebuild_matches().await;
    cluster.stop();
}

#[tokio::test]
async fn projector_restart_converges() {
    let mut cluster = Cluster::start(2, 3).await;
    let first = start_runs(&cluster, 1).await;
    cluster.projector.as_mut().unwrap().kill();
    let second = start_runs(&cluster, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.start_projector();

    assert_expected(&cluster, &first).await;
    assert_expected(&cluster, &second).await;
    cluster.assert_rebuild_matches().await;
    cluster.stop();
}

#[tokio::test]
async fn sigterm_drains_a_busy_worker() {
    let mut cluster = Cluster::start(1, 3).await;
    let runs = start_runs(&cluster, 2).await;
    tokio::time::sleep(Duration::from_millis(150)).await;

    // The only worker gets SIGTERM with runs in flight: it finishes them within its grace
    // period and exits 0; a new worker takes whatever is left.
    let mut worker = cluster.workers.remove(0);
    let status = worker.terminate(Duration::from_secs(15));
    let log = std::fs::read_to_string(&worker.log).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "worker exit {status:?}:\n{log}"
    );
    assert!(log.contains("worker stopped"), "{log}");
    cluster.start_worker();

    assert_expected(&cluster, &runs).await;
    cluster.assert_paid_once(&run_ids(&runs)).await;
    cluster.stop();
}

#[tokio::test]
async fn sigterm_gateway_finishes_requests() {
    let mut cluster = Cluster::start(2, 3).await;
    let (application, ..) = expected_cases().remove(0);
    let application_id = cluster.create_application(&application).await;

    let body = json!({ "template_id": FUNDING_TEMPLATE, "application_id": application_id });
    let url = format!("{}/api/v2/data_orchestration/execute", cluster.gateway_url);
    let requests: Vec<_> = (0..20)
        .map(|_| {
            cluster
                .http
                .post(&url)
                .bearer_auth(&cluster.token)
                .json(&body)
                .send()
        })
        .collect();
    let mut gateway = cluster.gateway.take().unwrap();
    let (answers, status) = tokio::join!(futures::future::join_all(requests), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        gateway.terminate(Duration::from_secs(15))
    });
    assert!(
        status.is_some_and(|s| s.success()),
        "gateway exit {status:?}"
    );

    // Each request either got a response or was refused before it was read; every 200 is a
    // run that finishes.
    let mut runs = Vec::new();
    for response in answers.into_iter().flatten() {
        assert_eq!(response.status().as_u16(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        runs.push((application_id.clone(), body["data"]["id"].as_i64().unwrap()));
    }
    cluster.start_gateway().await;
    let logs = cluster.wait_final(&runs, Duration::from_secs(60)).await;
    assert!(logs.iter().all(|log| log["status"] == 4), "{logs:?}");
    cluster.stop();
}

#[tokio::test]
async fn poison_command_is_quarantined_and_redriven() {
    let cluster = Cluster::start(1, 3).await;
    let client = async_nats::connect(&cluster.nats.url).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    jetstream
        .publish(
            "dataorch.commands.execute",
            "{\"not\": \"a command\"}".into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let listing = loop {
        let output = cluster.cli(&["dead-letters", "list"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        if text.contains("undecodable command") {
            break text;
        }
        assert!(Instant::now() < deadline, "never quarantined: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let sequence = listing.split_whitespace().next().unwrap().to_string();

    let redrive = cluster.cli(&["dead-letters", "redrive", &sequence]);
    assert!(
        redrive.status.success(),
        "{}",
        String::from_utf8_lossy(&redrive.stderr)
    );
    assert!(String::from_utf8_lossy(&redrive.stdout).contains("published again"));

    // The worker still cannot read it, so it comes back under a new dead-letter sequence;
    // the other runs are unaffected.
    let runs = start_runs(&cluster, 1).await;
    assert_expected(&cluster, &runs).await;
    let output = cluster.cli(&["dead-letters", "list"]);
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        !text
            .lines()
            .any(|line| line.starts_with(&format!("{sequence}\t"))),
        "{text}"
    );
    cluster.stop();
}

#[tokio::test]
async fn cli_manages_keys() {
    let cluster = Cluster::start(1, 3).await;
    let created = cluster.cli(&[
        "keys",
        "create",
        "--tenant",
        "tenant-a",
        "--name",
        "batch-job",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = String::from_utf8_lossy(&created.stdout).trim().to_string();
    assert!(token.starts_with("do_"), "{token}");

    let templates = format!(
        "{}/api/v2/data_orchestration/templates",
        cluster.gateway_url
    );
    let status = |token: String| {
        let request = cluster.http.get(&templates).bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(token.clone()).await, 200);

    let listed = cluster.cli(&["keys", "list", "--tenant", "tenant-a"]);
    let listing = String::from_utf8_lossy(&listed.stdout).to_string();
    let line = listing
        .lines()
        .find(|line| line.contains("batch-job"))
        .expect("the new key is listed");
    assert!(!listing.contains(&token), "a listing never shows tokens");
    let key_id = line.split('\t').next().unwrap();

    let revoked = cluster.cli(&["keys", "revoke", key_id]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert_eq!(status(token).await, 401, "revocation takes effect at once");

    let unknown = cluster.cli(&["keys", "revoke", "no-such-key"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no API key has id"));
    cluster.stop();
}

#[tokio::test]
async fn ops_endpoints_report_health_and_metrics() {
    let mut cluster = Cluster::start(0, 3).await;
    let worker_port = dataorch::nats::free_port().unwrap();
    let projector_port = dataorch::nats::free_port().unwrap();
    let worker = cluster.spawn_with(
        "dataorch-worker",
        &[("DATAORCH__OPS__LISTEN", format!("127.0.0.1:{worker_port}"))],
    );
    cluster.workers.push(worker);
    let projector = cluster.spawn_with(
        "dataorch-projector",
        &[(
            "DATAORCH__OPS__LISTEN",
            format!("127.0.0.1:{projector_port}"),
        )],
    );
    cluster.projector.as_mut().unwrap().kill();
    cluster.projector = Some(projector);

    let runs = start_runs(&cluster, 1).await;
    assert_expected(&cluster, &runs).await;

    let get = |url: String| {
        let request = cluster.http.get(url);
        async move {
            let response = request.send().await.expect("ops server answers");
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    for port in [worker_port, projector_port] {
        assert_eq!(get(format!("http://127.0.0.1:{port}/healthz")).await.0, 200);
        assert_eq!(get(format!("http://127.0.0.1:{port}/readyz")).await.0, 200);
    }
    let (_, worker_metrics) = get(format!("http://127.0.0.1:{worker_port}/metrics")).await;
    assert!(
        worker_metrics.contains("dataorch_runs_started_total{template=\"smb-funding\"} 6"),
        "{worker_metrics}"
    );
    assert!(
        worker_metrics.contains("dataorch_step_duration_seconds"),
        "{worker_metrics}"
    );
    assert!(
        worker_metrics.contains("dataorch_runs_finished_total"),
        "{worker_metrics}"
    );
    let (_, projector_metrics) = get(format!("http://127.0.0.1:{projector_port}/metrics")).await;
    assert!(
        projector_metrics.contains("dataorch_projection_lag_seconds"),
        "{projector_metrics}"
    );
    assert!(
        projector_metrics.contains("dataorch_projector_batch_size"),
        "{projector_metrics}"
    );
    let (_, gateway_metrics) = get(format!("{}/metrics", cluster.gateway_url)).await;
    assert!(
        gateway_metrics.contains("dataorch_http_request_duration_seconds_count{route=\"/api/v2/data_orchestration/execute\",method=\"POST\",status=\"200\"}"),
        "{gateway_metrics}"
    );
    // Labels are route templates and names, never ids such as application UUIDs.
    for text in [&worker_metrics, &projector_metrics, &gateway_metrics] {
        let uuid_like = text
            .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
            .any(|token| token.len() == 36 && token.matches('-').count() == 4);
        assert!(!uuid_like, "a metric label carries an id:\n{text}");
    }
    cluster.stop();
}

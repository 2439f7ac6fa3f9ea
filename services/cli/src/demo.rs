//! `dataorch demo`: the whole product path on a throwaway local stack, printed as it runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dataorch_config::Settings;
use dataorch_contracts::application::ApplicationData;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::nats::NatsServer;
use crate::samples::{self, LARGE_REQUEST_USD, Scenario};
use crate::stack::Stack;
use crate::{admin, repository_root};

/// Longest wait for all runs to settle, per phase.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);

/// One sample in the demo and the state its run must reach.
struct Case {
    label: &'static str,
    application: ApplicationData,
    expected_status: i64,
    expected_outcome: Option<&'static str>,
    application_id: String,
    log_id: i64,
}

/// Runs the demo; returns an error when a run does not end as expected.
pub async fn run() -> anyhow::Result<()> {
    let root = repository_root();
    let work_dir = tempfile::Builder::new()
        .prefix("dataorch-demo-")
        .tempdir()?;
    println!(
        "==> starting nats-server with JetStream (store in {})",
        work_dir.path().display()
    );
    let nats = NatsServer::start(&work_dir.path().join("nats"))?;

    let mut settings = Settings::default();
    settings.nats.url = nats.url.clone();
    settings.database.url = dataorch_config::Secret::new(format!(
        "sqlite://{}?mode=rwc",
        work_dir.path().join("dataorch.db").display()
    ));
    let gateway_listener = TcpListener::bind("127.0.0.1:0").await?;
    let sandbox_listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("==> starting sandbox providers, projector, 2 workers and the gateway (SQLite)");
    let stack = Stack::start(settings, gateway_listener, sandbox_listener, 2).await?;
    let result = run_cases(&stack, &root).await;
    println!("==> stopping the stack");
    let stopped = stack.stop().await;
    drop(nats);
    result?;
    stopped?;
    println!("==> demo finished: every run reached its expected state");
    Ok(())
}

async fn run_cases(stack: &Stack, root: &Path) -> anyhow::Result<()> {
    let token = admin::create_api_key(&stack.db, "demo", "demo-underwriter").await?;
    let templates = admin::import_template_dir(&stack.db, "demo", &root.join("templates")).await?;
    let template = templates.first().context("no template in templates/")?;
    let client = Client {
        http: reqwest::Client::new(),
        base: stack.gateway_url(),
        token,
    };
    println!(
        "    gateway {}  template {} ({}) version {}",
        stack.gateway_url(),
        template.name,
        template.short_id,
        template.version
    );

    let listed = client
        .send(
            reqwest::Method::GET,
            "/api/v2/data_orchestration/templates",
            None,
        )
        .await?;
    println!(
        "    GET /api/v2/data_orchestration/templates -> {} published template(s)",
        listed.1["data"].as_array().map_or(0, Vec::len)
    );

    let mut cases = pick_cases(&root.join("samples/sba-7a-fy2021-sample.csv"))?;
    println!(
        "==> registering {} sample applications from real SBA 7(a) loans (owners, tax ids and bank data are synthetic)",
        cases.len()
    );
    for case in &mut cases {
        let (status, body) = client
            .send(
                reqwest::Method::POST,
                "/api/v2/applications",
                Some(serde_json::to_value(&case.application)?),
            )
            .await?;
        if status != 201 {
            bail!(
                "registering {} failed with HTTP {status}: {body}",
                case.application.business.name
            );
        }
        case.application_id = body["data"]["id"].as_str().unwrap_or_default().to_string();
        println!(
            "    {:<34} ${:>12.0} {:>4} months  {}",
            truncate(&case.application.business.name, 34),
            case.application.loan.requested_amount,
            case.application.loan.term_months,
            case.label
        );
    }

    println!(
        "==> executing template {} for each application",
        template.short_id
    );
    for case in &mut cases {
        let body = json!({ "template_id": template.id, "application_id": case.application_id });
        let (status, answer) = client
            .send(
                reqwest::Method::POST,
                "/api/v2/data_orchestration/execute",
                Some(body),
            )
            .await?;
        if status != 200 {
            bail!("execute failed with HTTP {status}: {answer}");
        }
        case.log_id = answer["data"]["id"].as_i64().unwrap_or_default();
        println!(
            "    log {:>4}  status {} ({})",
            case.log_id,
            answer["data"]["status"],
            answer["data"]["master_status"].as_str().unwrap_or("")
        );
    }

    println!("==> waiting for the runs to settle");
    wait_for(&client, &cases, |log| {
        [3, 4, 5].contains(&log["status"].as_i64().unwrap_or(0))
    })
    .await?;
    for case in &cases {
        print_log(&client, case).await?;
    }

    let mut failures = Vec::new();
    for case in &cases {
        let log = client.log(case, false).await?;
        check(
            case,
            &log,
            case.expected_status,
            case.expected_outcome,
            &mut failures,
        );
    }

    let halted = cases
        .iter()
        .find(|case| case.expected_status == 3 && case.expected_outcome == Some("fail"));
    if let Some(case) = halted {
        println!(
            "==> continuing log {} as pass (an underwriter reviewed the failed check)",
            case.log_id
        );
        let body = json!({ "application_id": case.application_id, "comment": "Owner provided proof of income; continuing as pass." });
        let (status, answer) = client
            .send(
                reqwest::Method::PUT,
                &format!("/api/v2/data_orchestration/{}/continue_pass", case.log_id),
                Some(body),
            )
            .await?;
        println!("    PUT continue_pass -> HTTP {status} {answer}");
        if status != 202 {
            bail!("continue_pass failed with HTTP {status}: {answer}");
        }
        wait_for(&client, std::slice::from_ref(case), |log| {
            [3, 4, 5].contains(&log["status"].as_i64().unwrap_or(0))
        })
        .await?;
        print_log(&client, case).await?;
        let log = client.log(case, false).await?;
        check(case, &log, 4, Some("pass"), &mut failures);
    }

    if !failures.is_empty() {
        bail!(
            "some runs did not end as expected:\n  {}",
            failures.join("\n  ")
        );
    }
    Ok(())
}

fn check(case: &Case, log: &Value, status: i64, outcome: Option<&str>, failures: &mut Vec<String>) {
    let actual_status = log["status"].as_i64().unwrap_or(0);
    let actual_outcome = log["outcome"].as_str();
    if actual_status != status || actual_outcome != outcome {
        failures.push(format!(
            "log {} ({}): expected status {status} outcome {outcome:?}, got status {actual_status} outcome {actual_outcome:?} {}",
            case.log_id, case.label, log["internal_error"]
        ));
    }
}

/// Picks one sample per expected result from the SBA file.
fn pick_cases(csv: &Path) -> anyhow::Result<Vec<Case>> {
    let applications = samples::from_csv(csv)?;
    let find = |scenario: Scenario, large: bool| {
        applications
            .iter()
            .find(|a| {
                samples::scenario_of(a) == Some(scenario)
                    && (a.loan.requested_amount >= LARGE_REQUEST_USD) == large
            })
            .cloned()
            .with_context(|| {
                format!(
                    "no {scenario:?} sample (large: {large}) in {}",
                    csv.display()
                )
            })
    };
    let case = |label, application, expected_status, expected_outcome| Case {
        label,
        application,
        expected_status,
        expected_outcome,
        application_id: String::new(),
        log_id: 0,
    };
    Ok(vec![
        case(
            "clean file: expect completed, pass",
            find(Scenario::Clean, false)?,
            4,
            Some("pass"),
        ),
        case(
            "owner score 540: expect halted, fail",
            find(Scenario::OwnerLowScore, false)?,
            3,
            Some("fail"),
        ),
        case(
            "request >= $1M: expect halted, review",
            find(Scenario::Clean, true)?,
            3,
            Some("review"),
        ),
        case(
            "bank down: expect error",
            find(Scenario::BankInstitutionDown, false)?,
            5,
            None,
        ),
    ])
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    async fn log(&self, case: &Case, steps: bool) -> anyhow::Result<Value> {
        let include = if steps { "?include=steps" } else { "" };
        let path = format!(
            "/api/v2/applications/{}/data_orch/{}{include}",
            case.application_id, case.log_id
        );
        let (status, body) = self.send(reqwest::Method::GET, &path, None).await?;
        if status != 200 {
            bail!("GET {path} failed with HTTP {status}: {body}");
        }
        Ok(body["data"].clone())
    }
}

/// Polls the cases' logs, printing each status change, until `done` holds for all of them.
async fn wait_for(
    client: &Client,
    cases: &[Case],
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last: BTreeMap<i64, String> = BTreeMap::new();
    loop {
        let mut all_done = true;
        for case in cases {
            let log = client.log(case, false).await?;
            let state = format!(
                "{}{}",
                log["master_status"].as_str().unwrap_or("?"),
                log["outcome"]
                    .as_str()
                    .map(|o| format!(" ({o})"))
                    .unwrap_or_default()
            );
            if last.get(&case.log_id) != Some(&state) {
                println!(
                    "    [{:>6.2}s] log {:>4} {}",
                    started.elapsed().as_secs_f64(),
                    case.log_id,
                    state
                );
                last.insert(case.log_id, state);
            }
            all_done &= done(&log);
        }
        if all_done {
            return Ok(());
        }
        if started.elapsed() > SETTLE_TIMEOUT {
            bail!("runs did not settle within {SETTLE_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn print_log(client: &Client, case: &Case) -> anyhow::Result<()> {
    let log = client.log(case, true).await?;
    println!();
    println!(
        "  log {} | {} | status {} {} | outcome {}",
        log["id"],
        truncate(&case.application.business.name, 40),
        log["status"],
        log["master_status"].as_str().unwrap_or(""),
        log["outcome"].as_str().unwrap_or("-")
    );
    if let Some(error) = log["internal_error"].as_str() {
        println!("  internal_error: {error}");
    }
    println!(
        "    {:<22} {:<9} {:<10} {:<8} {:<28} {:>8} {:>9}",
        "step", "type", "status", "outcome", "reason", "attempts", "ms"
    );
    for step in log["steps"].as_array().into_iter().flatten() {
        println!(
            "    {:<22} {:<9} {:<10} {:<8} {:<28} {:>8} {:>9}",
            step["key"].as_str().unwrap_or(""),
            step["type"].as_str().unwrap_or(""),
            step["status"].as_str().unwrap_or(""),
            step["outcome"].as_str().unwrap_or("-"),
            step["reason"].as_str().unwrap_or("-"),
            step["attempts"],
            duration_ms(step).map_or("-".to_string(), |ms| format!("{ms:.1}"))
        );
    }
    for entry in log["overrides"].as_array().into_iter().flatten() {
        println!(
            "    override: step {} continued as pass by {} at {}: {}",
            entry["step"].as_str().unwrap_or(""),
            entry["actor"].as_str().unwrap_or(""),
            entry["created_at"].as_str().unwrap_or(""),
            entry["comment"].as_str().unwrap_or("")
        );
    }
    println!();
    Ok(())
}

fn duration_ms(step: &Value) -> Option<f64> {
    let started = chrono::DateTime::parse_from_rfc3339(step["started_at"].as_str()?).ok()?;
    let finished = chrono::DateTime::parse_from_rfc3339(step["finished_at"].as_str()?).ok()?;
    Some((finished - started).num_microseconds()? as f64 / 1000.0)
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max_chars - 1).collect::<String>())
    }
}

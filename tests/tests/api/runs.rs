use chrono::DateTime;
use dataorch::samples::Scenario;
use dataorch_tests::{FUNDING_TEMPLATE, Options, TENANT_A, TestApp, sample};
use serde_json::{Value, json};

fn step<'a>(log: &'a Value, key: &str) -> &'a Value {
    log["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["key"] == key)
        .unwrap_or_else(|| panic!("no step {key}"))
}

fn time(value: &Value) -> DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339(value.as_str().expect("timestamp")).expect("RFC 3339")
}

#[tokio::test]
async fn clean_application_passes() {
    let app = TestApp::start().await;
    let application = sample(Scenario::Clean, false);
    let ssn = application.owners[0].ssn.clone();
    let application_id = app.create_application(&application).await;
    let log_id = app.execute(FUNDING_TEMPLATE, &application_id).await;

    let log = app
        .wait_for_status(&application_id, log_id, &[3, 4, 5])
        .await;

    assert_eq!(log["status"], 4, "{log}");
    assert_eq!(log["master_status"], "completed");
    assert_eq!(log["outcome"], "pass");
    assert!(log["internal_error"].is_null());
    assert!(time(&log["started_at"]) <= time(&log["finished_at"]));
    assert_eq!(step(&log, "kyb_check")["reason"], "KYB_VERIFIED");
    assert_eq!(step(&log, "decision")["reason"], "APPROVED_BY_RULES");
    assert_eq!(
        step(&log, "large_request_review")["reason"],
        "REVIEW_NOT_REQUIRED"
    );
    assert_eq!(step(&log, "kyb")["output"]["status"], "approved");
    assert!(step(&log, "bank_data")["output"]["analytics"]["average_daily_balance"].is_number());
    for entry in log["steps"].as_array().unwrap() {
        assert_eq!(entry["status"], "completed", "{entry}");
        assert_eq!(entry["attempts"], 1, "{entry}");
    }
    assert!(!log.to_string().contains(&ssn), "SSN reached the log");
    app.shutdown().await;
}

#[tokio::test]
async fn independent_steps_run_in_parallel() {
    let app = TestApp::start().await;
    let template = app
        .add_template(
            TENANT_A,
            r#"
id: 9a1b2c3d-0000-4000-8000-000000000002
short_id: parallel
name: Parallel
version: 1
steps:
  - {key: credit, type: provider, provider: business_credit, headers: {X-Sandbox-Scenario: "slow:400"}}
  - {key: owners, type: provider, provider: consumer_credit, headers: {X-Sandbox-Scenario: "slow:400"}}
  - key: done
    type: rule
    needs: [credit, owners]
    rules: [{when: 'steps.owners.min_score == 1', outcome: fail, reason: NEVER}]
"#,
        )
        .await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let log_id = app.execute(&template.id, &application_id).await;
    let log = app.wait_for_status(&application_id, log_id, &[4, 5]).await;

    assert_eq!(log["status"], 4, "{log}");
    let credit = step(&log, "credit");
    let owners = step(&log, "owners");
    // Each step takes at least 400 ms (several sandbox calls); they overlap in time.
    assert!(
        time(&credit["started_at"]) < time(&owners["finished_at"]),
        "{log}"
    );
    assert!(
        time(&owners["started_at"]) < time(&credit["finished_at"]),
        "{log}"
    );
    assert!(time(&step(&log, "done")["started_at"]) >= time(&credit["finished_at"]));
    assert!(time(&step(&log, "done")["started_at"]) >= time(&owners["finished_at"]));
    app.shutdown().await;
}

#[tokio::test]
async fn flaky_provider_is_retried() {
    let app = TestApp::start().await;
    let template = app
        .add_template(
            TENANT_A,
            r#"
id: 9a1b2c3d-0000-4000-8000-000000000003
short_id: flaky
name: Flaky
version: 1
steps:
  - key: owners
    type: provider
    provider: consumer_credit
    headers: {X-Sandbox-Scenario: "flaky:2"}
    retry: {max_attempts: 4, initial_backoff_ms: 20, max_backoff_ms: 100, jitter: 0.1}
"#,
        )
        .await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let log_id = app.execute(&template.id, &application_id).await;
    let log = app.wait_for_status(&application_id, log_id, &[4, 5]).await;

    assert_eq!(log["status"], 4, "{log}");
    assert_eq!(step(&log, "owners")["attempts"], 3);
    let key = format!("{}-owner0", dataorch_worker_key(log_id, "owners"));
    let calls = app.sandbox_calls(&key).await;
    assert_eq!(
        calls["calls"]["POST /consumer_credit/v2/credit-report"], 3,
        "{calls}"
    );
    app.shutdown().await;
}

fn dataorch_worker_key(log_id: i64, step: &str) -> String {
    format!("dataorch-{log_id}-{step}")
}

#[tokio::test]
async fn exhausted_retries_end_run_with_error() {
    let app = TestApp::start().await;
    let template = app
        .add_template(
            TENANT_A,
            r#"
id: 9a1b2c3d-0000-4000-8000-000000000004
short_id: broken
name: Broken
version: 1
steps:
  - key: credit
    type: provider
    provider: business_credit
    headers: {X-Sandbox-Scenario: "error:503"}
    retry: {max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 20, jitter: 0.0}
  - {key: after, type: review, needs: [credit]}
"#,
        )
        .await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let log_id = app.execute(&template.id, &application_id).await;
    let log = app.wait_for_status(&application_id, log_id, &[4, 5]).await;

    assert_eq!(log["status"], 5, "{log}");
    assert_eq!(log["master_status"], "error");
    assert!(log["outcome"].is_null());
    assert!(log["finished_at"].is_string());
    let error = log["internal_error"].as_str().unwrap();
    assert!(
        error.contains("step credit failed after 2 attempt(s)"),
        "{error}"
    );
    assert!(error.contains("HTTP 503"), "{error}");
    assert_eq!(step(&log, "credit")["status"], "failed");
    assert_eq!(step(&log, "after")["status"], "skipped");
    app.shutdown().await;
}

#[tokio::test]
async fn provider_timeout_is_step_error() {
    let app = TestApp::start().await;
    let template = app
        .add_template(
            TENANT_A,
            r#"
id: 9a1b2c3d-0000-4000-8000-000000000005
short_id: slow
name: Slow
version: 1
steps:
  - key: credit
    type: provider
    provider: business_credit
    timeout_ms: 200
    headers: {X-Sandbox-Scenario: "timeout"}
    retry: {max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 20, jitter: 0.0}
"#,
        )
        .await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let log_id = app.execute(&template.id, &application_id).await;
    let log = app.wait_for_status(&application_id, log_id, &[4, 5]).await;

    assert_eq!(log["status"], 5, "{log}");
    assert!(
        log["internal_error"]
            .as_str()
            .unwrap()
            .contains("timed out after 200 ms"),
        "{log}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn rule_error_ends_run_readably() {
    let app = TestApp::start().await;
    let template = app
        .add_template(
            TENANT_A,
            r#"
id: 9a1b2c3d-0000-4000-8000-000000000006
short_id: bad-rule
name: Bad rule
version: 1
steps:
  - key: check
    type: rule
    rules: [{when: 'steps.missing.score > 1', outcome: fail, reason: NEVER}]
"#,
        )
        .await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let log_id = app.execute(&template.id, &application_id).await;
    let log = app.wait_for_status(&application_id, log_id, &[4, 5]).await;

    assert_eq!(log["status"], 5, "{log}");
    let error = log["internal_error"].as_str().unwrap();
    assert!(error.contains("step check failed"), "{error}");
    assert!(error.contains("steps.missing.score"), "{error}");
    app.shutdown().await;
}

#[tokio::test]
async fn funding_samples_reach_each_outcome() {
    let app = TestApp::start().await;
    let cases = [
        (
            Scenario::OwnerLowScore,
            false,
            3,
            Some("fail"),
            "decision",
            "OWNER_SCORE_LOW",
        ),
        (
            Scenario::TinMismatch,
            false,
            3,
            Some("fail"),
            "kyb_check",
            "KYB_TIN_MISMATCH",
        ),
        (
            Scenario::BusinessThinFile,
            false,
            3,
            Some("review"),
            "decision",
            "BUSINESS_THIN_FILE",
        ),
        (
            Scenario::Clean,
            true,
            3,
            Some("review"),
            "large_request_review",
            "LARGE_REQUEST",
        ),
    ];
    let mut runs = Vec::new();
    for (scenario, large, ..) in &cases {
        let application_id = app.create_application(&sample(*scenario, *large)).await;
        let log_id = app.execute(FUNDING_TEMPLATE, &application_id).await;
        runs.push((application_id, log_id));
    }
    for ((application_id, log_id), (scenario, _, status, outcome, step_key, reason)) in
        runs.iter().zip(cases)
    {
        let log = app
            .wait_for_status(application_id, *log_id, &[3, 4, 5])
            .await;
        assert_eq!(log["status"], status, "{scenario:?}: {log}");
        assert_eq!(log["outcome"].as_str(), outcome, "{scenario:?}: {log}");
        assert_eq!(
            step(&log, step_key)["reason"],
            reason,
            "{scenario:?}: {log}"
        );
    }

    let application_id = app
        .create_application(&sample(Scenario::BankInstitutionDown, false))
        .await;
    let log_id = app.execute(FUNDING_TEMPLATE, &application_id).await;
    let log = app
        .wait_for_status(&application_id, log_id, &[3, 4, 5])
        .await;
    assert_eq!(log["status"], 5, "{log}");
    assert!(
        log["internal_error"]
            .as_str()
            .unwrap()
            .contains("INSTITUTION_DOWN"),
        "{log}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn halted_funding_run_continues_to_pass() {
    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::OwnerLowScore, false))
        .await;
    let log_id = app.execute(FUNDING_TEMPLATE, &application_id).await;
    let halted = app.wait_for_status(&application_id, log_id, &[3]).await;
    assert_eq!(step(&halted, "large_request_review")["status"], "pending");

    let answer = app
        .put(
            &format!("/api/v2/data_orchestration/{log_id}/continue_pass"),
            json!({ "application_id": application_id }),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    let log = app.wait_for_status(&application_id, log_id, &[4, 5]).await;

    assert_eq!(log["status"], 4, "{log}");
    assert_eq!(log["outcome"], "pass");
    assert_eq!(step(&log, "decision")["outcome"], "fail");
    assert_eq!(step(&log, "large_request_review")["status"], "completed");
    assert_eq!(log["overrides"][0]["step"], "decision");
    app.shutdown().await;
}

#[tokio::test]
async fn stop_action_completes_run_early() {
    let app = TestApp::start().await;
    let template = app
        .add_template(
            TENANT_A,
            r#"
id: 9a1b2c3d-0000-4000-8000-000000000007
short_id: stop-early
name: Stop early
version: 1
steps:
  - key: gate
    type: rule
    rules: [{when: 'application.loan.requested_amount > 0.0', outcome: fail, reason: DECLINED}]
    on: {fail: stop}
  - {key: never, type: review, needs: [gate]}
"#,
        )
        .await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let log_id = app.execute(&template.id, &application_id).await;
    let log = app
        .wait_for_status(&application_id, log_id, &[3, 4, 5])
        .await;

    assert_eq!(log["status"], 4, "{log}");
    assert_eq!(log["outcome"], "fail");
    assert_eq!(step(&log, "gate")["reason"], "DECLINED");
    assert_eq!(step(&log, "never")["status"], "skipped");
    app.shutdown().await;
}

async fn provider_template(
    app: &TestApp,
    id_suffix: &str,
    provider: &str,
    scenario: &str,
    timeout_ms: u64,
) -> String {
    let yaml = format!(
        r#"
id: 9a1b2c3d-0000-4000-8000-0000000001{id_suffix}
short_id: provider-{id_suffix}
name: Provider {scenario}
version: 1
steps:
  - key: credit
    type: provider
    provider: {provider}
    timeout_ms: {timeout_ms}
    headers: {{X-Sandbox-Scenario: "{scenario}"}}
    retry: {{max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 20, jitter: 0.0}}
"#
    );
    app.add_template(TENANT_A, &yaml).await.id
}

#[tokio::test]
async fn malformed_and_huge_answers_fail_step() {
    let app = TestApp::start().await;
    let malformed = provider_template(&app, "01", "business_credit", "malformed", 5_000).await;
    let huge = provider_template(&app, "02", "business_credit", "huge", 5_000).await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;

    let malformed_log = app.execute(&malformed, &application_id).await;
    let huge_log = app.execute(&huge, &application_id).await;

    let log = app
        .wait_for_status(&application_id, malformed_log, &[4, 5])
        .await;
    assert_eq!(log["status"], 5, "{log}");
    let error = log["internal_error"].as_str().unwrap();
    assert!(error.contains("invalid JSON"), "{error}");
    assert!(error.contains("after 2 attempt(s)"), "{error}");

    let log = app
        .wait_for_status(&application_id, huge_log, &[4, 5])
        .await;
    assert_eq!(log["status"], 5, "{log}");
    let error = log["internal_error"].as_str().unwrap();
    assert!(error.contains("exceeds 524288 bytes"), "{error}");
    assert!(
        error.contains("after 1 attempt(s)"),
        "a too-large body is not retried: {error}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn hanging_provider_does_not_starve_others() {
    let app = TestApp::start().await;
    let hanging = provider_template(&app, "03", "business_credit", "timeout", 4_000).await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let mut hung = Vec::new();
    for _ in 0..5 {
        hung.push(app.execute(&hanging, &application_id).await);
    }

    // While five runs wait on a provider that never answers, a normal run still finishes.
    let started = std::time::Instant::now();
    let normal = app.execute(FUNDING_TEMPLATE, &application_id).await;
    let log = app
        .wait_for_status(&application_id, normal, &[3, 4, 5])
        .await;
    assert_eq!(log["status"], 4, "{log}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let first = app.log(&application_id, hung[0]).await;
    assert_eq!(
        first["status"], 2,
        "the hanging run is still waiting: {first}"
    );

    for log_id in hung {
        let log = app.wait_for_status(&application_id, log_id, &[4, 5]).await;
        assert!(
            log["internal_error"]
                .as_str()
                .unwrap()
                .contains("timed out after 4000 ms"),
            "{log}"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn unrecordable_run_is_quarantined_and_errored() {
    // Accept bodies larger than a NATS message; KYB keeps the whole business object (padding
    // included) as its output, so the step's event cannot be stored.
    let options = Options {
        max_deliver: 2,
        max_response_bytes: 8 << 20,
        ..Options::default()
    };
    let app = TestApp::start_with(options).await;
    let huge = provider_template(&app, "04", "kyb", "huge", 10_000).await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let log_id = app.execute(&huge, &application_id).await;

    let log = app.wait_for_status(&application_id, log_id, &[4, 5]).await;

    assert_eq!(log["status"], 5, "{log}");
    let error = log["internal_error"].as_str().unwrap();
    assert!(
        error.starts_with("quarantined: failed on each of 2 deliveries"),
        "{error}"
    );
    let letters = app.stack().broker.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].original_sequence, log_id as u64);
    assert_eq!(letters[0].deliveries, 2);
    app.shutdown().await;
}

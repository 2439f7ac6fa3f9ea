use std::time::{Duration, Instant};

use dataorch_sandbox::SandboxConfig;
use serde_json::{Value, json};

use crate::harness::{TestSandbox, read};

const SEARCH: &str = "/business_credit/v1/search";

fn search_body() -> Value {
    json!({ "name": "Acme", "city": "Springfield", "state": "IL", "subcode": "0517614" })
}

fn scenario(value: &str) -> [(&str, &str); 1] {
    [("X-Sandbox-Scenario", value)]
}

/// Returns one request per provider kind that succeeds with 200 or 201 without a scenario.
fn provider_requests() -> Vec<(&'static str, Value)> {
    vec![
        (
            "/kyb/v1/businesses",
            json!({
                "name": "Acme",
                "addresses": [{
                    "address_line1": "1 Main St",
                    "city": "Springfield",
                    "state": "IL",
                    "postal_code": "62701"
                }]
            }),
        ),
        (SEARCH, search_body()),
        (
            "/consumer_credit/v2/credit-report",
            json!({
                "consumerPii": {
                    "primaryApplicant": {
                        "name": { "firstName": "Jon", "lastName": "Consumer" },
                        "ssn": { "ssn": "123456789" }
                    }
                }
            }),
        ),
        (
            "/bank_data/accounts/balance/get",
            json!({ "access_token": "access-sandbox-user_good-1" }),
        ),
    ]
}

/// Checks that `body` has the error shape of the provider that serves `path`.
fn assert_provider_error_shape(path: &str, body: &Value) {
    if path.starts_with("/kyb") {
        assert!(body["errors"][0]["message"].is_string(), "{path}: {body}");
    } else if path.starts_with("/bank_data") {
        for field in ["error_type", "error_code", "error_message", "request_id"] {
            assert!(body[field].is_string(), "{path}: field {field} in {body}");
        }
        assert!(body.get("display_message").is_some(), "{path}: {body}");
    } else {
        let error = &body["errors"][0];
        for field in ["errorCode", "errorType", "message"] {
            assert!(error[field].is_string(), "{path}: field {field} in {body}");
        }
    }
}

#[tokio::test]
async fn slow_delays_then_responds() {
    let sandbox = TestSandbox::start().await;

    let started = Instant::now();
    let reply = sandbox
        .post_with(SEARCH, &search_body(), &scenario("slow:300"))
        .await;

    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["success"], true);
}

#[tokio::test]
async fn default_latency_delays_every_request() {
    let sandbox = TestSandbox::start_with(SandboxConfig {
        default_latency_ms: 200,
    })
    .await;

    let started = Instant::now();
    let reply = sandbox.post(SEARCH, &search_body()).await;
    let health_started = Instant::now();
    let health = sandbox.get("/healthz").await;

    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        health_started.elapsed() < Duration::from_millis(200),
        "healthz was delayed"
    );
    assert_eq!(health.json, json!({ "status": "ok" }));
}

#[tokio::test]
async fn timeout_does_not_block_others() {
    let sandbox = TestSandbox::start().await;
    let held = sandbox
        .client()
        .post(sandbox.url(SEARCH))
        .header("X-Sandbox-Scenario", "timeout")
        .timeout(Duration::from_millis(1500))
        .json(&search_body())
        .send();
    let held = tokio::spawn(held);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    let reply = sandbox.post(SEARCH, &search_body()).await;
    let elapsed = started.elapsed();

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        elapsed < Duration::from_secs(1),
        "concurrent request took {elapsed:?}"
    );
    let held = held.await.unwrap();
    assert!(
        held.is_err_and(|error| error.is_timeout()),
        "timeout request got a response"
    );
}

#[tokio::test]
async fn shutdown_releases_timeout_request() {
    let sandbox = TestSandbox::start().await;
    let held = sandbox
        .client()
        .post(sandbox.url(SEARCH))
        .header("X-Sandbox-Scenario", "timeout")
        .json(&search_body());
    let held = tokio::spawn(read(held));
    tokio::time::sleep(Duration::from_millis(200)).await;

    sandbox.stop().await;

    let reply = held.await.unwrap();
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_provider_error_shape(SEARCH, &reply.json);
}

#[tokio::test]
async fn error_uses_provider_shape() {
    let sandbox = TestSandbox::start().await;

    for (path, body) in provider_requests() {
        let reply = sandbox.post_with(path, &body, &scenario("error:502")).await;
        assert_eq!(reply.status, 502, "{path}: {}", reply.text);
        assert_provider_error_shape(path, &reply.json);
    }
}

#[tokio::test]
async fn error_429_on_bank_data_is_rate_limit() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox
        .post_with(
            "/bank_data/accounts/balance/get",
            &json!({ "access_token": "access-sandbox-user_good-1" }),
            &scenario("error:429"),
        )
        .await;

    assert_eq!(reply.status, 429, "{}", reply.text);
    assert_eq!(reply.json["error_type"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(reply.json["error_code"], "RATE_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn flaky_fails_then_succeeds() {
    let sandbox = TestSandbox::start().await;
    let headers = [
        ("X-Sandbox-Scenario", "flaky:2"),
        ("Idempotency-Key", "flaky-key"),
    ];

    let first = sandbox.post_with(SEARCH, &search_body(), &headers).await;
    let second = sandbox.post_with(SEARCH, &search_body(), &headers).await;
    let third = sandbox.post_with(SEARCH, &search_body(), &headers).await;
    let calls = sandbox.get("/_sandbox/calls/flaky-key").await;

    assert_eq!(first.status, 503, "{}", first.text);
    assert_provider_error_shape(SEARCH, &first.json);
    assert_eq!(second.status, 503, "{}", second.text);
    assert_eq!(third.status, 200, "{}", third.text);
    assert_eq!(calls.json["calls"]["POST /business_credit/v1/search"], 3);
}

#[tokio::test]
async fn flaky_counts_each_key_separately() {
    let sandbox = TestSandbox::start().await;

    for key in ["key-a", "key-b"] {
        let headers = [("X-Sandbox-Scenario", "flaky:1"), ("Idempotency-Key", key)];
        let first = sandbox.post_with(SEARCH, &search_body(), &headers).await;
        let second = sandbox.post_with(SEARCH, &search_body(), &headers).await;
        assert_eq!(first.status, 503, "key {key}");
        assert_eq!(second.status, 200, "key {key}");
    }
}

#[tokio::test]
async fn malformed_returns_invalid_json() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox
        .post_with(SEARCH, &search_body(), &scenario("malformed"))
        .await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, r#"{"truncated": "#);
    assert!(serde_json::from_str::<Value>(&reply.text).is_err());
}

#[tokio::test]
async fn huge_returns_large_valid_json() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox
        .post_with(SEARCH, &search_body(), &scenario("huge"))
        .await;

    assert_eq!(reply.status, 200);
    assert!(
        reply.text.len() >= 5 * 1024 * 1024,
        "{} bytes",
        reply.text.len()
    );
    assert!(
        reply.text.len() < 6 * 1024 * 1024,
        "{} bytes",
        reply.text.len()
    );
    assert_eq!(
        reply.json["success"], true,
        "body is not the provider response"
    );
    assert!(reply.json["results"][0]["bin"].is_string());
    assert!(reply.json["sandbox_padding"].is_string());
}

#[tokio::test]
async fn invalid_scenario_lists_forms() {
    let sandbox = TestSandbox::start().await;

    for value in ["explode", "error:200", "slow:soon"] {
        let reply = sandbox
            .post_with(SEARCH, &search_body(), &scenario(value))
            .await;
        assert_eq!(reply.status, 400, "value {value}");
        let message = reply.json["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("X-Sandbox-Scenario"), "message {message}");
        assert!(message.contains("flaky:<n>"), "message {message}");
    }
}

#[tokio::test]
async fn invalid_json_uses_provider_shape() {
    let sandbox = TestSandbox::start().await;

    for (path, _) in provider_requests() {
        for body in ["{not json", "", "[1, 2]", r#"{"name": "a"} trailing"#] {
            let reply = sandbox.post_raw(path, body).await;
            assert_eq!(
                reply.status, 400,
                "{path} with body {body:?}: {}",
                reply.text
            );
            assert_provider_error_shape(path, &reply.json);
        }
    }
}

#[tokio::test]
async fn unknown_provider_path_is_404() {
    let sandbox = TestSandbox::start().await;

    for path in [
        "/kyb/v2/nothing",
        "/bank_data/nothing",
        "/business_credit/v1/nothing",
    ] {
        let reply = sandbox.post(path, &json!({})).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_provider_error_shape(path, &reply.json);
    }
    let other = sandbox.get("/nothing").await;
    assert_eq!(other.status, 404);
    assert!(other.json["error"].is_string());
}

#[tokio::test]
async fn wrong_method_is_405() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox.get(SEARCH).await;

    assert_eq!(reply.status, 405, "{}", reply.text);
    assert_provider_error_shape(SEARCH, &reply.json);
}

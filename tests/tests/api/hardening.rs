//! Hostile and malformed input: each gets a clear 4xx and nothing reaches the pipeline.

use std::time::{Duration, Instant};

use dataorch::samples::Scenario;
use dataorch_config::{RateLimitQuota, Secret};
use dataorch_tests::{FUNDING_TEMPLATE, Options, TestApp, sample};
use reqwest::Method;
use serde_json::json;

const ADMIN_TOKEN: &str = "admin-token-for-tests-0123456789abcdef";

async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, serde_json::Value) {
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(&app.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[tokio::test]
async fn bad_bodies_get_clear_errors() {
    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let commands_before = app.stack().broker.commands_last_sequence().await.unwrap();
    let execute = "/api/v2/data_orchestration/execute";

    let duplicate = format!(
        r#"{{"template_id": "{FUNDING_TEMPLATE}", "template_id": "x", "application_id": "{application_id}"}}"#
    );
    let (status, body) = post_raw(&app, execute, "application/json", duplicate).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["errors"]["template_id"][0]
            .as_str()
            .unwrap()
            .contains("twice"),
        "{body}"
    );

    let nul = format!(
        r#"{{"template_id": "{FUNDING_TEMPLATE}\u0000", "application_id": "{application_id}"}}"#
    );
    let (status, body) = post_raw(&app, execute, "application/json", nul).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["errors"]["template_id"][0]
            .as_str()
            .unwrap()
            .contains("U+0000"),
        "{body}"
    );

    for number in ["9007199254740993", "18446744073709551616"] {
        let mut application = serde_json::to_value(sample(Scenario::Clean, false)).unwrap();
        application["metadata"] = json!({});
        let text = application.to_string().replace(
            "\"metadata\":{}",
            &format!("\"metadata\":{{\"n\":{number}}}"),
        );
        let (status, body) = post_raw(&app, "/api/v2/applications", "application/json", text).await;
        assert_eq!(status, 422, "{number}: {body}");
        assert!(body["errors"]["metadata.n"].is_array(), "{body}");
    }

    let deep = "[".repeat(200) + &"]".repeat(200);
    let (status, body) = post_raw(&app, execute, "application/json", deep).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("128 levels"),
        "{body}"
    );

    let (status, body) = post_raw(&app, execute, "application/json", "{\"template_id\": ").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["meta"]["error_code"], "malformed_json");

    let (status, _) = post_raw(&app, execute, "text/plain", "{}").await;
    assert_eq!(status, 415);
    let (status, _) = post_raw(&app, execute, "application/x-www-form-urlencoded", "a=b").await;
    assert_eq!(status, 415);

    let big = format!(r#"{{"template_id": "{}"}}"#, "x".repeat(300 * 1024));
    let (status, body) = post_raw(&app, execute, "application/json", big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["meta"]["error_code"], "payload_too_large");

    let (status, body) = post_raw(&app, execute, "application/json", "[1, 2]").await;
    assert_eq!(status, 422, "{body}");

    let response = app
        .http
        .get(format!("{}/api/v2/data_orchestration/templates", app.base))
        .bearer_auth(&app.token)
        .header("x-padding", "y".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 431);

    let commands_after = app.stack().broker.commands_last_sequence().await.unwrap();
    assert_eq!(
        commands_before, commands_after,
        "a rejected request reached the commands stream"
    );
    app.shutdown().await;
}

/// Opens a connection that sends part of a request head and then nothing.
async fn slow_connection(address: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    use tokio::io::AsyncReadExt;
    let options = Options {
        configure: |settings| settings.gateway.header_read_timeout_ms = 500,
        ..Options::default()
    };
    let app = TestApp::start_with(options).await;
    let address = app.stack().gateway_address;
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(slow_connection(address).await);
    }

    // Normal requests are served while the idle connections hang.
    let started = Instant::now();
    for _ in 0..5 {
        let answer = app.get("/api/v2/data_orchestration/templates").await;
        assert_eq!(answer.status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );

    // After the header-read timeout the server has closed them.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for mut stream in idle.into_iter().take(20) {
        let mut buffer = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await;
        let closed = match &read {
            Ok(Ok(0)) => true,
            Ok(Ok(n)) => String::from_utf8_lossy(&buffer[..*n]).starts_with("HTTP/1.1 408"),
            Ok(Err(error)) => error.kind() == std::io::ErrorKind::ConnectionReset,
            Err(_) => false,
        };
        assert!(closed, "connection still open: {read:?}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn admin_keys_create_list_revoke() {
    let options = Options {
        configure: |settings| settings.gateway.admin_token = Secret::new(ADMIN_TOKEN),
        ..Options::default()
    };
    let app = TestApp::start_with(options).await;
    let admin = |method: Method, path: &str, token: &str, body: Option<serde_json::Value>| {
        let mut request = app
            .http
            .request(method, format!("{}{path}", app.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };

    let created = admin(
        Method::POST,
        "/admin/v1/tenants/tenant-c/keys",
        ADMIN_TOKEN,
        Some(json!({ "name": "svc" })),
    )
    .await
    .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let token = created["data"]["token"].as_str().unwrap().to_string();
    let key_id = created["data"]["id"].as_str().unwrap().to_string();

    let listed: serde_json::Value = admin(
        Method::GET,
        "/admin/v1/tenants/tenant-c/keys",
        ADMIN_TOKEN,
        None,
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(listed["data"][0]["id"], key_id.as_str());
    assert!(listed["data"][0].get("token").is_none(), "{listed}");
    assert!(!listed.to_string().contains(&token));

    let works = app
        .request(
            Method::GET,
            "/api/v2/data_orchestration/templates",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(works.status, 200);
    assert_eq!(
        works.body["data"].as_array().unwrap().len(),
        0,
        "a new tenant has no templates"
    );

    let with_tenant_key = admin(Method::GET, "/admin/v1/tenants/tenant-c/keys", &token, None)
        .await
        .unwrap();
    assert_eq!(with_tenant_key.status().as_u16(), 401);

    let revoked = admin(
        Method::DELETE,
        &format!("/admin/v1/keys/{key_id}"),
        ADMIN_TOKEN,
        None,
    )
    .await
    .unwrap();
    assert_eq!(revoked.status().as_u16(), 200);
    let after = app
        .request(
            Method::GET,
            "/api/v2/data_orchestration/templates",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(after.status, 401, "a revoked key stops working at once");

    let unknown = admin(Method::DELETE, "/admin/v1/keys/nope", ADMIN_TOKEN, None)
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    app.shutdown().await;
}

#[tokio::test]
async fn admin_routes_hidden_without_token() {
    let app = TestApp::start().await;
    let answer = app
        .request(
            Method::GET,
            "/admin/v1/tenants/tenant-a/keys",
            Some("anything"),
            None,
        )
        .await;
    assert_eq!(answer.status, 404);
    app.shutdown().await;
}

#[tokio::test]
async fn rate_limit_answers_429() {
    let options = Options {
        configure: |settings| {
            settings.rate_limit.default = RateLimitQuota {
                per_second: 1,
                burst: 3,
            }
        },
        ..Options::default()
    };
    let app = TestApp::start_with(options).await;
    let path = "/api/v2/data_orchestration/templates";

    for remaining in [2, 1, 0] {
        let answer = app.get(path).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.headers["ratelimit-policy"], "\"key\";q=3;w=3");
        let state = answer.headers["ratelimit"].to_str().unwrap();
        assert!(
            state.starts_with(&format!("\"key\";r={remaining};")),
            "{state}"
        );
    }
    let limited = app.get(path).await;
    assert_eq!(limited.status, 429, "{:?}", limited.body);
    assert_eq!(limited.body["meta"]["error_code"], "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&retry_after), "{retry_after}");

    let other = app
        .request(Method::GET, path, Some(&app.other_token), None)
        .await;
    assert_eq!(other.status, 200, "another key has its own bucket");
    app.shutdown().await;
}

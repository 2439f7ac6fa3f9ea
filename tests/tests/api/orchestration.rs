use dataorch::samples::Scenario;
use dataorch_contracts::commands::{Command, CommandEnvelope, ContinueCommand};
use dataorch_contracts::time::now_micros;
use dataorch_tests::{FUNDING_TEMPLATE, Options, TENANT_A, TestApp, sample};
use reqwest::Method;
use serde_json::json;

const EXECUTE: &str = "/api/v2/data_orchestration/execute";

const REVIEW_ONLY: &str = r#"
id: 9a1b2c3d-0000-4000-8000-000000000001
short_id: review-only
name: Review only
version: 1
steps:
  - {key: look, type: review, reason: LOOK}
  - {key: after, type: review, needs: [look], when: 'false'}
"#;

#[tokio::test]
async fn execute_answers_pending_log_with_location() {
    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;

    let answer = app
        .post(
            EXECUTE,
            json!({ "template_id": FUNDING_TEMPLATE, "application_id": application_id }),
        )
        .await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let log = &answer.body["data"];
    let id = log["id"].as_i64().unwrap();
    assert!(id > 0);
    assert_eq!(log["status"], 1);
    assert_eq!(log["master_status"], "pending");
    assert!(log["outcome"].is_null());
    assert!(log["internal_error"].is_null());
    assert!(log["started_at"].is_null());
    assert!(log["finished_at"].is_null());
    let created_at = log["created_at"].as_str().unwrap();
    assert_eq!(
        created_at.len(),
        "2026-03-12T15:53:59.000000Z".len(),
        "{created_at}"
    );
    assert_eq!(
        answer.headers["location"].to_str().unwrap(),
        format!("/api/v2/applications/{application_id}/data_orch/{id}")
    );

    // The command is in JetStream before the answer (durability of a 2xx).
    let (command, _) = app
        .stack()
        .broker
        .execute_command(id)
        .await
        .expect("command stored at the log id");
    assert_eq!(command.application_id, application_id);
    app.shutdown().await;
}

#[tokio::test]
async fn execute_short_id_works() {
    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let answer = app
        .post(
            EXECUTE,
            json!({ "template_id": "smb-funding", "application_id": application_id }),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["data"]["template_id"], FUNDING_TEMPLATE);
    app.shutdown().await;
}

#[tokio::test]
async fn execute_validates_fields() {
    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;

    let empty = app.post(EXECUTE, json!({})).await;
    assert_eq!(empty.status, 422);
    assert_eq!(
        empty.body["errors"]["template_id"][0],
        "The template id field is required."
    );
    assert_eq!(
        empty.body["errors"]["application_id"][0],
        "The application id field is required."
    );
    assert_eq!(empty.body["meta"]["error_code"], "validation_failed");

    let wrong_type = app
        .post(
            EXECUTE,
            json!({ "template_id": 5, "application_id": application_id }),
        )
        .await;
    assert_eq!(wrong_type.status, 422);
    assert!(wrong_type.body["errors"]["template_id"].is_array());

    let unknown_template = app
        .post(
            EXECUTE,
            json!({ "template_id": "nope", "application_id": application_id }),
        )
        .await;
    assert_eq!(unknown_template.status, 422);
    assert!(unknown_template.body["errors"]["template_id"].is_array());

    let unknown_application = app
        .post(
            EXECUTE,
            json!({ "template_id": FUNDING_TEMPLATE, "application_id": "nope" }),
        )
        .await;
    assert_eq!(unknown_application.status, 422);
    assert!(unknown_application.body["errors"]["application_id"].is_array());

    let unauthenticated = app
        .request(Method::POST, EXECUTE, None, Some(json!({})))
        .await;
    assert_eq!(unauthenticated.status, 401);
    app.shutdown().await;
}

#[tokio::test]
async fn execute_cannot_use_other_tenant_data() {
    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let only_a = app.add_template(TENANT_A, REVIEW_ONLY).await;

    let body = json!({ "template_id": FUNDING_TEMPLATE, "application_id": application_id });
    let other = app
        .request(Method::POST, EXECUTE, Some(&app.other_token), Some(body))
        .await;
    assert_eq!(other.status, 422);
    assert!(other.body["errors"]["application_id"].is_array());

    let other_application = {
        let data = serde_json::to_value(sample(Scenario::Clean, false)).unwrap();
        let created = app
            .request(
                Method::POST,
                "/api/v2/applications",
                Some(&app.other_token),
                Some(data),
            )
            .await;
        created.body["data"]["id"].as_str().unwrap().to_string()
    };
    let body = json!({ "template_id": only_a.id, "application_id": other_application });
    let other_template = app
        .request(Method::POST, EXECUTE, Some(&app.other_token), Some(body))
        .await;
    assert_eq!(other_template.status, 422);
    assert!(other_template.body["errors"]["template_id"].is_array());
    app.shutdown().await;
}

async fn execute_with_key(
    app: &TestApp,
    key: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = app
        .http
        .post(format!("{}{EXECUTE}", app.base))
        .bearer_auth(&app.token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn idempotency_key_returns_first_log() {
    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let body = json!({ "template_id": FUNDING_TEMPLATE, "application_id": application_id });

    let (status, first) = execute_with_key(&app, "order-42", &body).await;
    assert_eq!(status, 200, "{first}");
    let log_id = first["data"]["id"].as_i64().unwrap();
    let finished = app.wait_for_status(&application_id, log_id, &[4]).await;

    let (status, repeat) = execute_with_key(&app, "order-42", &body).await;
    assert_eq!(status, 200, "{repeat}");
    assert_eq!(repeat["data"]["id"], log_id);
    assert_eq!(
        repeat["data"]["status"], 4,
        "a repeat shows the stored log, not a new pending one"
    );
    assert_eq!(repeat["data"]["created_at"], finished["created_at"]);

    let other_application = app.create_application(&sample(Scenario::Clean, true)).await;
    let other_body =
        json!({ "template_id": FUNDING_TEMPLATE, "application_id": other_application });
    let (status, reused) = execute_with_key(&app, "order-42", &other_body).await;
    assert_eq!(status, 422, "{reused}");
    assert_eq!(reused["meta"]["error_code"], "idempotency_key_reused");

    let without_key = app.execute(FUNDING_TEMPLATE, &application_id).await;
    assert_ne!(without_key, log_id);
    let other_tenant = app
        .request(
            Method::POST,
            EXECUTE,
            Some(&app.other_token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        other_tenant.status, 422,
        "tenant B cannot see tenant A's application"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn idempotency_key_outlives_duplicate_window() {
    let app = TestApp::start_with(Options {
        duplicate_window_secs: 1,
        ..Options::default()
    })
    .await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let body = json!({ "template_id": FUNDING_TEMPLATE, "application_id": application_id });

    let (_, first) = execute_with_key(&app, "late-retry", &body).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let (status, repeat) = execute_with_key(&app, "late-retry", &body).await;

    assert_eq!(status, 200, "{repeat}");
    assert_eq!(repeat["data"]["id"], first["data"]["id"]);
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_keyed_executes_create_one_run() {
    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let body = json!({ "template_id": FUNDING_TEMPLATE, "application_id": application_id });

    let calls = (0..8).map(|_| execute_with_key(&app, "burst-1", &body));
    let answers = futures::future::join_all(calls).await;

    let ids: std::collections::BTreeSet<i64> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body["data"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    for (status, body) in &answers {
        assert!(*status == 200 || *status == 409, "{status} {body}");
    }
    let list = app
        .get(&format!("/api/v2/applications/{application_id}/data_orch"))
        .await;
    assert_eq!(
        list.body["data"].as_array().unwrap().len(),
        1,
        "{:?}",
        list.body
    );
    app.shutdown().await;
}

#[tokio::test]
async fn continue_pass_resumes_halted_run() {
    let app = TestApp::start().await;
    let template = app.add_template(TENANT_A, REVIEW_ONLY).await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let log_id = app.execute(&template.id, &application_id).await;
    let halted = app.wait_for_status(&application_id, log_id, &[3]).await;
    assert_eq!(halted["outcome"], "review");

    let path = format!("/api/v2/data_orchestration/{log_id}/continue_pass");
    let answer = app
        .put(
            &path,
            json!({ "application_id": application_id, "comment": "Documents checked." }),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    assert_eq!(answer.body, json!({}));

    // Read-your-writes: the GET right after the 202 shows the run past its halt.
    let log = app.log(&application_id, log_id).await;
    assert_ne!(log["status"], 3, "{log}");
    let log = app.wait_for_status(&application_id, log_id, &[4]).await;
    assert_eq!(log["outcome"], "pass");
    assert_eq!(log["overrides"][0]["step"], "look");
    assert_eq!(log["overrides"][0]["actor"], "underwriter-a");
    assert_eq!(log["overrides"][0]["comment"], "Documents checked.");
    assert_eq!(log["steps"][1]["reason"], "REVIEW_NOT_REQUIRED");

    let again = app
        .put(&path, json!({ "application_id": application_id }))
        .await;
    assert_eq!(again.status, 422);
    assert_eq!(again.body["meta"]["error_code"], "run_not_halted");
    assert!(
        again.body["message"]
            .as_str()
            .unwrap()
            .contains("completed")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn continue_pass_rejects_bad_requests() {
    let app = TestApp::start().await;
    let template = app.add_template(TENANT_A, REVIEW_ONLY).await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let other_application = app.create_application(&sample(Scenario::Clean, true)).await;
    let log_id = app.execute(&template.id, &application_id).await;
    app.wait_for_status(&application_id, log_id, &[3]).await;
    let path = format!("/api/v2/data_orchestration/{log_id}/continue_pass");

    let missing = app.put(&path, json!({})).await;
    assert_eq!(missing.status, 422);
    assert_eq!(
        missing.body["errors"]["application_id"][0],
        "The application id field is required."
    );

    let mismatch = app
        .put(&path, json!({ "application_id": other_application }))
        .await;
    assert_eq!(mismatch.status, 422);
    assert_eq!(mismatch.body["meta"]["error_code"], "application_mismatch");

    let bad_comment = app
        .put(
            &path,
            json!({ "application_id": application_id, "comment": 7 }),
        )
        .await;
    assert_eq!(bad_comment.status, 422);
    assert!(bad_comment.body["errors"]["comment"].is_array());

    let unknown = app
        .put(
            "/api/v2/data_orchestration/999999/continue_pass",
            json!({ "application_id": application_id }),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let not_integer = app
        .put(
            "/api/v2/data_orchestration/abc/continue_pass",
            json!({ "application_id": application_id }),
        )
        .await;
    assert_eq!(not_integer.status, 404);

    let other_tenant = app
        .request(
            Method::PUT,
            &path,
            Some(&app.other_token),
            Some(json!({ "application_id": application_id })),
        )
        .await;
    assert_eq!(other_tenant.status, 404);
    assert!(other_tenant.body.get("data").is_none());

    let unauthenticated = app
        .request(
            Method::PUT,
            &path,
            None,
            Some(json!({ "application_id": application_id })),
        )
        .await;
    assert_eq!(unauthenticated.status, 401);

    // None of these changed the run.
    let log = app.log(&application_id, log_id).await;
    assert_eq!(log["status"], 3);
    assert_eq!(log["overrides"].as_array().unwrap().len(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn stale_continue_never_passes_later_halt() {
    let app = TestApp::start().await;
    let template = app
        .add_template(
            TENANT_A,
            r#"
id: 9a1b2c3d-0000-4000-8000-000000000010
short_id: two-reviews
name: Two reviews
version: 1
steps:
  - {key: first, type: review, reason: FIRST}
  - {key: second, type: review, needs: [first], reason: SECOND}
"#,
        )
        .await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let log_id = app.execute(&template.id, &application_id).await;
    app.wait_for_status(&application_id, log_id, &[3]).await;
    let path = format!("/api/v2/data_orchestration/{log_id}/continue_pass");
    let answer = app
        .put(&path, json!({ "application_id": application_id }))
        .await;
    assert_eq!(answer.status, 202);
    let log = app.wait_for_status(&application_id, log_id, &[3]).await;
    assert_eq!(log["overrides"].as_array().unwrap().len(), 1, "{log}");

    // The continue for `first`, delivered again long after (a new message id, so JetStream
    // stores it), must not pass the halt at `second`.
    let stale = ContinueCommand {
        tenant_id: TENANT_A.into(),
        log_id,
        application_id: application_id.clone(),
        step_key: "first".into(),
        actor: "replayed".into(),
        comment: None,
        requested_at: now_micros(),
    };
    let envelope = CommandEnvelope::new(Command::Continue(stale), Default::default());
    app.stack()
        .broker
        .publish_command(&envelope, Some("stale-continue"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    app.wait_for_projection().await;

    let log = app.log(&application_id, log_id).await;
    assert_eq!(log["status"], 3, "{log}");
    assert_eq!(log["overrides"].as_array().unwrap().len(), 1, "{log}");
    let second = log["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "second")
        .unwrap();
    assert_eq!(second["outcome"], "review");
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_continues_resume_once() {
    let app = TestApp::start().await;
    let template = app.add_template(TENANT_A, REVIEW_ONLY).await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let log_id = app.execute(&template.id, &application_id).await;
    app.wait_for_status(&application_id, log_id, &[3]).await;
    let path = format!("/api/v2/data_orchestration/{log_id}/continue_pass");

    let calls = (0..8).map(|_| app.put(&path, json!({ "application_id": application_id })));
    let answers = futures::future::join_all(calls).await;
    for answer in &answers {
        assert!(answer.status == 202 || answer.status == 422, "{answer:?}");
    }
    let log = app.wait_for_status(&application_id, log_id, &[4]).await;
    assert_eq!(log["overrides"].as_array().unwrap().len(), 1, "{log}");
    app.shutdown().await;
}

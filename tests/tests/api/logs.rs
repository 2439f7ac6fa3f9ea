use dataorch::samples::Scenario;
use dataorch_tests::{FUNDING_TEMPLATE, TestApp, sample};
use reqwest::Method;

#[tokio::test]
async fn get_right_after_execute_finds_log() {
    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    for _ in 0..10 {
        let log_id = app.execute(FUNDING_TEMPLATE, &application_id).await;
        let one = app
            .get(&format!(
                "/api/v2/applications/{application_id}/data_orch/{log_id}"
            ))
            .await;
        assert_eq!(one.status, 200, "log {log_id}: {:?}", one.body);
        assert_eq!(one.body["data"]["id"], log_id);
        let list = app
            .get(&format!("/api/v2/applications/{application_id}/data_orch"))
            .await;
        assert_eq!(list.body["data"][0]["id"], log_id, "{:?}", list.body);
    }
    app.shutdown().await;
}

#[tokio::test]
async fn list_is_newest_first_and_pages() {
    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.execute(FUNDING_TEMPLATE, &application_id).await);
    }
    let base = format!("/api/v2/applications/{application_id}/data_orch");

    let all = app.get(&base).await;
    assert_eq!(all.status, 200);
    let listed: Vec<i64> = all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|log| log["id"].as_i64().unwrap())
        .collect();
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(listed, expected);
    for field in [
        "id",
        "outcome",
        "internal_error",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "master_status",
    ] {
        assert!(all.body["data"][0].get(field).is_some(), "missing {field}");
    }

    let page = app.get(&format!("{base}?limit=1&before={}", ids[2])).await;
    assert_eq!(page.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["data"][0]["id"], ids[1]);

    let bad_limit = app.get(&format!("{base}?limit=0")).await;
    assert_eq!(bad_limit.status, 422);
    assert!(bad_limit.body["errors"]["limit"].is_array());
    let bad_before = app.get(&format!("{base}?before=x")).await;
    assert_eq!(bad_before.status, 422);
    let repeated = app.get(&format!("{base}?limit=1&limit=2")).await;
    assert_eq!(repeated.status, 400);
    assert_eq!(repeated.body["meta"]["error_code"], "invalid_query");
    app.shutdown().await;
}

#[tokio::test]
async fn logs_are_scoped_to_application_and_tenant() {
    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let other_application = app.create_application(&sample(Scenario::Clean, true)).await;
    let log_id = app.execute(FUNDING_TEMPLATE, &application_id).await;

    let unknown_application = app.get("/api/v2/applications/nope/data_orch").await;
    assert_eq!(unknown_application.status, 404);

    let wrong_application = app
        .get(&format!(
            "/api/v2/applications/{other_application}/data_orch/{log_id}"
        ))
        .await;
    assert_eq!(wrong_application.status, 404);

    let unknown_log = app
        .get(&format!(
            "/api/v2/applications/{application_id}/data_orch/987654"
        ))
        .await;
    assert_eq!(unknown_log.status, 404);

    for bad in [
        "abc",
        "-1",
        "0",
        "1.5",
        "+1",
        "01",
        "99999999999999999999999",
    ] {
        let answer = app
            .get(&format!(
                "/api/v2/applications/{application_id}/data_orch/{bad}"
            ))
            .await;
        assert_eq!(answer.status, 404, "log id {bad}");
    }

    let other_tenant_list = app
        .request(
            Method::GET,
            &format!("/api/v2/applications/{application_id}/data_orch"),
            Some(&app.other_token),
            None,
        )
        .await;
    assert_eq!(other_tenant_list.status, 404);
    let other_tenant_log = app
        .request(
            Method::GET,
            &format!("/api/v2/applications/{application_id}/data_orch/{log_id}"),
            Some(&app.other_token),
            None,
        )
        .await;
    assert_eq!(other_tenant_log.status, 404);
    assert!(other_tenant_log.body.get("data").is_none());

    let unauthenticated = app
        .request(
            Method::GET,
            &format!("/api/v2/applications/{application_id}/data_orch"),
            None,
            None,
        )
        .await;
    assert_eq!(unauthenticated.status, 401);
    app.shutdown().await;
}

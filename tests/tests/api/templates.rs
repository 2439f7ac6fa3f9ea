use dataorch_tests::{FUNDING_TEMPLATE, TENANT_A, TestApp};
use reqwest::Method;

#[tokio::test]
async fn list_shows_published_templates() {
    let app = TestApp::start().await;
    let draft = dataorch_contracts::template::Template::from_yaml(
        "id: 11111111-2222-3333-4444-555555555555\nshort_id: draft\nname: Draft\nversion: 1\nsteps: [{key: look, type: review}]\n",
    )
    .unwrap();
    dataorch_storage::queries::save_template(
        app.db(),
        TENANT_A,
        &draft,
        dataorch_contracts::template::TemplateStatus::Draft,
        chrono::Utc::now(),
    )
    .await
    .unwrap();

    let answer = app.get("/api/v2/data_orchestration/templates").await;
    assert_eq!(answer.status, 200);
    let list = answer.body["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let template = &list[0];
    assert_eq!(template["id"], FUNDING_TEMPLATE);
    assert_eq!(template["short_id"], "smb-funding");
    assert_eq!(template["status"], 2);
    assert_eq!(template["workflow"], serde_json::json!(["funding"]));
    assert!(template["trigger"].is_null());
    assert!(template["deleted_at"].is_null());
    assert!(template["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(template.get("steps").is_none());

    // Tenant B sees only its own templates, never tenant A's.
    let only_a = app
        .add_template(
            TENANT_A,
            "id: 22222222-2222-4222-8222-222222222222\nshort_id: only-a\nname: Only A\nversion: 1\nsteps: [{key: look, type: review}]\n",
        )
        .await;
    let other = app
        .request(
            Method::GET,
            "/api/v2/data_orchestration/templates",
            Some(&app.other_token),
            None,
        )
        .await;
    assert_eq!(other.status, 200);
    let ids: Vec<&str> = other.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![FUNDING_TEMPLATE], "{:?}", other.body);
    assert!(!other.body.to_string().contains(&only_a.id));

    let with_steps = app
        .get("/api/v2/data_orchestration/templates?include=steps")
        .await;
    let funding = with_steps.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|template| template["id"] == FUNDING_TEMPLATE)
        .expect("the funding template is listed");
    assert_eq!(funding["steps"].as_array().unwrap().len(), 7);
    app.shutdown().await;
}

#[tokio::test]
async fn list_requires_authentication() {
    let app = TestApp::start().await;
    let answer = app
        .request(
            Method::GET,
            "/api/v2/data_orchestration/templates",
            None,
            None,
        )
        .await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["message"], "Unauthenticated.");
    let bearer_only = app
        .request(
            Method::GET,
            "/api/v2/data_orchestration/templates",
            Some(""),
            None,
        )
        .await;
    assert_eq!(bearer_only.status, 401);
    app.shutdown().await;
}

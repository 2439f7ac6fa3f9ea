use dataorch::samples::Scenario;
use dataorch_tests::{TestApp, sample};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn create_masks_personal_fields() {
    let app = TestApp::start().await;
    let application = sample(Scenario::Clean, false);
    let ssn = application.owners[0].ssn.clone();
    let dob = application.owners[0].date_of_birth.clone();

    let created = app
        .post(
            "/api/v2/applications",
            serde_json::to_value(&application).unwrap(),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["data"]["id"].as_str().unwrap().to_string();
    let shown = app.get(&format!("/api/v2/applications/{id}")).await;

    assert_eq!(shown.status, 200);
    for body in [&created.body, &shown.body] {
        let text = body.to_string();
        assert!(!text.contains(&ssn), "SSN leaked: {text}");
        assert!(!text.contains(&dob), "date of birth leaked: {text}");
        assert_eq!(body["data"]["business"]["name"], application.business.name);
        assert!(
            body["data"]["owners"][0]["ssn"]
                .as_str()
                .unwrap()
                .ends_with(&ssn[5..])
        );
    }
    assert!(
        shown.body["data"]["created_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    app.shutdown().await;
}

#[tokio::test]
async fn create_rejects_bad_input() {
    let app = TestApp::start().await;

    let unauthenticated = app
        .request(Method::POST, "/api/v2/applications", None, Some(json!({})))
        .await;
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(unauthenticated.body["message"], "Unauthenticated.");

    let wrong_token = app
        .request(
            Method::POST,
            "/api/v2/applications",
            Some("do_nope"),
            Some(json!({})),
        )
        .await;
    assert_eq!(wrong_token.status, 401);

    let text = app
        .http
        .post(format!("{}/api/v2/applications", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status().as_u16(), 415);

    let malformed = app
        .http
        .post(format!("{}/api/v2/applications", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{\"business\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
    let body: serde_json::Value = malformed.json().await.unwrap();
    assert_eq!(body["meta"]["error_code"], "malformed_json");

    let mut invalid = serde_json::to_value(sample(Scenario::Clean, false)).unwrap();
    invalid["owners"][0]["ssn"] = json!("12-34");
    invalid["loan"]["requested_amount"] = json!(-5);
    let answer = app.post("/api/v2/applications", invalid).await;
    assert_eq!(answer.status, 422, "{:?}", answer.body);
    assert_eq!(answer.body["meta"]["error_code"], "validation_failed");
    assert!(
        answer.body["errors"]["owners.0.ssn"].is_array(),
        "{:?}",
        answer.body
    );
    assert!(
        answer.body["errors"]["loan.requested_amount"].is_array(),
        "{:?}",
        answer.body
    );

    let mut wrong_type = serde_json::to_value(sample(Scenario::Clean, false)).unwrap();
    wrong_type["owners"][0]["ssn"] = json!(666123456);
    let answer = app.post("/api/v2/applications", wrong_type).await;
    assert_eq!(answer.status, 422, "{:?}", answer.body);
    assert!(
        !answer.body.to_string().contains("666123456"),
        "the rejected value is echoed: {:?}",
        answer.body
    );
    assert_eq!(
        answer.body["errors"]["owners.0.ssn"][0],
        "The owners.0.ssn field must be a string."
    );

    let mut no_owners = serde_json::to_value(sample(Scenario::Clean, false)).unwrap();
    no_owners["owners"] = json!([]);
    let answer = app.post("/api/v2/applications", no_owners).await;
    assert_eq!(answer.status, 422, "{:?}", answer.body);
    assert!(answer.body["errors"]["owners"].is_array());

    let missing = app.post("/api/v2/applications", json!({})).await;
    assert_eq!(missing.status, 422);
    assert_eq!(
        missing.body["errors"]["business"][0],
        "The business field is required."
    );

    let mut unknown_field = serde_json::to_value(sample(Scenario::Clean, false)).unwrap();
    unknown_field["business"]["colour"] = json!("red");
    let answer = app.post("/api/v2/applications", unknown_field).await;
    assert_eq!(answer.status, 422, "{:?}", answer.body);
    assert!(
        answer.body["message"].as_str().unwrap().contains("colour"),
        "{:?}",
        answer.body
    );
    app.shutdown().await;
}

#[tokio::test]
async fn show_is_tenant_scoped() {
    let app = TestApp::start().await;
    let id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;

    let other = app
        .request(
            Method::GET,
            &format!("/api/v2/applications/{id}"),
            Some(&app.other_token),
            None,
        )
        .await;
    assert_eq!(other.status, 404);
    assert!(other.body.get("data").is_none());

    let unknown = app.get("/api/v2/applications/does-not-exist").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["meta"]["error_code"], "not_found");

    let unauthenticated = app
        .request(
            Method::GET,
            &format!("/api/v2/applications/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(unauthenticated.status, 401);
    app.shutdown().await;
}

#[tokio::test]
async fn problem_json_on_request() {
    let app = TestApp::start().await;
    let response = app
        .http
        .get(format!("{}/api/v2/applications/missing", app.base))
        .bearer_auth(&app.token)
        .header("accept", "application/problem+json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["error_code"], "not_found");
    app.shutdown().await;
}

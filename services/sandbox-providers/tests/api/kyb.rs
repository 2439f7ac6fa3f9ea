use serde_json::{Value, json};

use crate::harness::TestSandbox;

const BUSINESSES: &str = "/kyb/v1/businesses";

fn business(name: &str) -> Value {
    json!({
        "name": name,
        "addresses": [{
            "address_line1": "123 Main St",
            "address_line2": "Suite 4",
            "city": "San Francisco",
            "state": "CA",
            "postal_code": "94105"
        }],
        "tin": { "tin": "12-3456789" },
        "people": [{ "name": "Ada Lovelace", "title": "Owner" }],
        "external_id": "app-42"
    })
}

/// Creates the business and returns its finished form from `GET /v1/businesses/{id}`.
async fn create_and_get(sandbox: &TestSandbox, body: &Value) -> Value {
    let created = sandbox.post(BUSINESSES, body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().expect("id is a string");
    let fetched = sandbox.get(&format!("{BUSINESSES}/{id}")).await;
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    fetched.json
}

fn task<'a>(business: &'a Value, key: &str) -> &'a Value {
    business["review"]["tasks"]
        .as_array()
        .expect("review.tasks is an array")
        .iter()
        .find(|task| task["key"] == key)
        .unwrap_or_else(|| panic!("no task {key} in {business}"))
}

#[tokio::test]
async fn create_returns_open_business() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox.post(BUSINESSES, &business("Acme Bakery LLC")).await;

    assert_eq!(reply.status, 201, "{}", reply.text);
    let body = &reply.json;
    assert_eq!(body["object"], "business");
    assert_eq!(body["status"], "open");
    assert_eq!(body["review"], Value::Null);
    assert_eq!(body["name"], "Acme Bakery LLC");
    assert_eq!(body["external_id"], "app-42");
    assert_eq!(body["tin"]["tin"], "*****6789");
    assert_eq!(body["orders"], json!([]));
    assert_eq!(body["addresses"][0]["state"], "CA");
    let id = body["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "id {id} is not a UUID");
}

#[tokio::test]
async fn get_returns_approved_review() {
    let sandbox = TestSandbox::start().await;

    let body = create_and_get(&sandbox, &business("Acme Bakery LLC")).await;

    assert_eq!(body["status"], "approved");
    assert_eq!(body["tin"]["verified"], true);
    assert_eq!(body["tin"]["mismatch"], false);
    assert_eq!(body["tin"]["tin"], "*****6789");
    assert_eq!(body["formation"]["formation_state"], "CA");
    let date = body["formation"]["formation_date"].as_str().unwrap();
    assert!(
        chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
        "date {date}"
    );
    assert_eq!(body["registrations"].as_array().unwrap().len(), 1);
    assert_eq!(body["registrations"][0]["status"], "active");
    assert_eq!(body["registrations"][0]["state"], "CA");
    assert_eq!(body["watchlist"]["hit_count"], 0);
    assert_eq!(body["orders"], json!([]));

    let expected = [
        ("name", "Verified"),
        ("address_verification", "Verified"),
        ("tin", "Found"),
        ("sos_active", "Active"),
        ("watchlist", "No Hits"),
    ];
    assert_eq!(
        body["review"]["tasks"].as_array().unwrap().len(),
        expected.len()
    );
    for (key, sub_label) in expected {
        let task = task(&body, key);
        assert_eq!(task["status"], "success", "task {key}");
        assert_eq!(task["sub_label"], sub_label, "task {key}");
    }
}

#[tokio::test]
async fn scenarios_set_status_and_task() {
    struct Case {
        label: &'static str,
        body: Value,
        status: &'static str,
        task: &'static str,
        task_status: &'static str,
        sub_label: &'static str,
    }
    let with_person = {
        let mut body = business("Person Hit LLC");
        body["people"] = json!([{ "name": "J Doe" }]);
        body
    };
    let with_tin = {
        let mut body = business("Tin Mismatch LLC");
        body["tin"] = json!({ "tin": "123450000" });
        body
    };
    let cases = [
        Case {
            label: "unregistered",
            body: business("the unregistered business co"),
            status: "rejected",
            task: "sos_active",
            task_status: "failure",
            sub_label: "Not Found",
        },
        Case {
            label: "similar name",
            body: business("Similar Name Business Inc"),
            status: "in_review",
            task: "name",
            task_status: "warning",
            sub_label: "Similar Match",
        },
        Case {
            label: "watchlist",
            body: with_person,
            status: "in_review",
            task: "watchlist",
            task_status: "failure",
            sub_label: "Hits",
        },
        Case {
            label: "tin mismatch",
            body: with_tin,
            status: "rejected",
            task: "tin",
            task_status: "failure",
            sub_label: "Mismatch",
        },
    ];

    let sandbox = TestSandbox::start().await;
    for case in cases {
        let body = create_and_get(&sandbox, &case.body).await;
        assert_eq!(body["status"], case.status, "case {}", case.label);
        let task = task(&body, case.task);
        assert_eq!(task["status"], case.task_status, "case {}", case.label);
        assert_eq!(task["sub_label"], case.sub_label, "case {}", case.label);
    }
}

#[tokio::test]
async fn unregistered_has_no_registrations() {
    let sandbox = TestSandbox::start().await;

    let body = create_and_get(&sandbox, &business("Unregistered Business")).await;

    assert_eq!(body["registrations"], json!([]));
    assert_eq!(body["formation"], Value::Null);
}

#[tokio::test]
async fn watchlist_hit_lists_one_result() {
    let sandbox = TestSandbox::start().await;
    let mut request = business("Person Hit LLC");
    request["people"] = json!([{ "name": "J Doe" }]);

    let body = create_and_get(&sandbox, &request).await;

    assert_eq!(body["watchlist"]["hit_count"], 1);
    let results = &body["watchlist"]["lists"][0]["results"];
    assert_eq!(results.as_array().unwrap().len(), 1);
    assert_eq!(results[0]["entity_name"], "J Doe");
}

#[tokio::test]
async fn tin_mismatch_sets_tin_flags() {
    let sandbox = TestSandbox::start().await;
    let mut request = business("Tin Mismatch LLC");
    request["tin"] = json!({ "tin": "123450000" });

    let body = create_and_get(&sandbox, &request).await;

    assert_eq!(body["tin"]["mismatch"], true);
    assert_eq!(body["tin"]["verified"], false);
    assert_eq!(body["tin"]["tin"], "*****0000");
}

#[tokio::test]
async fn first_matching_scenario_wins() {
    let sandbox = TestSandbox::start().await;
    let mut request = business("Unregistered Business");
    request["tin"] = json!({ "tin": "123450000" });

    let body = create_and_get(&sandbox, &request).await;

    assert_eq!(task(&body, "sos_active")["sub_label"], "Not Found");
    assert_eq!(task(&body, "tin")["sub_label"], "Found");
}

#[tokio::test]
async fn business_without_tin_is_approved() {
    let sandbox = TestSandbox::start().await;
    let mut request = business("No Tin LLC");
    request.as_object_mut().unwrap().remove("tin");

    let body = create_and_get(&sandbox, &request).await;

    assert_eq!(body["status"], "approved");
    assert_eq!(body["tin"], Value::Null);
    let has_tin_task = body["review"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|task| task["key"] == "tin");
    assert!(!has_tin_task);
}

#[tokio::test]
async fn same_key_returns_first_business() {
    let sandbox = TestSandbox::start().await;
    let key = [("Idempotency-Key", "kyb-key-1")];

    let first = sandbox
        .post_with(BUSINESSES, &business("First Name LLC"), &key)
        .await;
    let second = sandbox
        .post_with(BUSINESSES, &business("Second Name LLC"), &key)
        .await;

    assert_eq!(first.status, 201);
    assert_eq!(second.status, 201);
    assert_eq!(first.json["id"], second.json["id"]);
    assert_eq!(second.json["name"], "First Name LLC");
    assert_eq!(first.text, second.text);
}

#[tokio::test]
async fn id_without_key_follows_body() {
    let sandbox = TestSandbox::start().await;

    let first = sandbox
        .post(BUSINESSES, &business("Body Derived LLC"))
        .await;
    let repeat = sandbox
        .post(BUSINESSES, &business("Body Derived LLC"))
        .await;
    let other = sandbox.post(BUSINESSES, &business("Other Body LLC")).await;

    assert_eq!(first.json["id"], repeat.json["id"]);
    assert_ne!(first.json["id"], other.json["id"]);
}

#[tokio::test]
async fn get_is_deterministic() {
    let sandbox = TestSandbox::start().await;
    let created = sandbox.post(BUSINESSES, &business("Stable LLC")).await;
    let path = format!("{BUSINESSES}/{}", created.json["id"].as_str().unwrap());

    let first = sandbox.get(&path).await;
    let second = sandbox.get(&path).await;

    assert_eq!(first.text, second.text);
}

#[tokio::test]
async fn formation_same_across_sandboxes() {
    let first = TestSandbox::start().await;
    let second = TestSandbox::start().await;

    let one = create_and_get(&first, &business("Stable LLC")).await;
    let two = create_and_get(&second, &business("Stable LLC")).await;

    assert_eq!(one["id"], two["id"]);
    assert_eq!(one["formation"], two["formation"]);
    assert_eq!(one["registrations"], two["registrations"]);
}

#[tokio::test]
async fn missing_name_is_422() {
    let sandbox = TestSandbox::start().await;
    let mut request = business("x");
    request.as_object_mut().unwrap().remove("name");

    let reply = sandbox.post(BUSINESSES, &request).await;

    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(reply.json["errors"][0]["parameter"], "name");
    assert!(reply.json["errors"][0]["message"].is_string());
}

#[tokio::test]
async fn invalid_address_is_422() {
    let sandbox = TestSandbox::start().await;
    let mut request = business("Acme");
    request["addresses"][0]["state"] = json!("California");

    let reply = sandbox.post(BUSINESSES, &request).await;

    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(reply.json["errors"][0]["parameter"], "addresses[0].state");
}

#[tokio::test]
async fn wrong_field_type_is_400() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox.post(BUSINESSES, &json!({ "name": 42 })).await;

    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.json["errors"][0]["parameter"], "name");
}

#[tokio::test]
async fn unknown_business_is_404() {
    let sandbox = TestSandbox::start().await;

    for id in ["2f1c1d8e-8a4b-4c55-9f0e-3a1f6f1b2c3d", "not-a-uuid"] {
        let reply = sandbox.get(&format!("{BUSINESSES}/{id}")).await;
        assert_eq!(reply.status, 404, "id {id}");
        assert!(reply.json["errors"][0]["message"].is_string(), "id {id}");
    }
}

use serde_json::{Value, json};

use crate::harness::TestSandbox;

const SEARCH: &str = "/business_credit/v1/search";
const BUSINESSES: &str = "/kyb/v1/businesses";

fn search_body() -> Value {
    json!({ "name": "Acme", "city": "Springfield", "state": "IL", "subcode": "0517614" })
}

fn business_body() -> Value {
    json!({
        "name": "Acme",
        "addresses": [{
            "address_line1": "1 Main St",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701"
        }]
    })
}

#[tokio::test]
async fn calls_counted_per_key_and_endpoint() {
    let sandbox = TestSandbox::start().await;
    let key_a = [("Idempotency-Key", "key-a")];

    let created = sandbox
        .post_with(BUSINESSES, &business_body(), &key_a)
        .await;
    sandbox
        .post_with(BUSINESSES, &business_body(), &key_a)
        .await;
    let id = created.json["id"].as_str().unwrap();
    sandbox
        .client()
        .get(sandbox.url(&format!("{BUSINESSES}/{id}")))
        .header("Idempotency-Key", "key-a")
        .send()
        .await
        .unwrap();
    sandbox
        .post_with(SEARCH, &search_body(), &[("Idempotency-Key", "key-b")])
        .await;

    let key = sandbox.get("/_sandbox/calls/key-a").await;
    assert_eq!(key.status, 200);
    assert_eq!(
        key.json,
        json!({
            "key": "key-a",
            "calls": {
                "POST /kyb/v1/businesses": 2,
                "GET /kyb/v1/businesses/{id}": 1
            },
            "successes": {
                "POST /kyb/v1/businesses": 2,
                "GET /kyb/v1/businesses/{id}": 1
            },
            "total": 3
        })
    );

    let all = sandbox.get("/_sandbox/calls").await;
    assert_eq!(
        all.json["calls"]["key-b"],
        json!({ "POST /business_credit/v1/search": 1 })
    );
    assert_eq!(all.json["calls"]["key-a"]["POST /kyb/v1/businesses"], 2);
}

#[tokio::test]
async fn calls_without_key_use_empty_key() {
    let sandbox = TestSandbox::start().await;

    sandbox.post(SEARCH, &search_body()).await;

    let all = sandbox.get("/_sandbox/calls").await;
    assert_eq!(all.json["calls"][""]["POST /business_credit/v1/search"], 1);
}

#[tokio::test]
async fn unknown_key_has_zero_calls() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox.get("/_sandbox/calls/never-used").await;

    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json,
        json!({ "key": "never-used", "calls": {}, "successes": {}, "total": 0 })
    );
}

#[tokio::test]
async fn injected_failures_are_counted() {
    let sandbox = TestSandbox::start().await;
    let cases = ["error:500", "malformed", "not-a-scenario"];

    for value in cases {
        sandbox
            .post_with(
                SEARCH,
                &search_body(),
                &[
                    ("Idempotency-Key", "failures"),
                    ("X-Sandbox-Scenario", value),
                ],
            )
            .await;
    }
    let bad_body = sandbox
        .client()
        .post(sandbox.url(SEARCH))
        .header("Idempotency-Key", "failures")
        .body("{")
        .send()
        .await
        .unwrap();

    assert_eq!(bad_body.status().as_u16(), 400);
    let reply = sandbox.get("/_sandbox/calls/failures").await;
    assert_eq!(reply.json["total"], cases.len() as u64 + 1);
    // Only `malformed` answers 200; the others are errors and are not successes.
    assert_eq!(
        reply.json["successes"],
        json!({ "POST /business_credit/v1/search": 1 })
    );
}

#[tokio::test]
async fn admin_and_health_not_counted() {
    let sandbox = TestSandbox::start().await;

    sandbox.get("/healthz").await;
    sandbox.get("/_sandbox/calls").await;
    sandbox.get("/_sandbox/calls/anything").await;
    sandbox.get("/kyb/unknown/path").await;

    let all = sandbox.get("/_sandbox/calls").await;
    assert_eq!(all.json, json!({ "calls": {}, "successes": {} }));
}

#[tokio::test]
async fn delete_resets_counters() {
    let sandbox = TestSandbox::start().await;
    sandbox
        .post_with(SEARCH, &search_body(), &[("Idempotency-Key", "reset-me")])
        .await;

    let deleted = sandbox.delete("/_sandbox/calls").await;
    let all = sandbox.get("/_sandbox/calls").await;

    assert_eq!(deleted.status, 204);
    assert_eq!(all.json, json!({ "calls": {}, "successes": {} }));
}

#[tokio::test]
async fn health_is_ok() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox.get("/healthz").await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.json, json!({ "status": "ok" }));
}

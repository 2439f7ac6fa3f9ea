use serde_json::{Value, json};

use crate::harness::TestSandbox;

const SEARCH: &str = "/business_credit/v1/search";
const SCORES: &str = "/business_credit/v1/scores";
const PREMIER_PROFILE: &str = "/business_credit/v1/reports/premierprofiles";

fn search_body(tax_id: &str) -> Value {
    json!({
        "name": "Acme Bakery LLC",
        "street": "123 Main St",
        "city": "Springfield",
        "state": "IL",
        "zip": "62701",
        "taxId": tax_id,
        "subcode": "0517614"
    })
}

async fn search_bin(sandbox: &TestSandbox, tax_id: &str) -> String {
    let reply = sandbox.post(SEARCH, &search_body(tax_id)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["results"][0]["bin"]
        .as_str()
        .expect("results[0].bin is a string")
        .to_owned()
}

async fn scores(sandbox: &TestSandbox, bin: &str) -> Value {
    let reply = sandbox
        .post(SCORES, &json!({ "bin": bin, "subcode": "0517614" }))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json
}

async fn premier_profile(sandbox: &TestSandbox, bin: &str) -> Value {
    let reply = sandbox
        .post(
            PREMIER_PROFILE,
            &json!({ "bin": bin, "subcode": "0517614" }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json
}

#[tokio::test]
async fn search_returns_bin_with_tax_id_suffix() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox.post(SEARCH, &search_body("12-3456789")).await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["success"], true);
    assert!(reply.json["requestId"].is_string());
    let result = &reply.json["results"][0];
    let bin = result["bin"].as_str().unwrap();
    assert_eq!(bin.len(), 9);
    assert!(bin.bytes().all(|byte| byte.is_ascii_digit()), "bin {bin}");
    assert!(bin.starts_with('7'), "bin {bin}");
    assert!(bin.ends_with("789"), "bin {bin}");
    assert_eq!(result["businessName"], "ACME BAKERY LLC");
    assert_eq!(result["address"]["city"], "SPRINGFIELD");
    assert_eq!(result["address"]["zip"], "62701");
    assert!(result["reliabilityCode"].is_number());
    assert!(result["numberOfTradelines"].is_u64());
    assert!(result["uccIndicator"].is_boolean());
}

#[tokio::test]
async fn search_tax_id_001_finds_nothing() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox.post(SEARCH, &search_body("123456001")).await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["success"], true);
    assert_eq!(reply.json["results"], json!([]));
}

#[tokio::test]
async fn search_is_deterministic() {
    let sandbox = TestSandbox::start().await;

    let first = sandbox.post(SEARCH, &search_body("123456789")).await;
    let second = sandbox.post(SEARCH, &search_body("123456789")).await;

    assert_eq!(first.text, second.text);
}

#[tokio::test]
async fn search_missing_name_is_400() {
    let sandbox = TestSandbox::start().await;
    let mut body = search_body("123456789");
    body.as_object_mut().unwrap().remove("name");

    let reply = sandbox.post(SEARCH, &body).await;

    assert_eq!(reply.status, 400, "{}", reply.text);
    let error = &reply.json["errors"][0];
    assert_eq!(error["errorCode"], "MISSING_FIELD");
    assert_eq!(error["errorType"], "Client Error");
    assert!(error["message"].as_str().unwrap().contains("name"));
}

#[tokio::test]
async fn search_invalid_tax_id_is_400() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox.post(SEARCH, &search_body("1234")).await;

    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.json["errors"][0]["errorCode"], "INVALID_FIELD");
}

#[tokio::test]
async fn scores_standard_in_range() {
    let sandbox = TestSandbox::start().await;
    let bin = search_bin(&sandbox, "123456789").await;

    let body = scores(&sandbox, &bin).await;

    assert_eq!(body["success"], true);
    let commercial = &body["results"]["commercialScore"];
    let score = commercial["score"].as_u64().expect("score is an integer");
    assert!((25..=95).contains(&score), "score {score}");
    assert_eq!(commercial["modelCode"], "000224");
    assert!(commercial["percentileRanking"].is_u64());
    assert!(commercial["riskClass"]["code"].is_u64());
    assert!(commercial["riskClass"]["definition"].is_string());
    let fsr = body["results"]["fsrScore"]["score"].as_u64().unwrap();
    assert!((25..=95).contains(&fsr), "fsr {fsr}");
    let factors = body["results"]["commercialScoreFactors"]
        .as_array()
        .unwrap();
    assert!(!factors.is_empty());
    assert!(factors[0]["code"].is_string());
    assert!(factors[0]["definition"].is_string());
}

#[tokio::test]
async fn scores_follow_bin_suffix() {
    let cases = [("999", 999), ("998", 998), ("996", 12)];
    let sandbox = TestSandbox::start().await;

    for (suffix, expected) in cases {
        let bin = search_bin(&sandbox, &format!("123456{suffix}")).await;
        assert!(bin.ends_with(suffix), "bin {bin}");
        let body = scores(&sandbox, &bin).await;
        let score = &body["results"]["commercialScore"]["score"];
        assert_eq!(score, &json!(expected), "suffix {suffix}");
    }
}

#[tokio::test]
async fn scores_use_requested_model() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox
        .post(
            SCORES,
            &json!({ "bin": "712345678", "subcode": "0517614", "modelCode": "000235" }),
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json["results"]["commercialScore"]["modelCode"],
        "000235"
    );
}

#[tokio::test]
async fn scores_reject_bad_bin() {
    let sandbox = TestSandbox::start().await;
    let cases = [
        (json!({ "subcode": "0517614" }), "MISSING_FIELD"),
        (
            json!({ "bin": "12345", "subcode": "0517614" }),
            "INVALID_FIELD",
        ),
        (
            json!({ "bin": "71234567x", "subcode": "0517614" }),
            "INVALID_FIELD",
        ),
    ];

    for (body, code) in cases {
        let reply = sandbox.post(SCORES, &body).await;
        assert_eq!(reply.status, 400, "body {body}");
        assert_eq!(reply.json["errors"][0]["errorCode"], code, "body {body}");
    }
}

#[tokio::test]
async fn premier_profile_standard_shape() {
    let sandbox = TestSandbox::start().await;
    let bin = search_bin(&sandbox, "123456789").await;

    let body = premier_profile(&sandbox, &bin).await;

    let results = &body["results"];
    let summary = &results["expandedCreditSummary"];
    assert_eq!(summary["bankruptcyIndicator"], false);
    assert_eq!(summary["bankruptcyCount"], 0);
    assert!(summary["currentDbt"].is_u64());
    assert!(summary["allTradelineCount"].is_u64());
    assert!(summary["uccFilings"].is_u64());
    assert!(results["tradePaymentTotals"]["tradelines"]["dbt91Plus"].is_u64());
    assert_eq!(
        results["commercialFraudShieldSummary"]["ofacMatchWarning"],
        0
    );
    assert_eq!(
        results["commercialFraudShieldSummary"]["activeBusinessIndicator"],
        true
    );
    assert!(results["businessFacts"]["yearsInBusiness"].is_u64());
    assert!(results["businessFacts"]["naicsCodes"][0]["code"].is_string());
    assert!(results["businessFacts"]["salesRevenue"].is_u64());
}

#[tokio::test]
async fn premier_profile_tradelines_match_search() {
    let sandbox = TestSandbox::start().await;
    let search = sandbox.post(SEARCH, &search_body("123456789")).await;
    let result = &search.json["results"][0];

    let body = premier_profile(&sandbox, result["bin"].as_str().unwrap()).await;

    let summary = &body["results"]["expandedCreditSummary"];
    assert_eq!(summary["allTradelineCount"], result["numberOfTradelines"]);
    let has_ucc = summary["uccFilings"].as_u64().unwrap() > 0;
    assert_eq!(json!(has_ucc), result["uccIndicator"]);
}

#[tokio::test]
async fn premier_profile_bankruptcy_suffix() {
    let sandbox = TestSandbox::start().await;

    let body = premier_profile(&sandbox, "712345998").await;

    let summary = &body["results"]["expandedCreditSummary"];
    assert_eq!(summary["bankruptcyIndicator"], true);
    assert_eq!(summary["bankruptcyCount"], 1);
}

#[tokio::test]
async fn premier_profile_ofac_suffix() {
    let sandbox = TestSandbox::start().await;

    let body = premier_profile(&sandbox, "712345997").await;

    let fraud = &body["results"]["commercialFraudShieldSummary"];
    assert_eq!(fraud["ofacMatchWarning"], 1);
}

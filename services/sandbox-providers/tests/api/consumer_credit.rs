use serde_json::{Value, json};

use crate::harness::TestSandbox;

const CREDIT_REPORT: &str = "/consumer_credit/v2/credit-report";

fn report_request(ssn: &str) -> Value {
    json!({
        "consumerPii": {
            "primaryApplicant": {
                "name": { "firstName": "Jon", "lastName": "Consumer" },
                "dob": { "dob": "01011980" },
                "ssn": { "ssn": ssn },
                "currentAddress": {
                    "line1": "10655 Birch St",
                    "city": "Burbank",
                    "state": "CA",
                    "zipCode": "91502"
                }
            }
        },
        "permissiblePurpose": { "type": "3F" },
        "addOns": { "riskModels": { "modelIndicator": ["V4"] }, "fraudShield": "Y" }
    })
}

async fn profile(sandbox: &TestSandbox, ssn: &str) -> Value {
    let reply = sandbox.post(CREDIT_REPORT, &report_request(ssn)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["creditProfile"][0].clone()
}

#[tokio::test]
async fn test_consumer_scores_0720() {
    let sandbox = TestSandbox::start().await;

    let profile = profile(&sandbox, "111111111").await;

    let model = &profile["riskModel"][0];
    assert_eq!(model["modelIndicator"], "V4");
    assert_eq!(model["score"], "0720");
    assert_eq!(model["scoreFactors"][0]["importance"], "1");
    assert!(model["scoreFactors"][0]["code"].is_string());
    assert_eq!(profile["publicRecord"], json!([]));
    assert_eq!(profile["informationalMessage"], json!([]));
    assert_eq!(
        profile["ofac"],
        json!({ "messageNumber": "", "messageText": "" })
    );
    assert_eq!(
        profile["fraudShield"][0]["fraudShieldIndicators"]["indicator"],
        json!([])
    );
}

#[tokio::test]
async fn tradelines_use_padded_strings() {
    let sandbox = TestSandbox::start().await;

    let profile = profile(&sandbox, "111111111").await;

    let tradelines = profile["tradeline"].as_array().unwrap();
    assert!(!tradelines.is_empty());
    for tradeline in tradelines {
        let balance = tradeline["balanceAmount"].as_str().unwrap();
        assert_eq!(balance.len(), 8, "balance {balance}");
        let opened = tradeline["openDate"].as_str().unwrap();
        assert!(
            chrono::NaiveDate::parse_from_str(opened, "%m%d%Y").is_ok(),
            "openDate {opened}"
        );
        assert_eq!(tradeline["delinquencies30Days"], "00");
        assert!(tradeline["monthlyPaymentAmount"].is_string());
        assert!(tradeline["accountType"].is_string());
        assert!(tradeline["status"].is_string());
    }
}

#[tokio::test]
async fn scenarios_by_ssn_suffix() {
    let sandbox = TestSandbox::start().await;

    let no_hit = profile(&sandbox, "123450001").await;
    assert_eq!(no_hit["riskModel"], json!([]));
    assert_eq!(no_hit["tradeline"], json!([]));
    assert_eq!(
        no_hit["informationalMessage"],
        json!([{ "messageNumber": "07", "messageText": "0007 NO RECORD FOUND" }])
    );

    let frozen = profile(&sandbox, "123450002").await;
    assert_eq!(frozen["riskModel"], json!([]));
    assert_eq!(
        frozen["informationalMessage"][0]["messageText"],
        "FILE FROZEN"
    );

    let deceased = profile(&sandbox, "123450003").await;
    assert_eq!(
        deceased["fraudShield"][0]["fraudShieldIndicators"]["indicator"],
        json!(["10"])
    );
    assert!(deceased["riskModel"][0]["score"].is_string());

    let thin = profile(&sandbox, "123450004").await;
    assert_eq!(thin["riskModel"][0]["score"], "0000");
    assert_eq!(thin["tradeline"], json!([]));

    let low = profile(&sandbox, "123450005").await;
    assert_eq!(low["riskModel"][0]["score"], "0540");
}

#[tokio::test]
async fn standard_score_is_padded_and_in_range() {
    let sandbox = TestSandbox::start().await;

    for ssn in ["123456789", "666-12-3456", "987654321"] {
        let profile = profile(&sandbox, ssn).await;
        let score = profile["riskModel"][0]["score"].as_str().unwrap();
        assert_eq!(score.len(), 4, "ssn {ssn} score {score}");
        let value: u32 = score.parse().unwrap();
        assert!((600..=820).contains(&value), "ssn {ssn} score {score}");
    }
}

#[tokio::test]
async fn report_is_deterministic() {
    let sandbox = TestSandbox::start().await;

    let first = sandbox
        .post(CREDIT_REPORT, &report_request("123456789"))
        .await;
    let second = sandbox
        .post(CREDIT_REPORT, &report_request("123456789"))
        .await;

    assert_eq!(first.text, second.text);
}

#[tokio::test]
async fn one_risk_model_per_indicator() {
    let sandbox = TestSandbox::start().await;
    let mut request = report_request("123456789");
    request["addOns"]["riskModels"]["modelIndicator"] = json!(["V4", "F9"]);

    let reply = sandbox.post(CREDIT_REPORT, &request).await;

    let models = reply.json["creditProfile"][0]["riskModel"]
        .as_array()
        .unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[1]["modelIndicator"], "F9");
}

#[tokio::test]
async fn missing_ssn_or_name_is_400() {
    let sandbox = TestSandbox::start().await;
    let cases = [
        "/consumerPii/primaryApplicant/ssn",
        "/consumerPii/primaryApplicant/name",
    ];

    for pointer in cases {
        let mut request = report_request("123456789");
        *request.pointer_mut(pointer).unwrap() = Value::Null;
        let reply = sandbox.post(CREDIT_REPORT, &request).await;
        assert_eq!(reply.status, 400, "without {pointer}: {}", reply.text);
        let error = &reply.json["errors"][0];
        assert_eq!(error["errorCode"], "MISSING_FIELD", "without {pointer}");
        assert!(error["errorType"].is_string(), "without {pointer}");
        assert!(error["message"].is_string(), "without {pointer}");
    }
}

#[tokio::test]
async fn errors_do_not_echo_ssn() {
    let sandbox = TestSandbox::start().await;
    let cases = [
        ("numeric ssn", json!(987654321)),
        ("short ssn", json!("98765")),
    ];

    for (label, ssn) in cases {
        let mut request = report_request("0");
        request["consumerPii"]["primaryApplicant"]["ssn"]["ssn"] = ssn;
        let reply = sandbox.post(CREDIT_REPORT, &request).await;
        assert_eq!(reply.status, 400, "{label}: {}", reply.text);
        assert!(!reply.text.contains("98765"), "{label}: {}", reply.text);
    }
}

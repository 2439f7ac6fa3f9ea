//! Owner credit (Experian Credit Profile-shaped): one report per owner.
//!
//! The requests carry full SSNs and dates of birth. The output keeps only scores, counts and
//! indicators, identified by owner position and initials, never the personal fields.

use dataorch_contracts::application::ApplicationData;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Call, ProviderError};

pub(super) async fn reports(
    call: &Call<'_>,
    application: &ApplicationData,
) -> Result<Value, ProviderError> {
    let mut owners = Vec::new();
    for (index, owner) in application.owners.iter().enumerate() {
        let address = owner
            .address
            .as_ref()
            .unwrap_or(&application.business.address);
        let request = json!({
            "consumerPii": { "primaryApplicant": {
                "name": { "firstName": owner.first_name, "lastName": owner.last_name },
                "dob": { "dob": owner.date_of_birth.replace('-', "") },
                "ssn": { "ssn": owner.ssn },
                "currentAddress": {
                    "line1": address.line1, "city": address.city,
                    "state": address.state, "zipCode": address.postal_code,
                },
            }},
            "permissiblePurpose": { "type": "3F" },
            "addOns": { "riskModels": { "modelIndicator": ["V4"] }, "fraudShield": "Y" },
        });
        let answer = call
            .for_item(&format!("owner{index}"))
            .send(Method::POST, "/v2/credit-report", Some(&request))
            .await?;
        let profile = answer
            .pointer("/creditProfile/0")
            .cloned()
            .unwrap_or(Value::Null);
        owners.push(summarize(
            index,
            owner.first_name.chars().next(),
            owner.last_name.chars().next(),
            &profile,
        ));
    }

    let min_score = owners
        .iter()
        .filter_map(|owner| owner.get("score").and_then(Value::as_i64))
        .min();
    let any_no_hit = owners
        .iter()
        .any(|owner| owner["no_hit"] == Value::Bool(true));
    let any_frozen = owners
        .iter()
        .any(|owner| owner["frozen"] == Value::Bool(true));
    let any_fraud = owners.iter().any(|owner| {
        owner["fraud_indicators"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    Ok(json!({
        "owners": owners,
        "min_score": min_score,
        "any_no_hit": any_no_hit,
        "any_frozen": any_frozen,
        "any_fraud_indicator": any_fraud,
    }))
}

fn summarize(index: usize, first: Option<char>, last: Option<char>, profile: &Value) -> Value {
    let messages: Vec<String> = profile
        .get("informationalMessage")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|m| m.get("messageText").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let score_text = profile
        .pointer("/riskModel/0/score")
        .and_then(Value::as_str);
    // Experian sends scores as zero-padded strings; "0000" means no score could be given.
    let score = score_text
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|score| *score > 0);
    let tradelines = profile
        .get("tradeline")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let count_field = |field: &str| -> i64 {
        tradelines
            .iter()
            .filter_map(|t| t.get(field).and_then(Value::as_str))
            .filter_map(|v| v.parse::<i64>().ok())
            .sum()
    };
    let fraud_indicators = profile
        .pointer("/fraudShield/0/fraudShieldIndicators/indicator")
        .cloned()
        .unwrap_or_else(|| json!([]));
    let joined = messages.join(" ").to_ascii_uppercase();
    json!({
        "owner_index": index,
        "initials": format!("{}{}", first.unwrap_or('?'), last.unwrap_or('?')),
        "score": score,
        "score_factors": profile.pointer("/riskModel/0/scoreFactors").cloned().unwrap_or_else(|| json!([])),
        "no_hit": joined.contains("NO RECORD FOUND"),
        "frozen": joined.contains("FROZEN"),
        "thin_file": score.is_none() && !joined.contains("NO RECORD FOUND") && !joined.contains("FROZEN"),
        "tradeline_count": tradelines.len(),
        "delinquencies_30_days": count_field("delinquencies30Days"),
        "delinquencies_60_days": count_field("delinquencies60Days"),
        "delinquencies_90_to_180_days": count_field("delinquencies90to180Days"),
        "public_record_count": profile.get("publicRecord").and_then(Value::as_array).map_or(0, Vec::len),
        "fraud_indicators": fraud_indicators,
        "informational_messages": messages,
    })
}

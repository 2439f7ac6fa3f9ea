//! Business credit (Experian business-shaped): search, then scores and the premier profile.

use dataorch_contracts::application::ApplicationData;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Call, ProviderError, required_str};

/// Subscriber code sent with every request, as Experian requires one.
const SUBCODE: &str = "0563736";

pub(super) async fn report(
    call: &Call<'_>,
    application: &ApplicationData,
) -> Result<Value, ProviderError> {
    let business = &application.business;
    let search = json!({
        "name": business.name,
        "street": business.address.line1,
        "city": business.address.city,
        "state": business.address.state,
        "zip": business.address.postal_code,
        "taxId": business.tin,
        "subcode": SUBCODE,
    });
    let found = call.send(Method::POST, "/v1/search", Some(&search)).await?;
    let Some(best) = found.pointer("/results/0").cloned() else {
        return Ok(
            json!({ "hit": false, "search": Value::Null, "scores": Value::Null, "premier_profile": Value::Null }),
        );
    };
    let bin = required_str(&best, "/bin", "POST /v1/search")?.to_string();

    let scores = call
        .send(
            Method::POST,
            "/v1/scores",
            Some(&json!({ "bin": bin, "subcode": SUBCODE, "modelCode": "000224" })),
        )
        .await?;
    let profile = call
        .send(
            Method::POST,
            "/v1/reports/premierprofiles",
            Some(&json!({ "bin": bin, "subcode": SUBCODE })),
        )
        .await?;

    Ok(json!({
        "hit": true,
        "search": best,
        "scores": scores.get("results").cloned().unwrap_or(Value::Null),
        "premier_profile": profile.get("results").cloned().unwrap_or(Value::Null),
    }))
}

//! Business verification (Middesk-shaped): create a business, then read its results.

use std::time::Duration;

use dataorch_contracts::application::ApplicationData;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Call, ProviderError, required_str};

/// Statuses after which the business's results no longer change.
const FINAL_STATUSES: &[&str] = &["approved", "rejected", "in_review"];

pub(super) async fn verify(
    call: &Call<'_>,
    log_id: i64,
    application: &ApplicationData,
) -> Result<Value, ProviderError> {
    let business = &application.business;
    let address = &business.address;
    let people: Vec<Value> = application
        .owners
        .iter()
        .map(|owner| json!({ "name": format!("{} {}", owner.first_name, owner.last_name), "title": owner.title }))
        .collect();
    let request = json!({
        "name": business.name,
        "addresses": [{
            "address_line1": address.line1,
            "address_line2": address.line2,
            "city": address.city,
            "state": address.state,
            "postal_code": address.postal_code,
        }],
        "tin": { "tin": business.tin },
        "people": people,
        "external_id": format!("dataorch-log-{log_id}"),
    });
    let created = call
        .send(Method::POST, "/v1/businesses", Some(&request))
        .await?;
    let id = required_str(&created, "/id", "POST /v1/businesses")?.to_string();

    // Results arrive after creation; poll until they are final. The step's timeout bounds
    // the wait.
    let path = format!("/v1/businesses/{id}");
    loop {
        let current = call.send(Method::GET, &path, None::<&Value>).await?;
        let status = current.get("status").and_then(Value::as_str).unwrap_or("");
        if FINAL_STATUSES.contains(&status) {
            return Ok(current);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

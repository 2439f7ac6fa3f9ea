//! Bank data (Plaid-shaped): exchange the link token, read balances and transactions, and
//! derive cash-flow analytics. The access token never leaves this function.

use dataorch_contracts::application::ApplicationData;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Call, ProviderError, required_str};
use crate::analytics::cash_flow;

/// Most `transactions/sync` pages read per step.
const MAX_PAGES: usize = 50;

pub(super) async fn analyse(
    call: &Call<'_>,
    application: &ApplicationData,
) -> Result<Value, ProviderError> {
    let Some(bank) = &application.bank else {
        return Err(ProviderError::permanent(
            "the application has no bank link; set bank.public_token",
        ));
    };
    let exchanged = call
        .send(
            Method::POST,
            "/item/public_token/exchange",
            Some(&json!({ "public_token": bank.public_token })),
        )
        .await?;
    let access_token = required_str(
        &exchanged,
        "/access_token",
        "POST /item/public_token/exchange",
    )?
    .to_string();

    let balances = call
        .send(
            Method::POST,
            "/accounts/balance/get",
            Some(&json!({ "access_token": access_token })),
        )
        .await?;
    let accounts = balances
        .get("accounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();

    let mut transactions = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = call
            .send(
                Method::POST,
                "/transactions/sync",
                Some(&json!({ "access_token": access_token, "cursor": cursor, "count": 500 })),
            )
            .await?;
        if let Some(added) = page.get("added").and_then(Value::as_array) {
            transactions.extend(added.iter().cloned());
        }
        cursor = page
            .get("next_cursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        if page.get("has_more").and_then(Value::as_bool) != Some(true) {
            break;
        }
    }

    let current_balance: f64 = accounts
        .iter()
        .filter_map(|account| account.pointer("/balances/current").and_then(Value::as_f64))
        .sum();
    let analytics = cash_flow(current_balance, &transactions);
    let accounts: Vec<Value> = accounts
        .iter()
        .map(|account| {
            json!({
                "account_id": account.get("account_id"),
                "name": account.get("name"),
                "mask": account.get("mask"),
                "type": account.get("type"),
                "subtype": account.get("subtype"),
                "balances": account.get("balances"),
            })
        })
        .collect();
    Ok(
        json!({ "accounts": accounts, "transaction_count": transactions.len(), "analytics": analytics }),
    )
}

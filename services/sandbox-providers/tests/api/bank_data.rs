use serde_json::{Value, json};

use crate::harness::TestSandbox;

const LINK_TOKEN: &str = "/bank_data/link/token/create";
const PUBLIC_TOKEN: &str = "/bank_data/sandbox/public_token/create";
const EXCHANGE: &str = "/bank_data/item/public_token/exchange";
const BALANCE: &str = "/bank_data/accounts/balance/get";
const SYNC: &str = "/bank_data/transactions/sync";

fn public_token_request(username: Option<&str>, password: Option<&str>) -> Value {
    let mut body = json!({
        "client_id": "sandbox-client",
        "secret": "sandbox-secret",
        "institution_id": "ins_109508",
        "initial_products": ["transactions"]
    });
    if username.is_some() || password.is_some() {
        body["options"] = json!({
            "override_username": username,
            "override_password": password,
        });
    }
    body
}

/// Runs public token creation and exchange, returning the exchange reply.
async fn exchange(sandbox: &TestSandbox, username: Option<&str>, password: Option<&str>) -> Value {
    let created = sandbox
        .post(PUBLIC_TOKEN, &public_token_request(username, password))
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let exchanged = sandbox
        .post(
            EXCHANGE,
            &json!({ "public_token": created.json["public_token"] }),
        )
        .await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.text);
    exchanged.json
}

async fn access_token(sandbox: &TestSandbox, username: &str) -> String {
    exchange(sandbox, Some(username), Some("pass_good")).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Follows `next_cursor` until `has_more` is false and returns every added transaction.
async fn all_transactions(sandbox: &TestSandbox, access_token: &str, count: u64) -> Vec<Value> {
    let mut transactions = Vec::new();
    let mut cursor = Value::Null;
    for _ in 0..100 {
        let reply = sandbox
            .post(
                SYNC,
                &json!({ "access_token": access_token, "cursor": cursor, "count": count }),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let page = reply.json["added"].as_array().unwrap();
        assert!(page.len() as u64 <= count);
        transactions.extend(page.iter().cloned());
        if reply.json["has_more"] == false {
            return transactions;
        }
        cursor = reply.json["next_cursor"].clone();
    }
    panic!("sync did not finish within 100 pages");
}

async fn current_balance(sandbox: &TestSandbox, access_token: &str) -> f64 {
    let reply = sandbox
        .post(BALANCE, &json!({ "access_token": access_token }))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["accounts"][0]["balances"]["current"]
        .as_f64()
        .unwrap()
}

fn count_detailed(transactions: &[Value], detailed: &str) -> usize {
    transactions
        .iter()
        .filter(|transaction| transaction["personal_finance_category"]["detailed"] == detailed)
        .count()
}

#[tokio::test]
async fn link_token_shape() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox
        .post(
            LINK_TOKEN,
            &json!({ "client_name": "dataorch", "user": { "client_user_id": "u1" } }),
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    let token = reply.json["link_token"].as_str().unwrap();
    assert!(token.starts_with("link-sandbox-"), "token {token}");
    let expiration = reply.json["expiration"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(expiration).is_ok(),
        "expiration {expiration}"
    );
    assert_eq!(reply.json["request_id"].as_str().unwrap().len(), 15);
}

#[tokio::test]
async fn public_token_carries_persona() {
    let sandbox = TestSandbox::start().await;
    let cases = [
        (None, None, "public-sandbox-user_good-"),
        (
            Some("user_credit_profile_poor"),
            Some("pass_good"),
            "public-sandbox-user_credit_profile_poor-",
        ),
        (
            Some("user_good"),
            Some("error_ITEM_LOCKED"),
            "public-sandbox-error_ITEM_LOCKED-",
        ),
    ];

    for (username, password, prefix) in cases {
        let reply = sandbox
            .post(PUBLIC_TOKEN, &public_token_request(username, password))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let token = reply.json["public_token"].as_str().unwrap();
        assert!(
            token.starts_with(prefix),
            "token {token}, expected prefix {prefix}"
        );
        assert!(reply.json["request_id"].is_string());
    }
}

#[tokio::test]
async fn public_token_rejects_unknown_username() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox
        .post(
            PUBLIC_TOKEN,
            &public_token_request(Some("user_nobody"), None),
        )
        .await;

    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.json["error_code"], "INVALID_FIELD");
    assert!(
        reply.json["error_message"]
            .as_str()
            .unwrap()
            .contains("user_good")
    );
}

#[tokio::test]
async fn public_token_requires_institution() {
    let sandbox = TestSandbox::start().await;
    let mut body = public_token_request(None, None);
    body.as_object_mut().unwrap().remove("institution_id");

    let reply = sandbox.post(PUBLIC_TOKEN, &body).await;

    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.json["error_type"], "INVALID_REQUEST");
    assert_eq!(reply.json["error_code"], "MISSING_FIELDS");
}

#[tokio::test]
async fn exchange_returns_access_token() {
    let sandbox = TestSandbox::start().await;

    let body = exchange(&sandbox, None, None).await;

    let token = body["access_token"].as_str().unwrap();
    assert!(
        token.starts_with("access-sandbox-user_good-"),
        "token {token}"
    );
    assert_eq!(body["item_id"].as_str().unwrap().len(), 37);
    assert!(body["request_id"].is_string());
}

#[tokio::test]
async fn exchange_accepts_foreign_token_form() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox
        .post(
            EXCHANGE,
            &json!({ "public_token": "public-sandbox-user_good-abcd" }),
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn exchange_rejects_invalid_token() {
    let sandbox = TestSandbox::start().await;

    for token in [
        "link-sandbox-123",
        "public-production-user_good-1",
        "public-sandbox-nobody-1",
    ] {
        let reply = sandbox
            .post(EXCHANGE, &json!({ "public_token": token }))
            .await;
        assert_eq!(reply.status, 400, "token {token}");
        assert_eq!(
            reply.json["error_code"], "INVALID_PUBLIC_TOKEN",
            "token {token}"
        );
        assert_eq!(reply.json["error_type"], "INVALID_INPUT", "token {token}");
    }
}

#[tokio::test]
async fn error_personas_fail_exchange() {
    let sandbox = TestSandbox::start().await;
    let cases = [
        ("error_ITEM_LOCKED", 400, "ITEM_ERROR", "ITEM_LOCKED"),
        (
            "error_INSTITUTION_DOWN",
            400,
            "INSTITUTION_ERROR",
            "INSTITUTION_DOWN",
        ),
        (
            "error_INVALID_CREDENTIALS",
            400,
            "ITEM_ERROR",
            "INVALID_CREDENTIALS",
        ),
        (
            "error_RATE_LIMIT_EXCEEDED",
            429,
            "RATE_LIMIT_EXCEEDED",
            "RATE_LIMIT_EXCEEDED",
        ),
    ];

    for (password, status, error_type, error_code) in cases {
        let created = sandbox
            .post(
                PUBLIC_TOKEN,
                &public_token_request(Some("user_good"), Some(password)),
            )
            .await;
        let reply = sandbox
            .post(
                EXCHANGE,
                &json!({ "public_token": created.json["public_token"] }),
            )
            .await;
        assert_eq!(reply.status, status, "{password}: {}", reply.text);
        assert_eq!(reply.json["error_type"], error_type, "{password}");
        assert_eq!(reply.json["error_code"], error_code, "{password}");
        assert!(reply.json["error_message"].is_string(), "{password}");
        assert!(reply.json.get("display_message").is_some(), "{password}");
        assert!(reply.json["request_id"].is_string(), "{password}");
    }
}

#[tokio::test]
async fn balance_shape() {
    let sandbox = TestSandbox::start().await;
    let exchanged = exchange(&sandbox, None, None).await;

    let reply = sandbox
        .post(
            BALANCE,
            &json!({ "access_token": exchanged["access_token"] }),
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    let account = &reply.json["accounts"][0];
    assert!(account["account_id"].is_string());
    assert!(account["name"].is_string());
    let mask = account["mask"].as_str().unwrap();
    assert_eq!(mask.len(), 4);
    assert!(
        mask.bytes().all(|byte| byte.is_ascii_digit()),
        "mask {mask}"
    );
    assert_eq!(account["type"], "depository");
    assert_eq!(account["subtype"], "checking");
    assert!(account["balances"]["available"].is_number());
    assert!(account["balances"]["current"].is_number());
    assert_eq!(account["balances"]["limit"], Value::Null);
    assert_eq!(account["balances"]["iso_currency_code"], "USD");
    assert_eq!(reply.json["item"]["item_id"], exchanged["item_id"]);
}

#[tokio::test]
async fn balance_rejects_invalid_token() {
    let sandbox = TestSandbox::start().await;

    let reply = sandbox
        .post(
            BALANCE,
            &json!({ "access_token": "public-sandbox-user_good-1" }),
        )
        .await;

    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.json["error_code"], "INVALID_ACCESS_TOKEN");
}

#[tokio::test]
async fn sync_pages_cover_ninety_days() {
    let sandbox = TestSandbox::start().await;
    let token = access_token(&sandbox, "user_good").await;

    let first_page = sandbox.post(SYNC, &json!({ "access_token": token })).await;
    let transactions = all_transactions(&sandbox, &token, 37).await;

    assert_eq!(first_page.status, 200, "{}", first_page.text);
    assert_eq!(first_page.json["added"].as_array().unwrap().len(), 100);
    assert_eq!(first_page.json["has_more"], true);
    assert_eq!(first_page.json["modified"], json!([]));
    assert_eq!(first_page.json["removed"], json!([]));
    assert!(
        transactions.len() > 100,
        "{} transactions",
        transactions.len()
    );

    let dates: Vec<&str> = transactions
        .iter()
        .map(|transaction| transaction["date"].as_str().unwrap())
        .collect();
    assert!(
        dates
            .iter()
            .all(|date| ("2026-09-02"..="2026-11-30").contains(date))
    );
    assert!(
        dates.windows(2).all(|pair| pair[0] <= pair[1]),
        "dates out of order"
    );

    let mut ids: Vec<&str> = transactions
        .iter()
        .map(|transaction| transaction["transaction_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        transactions.len(),
        "transaction ids repeat across pages"
    );
}

#[tokio::test]
async fn transaction_shape_and_sign() {
    let sandbox = TestSandbox::start().await;
    let token = access_token(&sandbox, "user_good").await;

    let transactions = all_transactions(&sandbox, &token, 500).await;

    let first = &transactions[0];
    for field in [
        "transaction_id",
        "account_id",
        "name",
        "iso_currency_code",
        "date",
    ] {
        assert!(first[field].is_string(), "field {field} in {first}");
    }
    assert_eq!(first["pending"], false);
    assert!(first["amount"].is_number());
    assert!(first["personal_finance_category"]["primary"].is_string());

    let deposits: Vec<&Value> = transactions
        .iter()
        .filter(|transaction| transaction["personal_finance_category"]["primary"] == "INCOME")
        .collect();
    assert!(deposits.len() >= 12, "{} deposits", deposits.len());
    assert!(
        deposits
            .iter()
            .all(|deposit| deposit["amount"].as_f64().unwrap() < 0.0)
    );
    assert_eq!(
        count_detailed(&transactions, "BANK_FEES_INSUFFICIENT_FUNDS"),
        0
    );
}

#[tokio::test]
async fn poor_persona_has_fees() {
    let sandbox = TestSandbox::start().await;
    let token = access_token(&sandbox, "user_credit_profile_poor").await;

    let transactions = all_transactions(&sandbox, &token, 500).await;

    assert_eq!(
        count_detailed(&transactions, "BANK_FEES_INSUFFICIENT_FUNDS"),
        5
    );
    assert_eq!(count_detailed(&transactions, "BANK_FEES_OVERDRAFT_FEES"), 3);
    let fee = transactions
        .iter()
        .find(|transaction| transaction["personal_finance_category"]["primary"] == "BANK_FEES")
        .unwrap();
    assert!(fee["amount"].as_f64().unwrap() > 0.0, "fee {fee}");
}

#[tokio::test]
async fn balances_rank_by_persona() {
    let sandbox = TestSandbox::start().await;

    let poor = current_balance(
        &sandbox,
        &access_token(&sandbox, "user_credit_profile_poor").await,
    )
    .await;
    let good = current_balance(&sandbox, &access_token(&sandbox, "user_good").await).await;
    let excellent = current_balance(
        &sandbox,
        &access_token(&sandbox, "user_credit_profile_excellent").await,
    )
    .await;

    assert!(poor < good, "poor {poor} good {good}");
    assert!(good < excellent, "good {good} excellent {excellent}");
}

#[tokio::test]
async fn sync_is_deterministic() {
    let sandbox = TestSandbox::start().await;
    let token = access_token(&sandbox, "user_credit_profile_good").await;
    let body = json!({ "access_token": token, "count": 500 });

    let first = sandbox.post(SYNC, &body).await;
    let second = sandbox.post(SYNC, &body).await;

    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.text, second.text);
}

#[tokio::test]
async fn sync_rejects_bad_count_and_cursor() {
    let sandbox = TestSandbox::start().await;
    let token = access_token(&sandbox, "user_good").await;
    let cases = [
        json!({ "access_token": token, "count": 501 }),
        json!({ "access_token": token, "count": 0 }),
        json!({ "access_token": token, "cursor": "not-a-cursor" }),
    ];

    for body in cases {
        let reply = sandbox.post(SYNC, &body).await;
        assert_eq!(reply.status, 400, "body {body}");
        assert_eq!(reply.json["error_code"], "INVALID_FIELD", "body {body}");
    }
}

#[tokio::test]
async fn sync_end_cursor_returns_nothing_more() {
    let sandbox = TestSandbox::start().await;
    let token = access_token(&sandbox, "user_good").await;
    let last = sandbox
        .post(SYNC, &json!({ "access_token": token, "count": 500 }))
        .await;

    let after = sandbox
        .post(
            SYNC,
            &json!({ "access_token": token, "cursor": last.json["next_cursor"] }),
        )
        .await;

    assert_eq!(last.json["has_more"], false);
    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(after.json["added"], json!([]));
    assert_eq!(after.json["has_more"], false);
    assert_eq!(after.json["next_cursor"], last.json["next_cursor"]);
}

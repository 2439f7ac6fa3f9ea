//! Bank data in Plaid's shapes, under `/bank_data`.
//!
//! Plaid's sandbox personas select the data. The persona travels inside the tokens
//! (`public-sandbox-<persona>-<id>`, then `access-sandbox-<persona>-<id>`), so the sandbox
//! keeps no state between calls and accepts tokens it did not issue if they follow that form.

mod transactions;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::{SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::SandboxState;
use crate::derive::{self, SeededRng};
use crate::error::PlaidError;
use crate::request::ProviderJson;

use transactions::Ledger;

pub(crate) fn routes() -> Router<SandboxState> {
    Router::new()
        .route("/bank_data/link/token/create", post(create_link_token))
        .route(
            "/bank_data/sandbox/public_token/create",
            post(create_public_token),
        )
        .route(
            "/bank_data/item/public_token/exchange",
            post(exchange_public_token),
        )
        .route("/bank_data/accounts/balance/get", post(get_balances))
        .route("/bank_data/transactions/sync", post(sync_transactions))
}

const PUBLIC_TOKEN_PREFIX: &str = "public-sandbox-";
const ACCESS_TOKEN_PREFIX: &str = "access-sandbox-";

/// Link tokens expire this many hours after creation.
const LINK_TOKEN_LIFETIME_HOURS: i64 = 4;

const DEFAULT_SYNC_COUNT: usize = 100;
const MAX_SYNC_COUNT: usize = 500;

/// A Plaid sandbox persona.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Persona {
    /// `user_good`: steady deposits, no fees.
    Good,
    /// `user_credit_profile_good`.
    CreditProfileGood,
    /// `user_credit_profile_excellent`: the highest balances.
    CreditProfileExcellent,
    /// `user_credit_profile_poor`: low balance, 5 NSF and 3 overdraft fees.
    CreditProfilePoor,
    /// `error_<CODE>`: every call with the item fails with Plaid error `<CODE>`.
    Error(String),
}

const PERSONA_NAMES: &str =
    "user_good, user_credit_profile_good, user_credit_profile_excellent, user_credit_profile_poor";

impl Persona {
    fn parse(name: &str) -> Option<Persona> {
        match name {
            "user_good" => Some(Persona::Good),
            "user_credit_profile_good" => Some(Persona::CreditProfileGood),
            "user_credit_profile_excellent" => Some(Persona::CreditProfileExcellent),
            "user_credit_profile_poor" => Some(Persona::CreditProfilePoor),
            other => other
                .strip_prefix("error_")
                .filter(|code| {
                    !code.is_empty()
                        && code.bytes().all(|byte| {
                            byte.is_ascii_uppercase() || byte.is_ascii_digit() || byte == b'_'
                        })
                })
                .map(|code| Persona::Error(code.to_owned())),
        }
    }

    fn name(&self) -> String {
        match self {
            Persona::Good => "user_good".to_owned(),
            Persona::CreditProfileGood => "user_credit_profile_good".to_owned(),
            Persona::CreditProfileExcellent => "user_credit_profile_excellent".to_owned(),
            Persona::CreditProfilePoor => "user_credit_profile_poor".to_owned(),
            Persona::Error(code) => format!("error_{code}"),
        }
    }
}

/// Reads the persona from `<prefix><persona>-<id>`, or returns `None` for any other form.
fn persona_in_token(token: &str, prefix: &str) -> Option<Persona> {
    let (persona, id) = token.strip_prefix(prefix)?.split_once('-')?;
    if id.is_empty() {
        return None;
    }
    Persona::parse(persona)
}

/// Builds the error a persona `error_<CODE>` forces.
fn forced_error(code: &str) -> PlaidError {
    let (status, error_type, message, display) = match code {
        "ITEM_LOCKED" => (
            StatusCode::BAD_REQUEST,
            "ITEM_ERROR",
            "the account is locked at the institution; the user must unlock it on the \
             institution's website",
            Some(
                "Your financial institution locked this account. Unlock it on their website, \
                 then try again.",
            ),
        ),
        "INSTITUTION_DOWN"
        | "INSTITUTION_NOT_RESPONDING"
        | "INSTITUTION_NOT_AVAILABLE"
        | "INSTITUTION_NO_LONGER_SUPPORTED" => (
            StatusCode::BAD_REQUEST,
            "INSTITUTION_ERROR",
            "the institution is not responding to requests; retry later",
            Some("Your financial institution is not responding right now. Try again later."),
        ),
        "RATE_LIMIT_EXCEEDED" => (
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMIT_EXCEEDED",
            "too many requests were made; retry later",
            None,
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "ITEM_ERROR",
            "the sandbox persona forced this item error",
            None,
        ),
    };
    PlaidError {
        status,
        error_type,
        error_code: code.to_owned(),
        error_message: message.to_owned(),
        display_message: display.map(str::to_owned),
    }
}

/// Reads the persona of an access token, returning the error an `error_<CODE>` persona forces.
fn usable_persona(access_token: Option<String>) -> Result<(String, Persona), PlaidError> {
    let access_token = require(access_token, "access_token")?;
    match persona_in_token(&access_token, ACCESS_TOKEN_PREFIX) {
        Some(Persona::Error(code)) => Err(forced_error(&code)),
        Some(persona) => Ok((access_token, persona)),
        None => Err(PlaidError::invalid_input(
            "INVALID_ACCESS_TOKEN",
            format!(
                "access_token must have the form {ACCESS_TOKEN_PREFIX}<persona>-<id>, as \
                 returned by /item/public_token/exchange"
            ),
        )),
    }
}

/// Derives a Plaid-style request id: 15 letters and digits.
fn request_id<T>(body: &ProviderJson<T>, route: &str) -> String {
    let id = body.derive_id(route);
    SeededRng::from_parts(&[id.as_bytes()]).alphanumeric(15)
}

/// Returns the value, or a `MISSING_FIELDS` error naming `field` when it is missing or blank.
fn require(value: Option<String>, field: &str) -> Result<String, PlaidError> {
    match value {
        Some(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(PlaidError::invalid_request(
            "MISSING_FIELDS",
            format!("the following required fields are missing: {field}"),
        )),
    }
}

/// Creates a link token. The body must be a JSON object, but its fields are not checked.
async fn create_link_token(body: ProviderJson<Map<String, Value>>) -> Json<Value> {
    let expiration = Utc::now() + chrono::Duration::hours(LINK_TOKEN_LIFETIME_HOURS);
    Json(json!({
        "link_token": format!("link-sandbox-{}", body.derive_id("bank_data.link_token")),
        "expiration": expiration.to_rfc3339_opts(SecondsFormat::Secs, true),
        "request_id": request_id(&body, "bank_data.link_token.request"),
    }))
}

#[derive(Deserialize)]
struct PublicTokenRequest {
    institution_id: Option<String>,
    initial_products: Option<Vec<String>>,
    options: Option<PublicTokenOptions>,
}

#[derive(Deserialize)]
struct PublicTokenOptions {
    override_username: Option<String>,
    override_password: Option<String>,
}

/// Creates a public token for a persona: `override_password` when it starts with
/// `error_`, else `override_username`, else `user_good`.
async fn create_public_token(
    body: ProviderJson<PublicTokenRequest>,
) -> Result<Json<Value>, PlaidError> {
    require(body.value.institution_id.clone(), "institution_id")?;
    if body
        .value
        .initial_products
        .as_ref()
        .is_none_or(|products| products.is_empty())
    {
        return Err(PlaidError::invalid_request(
            "MISSING_FIELDS",
            "the following required fields are missing: initial_products",
        ));
    }

    let (username, password) = match &body.value.options {
        Some(options) => (
            options.override_username.as_deref(),
            options.override_password.as_deref(),
        ),
        None => (None, None),
    };
    let persona = match (username, password) {
        (_, Some(password)) if password.starts_with("error_") => Persona::parse(password)
            .ok_or_else(|| {
                PlaidError::invalid_request(
                    "INVALID_FIELD",
                    "override_password error_<CODE> needs a code of upper-case letters, \
                     digits and underscores, such as error_ITEM_LOCKED",
                )
            })?,
        (Some(username), _) => Persona::parse(username).ok_or_else(|| {
            PlaidError::invalid_request(
                "INVALID_FIELD",
                format!(
                    "override_username `{username}` is not a sandbox persona; use one of \
                     {PERSONA_NAMES}"
                ),
            )
        })?,
        (None, _) => Persona::Good,
    };

    Ok(Json(json!({
        "public_token": format!(
            "{PUBLIC_TOKEN_PREFIX}{}-{}",
            persona.name(),
            body.derive_id("bank_data.public_token")
        ),
        "request_id": request_id(&body, "bank_data.public_token.request"),
    })))
}

#[derive(Deserialize)]
struct ExchangeRequest {
    public_token: Option<String>,
}

/// Exchanges a public token for an access token with the same persona.
async fn exchange_public_token(
    body: ProviderJson<ExchangeRequest>,
) -> Result<Json<Value>, PlaidError> {
    let public_token = require(body.value.public_token.clone(), "public_token")?;
    let persona = match persona_in_token(&public_token, PUBLIC_TOKEN_PREFIX) {
        Some(Persona::Error(code)) => return Err(forced_error(&code)),
        Some(persona) => persona,
        None => {
            return Err(PlaidError::invalid_input(
                "INVALID_PUBLIC_TOKEN",
                format!(
                    "public_token must have the form {PUBLIC_TOKEN_PREFIX}<persona>-<id>, as \
                     returned by /sandbox/public_token/create"
                ),
            ));
        }
    };

    let access_token = format!(
        "{ACCESS_TOKEN_PREFIX}{}-{}",
        persona.name(),
        derive::uuid_from(&[b"bank_data.access_token", public_token.as_bytes()])
    );
    Ok(Json(json!({
        "item_id": item_id(&access_token),
        "access_token": access_token,
        "request_id": request_id(&body, "bank_data.exchange.request"),
    })))
}

/// Derives the item id, 37 letters and digits like Plaid's, from the access token.
fn item_id(access_token: &str) -> String {
    SeededRng::from_parts(&[b"bank_data.item", access_token.as_bytes()]).alphanumeric(37)
}

#[derive(Deserialize)]
struct BalanceRequest {
    access_token: Option<String>,
}

async fn get_balances(body: ProviderJson<BalanceRequest>) -> Result<Json<Value>, PlaidError> {
    let (access_token, persona) = usable_persona(body.value.access_token.clone())?;
    let ledger = Ledger::generate(&access_token, &persona);
    let balance = transactions::dollars(ledger.current_balance_cents);

    Ok(Json(json!({
        "accounts": [{
            "account_id": ledger.account_id,
            "name": "Plaid Checking",
            "official_name": "Plaid Business Checking",
            "mask": ledger.mask,
            "type": "depository",
            "subtype": "checking",
            "balances": {
                "available": balance,
                "current": balance,
                "limit": null,
                "iso_currency_code": "USD",
            },
        }],
        "item": { "item_id": item_id(&access_token) },
        "request_id": request_id(&body, "bank_data.balance.request"),
    })))
}

#[derive(Deserialize)]
struct SyncRequest {
    access_token: Option<String>,
    cursor: Option<String>,
    count: Option<i64>,
}

/// Returns one page of the persona's 90 days of transactions, oldest first. The cursor
/// encodes the offset of the next page.
async fn sync_transactions(body: ProviderJson<SyncRequest>) -> Result<Json<Value>, PlaidError> {
    let (access_token, persona) = usable_persona(body.value.access_token.clone())?;

    let count = match body.value.count {
        None => DEFAULT_SYNC_COUNT,
        Some(count) => usize::try_from(count)
            .ok()
            .filter(|count| (1..=MAX_SYNC_COUNT).contains(count))
            .ok_or_else(|| {
                PlaidError::invalid_request(
                    "INVALID_FIELD",
                    format!("count must be between 1 and {MAX_SYNC_COUNT}, got {count}"),
                )
            })?,
    };

    let ledger = Ledger::generate(&access_token, &persona);
    let total = ledger.transactions.len();
    let offset = match body.value.cursor.as_deref() {
        None | Some("") => 0,
        Some(cursor) => decode_cursor(cursor)
            .filter(|offset| *offset <= total)
            .ok_or_else(|| {
                PlaidError::invalid_request(
                    "INVALID_FIELD",
                    "cursor is not a next_cursor returned by /transactions/sync for this \
                     access token; omit it to start from the beginning",
                )
            })?,
    };
    let end = offset.saturating_add(count).min(total);

    let added: Vec<Value> = ledger.transactions[offset..end]
        .iter()
        .map(|transaction| transaction.to_json(&ledger.account_id))
        .collect();
    Ok(Json(json!({
        "added": added,
        "modified": [],
        "removed": [],
        "next_cursor": encode_cursor(end),
        "has_more": end < total,
        "request_id": request_id(&body, "bank_data.sync.request"),
    })))
}

const CURSOR_PREFIX: &str = "sandbox-sync:";

fn encode_cursor(offset: usize) -> String {
    hex::encode(format!("{CURSOR_PREFIX}{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = hex::decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(CURSOR_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        for offset in [0, 1, 100, 499] {
            assert_eq!(decode_cursor(&encode_cursor(offset)), Some(offset));
        }
    }

    #[test]
    fn cursor_rejects_foreign_text() {
        for cursor in [
            "abc",
            "zz",
            &hex::encode("other:5"),
            &hex::encode("sandbox-sync:x"),
        ] {
            assert_eq!(decode_cursor(cursor), None, "cursor {cursor:?}");
        }
    }

    #[test]
    fn persona_read_from_tokens() {
        let cases = [
            ("public-sandbox-user_good-abcd", Some(Persona::Good)),
            (
                "public-sandbox-user_credit_profile_poor-1f0e-22",
                Some(Persona::CreditProfilePoor),
            ),
            (
                "public-sandbox-error_ITEM_LOCKED-x",
                Some(Persona::Error("ITEM_LOCKED".to_owned())),
            ),
            ("public-sandbox-user_good-", None),
            ("public-sandbox-user_good", None),
            ("public-sandbox-error_lower-x", None),
            ("public-sandbox-somebody-x", None),
            ("access-sandbox-user_good-x", None),
        ];
        for (token, expected) in cases {
            assert_eq!(
                persona_in_token(token, PUBLIC_TOKEN_PREFIX),
                expected,
                "token {token}"
            );
        }
    }

    #[test]
    fn forced_error_types() {
        let cases = [
            ("ITEM_LOCKED", "ITEM_ERROR", 400),
            ("INSTITUTION_DOWN", "INSTITUTION_ERROR", 400),
            ("RATE_LIMIT_EXCEEDED", "RATE_LIMIT_EXCEEDED", 429),
            ("INVALID_CREDENTIALS", "ITEM_ERROR", 400),
        ];
        for (code, error_type, status) in cases {
            let error = forced_error(code);
            assert_eq!(error.error_type, error_type, "code {code}");
            assert_eq!(error.status.as_u16(), status, "code {code}");
        }
    }
}

//! Cash-flow analytics derived from Plaid-shaped transactions, with the names Ocrolus and
//! Plaid Cash Flow use. Amounts follow Plaid's sign: positive is money leaving the account.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Value, json};

/// Computes the analytics from the current total balance and the transactions that led to it.
///
/// Daily end-of-day balances are rebuilt backwards from the current balance: the balance at
/// the end of a day is the next day's balance plus that next day's net outflow.
pub fn cash_flow(current_balance: f64, transactions: &[Value]) -> Value {
    let mut net_outflow_by_day: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    let mut revenue_by_month: BTreeMap<String, f64> = BTreeMap::new();
    let mut nsf_count = 0;
    let mut overdraft_count = 0;

    for transaction in transactions {
        let Some(date) = transaction
            .get("date")
            .and_then(Value::as_str)
            .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        else {
            continue;
        };
        let amount = transaction
            .get("amount")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        *net_outflow_by_day.entry(date).or_default() += amount;

        let primary = transaction
            .pointer("/personal_finance_category/primary")
            .and_then(Value::as_str)
            .unwrap_or("");
        let detailed = transaction
            .pointer("/personal_finance_category/detailed")
            .and_then(Value::as_str)
            .unwrap_or("");
        if amount < 0.0 && primary != "TRANSFER_IN" && primary != "LOAN_PAYMENTS" {
            *revenue_by_month
                .entry(date.format("%Y-%m").to_string())
                .or_default() += -amount;
        }
        match detailed {
            "BANK_FEES_INSUFFICIENT_FUNDS" => nsf_count += 1,
            "BANK_FEES_OVERDRAFT_FEES" => overdraft_count += 1,
            _ => {}
        }
    }

    let (Some(first), Some(last)) = (
        net_outflow_by_day.keys().next().copied(),
        net_outflow_by_day.keys().next_back().copied(),
    ) else {
        return json!({
            "days_covered": 0,
            "average_daily_balance": current_balance,
            "average_daily_balance_by_month": {},
            "estimated_revenue_by_month": {},
            "average_monthly_revenue": 0.0,
            "nsf_count": 0,
            "overdraft_transaction_count": 0,
        });
    };

    let mut balances: Vec<(NaiveDate, f64)> = Vec::new();
    let mut balance = current_balance;
    let mut day = last;
    loop {
        balances.push((day, balance));
        if day <= first {
            break;
        }
        balance += net_outflow_by_day.get(&day).copied().unwrap_or(0.0);
        day = day.pred_opt().unwrap_or(first);
    }

    let days = balances.len() as f64;
    let average_daily_balance = balances.iter().map(|(_, b)| b).sum::<f64>() / days;
    let mut by_month: BTreeMap<String, (f64, u32)> = BTreeMap::new();
    for (day, balance) in &balances {
        let entry = by_month.entry(day.format("%Y-%m").to_string()).or_default();
        entry.0 += balance;
        entry.1 += 1;
    }
    let average_by_month: BTreeMap<String, f64> = by_month
        .into_iter()
        .map(|(month, (sum, count))| (month, round_cents(sum / f64::from(count))))
        .collect();
    let average_monthly_revenue = if revenue_by_month.is_empty() {
        0.0
    } else {
        revenue_by_month.values().sum::<f64>() / revenue_by_month.len() as f64
    };
    let revenue_by_month: BTreeMap<String, f64> = revenue_by_month
        .into_iter()
        .map(|(month, sum)| (month, round_cents(sum)))
        .collect();

    json!({
        "days_covered": balances.len(),
        "average_daily_balance": round_cents(average_daily_balance),
        "average_daily_balance_by_month": average_by_month,
        "estimated_revenue_by_month": revenue_by_month,
        "average_monthly_revenue": round_cents(average_monthly_revenue),
        "nsf_count": nsf_count,
        "overdraft_transaction_count": overdraft_count,
    })
}

fn round_cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transaction(date: &str, amount: f64, detailed: &str) -> Value {
        let primary = if detailed.starts_with("BANK_FEES") {
            "BANK_FEES"
        } else {
            "INCOME"
        };
        json!({"date": date, "amount": amount,
               "personal_finance_category": {"primary": primary, "detailed": detailed}})
    }

    #[test]
    fn balances_rebuild_backwards() {
        // A deposit of 100 on day 1 and a spend of 30 on day 2 leave 170 at the end of day 2,
        // so day 1 ended at 170 + 30 = 200.
        let transactions = vec![
            transaction("2026-11-01", -100.0, "INCOME_OTHER"),
            transaction("2026-11-02", 30.0, "GENERAL_MERCHANDISE"),
        ];
        let result = cash_flow(170.0, &transactions);
        assert_eq!(result["days_covered"], 2);
        assert_eq!(result["average_daily_balance"], 185.0);
        assert_eq!(result["estimated_revenue_by_month"]["2026-11"], 100.0);
    }

    #[test]
    fn fees_are_counted() {
        let transactions = vec![
            transaction("2026-11-01", 35.0, "BANK_FEES_INSUFFICIENT_FUNDS"),
            transaction("2026-11-02", 35.0, "BANK_FEES_INSUFFICIENT_FUNDS"),
            transaction("2026-11-03", 25.0, "BANK_FEES_OVERDRAFT_FEES"),
        ];
        let result = cash_flow(0.0, &transactions);
        assert_eq!(result["nsf_count"], 2);
        assert_eq!(result["overdraft_transaction_count"], 1);
    }

    #[test]
    fn no_transactions_uses_current_balance() {
        let result = cash_flow(50.0, &[]);
        assert_eq!(result["average_daily_balance"], 50.0);
        assert_eq!(result["nsf_count"], 0);
    }
}

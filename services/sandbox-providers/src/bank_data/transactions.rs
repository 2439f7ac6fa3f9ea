//! Generated checking-account history: 90 days of transactions ending on [`AS_OF`].
//!
//! Amounts follow Plaid's sign convention: positive is money leaving the account, negative
//! is a deposit. Everything is derived from a hash of the access token, so a token always
//! gets the same history and balance.

use chrono::{Datelike, Days, NaiveDate};
use serde_json::{Value, json};

use super::Persona;
use crate::derive::{AS_OF, SeededRng};

/// Number of days of history, ending on and including [`AS_OF`].
pub(super) const HISTORY_DAYS: u64 = 90;

/// Fees charged to `user_credit_profile_poor`.
pub(super) const POOR_NSF_FEES: usize = 5;
pub(super) const POOR_OVERDRAFT_FEES: usize = 3;

/// A Plaid `personal_finance_category`: primary and detailed.
type Category = (&'static str, &'static str);

const INCOME: Category = ("INCOME", "INCOME_OTHER_INCOME");
const RENT: Category = ("RENT_AND_UTILITIES", "RENT_AND_UTILITIES_RENT");
const UTILITIES: Category = (
    "RENT_AND_UTILITIES",
    "RENT_AND_UTILITIES_GAS_AND_ELECTRICITY",
);
const NSF_FEE: Category = ("BANK_FEES", "BANK_FEES_INSUFFICIENT_FUNDS");
const OVERDRAFT_FEE: Category = ("BANK_FEES", "BANK_FEES_OVERDRAFT_FEES");

/// Card purchase: merchant, statement name, category, and amount range in dollars.
struct Purchase {
    merchant: &'static str,
    name: &'static str,
    category: Category,
    min_dollars: u64,
    max_dollars: u64,
}

const PURCHASES: [Purchase; 6] = [
    Purchase {
        merchant: "Office Depot",
        name: "OFFICE DEPOT #1120",
        category: ("GENERAL_MERCHANDISE", "GENERAL_MERCHANDISE_OFFICE_SUPPLIES"),
        min_dollars: 15,
        max_dollars: 180,
    },
    Purchase {
        merchant: "Shell",
        name: "SHELL OIL 57443",
        category: ("TRANSPORTATION", "TRANSPORTATION_GAS"),
        min_dollars: 30,
        max_dollars: 90,
    },
    Purchase {
        merchant: "Costco",
        name: "COSTCO WHSE #0455",
        category: ("FOOD_AND_DRINK", "FOOD_AND_DRINK_GROCERIES"),
        min_dollars: 40,
        max_dollars: 250,
    },
    Purchase {
        merchant: "Starbucks",
        name: "STARBUCKS STORE 00981",
        category: ("FOOD_AND_DRINK", "FOOD_AND_DRINK_COFFEE"),
        min_dollars: 4,
        max_dollars: 18,
    },
    Purchase {
        merchant: "Amazon",
        name: "AMAZON MKTPL",
        category: (
            "GENERAL_MERCHANDISE",
            "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES",
        ),
        min_dollars: 10,
        max_dollars: 200,
    },
    Purchase {
        merchant: "Uber",
        name: "UBER TRIP",
        category: ("TRANSPORTATION", "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"),
        min_dollars: 12,
        max_dollars: 45,
    },
];

/// Cash-flow parameters of a persona, in dollars.
struct Profile {
    opening: (u64, u64),
    deposit: (u64, u64),
    deposit_every_days: u64,
    monthly_rent: u64,
    purchases_per_day: (u64, u64),
    /// Purchase amounts are scaled by this percentage.
    purchase_scale_percent: u64,
}

impl Profile {
    fn of(persona: &Persona) -> Profile {
        match persona {
            Persona::CreditProfileExcellent => Profile {
                opening: (40_000, 60_000),
                deposit: (6_000, 8_000),
                deposit_every_days: 7,
                monthly_rent: 4_500,
                purchases_per_day: (1, 3),
                purchase_scale_percent: 200,
            },
            Persona::CreditProfileGood => Profile {
                opening: (8_000, 12_000),
                deposit: (2_200, 2_800),
                deposit_every_days: 7,
                monthly_rent: 2_000,
                purchases_per_day: (1, 3),
                purchase_scale_percent: 120,
            },
            Persona::CreditProfilePoor => Profile {
                opening: (100, 300),
                deposit: (700, 900),
                deposit_every_days: 14,
                monthly_rent: 900,
                purchases_per_day: (0, 1),
                purchase_scale_percent: 50,
            },
            // Error personas never reach generation, so they share the user_good profile.
            Persona::Good | Persona::Error(_) => Profile {
                opening: (4_000, 8_000),
                deposit: (1_800, 2_400),
                deposit_every_days: 7,
                monthly_rent: 1_800,
                purchases_per_day: (0, 3),
                purchase_scale_percent: 100,
            },
        }
    }
}

pub(super) struct Transaction {
    id: String,
    /// Positive is an outflow, in cents.
    pub(super) amount_cents: i64,
    pub(super) date: NaiveDate,
    merchant_name: Option<&'static str>,
    name: &'static str,
    pub(super) category: Category,
}

impl Transaction {
    pub(super) fn to_json(&self, account_id: &str) -> Value {
        json!({
            "transaction_id": self.id,
            "account_id": account_id,
            "amount": dollars(self.amount_cents),
            "iso_currency_code": "USD",
            "date": self.date.format("%Y-%m-%d").to_string(),
            "pending": false,
            "merchant_name": self.merchant_name,
            "name": self.name,
            "personal_finance_category": {
                "primary": self.category.0,
                "detailed": self.category.1,
            },
        })
    }
}

/// One checking account and its history.
pub(super) struct Ledger {
    pub(super) account_id: String,
    /// Last four digits of the account number.
    pub(super) mask: String,
    /// Balance after the last transaction, in cents.
    pub(super) current_balance_cents: i64,
    /// Oldest first.
    pub(super) transactions: Vec<Transaction>,
}

impl Ledger {
    pub(super) fn generate(access_token: &str, persona: &Persona) -> Ledger {
        let profile = Profile::of(persona);
        let mut rng = SeededRng::from_parts(&[b"bank_data.ledger", access_token.as_bytes()]);
        let mut ids = SeededRng::from_parts(&[b"bank_data.ids", access_token.as_bytes()]);

        let account_id = ids.alphanumeric(37);
        let mask = ids.digits(4);
        let (nsf_days, overdraft_days) = if *persona == Persona::CreditProfilePoor {
            fee_days(&mut rng)
        } else {
            (Vec::new(), Vec::new())
        };

        let first_day = AS_OF - Days::new(HISTORY_DAYS - 1);
        let deposit_phase = rng.range(0, profile.deposit_every_days - 1);
        let mut entries: Vec<(NaiveDate, i64, Option<&'static str>, &'static str, Category)> =
            Vec::new();

        for day_index in 0..HISTORY_DAYS {
            let date = first_day + Days::new(day_index);

            if day_index % profile.deposit_every_days == deposit_phase {
                let cents = cents_between(&mut rng, profile.deposit);
                entries.push((date, -cents, Some("Stripe"), "STRIPE PAYOUT", INCOME));
            }
            if date.day() == 1 {
                let cents = to_cents(profile.monthly_rent);
                entries.push((date, cents, None, "COMMERCIAL RENT PAYMENT", RENT));
            }
            if date.day() == 15 {
                let tenth = profile.monthly_rent / 10;
                let cents = cents_between(&mut rng, (tenth, tenth * 2));
                entries.push((date, cents, Some("PG&E"), "PGANDE WEB ONLINE", UTILITIES));
            }

            let purchases = rng.range(profile.purchases_per_day.0, profile.purchases_per_day.1);
            for _ in 0..purchases {
                let purchase = rng.pick(&PURCHASES);
                let cents = cents_between(&mut rng, (purchase.min_dollars, purchase.max_dollars))
                    * profile.purchase_scale_percent as i64
                    / 100;
                entries.push((
                    date,
                    cents.max(1),
                    Some(purchase.merchant),
                    purchase.name,
                    purchase.category,
                ));
            }

            if nsf_days.contains(&day_index) {
                entries.push((date, 3_500, None, "NSF FEE", NSF_FEE));
            }
            if overdraft_days.contains(&day_index) {
                entries.push((date, 3_400, None, "OVERDRAFT FEE", OVERDRAFT_FEE));
            }
        }

        let opening = cents_between(&mut rng, profile.opening);
        let outflow: i64 = entries.iter().map(|entry| entry.1).sum();
        let transactions = entries
            .into_iter()
            .map(
                |(date, amount_cents, merchant_name, name, category)| Transaction {
                    id: ids.alphanumeric(37),
                    amount_cents,
                    date,
                    merchant_name,
                    name,
                    category,
                },
            )
            .collect();

        Ledger {
            account_id,
            mask,
            current_balance_cents: opening - outflow,
            transactions,
        }
    }
}

/// Picks distinct days for the poor persona's fees, after the first week of history.
fn fee_days(rng: &mut SeededRng) -> (Vec<u64>, Vec<u64>) {
    let mut days: Vec<u64> = (7..HISTORY_DAYS).collect();
    // Partial Fisher-Yates shuffle: the first picks are distinct random days.
    let picks = POOR_NSF_FEES + POOR_OVERDRAFT_FEES;
    for index in 0..picks {
        let swap = rng.range(index as u64, days.len() as u64 - 1) as usize;
        days.swap(index, swap);
    }
    let overdraft = days[POOR_NSF_FEES..picks].to_vec();
    days.truncate(POOR_NSF_FEES);
    (days, overdraft)
}

fn to_cents(dollars: u64) -> i64 {
    i64::try_from(dollars.saturating_mul(100)).unwrap_or(i64::MAX)
}

fn cents_between(rng: &mut SeededRng, (low, high): (u64, u64)) -> i64 {
    let cents = rng.range(low.saturating_mul(100), high.saturating_mul(100));
    i64::try_from(cents).unwrap_or(i64::MAX)
}

/// Converts cents to a JSON dollar amount with two decimals.
pub(super) fn dollars(cents: i64) -> f64 {
    cents as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_detailed(ledger: &Ledger, detailed: &str) -> usize {
        ledger
            .transactions
            .iter()
            .filter(|transaction| transaction.category.1 == detailed)
            .count()
    }

    #[test]
    fn poor_persona_has_fixed_fee_counts() {
        for token in [
            "access-sandbox-user_credit_profile_poor-a",
            "access-sandbox-user_credit_profile_poor-b",
        ] {
            let ledger = Ledger::generate(token, &Persona::CreditProfilePoor);
            assert_eq!(
                count_detailed(&ledger, NSF_FEE.1),
                POOR_NSF_FEES,
                "token {token}"
            );
            assert_eq!(
                count_detailed(&ledger, OVERDRAFT_FEE.1),
                POOR_OVERDRAFT_FEES,
                "token {token}"
            );
        }
    }

    #[test]
    fn good_persona_has_no_fees() {
        let ledger = Ledger::generate("access-sandbox-user_good-a", &Persona::Good);
        assert_eq!(count_detailed(&ledger, NSF_FEE.1), 0);
        assert_eq!(count_detailed(&ledger, OVERDRAFT_FEE.1), 0);
        assert!(ledger.current_balance_cents > 0);
    }

    #[test]
    fn history_spans_ninety_days() {
        let ledger = Ledger::generate("access-sandbox-user_good-a", &Persona::Good);
        let first = ledger.transactions.first().unwrap().date;
        let last = ledger.transactions.last().unwrap().date;
        assert!(
            first >= AS_OF - Days::new(HISTORY_DAYS - 1),
            "first {first}"
        );
        assert!(last <= AS_OF, "last {last}");
        assert!(
            ledger
                .transactions
                .windows(2)
                .all(|pair| pair[0].date <= pair[1].date)
        );
    }

    #[test]
    fn balances_rank_by_persona() {
        let balance = |persona: Persona| {
            Ledger::generate(&format!("access-sandbox-{}-x", persona.name()), &persona)
                .current_balance_cents
        };
        let poor = balance(Persona::CreditProfilePoor);
        let good = balance(Persona::Good);
        let excellent = balance(Persona::CreditProfileExcellent);
        assert!(poor < good, "poor {poor} good {good}");
        assert!(good < excellent, "good {good} excellent {excellent}");
    }

    #[test]
    fn deposits_are_negative() {
        let ledger = Ledger::generate("access-sandbox-user_good-a", &Persona::Good);
        let deposits: Vec<_> = ledger
            .transactions
            .iter()
            .filter(|transaction| transaction.category == INCOME)
            .collect();
        assert!(deposits.len() >= 12, "{} deposits", deposits.len());
        assert!(deposits.iter().all(|deposit| deposit.amount_cents < 0));
    }
}

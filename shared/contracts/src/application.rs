//! Application data: the business, its owners, the requested loan and the bank link that
//! template steps read.
//!
//! Personal fields (owner SSN and date of birth, the bank link token) are kept whole only
//! where a provider call needs them; API responses, rule inputs and stored step outputs use
//! [`ApplicationData::masked`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Field errors keyed by dotted path (`owners.0.ssn`), in the Laravel error-body shape.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationData {
    /// The lender's own reference for the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub business: Business,
    #[serde(default)]
    pub owners: Vec<Owner>,
    pub loan: Loan,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<BankLink>,
    /// True when the personal and financial data was generated, not collected.
    #[serde(default)]
    pub synthetic: bool,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Business {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dba: Option<String>,
    /// Employer identification number, nine digits.
    pub tin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naics_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_age: Option<String>,
    pub address: Address,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    /// Two-letter US state code.
    pub state: String,
    pub postal_code: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub first_name: String,
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership_percent: Option<f64>,
    /// Social security number, nine digits without dashes.
    pub ssn: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loan {
    /// Requested amount in US dollars.
    pub requested_amount: f64,
    pub term_months: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

/// A bank connection made by the applicant through the bank-data provider's link flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankLink {
    pub public_token: String,
}

/// Largest requested amount accepted, in US dollars.
pub const MAX_REQUESTED_AMOUNT: f64 = 1_000_000_000.0;

fn push(errors: &mut FieldErrors, field: impl Into<String>, message: impl Into<String>) {
    errors.entry(field.into()).or_default().push(message.into());
}

fn require_text(errors: &mut FieldErrors, field: &str, value: &str, max_len: usize) {
    if value.trim().is_empty() {
        push(errors, field, format!("The {field} field is required."));
    } else if value.chars().count() > max_len {
        push(
            errors,
            field,
            format!("The {field} field must not be longer than {max_len} characters."),
        );
    }
}

fn digits(value: &str, count: usize) -> bool {
    value.len() == count && value.bytes().all(|b| b.is_ascii_digit())
}

fn validate_address(errors: &mut FieldErrors, prefix: &str, address: &Address) {
    require_text(errors, &format!("{prefix}.line1"), &address.line1, 200);
    require_text(errors, &format!("{prefix}.city"), &address.city, 100);
    let state = &address.state;
    if !(state.len() == 2 && state.bytes().all(|b| b.is_ascii_uppercase())) {
        push(
            errors,
            format!("{prefix}.state"),
            format!("The {prefix}.state field must be a two-letter upper-case state code."),
        );
    }
    let zip = &address.postal_code;
    let zip_ok = digits(zip, 5)
        || (zip.len() == 10 && digits(&zip[..5], 5) && &zip[5..6] == "-" && digits(&zip[6..], 4));
    if !zip_ok {
        push(
            errors,
            format!("{prefix}.postal_code"),
            format!(
                "The {prefix}.postal_code field must be a ZIP code such as 70816 or 70816-1234."
            ),
        );
    }
}

fn valid_date(value: &str) -> bool {
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok()
}

impl ApplicationData {
    /// Checks field formats; returns every fault at once, keyed by dotted path.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();

        require_text(&mut errors, "business.name", &self.business.name, 200);
        if !digits(&self.business.tin, 9) {
            push(
                &mut errors,
                "business.tin",
                "The business.tin field must be nine digits without dashes.",
            );
        }
        validate_address(&mut errors, "business.address", &self.business.address);

        if self.owners.is_empty() {
            push(
                &mut errors,
                "owners",
                "The owners field must have at least 1 item: every application needs an owner or guarantor.",
            );
        }
        if self.owners.len() > 10 {
            push(
                &mut errors,
                "owners",
                "The owners field must not have more than 10 items.",
            );
        }
        for (index, owner) in self.owners.iter().enumerate() {
            let prefix = format!("owners.{index}");
            require_text(
                &mut errors,
                &format!("{prefix}.first_name"),
                &owner.first_name,
                100,
            );
            require_text(
                &mut errors,
                &format!("{prefix}.last_name"),
                &owner.last_name,
                100,
            );
            if !digits(&owner.ssn, 9) {
                push(
                    &mut errors,
                    format!("{prefix}.ssn"),
                    format!("The {prefix}.ssn field must be nine digits without dashes."),
                );
            }
            if !valid_date(&owner.date_of_birth) {
                push(
                    &mut errors,
                    format!("{prefix}.date_of_birth"),
                    format!("The {prefix}.date_of_birth field must be a date in YYYY-MM-DD form."),
                );
            }
            if let Some(percent) = owner.ownership_percent
                && !(0.0..=100.0).contains(&percent)
            {
                push(
                    &mut errors,
                    format!("{prefix}.ownership_percent"),
                    format!("The {prefix}.ownership_percent field must be between 0 and 100."),
                );
            }
            if let Some(address) = &owner.address {
                validate_address(&mut errors, &format!("{prefix}.address"), address);
            }
        }

        let amount = self.loan.requested_amount;
        if !(amount.is_finite() && amount > 0.0 && amount <= MAX_REQUESTED_AMOUNT) {
            push(
                &mut errors,
                "loan.requested_amount",
                "The loan.requested_amount field must be a positive amount in US dollars, at most 1000000000.",
            );
        }
        if self.loan.term_months == 0 || self.loan.term_months > 600 {
            push(
                &mut errors,
                "loan.term_months",
                "The loan.term_months field must be between 1 and 600.",
            );
        }
        if let Some(bank) = &self.bank {
            require_text(&mut errors, "bank.public_token", &bank.public_token, 500);
        }
        if let Some(external_id) = &self.external_id {
            require_text(&mut errors, "external_id", external_id, 200);
        }

        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Returns the application as JSON with personal fields masked: SSNs keep their last four
    /// digits, dates of birth keep the year, and the bank link token keeps its last four
    /// characters.
    pub fn masked(&self) -> Value {
        let mut copy = self.clone();
        for owner in &mut copy.owners {
            owner.ssn = mask_tail(&owner.ssn, 4);
            owner.date_of_birth = mask_date(&owner.date_of_birth);
        }
        if let Some(bank) = &mut copy.bank {
            bank.public_token = mask_tail(&bank.public_token, 4);
        }
        serde_json::to_value(copy).unwrap_or(Value::Null)
    }
}

/// Replaces all but the last `keep` characters with `*`.
pub fn mask_tail(value: &str, keep: usize) -> String {
    let count = value.chars().count();
    if count <= keep {
        return "*".repeat(count);
    }
    let tail: String = value.chars().skip(count - keep).collect();
    format!("{}{tail}", "*".repeat(count - keep))
}

fn mask_date(value: &str) -> String {
    match value.get(..4) {
        Some(year) if value.len() == 10 => format!("{year}-**-**"),
        _ => "*".repeat(value.chars().count()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample() -> ApplicationData {
        ApplicationData {
            external_id: Some("ext-1".into()),
            business: Business {
                name: "Acme Bakery LLC".into(),
                dba: None,
                tin: "123456789".into(),
                entity_type: Some("CORPORATION".into()),
                naics_code: Some("311811".into()),
                industry: Some("Retail Bakeries".into()),
                business_age: None,
                address: Address {
                    line1: "1 Main St".into(),
                    line2: None,
                    city: "Springfield".into(),
                    state: "IL".into(),
                    postal_code: "62701".into(),
                },
            },
            owners: vec![Owner {
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                title: None,
                ownership_percent: Some(100.0),
                ssn: "666123456".into(),
                date_of_birth: "1980-05-17".into(),
                address: None,
            }],
            loan: Loan {
                requested_amount: 250_000.0,
                term_months: 120,
                purpose: None,
            },
            bank: Some(BankLink {
                public_token: "public-sandbox-user_good-abcd".into(),
            }),
            synthetic: true,
            metadata: Map::new(),
        }
    }

    #[test]
    fn valid_application_passes() {
        assert_eq!(sample().validate(), Ok(()));
    }

    #[test]
    fn bad_fields_are_named() {
        let mut application = sample();
        application.owners[0].ssn = "12-34".into();
        application.business.address.state = "Illinois".into();
        application.loan.requested_amount = -1.0;
        let errors = application.validate().unwrap_err();
        assert!(errors.contains_key("owners.0.ssn"), "{errors:?}");
        assert!(errors.contains_key("business.address.state"), "{errors:?}");
        assert!(errors.contains_key("loan.requested_amount"), "{errors:?}");
    }

    #[test]
    fn masked_hides_personal_fields() {
        let masked = sample().masked();
        let text = masked.to_string();
        assert!(!text.contains("666123456"), "{text}");
        assert!(!text.contains("1980-05-17"), "{text}");
        assert_eq!(masked["owners"][0]["ssn"], "*****3456");
        assert_eq!(masked["owners"][0]["date_of_birth"], "1980-**-**");
    }
}

//! Consumer credit reports in the shape of Experian's Credit Profile v2 API, under
//! `/consumer_credit`.
//!
//! The request carries a full SSN and date of birth. Neither this module nor the request
//! logging in [`crate::scenario`] logs a request body, and error messages name fields
//! without quoting their values. The request types deliberately do not derive `Debug`.
//!
//! Scalars are zero-padded strings and dates are `MMDDYYYY`, as Experian sends them.

use axum::Json;
use axum::Router;
use axum::routing::post;
use chrono::Days;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SandboxState;
use crate::derive::{AS_OF, SeededRng};
use crate::error::ExperianError;
use crate::request::ProviderJson;

pub(crate) fn routes() -> Router<SandboxState> {
    Router::new().route("/consumer_credit/v2/credit-report", post(credit_report))
}

/// SSN of the test consumer Experian publishes for its sandbox.
const TEST_CONSUMER_SSN: &str = "111111111";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreditReportRequest {
    consumer_pii: Option<ConsumerPii>,
    add_ons: Option<AddOns>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsumerPii {
    primary_applicant: Option<Applicant>,
}

/// The applicant. Date of birth and address are accepted and not used.
#[derive(Deserialize)]
struct Applicant {
    name: Option<ApplicantName>,
    ssn: Option<Ssn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplicantName {
    first_name: Option<String>,
    last_name: Option<String>,
}

#[derive(Deserialize)]
struct Ssn {
    ssn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddOns {
    risk_models: Option<RiskModels>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RiskModels {
    model_indicator: Option<Vec<String>>,
}

/// Outcome selected by the SSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileScenario {
    /// `111111111`: Experian's published test consumer, score 0720.
    TestConsumer,
    /// Suffix `0001`: no file found.
    NoHit,
    /// Suffix `0002`: the consumer froze the file.
    Frozen,
    /// Suffix `0003`: the SSN belongs to a deceased person (fraud shield indicator 10).
    Deceased,
    /// Suffix `0004`: too little credit history to score, so the score is 0000.
    ThinFile,
    /// Suffix `0005`: score 0540 with late payments.
    LowScore,
    Standard,
}

impl FileScenario {
    fn of(ssn: &str) -> FileScenario {
        if ssn == TEST_CONSUMER_SSN {
            return FileScenario::TestConsumer;
        }
        match &ssn[5..] {
            "0001" => FileScenario::NoHit,
            "0002" => FileScenario::Frozen,
            "0003" => FileScenario::Deceased,
            "0004" => FileScenario::ThinFile,
            "0005" => FileScenario::LowScore,
            _ => FileScenario::Standard,
        }
    }
}

async fn credit_report(
    body: ProviderJson<CreditReportRequest>,
) -> Result<Json<Value>, ExperianError> {
    let request = body.value;
    let applicant = request
        .consumer_pii
        .and_then(|pii| pii.primary_applicant)
        .ok_or_else(|| ExperianError::missing_field("consumerPii.primaryApplicant"))?;

    let name = applicant
        .name
        .ok_or_else(|| ExperianError::missing_field("consumerPii.primaryApplicant.name"))?;
    ExperianError::require(
        name.first_name,
        "consumerPii.primaryApplicant.name.firstName",
    )?;
    ExperianError::require(name.last_name, "consumerPii.primaryApplicant.name.lastName")?;

    let ssn = ExperianError::require(
        applicant.ssn.and_then(|ssn| ssn.ssn),
        "consumerPii.primaryApplicant.ssn.ssn",
    )?;
    let ssn: String = ssn.chars().filter(|c| *c != '-').collect();
    if ssn.len() != 9 || !ssn.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ExperianError::invalid_field(
            "consumerPii.primaryApplicant.ssn.ssn",
            "9 digits, with or without dashes",
        ));
    }

    let models = request
        .add_ons
        .and_then(|add_ons| add_ons.risk_models)
        .and_then(|risk_models| risk_models.model_indicator)
        .filter(|models| !models.is_empty())
        .unwrap_or_else(|| vec!["V4".to_owned()]);

    Ok(Json(
        json!({ "creditProfile": [credit_profile(&ssn, &models)] }),
    ))
}

fn credit_profile(ssn: &str, models: &[String]) -> Value {
    let scenario = FileScenario::of(ssn);
    let mut rng = SeededRng::from_parts(&[b"consumer_credit", ssn.as_bytes()]);

    let no_file_message = match scenario {
        FileScenario::NoHit => Some(("07", "0007 NO RECORD FOUND")),
        FileScenario::Frozen => Some(("28", "FILE FROZEN")),
        _ => None,
    };
    if let Some((number, text)) = no_file_message {
        return json!({
            "riskModel": [],
            "tradeline": [],
            "inquiry": [],
            "publicRecord": [],
            "fraudShield": [{ "fraudShieldIndicators": { "indicator": [] } }],
            "ofac": { "messageNumber": "", "messageText": "" },
            "informationalMessage": [{ "messageNumber": number, "messageText": text }],
        });
    }

    let score = match scenario {
        FileScenario::TestConsumer => 720,
        FileScenario::ThinFile => 0,
        FileScenario::LowScore => 540,
        _ => rng.range(600, 820),
    };
    let score_factors = if scenario == FileScenario::ThinFile {
        Vec::new()
    } else {
        score_factors(&mut rng)
    };
    let risk_models: Vec<Value> = models
        .iter()
        .map(|model| {
            json!({
                "modelIndicator": model,
                "score": format!("{score:04}"),
                "scoreFactors": score_factors,
            })
        })
        .collect();

    let tradelines = if scenario == FileScenario::ThinFile {
        Vec::new()
    } else {
        tradelines(&mut rng, scenario == FileScenario::LowScore)
    };
    let fraud_indicators: Vec<&str> = if scenario == FileScenario::Deceased {
        vec!["10"]
    } else {
        Vec::new()
    };

    json!({
        "riskModel": risk_models,
        "tradeline": tradelines,
        "inquiry": inquiries(&mut rng),
        "publicRecord": [],
        "fraudShield": [{ "fraudShieldIndicators": { "indicator": fraud_indicators } }],
        "ofac": { "messageNumber": "", "messageText": "" },
        "informationalMessage": [],
    })
}

/// Score factor reason codes. The sandbox picks four of them.
const SCORE_FACTOR_CODES: [&str; 8] = ["14", "10", "13", "05", "08", "30", "38", "02"];

fn score_factors(rng: &mut SeededRng) -> Vec<Value> {
    let start = rng.range(0, SCORE_FACTOR_CODES.len() as u64 - 1) as usize;
    (0..4)
        .map(|rank| {
            let code = SCORE_FACTOR_CODES[(start + rank) % SCORE_FACTOR_CODES.len()];
            json!({ "importance": (rank + 1).to_string(), "code": code })
        })
        .collect()
}

/// Two-digit account type codes the sandbox picks from for tradelines.
const ACCOUNT_TYPES: [&str; 4] = ["00", "26", "18", "01"];

/// Builds two to six tradelines. With `delinquent`, the first one has status `71` and two
/// 30-day delinquencies. All others have status `11` and no delinquencies.
fn tradelines(rng: &mut SeededRng, delinquent: bool) -> Vec<Value> {
    let count = rng.range(2, 6);
    (0..count)
        .map(|index| {
            let late = delinquent && index == 0;
            let opened = AS_OF - Days::new(rng.range(180, 12 * 365));
            json!({
                "accountType": rng.pick(&ACCOUNT_TYPES),
                "openDate": opened.format("%m%d%Y").to_string(),
                "balanceAmount": format!("{:08}", rng.range(5, 400) * 100),
                "monthlyPaymentAmount": format!("{:08}", rng.range(2, 40) * 25),
                "status": if late { "71" } else { "11" },
                "delinquencies30Days": if late { "02" } else { "00" },
                "delinquencies60Days": "00",
                "delinquencies90to180Days": "00",
            })
        })
        .collect()
}

const INQUIRY_SUBSCRIBERS: [&str; 3] = ["CAPITAL AUTO FIN", "FIRST CMTY BANK", "CARD SERVICES"];

fn inquiries(rng: &mut SeededRng) -> Vec<Value> {
    let count = rng.range(0, 2);
    (0..count)
        .map(|_| {
            let date = AS_OF - Days::new(rng.range(10, 700));
            json!({
                "date": date.format("%m%d%Y").to_string(),
                "subscriberName": rng.pick(&INQUIRY_SUBSCRIBERS),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_chosen_by_ssn() {
        let cases = [
            ("111111111", FileScenario::TestConsumer),
            ("123450001", FileScenario::NoHit),
            ("123450002", FileScenario::Frozen),
            ("123450003", FileScenario::Deceased),
            ("123450004", FileScenario::ThinFile),
            ("123450005", FileScenario::LowScore),
            ("123456789", FileScenario::Standard),
        ];
        for (ssn, expected) in cases {
            assert_eq!(FileScenario::of(ssn), expected, "ssn {ssn}");
        }
    }

    #[test]
    fn standard_score_in_range() {
        for ssn in ["123456789", "987654321", "555443333"] {
            let profile = credit_profile(ssn, &["V4".to_owned()]);
            let score: u64 = profile["riskModel"][0]["score"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((600..=820).contains(&score), "score {score}");
        }
    }
}

//! Business credit in the shapes of Experian's business information API, under
//! `/business_credit`.
//!
//! `POST /v1/search` finds a business and returns its BIN (Business Identification Number).
//! The BIN's last three digits are the tax id's last three digits, so a scenario chosen by
//! tax id carries into `/v1/scores` and `/v1/reports/premierprofiles`, which read it back
//! from the BIN suffix. Scores and report values are derived from a hash of the BIN.

use axum::Json;
use axum::Router;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::SandboxState;
use crate::derive::SeededRng;
use crate::error::ExperianError;
use crate::request::ProviderJson;

pub(crate) fn routes() -> Router<SandboxState> {
    Router::new()
        .route("/business_credit/v1/search", post(search))
        .route("/business_credit/v1/scores", post(scores))
        .route(
            "/business_credit/v1/reports/premierprofiles",
            post(premier_profile),
        )
}

/// Commercial score model code reported when a scores request names none.
const DEFAULT_COMMERCIAL_MODEL: &str = "000224";
/// Model code the sandbox reports for the Financial Stability Risk (FSR) score.
const FSR_MODEL: &str = "000223";

/// Score sent when the file has too little data to score.
const THIN_FILE_SCORE: u64 = 999;
/// Score sent when the business filed for bankruptcy in the last two years.
const BANKRUPTCY_SCORE: u64 = 998;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest {
    name: Option<String>,
    city: Option<String>,
    state: Option<String>,
    street: Option<String>,
    zip: Option<String>,
    tax_id: Option<String>,
    subcode: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScoresRequest {
    bin: Option<String>,
    subcode: Option<String>,
    model_code: Option<String>,
}

#[derive(Deserialize)]
struct ReportRequest {
    bin: Option<String>,
    subcode: Option<String>,
}

/// Outcome selected by the BIN's last three digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinScenario {
    /// `999`: too little data to score, and no tradelines.
    ThinFile,
    /// `998`: bankruptcy filed in the last two years.
    Bankruptcy,
    /// `997`: the business matches an OFAC list entry.
    OfacWarning,
    /// `996`: scores of 12 (commercial) and 10 (FSR) with slow payment.
    LowScore,
    Standard,
}

/// A validated 9-digit BIN.
struct Bin(String);

impl Bin {
    fn parse(value: Option<String>) -> Result<Bin, ExperianError> {
        let value = ExperianError::require(value, "bin")?;
        if value.len() != 9 || !value.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(ExperianError::invalid_field(
                "bin",
                "a 9-digit BIN as returned by /v1/search",
            ));
        }
        Ok(Bin(value))
    }

    fn scenario(&self) -> BinScenario {
        match &self.0[6..] {
            "999" => BinScenario::ThinFile,
            "998" => BinScenario::Bankruptcy,
            "997" => BinScenario::OfacWarning,
            "996" => BinScenario::LowScore,
            _ => BinScenario::Standard,
        }
    }

    fn rng(&self, purpose: &str) -> SeededRng {
        SeededRng::from_parts(&[b"business_credit", purpose.as_bytes(), self.0.as_bytes()])
    }

    fn tradeline_count(&self) -> u64 {
        if self.scenario() == BinScenario::ThinFile {
            0
        } else {
            self.rng("tradelines").range(3, 40)
        }
    }

    fn ucc_filings(&self) -> u64 {
        self.rng("ucc").range(0, 4)
    }
}

async fn search(body: ProviderJson<SearchRequest>) -> Result<Json<Value>, ExperianError> {
    let request_id = body.derive_id("business_credit.search");
    let request = body.value;

    let name = ExperianError::require(request.name, "name")?;
    let city = ExperianError::require(request.city, "city")?;
    let state = ExperianError::require(request.state, "state")?;
    ExperianError::require(request.subcode, "subcode")?;
    let tax_id = match request.tax_id {
        Some(tax_id) => Some(parse_tax_id(&tax_id)?),
        None => None,
    };

    // A tax id ending in 001 is the sandbox's "no business found" trigger.
    if tax_id
        .as_deref()
        .is_some_and(|tax_id| tax_id.ends_with("001"))
    {
        return Ok(Json(
            json!({ "requestId": request_id, "success": true, "results": [] }),
        ));
    }

    let bin = search_bin(&name, &state, tax_id.as_deref());
    let result = json!({
        "bin": bin.0,
        "reliabilityCode": 96,
        "businessName": name.to_uppercase(),
        "address": {
            "street": request.street.unwrap_or_default().to_uppercase(),
            "city": city.to_uppercase(),
            "state": state.to_uppercase(),
            "zip": request.zip.unwrap_or_default(),
        },
        "numberOfTradelines": bin.tradeline_count(),
        "uccIndicator": bin.ucc_filings() > 0,
    });
    Ok(Json(
        json!({ "requestId": request_id, "success": true, "results": [result] }),
    ))
}

/// Builds the BIN: `7`, five digits hashed from name, state and tax id, then the tax id's
/// last three digits. Without a tax id the suffix is hashed too, in `000..=899`, so it never
/// selects a scenario.
fn search_bin(name: &str, state: &str, tax_id: Option<&str>) -> Bin {
    let mut rng = SeededRng::from_parts(&[
        b"business_credit.bin",
        name.to_uppercase().as_bytes(),
        state.to_uppercase().as_bytes(),
        tax_id.unwrap_or("").as_bytes(),
    ]);
    let middle = rng.digits(5);
    let suffix = match tax_id {
        Some(tax_id) => tax_id[6..].to_owned(),
        None => format!("{:03}", rng.range(0, 899)),
    };
    Bin(format!("7{middle}{suffix}"))
}

async fn scores(body: ProviderJson<ScoresRequest>) -> Result<Json<Value>, ExperianError> {
    let request_id = body.derive_id("business_credit.scores");
    let request = body.value;

    let bin = Bin::parse(request.bin)?;
    ExperianError::require(request.subcode, "subcode")?;
    let model_code = request
        .model_code
        .filter(|code| !code.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_COMMERCIAL_MODEL.to_owned());

    let scenario = bin.scenario();
    let commercial = match scenario {
        BinScenario::ThinFile => THIN_FILE_SCORE,
        BinScenario::Bankruptcy => BANKRUPTCY_SCORE,
        BinScenario::LowScore => 12,
        BinScenario::OfacWarning | BinScenario::Standard => bin.rng("commercial").range(25, 95),
    };
    let fsr = match scenario {
        BinScenario::ThinFile => THIN_FILE_SCORE,
        BinScenario::Bankruptcy => BANKRUPTCY_SCORE,
        BinScenario::LowScore => 10,
        BinScenario::OfacWarning | BinScenario::Standard => bin.rng("fsr").range(25, 95),
    };

    Ok(Json(json!({
        "requestId": request_id,
        "success": true,
        "results": {
            "commercialScore": score_json(&model_code, commercial),
            "commercialScoreFactors": score_factors(&bin),
            "fsrScore": score_json(FSR_MODEL, fsr),
        }
    })))
}

fn score_json(model_code: &str, score: u64) -> Value {
    let (code, definition) = match score {
        THIN_FILE_SCORE => (0, "NOT SCORED: INSUFFICIENT DATA"),
        BANKRUPTCY_SCORE => (5, "HIGH RISK"),
        0..=10 => (5, "HIGH RISK"),
        11..=25 => (4, "MEDIUM TO HIGH RISK"),
        26..=50 => (3, "MEDIUM RISK"),
        51..=75 => (2, "LOW TO MEDIUM RISK"),
        _ => (1, "LOW RISK"),
    };
    let percentile = if score >= BANKRUPTCY_SCORE {
        0
    } else {
        score.saturating_sub(1)
    };
    json!({
        "modelCode": model_code,
        "score": score,
        "percentileRanking": percentile,
        "riskClass": { "code": code, "definition": definition },
    })
}

/// Score factor codes and texts. The codes are the sandbox's own.
const SCORE_FACTORS: [(&str, &str); 6] = [
    ("021", "NUMBER OF ACCOUNTS WITH DELINQUENCY"),
    ("033", "RECENT DELINQUENCY ON TRADE ACCOUNTS"),
    ("041", "HIGH UTILIZATION OF AVAILABLE CREDIT"),
    ("065", "LENGTH OF TIME SINCE MOST RECENT ACCOUNT OPENED"),
    ("110", "NUMBER OF RECENT COMMERCIAL INQUIRIES"),
    ("203", "HIGH BALANCE TO HIGH CREDIT RATIO"),
];

fn score_factors(bin: &Bin) -> Value {
    let factor = |code: &str, definition: &str| json!({ "code": code, "definition": definition });
    match bin.scenario() {
        BinScenario::ThinFile => json!([factor(
            "999",
            "INSUFFICIENT TRADE DATA TO CALCULATE A SCORE"
        )]),
        BinScenario::Bankruptcy => {
            json!([factor("301", "BANKRUPTCY FILED IN THE LAST TWO YEARS")])
        }
        BinScenario::LowScore => json!([
            factor(SCORE_FACTORS[0].0, SCORE_FACTORS[0].1),
            factor(SCORE_FACTORS[1].0, SCORE_FACTORS[1].1),
            factor(SCORE_FACTORS[2].0, SCORE_FACTORS[2].1),
        ]),
        BinScenario::OfacWarning | BinScenario::Standard => {
            let start = bin.rng("factors").range(0, SCORE_FACTORS.len() as u64 - 1) as usize;
            let factors: Vec<Value> = (0..3)
                .map(|offset| {
                    let (code, definition) = SCORE_FACTORS[(start + offset) % SCORE_FACTORS.len()];
                    factor(code, definition)
                })
                .collect();
            Value::Array(factors)
        }
    }
}

/// NAICS industry codes and titles the sandbox picks from.
const NAICS_CODES: [(&str, &str); 5] = [
    ("722511", "Full-Service Restaurants"),
    ("541511", "Custom Computer Programming Services"),
    (
        "238220",
        "Plumbing, Heating, and Air-Conditioning Contractors",
    ),
    (
        "445110",
        "Supermarkets and Other Grocery Retailers (except Convenience Retailers)",
    ),
    ("811111", "General Automotive Repair"),
];

async fn premier_profile(body: ProviderJson<ReportRequest>) -> Result<Json<Value>, ExperianError> {
    let request_id = body.derive_id("business_credit.premierprofiles");
    let request = body.value;

    let bin = Bin::parse(request.bin)?;
    ExperianError::require(request.subcode, "subcode")?;

    let scenario = bin.scenario();
    let mut rng = bin.rng("premierprofile");
    let thin = scenario == BinScenario::ThinFile;
    let bankrupt = scenario == BinScenario::Bankruptcy;

    let (current_dbt, average_dbt) = match scenario {
        BinScenario::ThinFile => (0, 0),
        BinScenario::LowScore => (45, 38),
        _ => (rng.range(0, 15), rng.range(0, 20)),
    };
    let (dbt30, dbt60, dbt90, dbt91_plus) = match scenario {
        BinScenario::ThinFile => (0, 0, 0, 0),
        BinScenario::LowScore => (20, 15, 10, 5),
        _ => (rng.range(0, 10), rng.range(0, 3), rng.range(0, 1), 0),
    };
    let balance = if thin { 0 } else { rng.range(5, 250) * 1_000 };
    let (naics_code, naics_title) = *rng.pick(&NAICS_CODES);

    Ok(Json(json!({
        "requestId": request_id,
        "success": true,
        "results": {
            "expandedCreditSummary": {
                "currentDbt": current_dbt,
                "monthlyAverageDbt": average_dbt,
                "allTradelineCount": bin.tradeline_count(),
                "allTradelineBalance": balance,
                "bankruptcyIndicator": bankrupt,
                "bankruptcyCount": u64::from(bankrupt),
                "judgmentIndicator": false,
                "judgmentCount": 0,
                "taxLienIndicator": false,
                "taxLienCount": 0,
                "uccFilings": bin.ucc_filings(),
                "uccDerogatoryCount": 0,
            },
            "tradePaymentTotals": {
                "tradelines": {
                    "dbt30": dbt30,
                    "dbt60": dbt60,
                    "dbt90": dbt90,
                    "dbt91Plus": dbt91_plus,
                }
            },
            "commercialFraudShieldSummary": {
                "activeBusinessIndicator": true,
                "ofacMatchWarning": u64::from(scenario == BinScenario::OfacWarning),
            },
            "businessFacts": {
                "yearsInBusiness": if thin { 1 } else { rng.range(2, 30) },
                "naicsCodes": [{ "code": naics_code, "definition": naics_title }],
                "salesRevenue": rng.range(150, 5_000) * 1_000,
            },
        }
    })))
}

/// Returns the tax id's nine digits with dashes removed.
fn parse_tax_id(tax_id: &str) -> Result<String, ExperianError> {
    let digits: String = tax_id.chars().filter(|c| *c != '-').collect();
    if digits.len() != 9 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ExperianError::invalid_field(
            "taxId",
            "9 digits, with or without dashes",
        ));
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_keeps_tax_id_suffix() {
        let bin = search_bin("Acme", "CA", Some("123456999"));
        assert_eq!(bin.0.len(), 9);
        assert!(bin.0.starts_with('7'));
        assert!(bin.0.ends_with("999"));
        assert_eq!(bin.scenario(), BinScenario::ThinFile);
    }

    #[test]
    fn bin_without_tax_id_is_standard() {
        for name in ["Acme", "Globex", "Initech", "Umbrella", "Hooli"] {
            let bin = search_bin(name, "CA", None);
            assert_eq!(bin.scenario(), BinScenario::Standard, "bin {}", bin.0);
        }
    }

    #[test]
    fn bin_parse_rejects_bad_format() {
        for value in ["12345678", "1234567890", "12345678a", ""] {
            assert!(
                Bin::parse(Some(value.to_owned())).is_err(),
                "value {value:?}"
            );
        }
        assert!(Bin::parse(None).is_err());
    }
}

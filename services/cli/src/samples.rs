//! Sample applications built from real SBA 7(a) loans.
//!
//! Business name, address, industry, entity type, amount and term come from the SBA row.
//! Owners, tax ids, dates of birth and bank links are generated from a SHA-256 hash of the
//! row, so the same row always yields the same application, and every generated value is
//! marked synthetic. Generated SSNs start with 666, an area number the Social Security
//! Administration never issues, so none can belong to a real person.
//!
//! Each sample gets a sandbox scenario chosen from the hash: most are clean, the others use
//! the sandbox's documented triggers (owner SSN suffixes, tax-id suffixes, bank personas) to
//! reach fail, review and error outcomes.

use std::path::Path;

use anyhow::Context;
use dataorch_contracts::application::{Address, ApplicationData, BankLink, Business, Loan, Owner};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Requested amount from which the shipped template requires a manual review, in USD.
pub const LARGE_REQUEST_USD: f64 = 1_000_000.0;

/// A sample's sandbox scenario, named by its effect on a run of the shipped template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Every check passes.
    Clean,
    /// The owner's credit score is 540 (SSN suffix 0005): the decision fails and halts.
    OwnerLowScore,
    /// The tax id ends in 0000: KYB reports a TIN mismatch and the KYB check halts.
    TinMismatch,
    /// Business credit has a thin file (tax id suffix 999): the decision sends it to review.
    BusinessThinFile,
    /// The bank is down (`error_INSTITUTION_DOWN`): the run ends with an internal error.
    BankInstitutionDown,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Clean => "clean",
            Scenario::OwnerLowScore => "owner_low_score",
            Scenario::TinMismatch => "tin_mismatch",
            Scenario::BusinessThinFile => "business_thin_file",
            Scenario::BankInstitutionDown => "bank_institution_down",
        }
    }

    pub fn parse(name: &str) -> Option<Scenario> {
        [
            Scenario::Clean,
            Scenario::OwnerLowScore,
            Scenario::TinMismatch,
            Scenario::BusinessThinFile,
            Scenario::BankInstitutionDown,
        ]
        .into_iter()
        .find(|scenario| scenario.name() == name)
    }

    fn from_hash(byte: u8) -> Scenario {
        match byte % 20 {
            0 | 1 => Scenario::OwnerLowScore,
            2 => Scenario::TinMismatch,
            3 => Scenario::BusinessThinFile,
            4 => Scenario::BankInstitutionDown,
            _ => Scenario::Clean,
        }
    }
}

/// The columns of the SBA file that samples use.
#[derive(Debug, Deserialize)]
struct SbaRow {
    locationid: String,
    borrname: String,
    borrstreet: String,
    borrcity: String,
    borrstate: String,
    borrzip: String,
    grossapproval: f64,
    approvaldate: String,
    subprogram: String,
    terminmonths: u32,
    naicscode: String,
    naicsdescription: String,
    businesstype: String,
    businessage: String,
    loanstatus: String,
    jobssupported: String,
}

const FIRST_NAMES: &[&str] = &[
    "Maria", "James", "Aisha", "Wei", "Carlos", "Priya", "John", "Fatima", "David", "Mei", "Ahmed",
    "Sofia", "Michael", "Olga", "Kwame", "Elena", "Robert", "Yuki", "Luis", "Grace",
];
const LAST_NAMES: &[&str] = &[
    "Garcia",
    "Smith",
    "Okafor",
    "Chen",
    "Rodriguez",
    "Patel",
    "Johnson",
    "Haddad",
    "Kim",
    "Nguyen",
    "Brown",
    "Kowalski",
    "Mensah",
    "Rossi",
    "Williams",
    "Tanaka",
    "Hernandez",
    "Murphy",
    "Silva",
    "Cohen",
];
const TITLES: &[&str] = &["Owner", "President", "Managing Member", "CEO", "Partner"];

/// Reads the SBA CSV and builds one application per row, in file order.
pub fn from_csv(path: &Path) -> anyhow::Result<Vec<ApplicationData>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let mut applications = Vec::new();
    for (index, row) in reader.deserialize::<SbaRow>().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", path.display(), index + 2))?;
        applications.push(from_row(&row));
    }
    Ok(applications)
}

fn digits(hash: &[u8], offset: usize, count: usize) -> String {
    (0..count)
        .map(|i| char::from(b'0' + hash[(offset + i) % hash.len()] % 10))
        .collect()
}

fn pick<'a>(list: &[&'a str], byte: u8) -> &'a str {
    list[byte as usize % list.len()]
}

fn from_row(row: &SbaRow) -> ApplicationData {
    let seed = format!(
        "{}|{}|{}|{}",
        row.locationid, row.borrname, row.approvaldate, row.grossapproval
    );
    let hash = Sha256::digest(seed.as_bytes());
    let scenario = Scenario::from_hash(hash[0]);

    let mut tin = format!("8{}", digits(&hash, 1, 8));
    match scenario {
        Scenario::TinMismatch => tin.replace_range(5.., "0000"),
        Scenario::BusinessThinFile => tin.replace_range(6.., "999"),
        // Keep clean tax ids away from every sandbox suffix trigger.
        _ => tin.replace_range(6.., &format!("{}5", &digits(&hash, 9, 2))),
    }

    let owner_count = 1 + usize::from(hash[10] % 3 == 0);
    let address = Address {
        line1: row.borrstreet.clone(),
        line2: None,
        city: title_case(&row.borrcity),
        state: row.borrstate.clone(),
        postal_code: row.borrzip.clone(),
    };
    let owners = (0..owner_count)
        .map(|index| {
            let base = 11 + index * 5;
            let mut ssn = format!("666{}", digits(&hash, base, 6));
            if scenario == Scenario::OwnerLowScore && index == 0 {
                ssn.replace_range(5.., "0005");
            } else {
                // Clean owners end in 1-9 then 7, never one of the sandbox's 000x suffixes.
                ssn.replace_range(7.., &format!("{}7", 1 + hash[base + 3] % 9));
            }
            let year = 1955 + u32::from(hash[base + 1]) % 41;
            let month = 1 + u32::from(hash[base + 2]) % 12;
            let day = 1 + u32::from(hash[base + 4]) % 28;
            Owner {
                first_name: pick(FIRST_NAMES, hash[base]).to_string(),
                last_name: pick(LAST_NAMES, hash[base + 1]).to_string(),
                title: Some(pick(TITLES, hash[base + 2]).to_string()),
                ownership_percent: Some(if owner_count == 1 { 100.0 } else { 50.0 }),
                ssn,
                date_of_birth: format!("{year:04}-{month:02}-{day:02}"),
                address: None,
            }
        })
        .collect();

    let persona = match scenario {
        Scenario::BankInstitutionDown => "error_INSTITUTION_DOWN",
        _ => [
            "user_good",
            "user_credit_profile_good",
            "user_credit_profile_excellent",
        ][hash[21] as usize % 3],
    };
    let public_token = format!("public-sandbox-{persona}-{}", hex::encode(&hash[24..32]));

    let mut metadata = Map::new();
    metadata.insert(
        "source".into(),
        json!("SBA 7(a) FOIA loan-level data, FY2021 approvals (public domain)"),
    );
    metadata.insert("sba_location_id".into(), json!(row.locationid));
    metadata.insert("sba_approval_date".into(), json!(row.approvaldate));
    metadata.insert("sba_loan_status".into(), json!(row.loanstatus));
    metadata.insert(
        "jobs_supported".into(),
        json!(row.jobssupported.parse::<i64>().ok()),
    );
    metadata.insert(
        "synthetic_fields".into(),
        json!(["business.tin", "owners", "bank"]),
    );
    metadata.insert("sandbox_scenario".into(), json!(scenario.name()));

    ApplicationData {
        external_id: Some(format!(
            "sba-{}-{}",
            row.locationid,
            hex::encode(&hash[..4])
        )),
        business: Business {
            name: row.borrname.clone(),
            dba: None,
            tin,
            entity_type: Some(row.businesstype.clone()),
            naics_code: Some(row.naicscode.clone()),
            industry: Some(row.naicsdescription.clone()),
            business_age: Some(row.businessage.clone()),
            address,
        },
        owners,
        loan: Loan {
            requested_amount: row.grossapproval,
            term_months: row.terminmonths,
            purpose: Some(format!("SBA 7(a) {}", row.subprogram)),
        },
        bank: Some(BankLink { public_token }),
        synthetic: true,
        metadata,
    }
}

fn title_case(text: &str) -> String {
    text.split_whitespace()
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// Every scenario, in the order samples list them.
pub const SCENARIOS: [Scenario; 5] = [
    Scenario::Clean,
    Scenario::OwnerLowScore,
    Scenario::TinMismatch,
    Scenario::BusinessThinFile,
    Scenario::BankInstitutionDown,
];

/// Takes the first `limit` applications, then the first application of each scenario the
/// selection lacks, so that a small sample still reaches every outcome.
pub fn select(applications: Vec<ApplicationData>, limit: usize) -> Vec<ApplicationData> {
    let mut selected: Vec<ApplicationData> = applications.iter().take(limit).cloned().collect();
    for scenario in SCENARIOS {
        let present = selected.iter().any(|a| scenario_of(a) == Some(scenario));
        if !present
            && let Some(first) = applications
                .iter()
                .find(|a| scenario_of(a) == Some(scenario))
        {
            selected.push(first.clone());
        }
    }
    selected
}

/// Returns the scenario recorded in a sample's metadata.
pub fn scenario_of(application: &ApplicationData) -> Option<Scenario> {
    application
        .metadata
        .get("sandbox_scenario")
        .and_then(Value::as_str)
        .and_then(Scenario::parse)
}

/// Loads samples written by `dataorch samples generate`.
pub fn load(path: &Path) -> anyhow::Result<Vec<ApplicationData>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_path() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/sba-7a-fy2021-sample.csv")
    }

    #[test]
    fn generation_is_deterministic_and_valid() {
        let first = from_csv(&csv_path()).unwrap();
        let second = from_csv(&csv_path()).unwrap();
        assert_eq!(first, second);
        assert!(first.len() > 400, "{}", first.len());
        for application in &first {
            application
                .validate()
                .unwrap_or_else(|errors| panic!("{}: {errors:?}", application.business.name));
            assert!(application.synthetic);
            for owner in &application.owners {
                assert!(owner.ssn.starts_with("666"), "{}", owner.ssn);
            }
        }
    }

    #[test]
    fn shipped_samples_match_generation() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/applications.json");
        let shipped = load(&path).unwrap();
        let generated = select(from_csv(&csv_path()).unwrap(), 40);
        assert_eq!(shipped, generated, "run `dataorch samples generate`");
        for scenario in SCENARIOS {
            let present = shipped.iter().any(|a| scenario_of(a) == Some(scenario));
            assert!(present, "{scenario:?} missing");
        }
    }

    #[test]
    fn every_scenario_occurs() {
        let applications = from_csv(&csv_path()).unwrap();
        for scenario in SCENARIOS {
            let count = applications
                .iter()
                .filter(|a| scenario_of(a) == Some(scenario))
                .count();
            assert!(count > 0, "{scenario:?} never occurs");
        }
        let large = applications
            .iter()
            .filter(|a| a.loan.requested_amount >= LARGE_REQUEST_USD)
            .count();
        assert!(large > 0);
    }
}

//! The Business object: its `open` form after creation and its finished review.

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::StoredBusiness;
use super::submission::Submission;
use crate::derive::SeededRng;

/// Review outcome, chosen from magic values in the submission. The first match wins, in
/// the order of the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Name contains "Unregistered Business": no Secretary of State record.
    Unregistered,
    /// Name contains "Similar Name Business": the name matched only approximately.
    SimilarName,
    /// A person is named exactly "J Doe": one watchlist hit.
    WatchlistHit,
    /// TIN ends in `0000`: the IRS has no record of this TIN with this name.
    TinMismatch,
    Approved,
}

impl Outcome {
    fn of(submission: &Submission) -> Outcome {
        let name = submission.name.to_lowercase();
        if name.contains("unregistered business") {
            Outcome::Unregistered
        } else if name.contains("similar name business") {
            Outcome::SimilarName
        } else if submission
            .people
            .iter()
            .any(|person| person.name == "J Doe")
        {
            Outcome::WatchlistHit
        } else if submission
            .tin
            .as_deref()
            .is_some_and(|tin| tin.ends_with("0000"))
        {
            Outcome::TinMismatch
        } else {
            Outcome::Approved
        }
    }

    fn status(self) -> &'static str {
        match self {
            Outcome::Unregistered | Outcome::TinMismatch => "rejected",
            Outcome::SimilarName | Outcome::WatchlistHit => "in_review",
            Outcome::Approved => "approved",
        }
    }
}

/// Renders the business as `POST /v1/businesses` returns it: submitted data only.
pub(super) fn open_business(stored: &StoredBusiness) -> Value {
    let submission = &stored.submission;
    let tin = submission.tin.as_deref().map(|tin| {
        json!({
            "tin": mask_tin(tin),
            "name": null,
            "verified": false,
            "mismatch": false,
            "unknown": false,
            "issued": false,
            "error": null,
        })
    });
    business(
        stored,
        "open",
        json!({
            "tin": tin,
            "formation": null,
            "registrations": [],
            "watchlist": null,
            "review": null,
        }),
    )
}

/// Renders the business with its finished review, as `GET /v1/businesses/{id}` returns it.
pub(super) fn finished_business(stored: &StoredBusiness) -> Value {
    let submission = &stored.submission;
    let outcome = Outcome::of(submission);
    let formation = Formation::derive(submission);

    let registrations = if outcome == Outcome::Unregistered {
        json!([])
    } else {
        json!([{
            "status": "active",
            "jurisdiction": "DOMESTIC",
            "entity_type": formation.entity_type,
            "state": submission.home_state(),
            "file_number": formation.file_number,
            "registration_date": formation.date,
        }])
    };
    let formation_json = if outcome == Outcome::Unregistered {
        Value::Null
    } else {
        json!({
            "entity_type": formation.entity_type,
            "formation_date": formation.date,
            "formation_state": submission.home_state(),
        })
    };

    business(
        stored,
        outcome.status(),
        json!({
            "tin": submission.tin.as_deref().map(|tin| finished_tin(tin, submission, outcome)),
            "formation": formation_json,
            "registrations": registrations,
            "watchlist": watchlist(submission, outcome),
            "review": { "tasks": review_tasks(submission, outcome) },
        }),
    )
}

/// Builds the fields shared by both forms and merges in `results`.
fn business(stored: &StoredBusiness, status: &str, results: Value) -> Value {
    let submission = &stored.submission;
    let timestamp = stored
        .created_at
        .to_rfc3339_opts(SecondsFormat::Millis, true);

    let addresses: Vec<Value> = submission
        .addresses
        .iter()
        .map(|address| {
            let street = match &address.address_line2 {
                Some(line2) => format!("{} {line2}", address.address_line1),
                None => address.address_line1.clone(),
            };
            json!({
                "address_line1": address.address_line1,
                "address_line2": address.address_line2,
                "city": address.city,
                "state": address.state,
                "postal_code": address.postal_code,
                "full_address": format!(
                    "{street}, {}, {} {}",
                    address.city, address.state, address.postal_code
                ),
                "submitted": true,
            })
        })
        .collect();

    let mut body = json!({
        "object": "business",
        "id": stored.id,
        "external_id": submission.external_id,
        "name": submission.name,
        "status": status,
        "created_at": timestamp,
        "updated_at": timestamp,
        "names": [{ "name": submission.name, "submitted": true, "type": "legal" }],
        "addresses": addresses,
        "orders": [],
    });
    if let (Some(body), Value::Object(results)) = (body.as_object_mut(), results) {
        body.extend(results);
    }
    body
}

/// Formation facts derived from a hash of the name and TIN.
struct Formation {
    entity_type: &'static str,
    /// `YYYY-MM-DD`.
    date: String,
    file_number: String,
}

impl Formation {
    fn derive(submission: &Submission) -> Formation {
        let tin = submission.tin.as_deref().unwrap_or("");
        let mut rng =
            SeededRng::from_parts(&[b"kyb.formation", submission.name.as_bytes(), tin.as_bytes()]);
        let entity_type = *rng.pick(&["LLC", "CORPORATION"]);
        let date = format!(
            "{:04}-{:02}-{:02}",
            rng.range(1995, 2022),
            rng.range(1, 12),
            rng.range(1, 28)
        );
        Formation {
            entity_type,
            date,
            file_number: rng.digits(8),
        }
    }
}

fn mask_tin(tin: &str) -> String {
    let last4 = tin.get(tin.len().saturating_sub(4)..).unwrap_or("");
    format!("*****{last4}")
}

fn finished_tin(tin: &str, submission: &Submission, outcome: Outcome) -> Value {
    let mismatch = outcome == Outcome::TinMismatch;
    json!({
        "tin": mask_tin(tin),
        "name": if mismatch { Value::Null } else { json!(submission.name.to_uppercase()) },
        "verified": !mismatch,
        "mismatch": mismatch,
        "unknown": false,
        "issued": true,
        "error": null,
    })
}

fn watchlist(submission: &Submission, outcome: Outcome) -> Value {
    if outcome != Outcome::WatchlistHit {
        return json!({ "hit_count": 0, "agencies": [], "lists": [] });
    }
    let person = submission
        .people
        .iter()
        .find(|person| person.name == "J Doe")
        .map_or("J Doe", |person| person.name.as_str());
    json!({
        "hit_count": 1,
        "agencies": [{
            "abbr": "OFAC",
            "name": "Office of Foreign Assets Control",
            "org": "U.S. Department of the Treasury",
        }],
        "lists": [{
            "abbr": "SDN",
            "title": "Specially Designated Nationals",
            "results": [{ "entity_name": person, "score": 1.0 }],
        }],
    })
}

fn review_tasks(submission: &Submission, outcome: Outcome) -> Vec<Value> {
    let mut tasks = Vec::with_capacity(5);

    tasks.push(if outcome == Outcome::SimilarName {
        task(
            "name",
            "name",
            "Business Name",
            "warning",
            "Similar Match",
            "Similar match identified to the submitted Business Name",
        )
    } else {
        task(
            "name",
            "name",
            "Business Name",
            "success",
            "Verified",
            "Match identified to the submitted Business Name",
        )
    });

    tasks.push(task(
        "address",
        "address_verification",
        "Office Address",
        "success",
        "Verified",
        "Match identified to the submitted Office Address",
    ));

    if submission.tin.is_some() {
        tasks.push(if outcome == Outcome::TinMismatch {
            task(
                "tin",
                "tin",
                "TIN Match",
                "failure",
                "Mismatch",
                "The IRS has no record of the submitted TIN and Business Name combination",
            )
        } else {
            task(
                "tin",
                "tin",
                "TIN Match",
                "success",
                "Found",
                "The IRS has a record for the submitted TIN and Business Name combination",
            )
        });
    }

    tasks.push(if outcome == Outcome::Unregistered {
        task(
            "sos",
            "sos_active",
            "SOS Filings",
            "failure",
            "Not Found",
            "No Secretary of State filings were found for the submitted business",
        )
    } else {
        task(
            "sos",
            "sos_active",
            "SOS Filings",
            "success",
            "Active",
            "The business is active in its state of formation",
        )
    });

    tasks.push(if outcome == Outcome::WatchlistHit {
        task(
            "watchlist",
            "watchlist",
            "Watchlist",
            "failure",
            "Hits",
            "1 watchlist hit was identified",
        )
    } else {
        task(
            "watchlist",
            "watchlist",
            "Watchlist",
            "success",
            "No Hits",
            "No watchlist hits were identified",
        )
    });

    tasks
}

fn task(
    category: &str,
    key: &str,
    label: &str,
    status: &str,
    sub_label: &str,
    message: &str,
) -> Value {
    json!({
        "category": category,
        "key": key,
        "label": label,
        "sub_label": sub_label,
        "status": status,
        "message": message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_last_four_digits() {
        assert_eq!(mask_tin("123451234"), "*****1234");
        assert_eq!(mask_tin("12"), "*****12");
    }
}

//! The `POST /v1/businesses` request body and its validation.

use serde::Deserialize;

/// The request body as sent. Every field is optional here so that a missing field is
/// reported as a 422 validation error with its parameter, as Middesk does, and not as a
/// parse error.
#[derive(Deserialize)]
pub(super) struct CreateBusinessRequest {
    name: Option<String>,
    addresses: Option<Vec<AddressInput>>,
    tin: Option<TinInput>,
    people: Option<Vec<PersonInput>>,
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct AddressInput {
    address_line1: Option<String>,
    address_line2: Option<String>,
    city: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
}

#[derive(Deserialize)]
struct TinInput {
    tin: Option<String>,
}

/// A person tied to the business. Middesk's `title` is accepted and ignored.
#[derive(Deserialize)]
struct PersonInput {
    name: Option<String>,
}

/// A validated business submission.
pub(super) struct Submission {
    pub(super) name: String,
    pub(super) addresses: Vec<Address>,
    /// Nine digits, dashes removed.
    pub(super) tin: Option<String>,
    pub(super) people: Vec<Person>,
    pub(super) external_id: Option<String>,
}

pub(super) struct Address {
    pub(super) address_line1: String,
    pub(super) address_line2: Option<String>,
    pub(super) city: String,
    /// Two-letter state code, upper case.
    pub(super) state: String,
    pub(super) postal_code: String,
}

pub(super) struct Person {
    pub(super) name: String,
}

/// A validation failure, returned to the client as 422.
#[derive(Debug)]
pub(super) struct Invalid {
    pub(super) message: String,
    /// Path of the field at fault, such as `addresses[0].city`.
    pub(super) parameter: String,
}

impl Invalid {
    fn new(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            message: message.into(),
            parameter: parameter.into(),
        }
    }
}

impl Submission {
    /// Checks required fields: `name`, at least one complete address, a nine-digit
    /// `tin.tin` when `tin` is sent, and a name for every person.
    pub(super) fn validate(request: CreateBusinessRequest) -> Result<Submission, Invalid> {
        let name = required(request.name, "name")?;

        let inputs = request.addresses.unwrap_or_default();
        if inputs.is_empty() {
            return Err(Invalid::new(
                "addresses",
                "at least one address is required",
            ));
        }
        let addresses = inputs
            .into_iter()
            .enumerate()
            .map(|(index, input)| validate_address(index, input))
            .collect::<Result<Vec<_>, _>>()?;

        let tin = match request.tin {
            Some(input) => Some(validate_tin(input)?),
            None => None,
        };

        let people = request
            .people
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, input)| {
                Ok(Person {
                    name: required(input.name, &format!("people[{index}].name"))?,
                })
            })
            .collect::<Result<Vec<_>, Invalid>>()?;

        Ok(Submission {
            name,
            addresses,
            tin,
            people,
            external_id: request.external_id,
        })
    }

    /// Returns the state of the first address, where the sandbox places the formation.
    pub(super) fn home_state(&self) -> &str {
        self.addresses
            .first()
            .map_or("", |address| address.state.as_str())
    }
}

fn validate_address(index: usize, input: AddressInput) -> Result<Address, Invalid> {
    let field = |name: &str| format!("addresses[{index}].{name}");

    let state = required(input.state, &field("state"))?.to_ascii_uppercase();
    if state.len() != 2 || !state.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        return Err(Invalid::new(
            field("state"),
            "state must be a two-letter state code, such as CA",
        ));
    }

    Ok(Address {
        address_line1: required(input.address_line1, &field("address_line1"))?,
        address_line2: input.address_line2.filter(|line| !line.trim().is_empty()),
        city: required(input.city, &field("city"))?,
        state,
        postal_code: required(input.postal_code, &field("postal_code"))?,
    })
}

fn validate_tin(input: TinInput) -> Result<String, Invalid> {
    let tin: String = required(input.tin, "tin.tin")?
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if tin.len() != 9 || !tin.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(Invalid::new(
            "tin.tin",
            "tin must be 9 digits, with or without dashes",
        ));
    }
    Ok(tin)
}

/// Returns the trimmed value, or an error naming `parameter` when it is missing or blank.
fn required(value: Option<String>, parameter: &str) -> Result<String, Invalid> {
    match value.map(|value| value.trim().to_owned()) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(Invalid::new(parameter, format!("{parameter} is required"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> CreateBusinessRequest {
        serde_json::from_value(json).unwrap()
    }

    fn valid_json() -> serde_json::Value {
        serde_json::json!({
            "name": "Acme Bakery LLC",
            "addresses": [{
                "address_line1": "1 Main St",
                "city": "Springfield",
                "state": "il",
                "postal_code": "62701"
            }],
            "tin": { "tin": "12-3456789" }
        })
    }

    #[test]
    fn validate_normalizes_state_and_tin() {
        let submission = Submission::validate(request(valid_json())).unwrap();
        assert_eq!(submission.addresses[0].state, "IL");
        assert_eq!(submission.tin.as_deref(), Some("123456789"));
    }

    #[test]
    fn validate_names_missing_parameter() {
        let cases = [
            ("/name", "name"),
            ("/addresses/0/city", "addresses[0].city"),
            ("/tin/tin", "tin.tin"),
        ];
        for (pointer, parameter) in cases {
            let mut json = valid_json();
            *json.pointer_mut(pointer).unwrap() = serde_json::Value::Null;
            let invalid = Submission::validate(request(json))
                .err()
                .expect("validation should fail");
            assert_eq!(invalid.parameter, parameter, "after removing {pointer}");
        }
    }

    #[test]
    fn validate_rejects_short_tin() {
        let mut json = valid_json();
        json["tin"]["tin"] = "1234".into();
        let invalid = Submission::validate(request(json))
            .err()
            .expect("validation should fail");
        assert_eq!(invalid.parameter, "tin.tin");
    }

    #[test]
    fn validate_requires_an_address() {
        let mut json = valid_json();
        json["addresses"] = serde_json::json!([]);
        let invalid = Submission::validate(request(json))
            .err()
            .expect("validation should fail");
        assert_eq!(invalid.parameter, "addresses");
    }
}

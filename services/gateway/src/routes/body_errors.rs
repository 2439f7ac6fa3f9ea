//! Turns serde's deserialization errors into field errors in the API's words, without the
//! offending value, which may be personal data (an SSN sent as a number, say).

use crate::error::FieldErrors;

/// Builds the field error for a failure at `path` (serde_path_to_error's form,
/// `owners[0].ssn`) with serde's `message`.
pub fn field_error(path: &str, message: &str) -> FieldErrors {
    let mut field = dotted(path);
    let text = if let Some(name) = between(message, "missing field `", "`") {
        field = join(&field, name);
        format!("The {field} field is required.")
    } else if let Some(name) = between(message, "unknown field `", "`") {
        field = join(&field, name);
        format!("The {field} field is not allowed.")
    } else if let Some(expected) = message
        .split_once(", expected ")
        .map(|(_, expected)| expected)
    {
        format!("The {field} field must be {}.", describe(expected))
    } else {
        format!("The {field} field is invalid.")
    };
    let mut errors = FieldErrors::new();
    errors.insert(
        if field.is_empty() {
            "body".to_string()
        } else {
            field
        },
        vec![text],
    );
    errors
}

/// `owners[0].ssn` → `owners.0.ssn`; serde_path_to_error's `.` (the root) → empty.
fn dotted(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    path.replace('[', ".").replace(']', "")
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// Names serde's expected type in plain words.
fn describe(expected: &str) -> String {
    let expected = expected.trim();
    let words = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or greater",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a string" => "a string",
        "a boolean" => "true or false",
        "a sequence" => "an array",
        "a map" => "an object",
        _ if expected.starts_with("struct ") => "an object",
        _ if expected.starts_with("a borrowed string") => "a string",
        _ => return "of the expected type".to_string(),
    };
    words.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_never_quoted() {
        let errors = field_error(
            "owners[0].ssn",
            "invalid type: integer `666123456`, expected a string",
        );
        let text = format!("{errors:?}");
        assert!(!text.contains("666123456"), "{text}");
        assert_eq!(
            errors["owners.0.ssn"][0],
            "The owners.0.ssn field must be a string."
        );
    }

    #[test]
    fn missing_field_is_required() {
        let errors = field_error(".", "missing field `business`");
        assert_eq!(errors["business"][0], "The business field is required.");
        let nested = field_error("business", "missing field `tin`");
        assert_eq!(
            nested["business.tin"][0],
            "The business.tin field is required."
        );
    }

    #[test]
    fn unknown_field_is_named() {
        let errors = field_error(
            "business",
            "unknown field `colour`, expected one of `name`, `tin`",
        );
        assert_eq!(
            errors["business.colour"][0],
            "The business.colour field is not allowed."
        );
    }

    #[test]
    fn numeric_types_are_plain_words() {
        let errors = field_error(
            "loan.term_months",
            "invalid type: floating point `1.5`, expected u32",
        );
        assert_eq!(
            errors["loan.term_months"][0],
            "The loan.term_months field must be a whole number, 0 or greater."
        );
    }
}

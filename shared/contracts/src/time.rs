//! Timestamps in the wire format: UTC, microsecond precision, `Z` suffix.

use chrono::{DateTime, SecondsFormat, Utc};

/// Returns the current time truncated to microseconds, the precision the API shows.
pub fn now_micros() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

/// Truncates a timestamp to whole microseconds so that a value survives a round trip
/// through the API and both databases unchanged.
pub fn truncate_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let micros = at.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(at)
}

/// Formats a timestamp as `2026-03-12T15:53:59.000000Z`.
pub fn format_api(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Serde adapter for `DateTime<Utc>` fields in API bodies.
pub mod api_format {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_api(at))
    }
}

/// Serde adapter for optional `DateTime<Utc>` fields in API bodies.
pub mod api_format_option {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_str(&super::format_api(at)),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_has_microseconds_and_z() {
        let at = DateTime::from_timestamp_micros(1_773_330_839_000_001).unwrap();
        assert_eq!(format_api(&at), "2026-03-12T15:53:59.000001Z");
    }

    #[test]
    fn truncate_drops_nanoseconds() {
        let at = DateTime::from_timestamp(10, 123_456_789).unwrap();
        assert_eq!(truncate_micros(at).timestamp_subsec_nanos(), 123_456_000);
    }
}

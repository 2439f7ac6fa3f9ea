//! Metric names of the gateway, with their units and labels.

/// Histogram, seconds: HTTP requests from arrival to answer. Labels: `route` (the route
/// template, such as `/api/v2/applications/{id}`, or `unmatched`), `method`, `status`.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "dataorch_http_request_duration_seconds";

//! W3C trace context across service boundaries: HTTP headers on the way in and to
//! providers, and the `trace_context` map (also sent as NATS headers) of every command and
//! event. With these, one run is one trace from the execute request through every command,
//! event, step and provider call to the projector's write.
//!
//! Span names and attributes follow the OpenTelemetry HTTP and messaging conventions:
//! `messaging.system = "nats"`, `messaging.operation.type`, and destination names without
//! ids (`dataorch.events`, not `dataorch.events.42`).

use std::collections::{BTreeMap, HashMap};

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Attribute names used on spans, in one place.
pub mod attributes {
    pub const MESSAGING_SYSTEM: &str = "nats";
}

/// Installs the W3C trace-context propagator as the global one.
pub fn install_propagator() {
    let propagator = TextMapCompositePropagator::new(vec![Box::new(TraceContextPropagator::new())]);
    opentelemetry::global::set_text_map_propagator(propagator);
}

/// Returns the context of `span` as a carrier map (`traceparent`, `tracestate`).
pub fn inject(span: &tracing::Span) -> BTreeMap<String, String> {
    let mut carrier = HashMap::new();
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut carrier)
    });
    carrier.into_iter().collect()
}

fn extract(carrier: &BTreeMap<String, String>) -> opentelemetry::Context {
    let carrier: HashMap<String, String> = carrier
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&carrier))
}

/// Makes the context in `carrier` the parent of `span`; an empty carrier changes nothing.
pub fn set_parent(span: &tracing::Span, carrier: &BTreeMap<String, String>) {
    if carrier.is_empty() {
        return;
    }
    let context = extract(carrier);
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// Adds a link from `span` to the context in `carrier`, for work that relates to another
/// trace without being part of it.
pub fn add_link(span: &tracing::Span, carrier: &BTreeMap<String, String>) {
    let context = extract(carrier);
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.add_link(span_context);
    }
}

/// Reads the W3C headers of an HTTP request into a carrier map.
pub fn carrier_from_headers(headers: &axum::http::HeaderMap) -> BTreeMap<String, String> {
    let mut carrier = BTreeMap::new();
    for name in ["traceparent", "tracestate"] {
        if let Some(value) = headers.get(name).and_then(|value| value.to_str().ok())
            && value.len() <= 512
        {
            carrier.insert(name.to_string(), value.to_string());
        }
    }
    carrier
}

/// Records the span's OpenTelemetry trace and span ids in its `trace_id` and `span_id`
/// fields, so that every log line inside it carries them.
pub fn record_ids(span: &tracing::Span) {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span.record("trace_id", span_context.trace_id().to_string());
    span.record("span_id", span_context.span_id().to_string());
}

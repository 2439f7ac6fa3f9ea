//! One trace per run: the execute request's W3C context reaches every command and event
//! hop, every step, every provider call and the projector's writes, with no orphan span.
//! A separate test binary, because it installs the global subscriber and tracer.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use dataorch::samples::Scenario;
use dataorch_config::LogFormat;
use dataorch_tests::{FUNDING_TEMPLATE, TestApp, sample};
use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use tracing_subscriber::EnvFilter;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[tokio::test]
async fn run_is_one_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    dataorch_telemetry::install(
        &provider,
        "dataorch-test",
        EnvFilter::new("info"),
        LogFormat::Text,
    )
    .unwrap();

    let app = TestApp::start().await;
    let application_id = app
        .create_application(&sample(Scenario::Clean, false))
        .await;
    let response = app
        .http
        .post(format!("{}/api/v2/data_orchestration/execute", app.base))
        .bearer_auth(&app.token)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&json!({ "template_id": FUNDING_TEMPLATE, "application_id": application_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let log_id = response.json::<serde_json::Value>().await.unwrap()["data"]["id"]
        .as_i64()
        .unwrap();
    app.wait_for_status(&application_id, log_id, &[4]).await;
    app.wait_for_projection().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let run: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_context.trace_id().to_string() == TRACE_ID)
        .collect();
    let ids: HashMap<SpanId, &SpanData> =
        run.iter().map(|s| (s.span_context.span_id(), *s)).collect();
    let named = |name: &str| {
        run.iter()
            .filter(|s| s.name == name)
            .copied()
            .collect::<Vec<_>>()
    };
    let parent_name = |span: &SpanData| {
        ids.get(&span.parent_span_id)
            .map(|p| p.name.to_string())
            .unwrap_or_default()
    };

    // No orphans: every span's parent is the caller's span or another span of the run.
    let caller = SpanId::from_hex(CALLER_SPAN).unwrap();
    for span in &run {
        assert!(
            span.parent_span_id == caller || ids.contains_key(&span.parent_span_id),
            "orphan span {} (parent {})",
            span.name,
            span.parent_span_id
        );
    }

    let server = named("POST /api/v2/data_orchestration/execute");
    assert_eq!(
        server.len(),
        1,
        "{:?}",
        run.iter()
            .map(|s| s.name.to_string())
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(server[0].parent_span_id, caller);
    assert_eq!(server[0].span_kind, SpanKind::Server);

    let sent = named("send dataorch.commands.execute");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        parent_name(sent[0]),
        "POST /api/v2/data_orchestration/execute"
    );
    assert_eq!(sent[0].span_kind, SpanKind::Producer);
    assert_eq!(
        attribute(sent[0], "messaging.system").as_deref(),
        Some("nats")
    );

    // The worker's and the projector's processing of the command both hang off the send.
    let processed = named("process dataorch.commands.execute");
    assert_eq!(processed.len(), 2, "worker and projector");
    for span in &processed {
        assert_eq!(parent_name(span), "send dataorch.commands.execute");
        assert_eq!(span.span_kind, SpanKind::Consumer);
        assert_eq!(
            attribute(span, "messaging.operation.type").as_deref(),
            Some("process")
        );
    }

    for step in [
        "kyb",
        "kyb_check",
        "business_credit",
        "owner_credit",
        "bank_data",
        "decision",
        "large_request_review",
    ] {
        let spans = named(&format!("step {step}"));
        assert_eq!(spans.len(), 1, "step {step}");
        assert_eq!(parent_name(spans[0]), "process dataorch.commands.execute");
    }

    let clients: Vec<&SpanData> = run
        .iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .copied()
        .collect();
    assert!(clients.len() >= 8, "{} provider calls", clients.len());
    for span in &clients {
        assert!(
            parent_name(span).starts_with("step "),
            "client span under {}",
            parent_name(span)
        );
    }

    let events = named("send dataorch.events");
    assert!(events.len() >= 16, "{} events", events.len());
    let writes = named("process dataorch.events");
    assert!(!writes.is_empty());
    for span in &writes {
        assert_eq!(parent_name(span), "send dataorch.events");
    }

    // Destination names carry no ids.
    for span in &run {
        if let Some(destination) = attribute(span, "messaging.destination.name") {
            assert!(
                !destination.chars().any(|c| c.is_ascii_digit()),
                "{destination}"
            );
        }
    }
    app.shutdown().await;
}

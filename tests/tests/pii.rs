//! Personal data stays out of logs and streams: a full flow with known SSNs, dates of birth
//! and bank tokens, then a search of every log line (at debug level) and every message in
//! every stream for them. A separate test binary, because it installs the global log
//! subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use dataorch::samples::Scenario;
use dataorch_tests::{FUNDING_TEMPLATE, TestApp, sample};
use futures::StreamExt;
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buffer);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every message body and header of one stream, as text.
async fn stream_text(jetstream: &async_nats::jetstream::Context, name: &str) -> String {
    let mut stream = jetstream
        .get_stream(name)
        .await
        .unwrap_or_else(|e| panic!("stream {name}: {e}"));
    let count = stream.info().await.unwrap().state.messages;
    if count == 0 {
        return String::new();
    }
    let consumer = stream
        .create_consumer(OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut text = String::new();
    for _ in 0..count {
        let Ok(Some(Ok(message))) =
            tokio::time::timeout(Duration::from_secs(2), messages.next()).await
        else {
            break;
        };
        text.push_str(&String::from_utf8_lossy(&message.payload));
        if let Some(headers) = &message.headers {
            text.push_str(&format!("{headers:?}"));
        }
        text.push('\n');
    }
    text
}

#[tokio::test]
async fn personal_data_stays_out_of_logs_and_streams() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug,h2=info,hyper=info,hyper_util=info,reqwest=info,sqlx=info")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .unwrap();

    let app = TestApp::start().await;
    let halting = sample(Scenario::OwnerLowScore, false);
    let failing = sample(Scenario::BankInstitutionDown, false);
    let mut secrets = Vec::new();
    for application in [&halting, &failing] {
        for owner in &application.owners {
            let ssn = &owner.ssn;
            secrets.push(ssn.clone());
            secrets.push(format!("{}-{}-{}", &ssn[..3], &ssn[3..5], &ssn[5..]));
            secrets.push(owner.date_of_birth.clone());
            // Experian's form, as sent to the owner-credit provider.
            secrets.push(owner.date_of_birth.replace('-', ""));
        }
        secrets.push(application.bank.as_ref().unwrap().public_token.clone());
    }

    // The full flow: register, execute (one halts, one errors), continue, and a keyed repeat.
    let halting_id = app.create_application(&halting).await;
    let failing_id = app.create_application(&failing).await;
    let response = app
        .http
        .post(format!("{}/api/v2/data_orchestration/execute", app.base))
        .bearer_auth(&app.token)
        .header("Idempotency-Key", "pii-check")
        .json(&json!({ "template_id": FUNDING_TEMPLATE, "application_id": halting_id }))
        .send()
        .await
        .unwrap();
    let log_id = response.json::<serde_json::Value>().await.unwrap()["data"]["id"]
        .as_i64()
        .unwrap();
    let failing_log = app.execute(FUNDING_TEMPLATE, &failing_id).await;
    app.wait_for_status(&halting_id, log_id, &[3]).await;
    app.wait_for_status(&failing_id, failing_log, &[5]).await;
    let answer = app
        .put(
            &format!("/api/v2/data_orchestration/{log_id}/continue_pass"),
            json!({ "application_id": halting_id }),
        )
        .await;
    assert_eq!(answer.status, 202);
    app.wait_for_status(&halting_id, log_id, &[4]).await;
    let mut wrong_type = serde_json::to_value(&halting).unwrap();
    wrong_type["owners"][0]["ssn"] = json!(halting.owners[0].ssn.parse::<u64>().unwrap());
    assert_eq!(
        app.post("/api/v2/applications", wrong_type).await.status,
        422
    );

    // Everything the API returned about the runs.
    let mut api_text = String::new();
    for (application_id, log_id) in [(&halting_id, log_id), (&failing_id, failing_log)] {
        api_text.push_str(&app.log(application_id, log_id).await.to_string());
        api_text.push_str(
            &app.get(&format!("/api/v2/applications/{application_id}"))
                .await
                .body
                .to_string(),
        );
    }

    app.wait_for_projection().await;
    let broker = &app.stack().broker;
    let names = &broker.names;
    let prefix = names.commands_stream.trim_end_matches("_COMMANDS");
    let mut stream_text_all = String::new();
    for name in [
        names.commands_stream.clone(),
        names.events_stream.clone(),
        names.dead_letter_stream.clone(),
        format!("KV_{prefix}_IDEMPOTENCY"),
    ] {
        stream_text_all.push_str(&stream_text(&broker.jetstream, &name).await);
    }
    assert!(
        stream_text_all.contains("enc:v1:"),
        "the execute commands carry sealed fields"
    );

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(logs.contains("run completed"), "the log capture works");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a log line contains {secret:?}"
        );
        assert!(
            !stream_text_all.contains(secret.as_str()),
            "a stream message contains {secret:?}"
        );
        assert!(
            !api_text.contains(secret.as_str()),
            "an API answer contains {secret:?}"
        );
    }
    app.shutdown().await;
}

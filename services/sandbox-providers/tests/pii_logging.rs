//! Checks that the sandbox never logs a consumer's SSN or date of birth.
//!
//! This test has its own binary because it installs a global tracing subscriber: a
//! thread-local one misses log lines when other tests register tracing callsites on other
//! threads at the same time.

#[allow(dead_code)]
#[path = "api/harness.rs"]
mod harness;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

use harness::TestSandbox;

/// Collects formatted log lines in memory.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn credit_report_logs_no_ssn_or_dob() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");

    let sandbox = TestSandbox::start().await;
    let mut request = json!({
        "consumerPii": {
            "primaryApplicant": {
                "name": { "firstName": "Jon", "lastName": "Consumer" },
                "dob": { "dob": "01011980" },
                "ssn": { "ssn": "987650003" }
            }
        }
    });
    let valid = sandbox
        .post("/consumer_credit/v2/credit-report", &request)
        .await;
    request["consumerPii"]["primaryApplicant"]["ssn"]["ssn"] = json!(987650003);
    let invalid = sandbox
        .post("/consumer_credit/v2/credit-report", &request)
        .await;
    sandbox.stop().await;

    assert_eq!(valid.status, 200, "{}", valid.text);
    assert_eq!(invalid.status, 400, "{}", invalid.text);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("provider request completed"),
        "log capture is not working: {text}"
    );
    assert!(!text.contains("987650003"), "SSN in logs: {text}");
    assert!(!text.contains("01011980"), "date of birth in logs: {text}");
}

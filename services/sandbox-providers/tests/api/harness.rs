//! Starts an in-process sandbox on a free local port and wraps HTTP calls to it.

use std::time::Duration;

use dataorch_sandbox::{SandboxConfig, run};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running sandbox. Dropping it stops the server.
pub struct TestSandbox {
    base_url: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A response with its body read as text and, when it parses, as JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub text: String,
    /// `Value::Null` when the body is not JSON.
    pub json: Value,
}

impl TestSandbox {
    pub async fn start() -> TestSandbox {
        TestSandbox::start_with(SandboxConfig::default()).await
    }

    pub async fn start_with(config: SandboxConfig) -> TestSandbox {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("read local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(run(config, listener, async move {
            let _ = stopped.await;
        }));

        TestSandbox {
            base_url: format!("http://{address}"),
            client: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub async fn get(&self, path: &str) -> Reply {
        read(self.client.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        read(self.client.delete(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_with(path, body, &[]).await
    }

    /// Posts `body` as JSON with extra headers, such as `Idempotency-Key`.
    pub async fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.client.post(self.url(path)).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request).await
    }

    /// Posts a raw body, for requests that are not valid JSON.
    pub async fn post_raw(&self, path: &str, body: &'static str) -> Reply {
        let request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        read(request).await
    }

    /// Signals shutdown and checks that the server stopped cleanly within 10 seconds.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let server = self.server.take().expect("server task present");
        let result = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("sandbox stops within 10 seconds")
            .expect("server task did not panic");
        result.expect("run returns Ok");
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn read(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request reaches the sandbox");
    let status = response.status().as_u16();
    let text = response.text().await.expect("read response body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply { status, text, json }
}

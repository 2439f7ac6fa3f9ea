//! The whole dataorch stack in one process: sandbox providers, projector, workers and
//! gateway, each started through its library `run` function with its own shutdown signal.
//! Used by `dataorch dev`, `dataorch demo` and the integration tests.

use std::net::SocketAddr;

use anyhow::Context;
use dataorch_config::Settings;
use dataorch_messaging::Broker;
use dataorch_storage::DatabaseConnection;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running service and the switch that stops it.
struct Service {
    name: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Service {
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task
            .await
            .with_context(|| format!("{} panicked", self.name))?
            .with_context(|| format!("{} failed", self.name))
    }
}

fn spawn<F, Fut>(name: impl Into<String>, start: F) -> Service
where
    F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (stop, mut receiver) = watch::channel(false);
    let shutdown = Box::pin(async move {
        let _ = receiver.wait_for(|stopped| *stopped).await;
    });
    let task = tokio::spawn(start(shutdown));
    Service {
        name: name.into(),
        stop,
        task,
    }
}

/// A running stack.
pub struct Stack {
    pub settings: Settings,
    pub gateway_address: SocketAddr,
    pub sandbox_address: SocketAddr,
    pub broker: Broker,
    pub db: DatabaseConnection,
    gateway: Option<Service>,
    workers: Vec<Service>,
    projector: Option<Service>,
    sandbox: Option<Service>,
}

impl Stack {
    /// Starts every service. `settings.nats.url` must point at a running server; the sandbox
    /// and gateway bind the given listeners, and provider connections are pointed at the
    /// sandbox.
    pub async fn start(
        mut settings: Settings,
        gateway_listener: TcpListener,
        sandbox_listener: TcpListener,
        workers: usize,
    ) -> anyhow::Result<Stack> {
        let sandbox_address = sandbox_listener.local_addr()?;
        let base = format!("http://{sandbox_address}");
        settings.providers.kyb.base_url = format!("{base}/kyb");
        settings.providers.business_credit.base_url = format!("{base}/business_credit");
        settings.providers.consumer_credit.base_url = format!("{base}/consumer_credit");
        settings.providers.bank_data.base_url = format!("{base}/bank_data");
        if settings.security.data_key.expose().is_empty() {
            // A local stack is one process, so a key of its own is enough.
            settings.security.data_key =
                dataorch_config::Secret::new(dataorch_contracts::sealing::DataKey::generate());
        }
        settings.validate_gateway()?;
        settings.validate_worker()?;
        settings.validate_projector()?;

        let broker = Broker::connect(&settings.nats)
            .await
            .context("connecting to NATS")?;
        let db = dataorch_storage::connect(&settings.database)
            .await
            .context("opening the database")?;

        let sandbox_config = dataorch_sandbox::SandboxConfig {
            default_latency_ms: settings.sandbox.latency_ms,
        };
        let sandbox = spawn("sandbox-providers", move |shutdown| {
            dataorch_sandbox::run(sandbox_config, sandbox_listener, shutdown)
        });

        let projector = {
            let (settings, broker, db) = (settings.clone(), broker.clone(), db.clone());
            spawn("projector", move |shutdown| {
                dataorch_projector::run(settings, broker, db, shutdown)
            })
        };

        let mut stack = Stack {
            gateway_address: gateway_listener.local_addr()?,
            sandbox_address,
            broker: broker.clone(),
            db: db.clone(),
            settings: settings.clone(),
            gateway: None,
            workers: Vec::new(),
            projector: Some(projector),
            sandbox: Some(sandbox),
        };
        for _ in 0..workers {
            stack.add_worker();
        }
        stack.gateway = Some(spawn("gateway", move |shutdown| {
            dataorch_gateway::run(settings, broker, db, gateway_listener, shutdown)
        }));
        Ok(stack)
    }

    /// Starts one more worker replica.
    pub fn add_worker(&mut self) {
        let (settings, broker) = (self.settings.clone(), self.broker.clone());
        let name = format!("worker-{}", self.workers.len() + 1);
        self.workers.push(spawn(name, move |shutdown| {
            dataorch_worker::run(settings, broker, shutdown)
        }));
    }

    /// Stops one worker replica gracefully; returns false when none is left.
    pub async fn stop_worker(&mut self) -> anyhow::Result<bool> {
        match self.workers.pop() {
            Some(worker) => worker.stop().await.map(|_| true),
            None => Ok(false),
        }
    }

    /// Stops the projector; [`Stack::start_projector`] starts a new one.
    pub async fn stop_projector(&mut self) -> anyhow::Result<()> {
        if let Some(projector) = self.projector.take() {
            projector.stop().await?;
        }
        Ok(())
    }

    pub fn start_projector(&mut self) {
        let (settings, broker, db) = (self.settings.clone(), self.broker.clone(), self.db.clone());
        self.projector = Some(spawn("projector", move |shutdown| {
            dataorch_projector::run(settings, broker, db, shutdown)
        }));
    }

    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway_address)
    }

    pub fn sandbox_url(&self) -> String {
        format!("http://{}", self.sandbox_address)
    }

    /// Stops the gateway first (no new commands), then workers, the projector and the
    /// sandbox, and reports the first failure.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let mut services = Vec::new();
        services.extend(self.gateway.take());
        services.append(&mut self.workers);
        services.extend(self.projector.take());
        services.extend(self.sandbox.take());
        let mut first_error = None;
        for service in services {
            let name = service.name.clone();
            if let Err(error) = service.stop().await {
                tracing::error!(service = %name, error = %format!("{error:#}"), "service failed");
                first_error.get_or_insert(error);
            }
        }
        self.db.clone().close().await.ok();
        first_error.map_or(Ok(()), Err)
    }
}

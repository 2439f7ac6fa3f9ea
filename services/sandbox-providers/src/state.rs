//! Shared state: call counters, created KYB businesses and the shutdown signal.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::SandboxConfig;
use crate::kyb::BusinessStore;

/// Call counts by idempotency key, then by endpoint name (`POST /kyb/v1/businesses`).
pub(crate) type CallCounts = BTreeMap<String, BTreeMap<String, u64>>;

/// State shared by all requests of one sandbox service. Clones share the same state.
#[derive(Clone)]
pub struct SandboxState {
    inner: Arc<Inner>,
}

struct Inner {
    config: SandboxConfig,
    calls: Mutex<CallCounts>,
    /// Successful responses by key and endpoint; the first one is billed, later ones replay it.
    successes: Mutex<CallCounts>,
    businesses: BusinessStore,
    /// Becomes `true` once the server starts shutting down.
    shutdown: watch::Sender<bool>,
}

impl Default for SandboxState {
    fn default() -> Self {
        SandboxState::new(SandboxConfig::default())
    }
}

impl SandboxState {
    /// Creates empty state: no calls counted, no businesses created.
    pub fn new(config: SandboxConfig) -> Self {
        let (shutdown, _) = watch::channel(false);
        SandboxState {
            inner: Arc::new(Inner {
                config,
                calls: Mutex::new(CallCounts::new()),
                successes: Mutex::new(CallCounts::new()),
                businesses: BusinessStore::default(),
                shutdown,
            }),
        }
    }

    pub(crate) fn default_latency(&self) -> Duration {
        Duration::from_millis(self.inner.config.default_latency_ms)
    }

    pub(crate) fn businesses(&self) -> &BusinessStore {
        &self.inner.businesses
    }

    /// Counts one call of `endpoint` under `key` and returns the count including this call.
    pub(crate) fn record_call(&self, key: &str, endpoint: &str) -> u64 {
        let mut calls = self.calls();
        let count = calls
            .entry(key.to_owned())
            .or_default()
            .entry(endpoint.to_owned())
            .or_default();
        *count += 1;
        *count
    }

    /// Counts one successful response of `endpoint` under `key`, as a provider that honours
    /// idempotency keys does: the first success is billed, later ones replay it for free.
    pub(crate) fn record_success(&self, key: &str, endpoint: &str) {
        let mut successes = self
            .inner
            .successes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *successes
            .entry(key.to_owned())
            .or_default()
            .entry(endpoint.to_owned())
            .or_default() += 1;
    }

    /// Returns the successful responses of one key by endpoint.
    pub(crate) fn successes_for(&self, key: &str) -> BTreeMap<String, u64> {
        let successes = self
            .inner
            .successes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        successes.get(key).cloned().unwrap_or_default()
    }

    /// Returns the successful answers of every key.
    pub(crate) fn all_successes(&self) -> CallCounts {
        self.inner
            .successes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn all_calls(&self) -> CallCounts {
        self.calls().clone()
    }

    /// Returns the counts of one idempotency key, empty when the key was never seen.
    pub(crate) fn calls_for(&self, key: &str) -> BTreeMap<String, u64> {
        self.calls().get(key).cloned().unwrap_or_default()
    }

    pub(crate) fn reset_calls(&self) {
        self.calls().clear();
        self.inner
            .successes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Wakes every request that waits in [`SandboxState::sleep_unless_shutdown`].
    pub(crate) fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Sleeps for `duration`, returning early with `false` if the server starts shutting down.
    pub(crate) async fn sleep_unless_shutdown(&self, duration: Duration) -> bool {
        if duration.is_zero() {
            return true;
        }
        let mut shutdown = self.inner.shutdown.subscribe();
        tokio::select! {
            () = tokio::time::sleep(duration) => true,
            _ = shutdown.wait_for(|stopping| *stopping) => false,
        }
    }

    /// Locks the counters. A panic in another request cannot leave them half-updated, so a
    /// poisoned lock is used as is.
    fn calls(&self) -> MutexGuard<'_, CallCounts> {
        self.inner
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

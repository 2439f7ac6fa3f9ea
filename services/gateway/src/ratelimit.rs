//! Per-key rate limits with the IETF `RateLimit-Policy` and `RateLimit` headers.
//!
//! Each API key gets a GCRA bucket (the `governor` crate): `burst` requests at once, refilled
//! at `per_second`. Tenants can have their own quota (`rate_limit.tenants.<id>`). The buckets
//! live in each gateway replica's memory, so with N replicas behind a load balancer a key
//! can make up to N times its quota.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use dataorch_config::{RateLimitQuota, RateLimitSettings};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type KeyedLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

struct Bucket {
    limiter: KeyedLimiter,
    quota: RateLimitQuota,
}

/// The limiters of one gateway replica.
#[derive(Clone)]
pub struct RateLimits {
    enabled: bool,
    default: Arc<Bucket>,
    tenants: Arc<HashMap<String, Bucket>>,
}

/// The outcome of one request's check, rendered as headers.
pub struct Decision {
    pub allowed: bool,
    /// Seconds until a request would be allowed again (0 when allowed).
    pub retry_after_secs: u64,
    headers: HeaderMap,
}

impl Decision {
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
}

fn bucket(quota: &RateLimitQuota) -> Bucket {
    let rate = NonZeroU32::new(quota.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(quota.burst.max(1)).unwrap_or(NonZeroU32::MIN);
    let limiter = RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        .with_middleware::<StateInformationMiddleware>();
    Bucket {
        limiter,
        quota: quota.clone(),
    }
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        RateLimits {
            enabled: settings.enabled,
            default: Arc::new(bucket(&settings.default)),
            tenants: Arc::new(
                settings
                    .tenants
                    .iter()
                    .map(|(tenant, quota)| (tenant.clone(), bucket(quota)))
                    .collect(),
            ),
        }
    }

    /// Counts one request of `key_id` (of `tenant_id`) and says whether it may proceed.
    pub fn check(&self, tenant_id: &str, key_id: &str) -> Option<Decision> {
        if !self.enabled {
            return None;
        }
        let bucket = self.tenants.get(tenant_id).unwrap_or(&self.default);
        let quota = &bucket.quota;
        // The policy window is the time a full burst takes to refill.
        let window = u64::from(quota.burst)
            .div_ceil(u64::from(quota.per_second.max(1)))
            .max(1);
        let mut headers = HeaderMap::new();
        let policy = format!("\"key\";q={};w={window}", quota.burst);
        if let Ok(value) = HeaderValue::from_str(&policy) {
            headers.insert("ratelimit-policy", value);
        }

        let (allowed, remaining, reset_secs) = match bucket.limiter.check_key(&key_id.to_string()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = quota.burst.saturating_sub(remaining);
                (
                    true,
                    remaining,
                    u64::from(missing).div_ceil(u64::from(quota.per_second.max(1))),
                )
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                (false, 0, ceil_secs(wait))
            }
        };
        let state = format!("\"key\";r={remaining};t={reset_secs}");
        if let Ok(value) = HeaderValue::from_str(&state) {
            headers.insert("ratelimit", value);
        }
        Some(Decision {
            allowed,
            retry_after_secs: if allowed { 0 } else { reset_secs.max(1) },
            headers,
        })
    }

    /// Drops the state of keys that have been idle long enough to be full again, so memory
    /// stays bounded by the number of recently active keys.
    pub fn shrink(&self) {
        self.default.limiter.retain_recent();
        for bucket in self.tenants.values() {
            bucket.limiter.retain_recent();
        }
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_second: u32, burst: u32) -> RateLimitSettings {
        RateLimitSettings {
            enabled: true,
            default: RateLimitQuota { per_second, burst },
            tenants: HashMap::from([(
                "big".to_string(),
                RateLimitQuota {
                    per_second: 100,
                    burst: 100,
                },
            )]),
        }
    }

    #[test]
    fn burst_then_rejected() {
        let limits = RateLimits::new(&settings(1, 3));
        for expected_remaining in [2, 1, 0] {
            let decision = limits.check("t", "k").unwrap();
            assert!(decision.allowed);
            let state = decision.headers["ratelimit"].to_str().unwrap().to_string();
            assert!(
                state.contains(&format!("r={expected_remaining};")),
                "{state}"
            );
        }
        let rejected = limits.check("t", "k").unwrap();
        assert!(!rejected.allowed);
        assert!(rejected.retry_after_secs >= 1);
        assert_eq!(rejected.headers["ratelimit-policy"], "\"key\";q=3;w=3");
    }

    #[test]
    fn keys_and_tenants_are_separate() {
        let limits = RateLimits::new(&settings(1, 1));
        assert!(limits.check("t", "a").unwrap().allowed);
        assert!(!limits.check("t", "a").unwrap().allowed);
        assert!(limits.check("t", "b").unwrap().allowed);
        for _ in 0..50 {
            assert!(limits.check("big", "c").unwrap().allowed);
        }
    }

    #[test]
    fn disabled_checks_nothing() {
        let mut config = settings(1, 1);
        config.enabled = false;
        assert!(RateLimits::new(&config).check("t", "k").is_none());
    }
}

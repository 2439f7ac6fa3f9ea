//! Integration tests, one module per API area, each test on its own stack with a real
//! nats-server.

mod applications;
mod hardening;
mod invariants;
mod logs;
mod orchestration;
mod runs;
mod templates;

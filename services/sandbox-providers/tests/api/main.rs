//! Integration tests: each test starts the sandbox on 127.0.0.1 port 0 and calls it over
//! HTTP with reqwest. Modules mirror the path prefixes.

mod bank_data;
mod business_credit;
mod consumer_credit;
mod counters;
mod harness;
mod kyb;
mod scenarios;

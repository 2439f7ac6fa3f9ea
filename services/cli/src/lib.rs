//! Library side of the `dataorch` command line: the in-process stack, the local
//! `nats-server`, administration helpers, sample data and the demo. The integration tests
//! use the same pieces.

pub mod admin;
pub mod demo;
pub mod nats;
pub mod samples;
pub mod stack;

use std::path::PathBuf;

/// Returns the repository root: the current directory when it holds `templates/`, else the
/// checkout this binary was built from.
pub fn repository_root() -> PathBuf {
    let current = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    if current.join("templates").is_dir() && current.join("samples").is_dir() {
        return current;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

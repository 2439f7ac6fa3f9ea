#!/usr/bin/env bash
# Runs the test suite: unit tests, the integration tests (which start their own nats-server
# per test), and the fault suite (which runs the service binaries as separate processes).
# Installs a current nats-server into .tools/ first when needed.
# Set DATAORCH_TEST_DATABASE_URL=postgres://USER@HOST:PORT/DB to run the read-model tests
# against PostgreSQL as well (each test creates and drops its own database there).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/install-tools.sh"
export PATH="$root/.tools/bin:$PATH"

# The fault suite starts the service binaries, so build them first.
cargo build --bins
cargo test --workspace "$@"

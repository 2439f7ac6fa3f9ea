#!/usr/bin/env bash
# Runs the test suite: unit tests and the integration tests, which start their own
# nats-server per test. Installs a current nats-server into .tools/ first when needed.
# Set DATAORCH_TEST_DATABASE_URL=postgres://USER@HOST:PORT/DB to run the read-model tests
# against PostgreSQL as well (each test creates and drops its own database there).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/install-tools.sh"
export PATH="$root/.tools/bin:$PATH"

cargo test --workspace "$@"

#!/usr/bin/env bash
# Runs the fault-injection suite: the service binaries as separate processes against a real
# nats-server, with workers killed, the broker and the projector restarted, and services
# stopped with SIGTERM while runs are in flight. Takes a few minutes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/install-tools.sh"
export PATH="$root/.tools/bin:$PATH"

cargo build --bins
cargo test -p dataorch-tests --test faults -- --test-threads 2 "$@"

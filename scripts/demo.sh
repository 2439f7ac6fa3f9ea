#!/usr/bin/env bash
# Runs the end-to-end demo: a local stack on SQLite, sample applications from real SBA
# loans, a run of the funding template for each, a continue-as-pass, then a clean stop.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/install-tools.sh"
export PATH="$root/.tools/bin:$PATH"

echo "==> building dataorch (the first build takes a few minutes)" >&2
cargo build --quiet -p dataorch
exec "$root/target/debug/dataorch" demo

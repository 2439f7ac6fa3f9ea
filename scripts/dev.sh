#!/usr/bin/env bash
# Starts the local development stack in the foreground and prints the gateway URL and a
# development API key. Extra arguments go to `dataorch dev` (see `--help`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/install-tools.sh"
export PATH="$root/.tools/bin:$PATH"

cargo build --quiet -p dataorch
exec "$root/target/debug/dataorch" dev "$@"

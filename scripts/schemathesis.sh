#!/usr/bin/env bash
# Checks the gateway against its own OpenAPI document with Schemathesis: starts a local
# development stack on free loopback ports, registers sample applications and starts runs
# so that real ids exist, then lets Schemathesis generate requests for every operation.
# Exits non-zero on any 5xx response and on any response whose status code, content type,
# headers or body the document does not allow.
#
# Environment:
#   SCHEMATHESIS_MAX_EXAMPLES  test cases per operation and phase (default 200; a full run
#                              uses 2000 or more)
#   SCHEMATHESIS_SEED          random seed, to repeat a run
#   SCHEMATHESIS_WORKERS       concurrent Schemathesis workers (default 2)
#   SCHEMATHESIS_VERSION       the PyPI version to install (default 4.32.5)
#   SCHEMATHESIS_REPORT_DIR    where to keep the JUnit report (default: a temporary folder,
#                              deleted at the end)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-200}"
workers="${SCHEMATHESIS_WORKERS:-2}"
version="${SCHEMATHESIS_VERSION:-4.32.5}"
tools="$root/.tools"
venv="$tools/schemathesis"
target_dir="$tools/schemathesis-pip"

# --- Schemathesis, from PyPI, into .tools/ -------------------------------------------------

schemathesis_cmd=()
if [ -x "$venv/bin/schemathesis" ] && [ "$("$venv/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" = "$version" ]; then
  schemathesis_cmd=("$venv/bin/schemathesis")
elif rm -rf "$venv" && python3 -m venv "$venv" 2>/dev/null; then
  echo "==> installing schemathesis $version into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$version"
  schemathesis_cmd=("$venv/bin/schemathesis")
else
  # Without the venv module (Debian's python3-venv), install into a plain folder instead.
  echo "==> python3 -m venv failed; installing schemathesis $version into $target_dir" >&2
  rm -rf "$venv"
  pip_args=(install --quiet --disable-pip-version-check --upgrade --target "$target_dir" "schemathesis==$version")
  # --target installs only into .tools/, so overriding Debian's externally-managed guard
  # touches nothing of the system's.
  python3 -m pip "${pip_args[@]}" 2>/dev/null || python3 -m pip "${pip_args[@]}" --break-system-packages
  schemathesis_cmd=(env "PYTHONPATH=$target_dir" python3 -c 'import sys; from schemathesis.cli import schemathesis; sys.argv[0] = "schemathesis"; sys.exit(schemathesis())')
fi
python_cmd="$(dirname "${schemathesis_cmd[0]}")/python"
[ -x "$python_cmd" ] || python_cmd=python3

# --- The development stack -------------------------------------------------------------------

"$root/scripts/install-tools.sh"
export PATH="$root/.tools/bin:$PATH"
echo "==> building dataorch" >&2
cargo build --quiet -p dataorch

work="$(mktemp -d)"
stack_pid=""
cleanup() {
  if [ -n "$stack_pid" ] && kill -0 "$stack_pid" 2>/dev/null; then
    echo "==> stopping the stack" >&2
    kill -TERM "$stack_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
      kill -0 "$stack_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port="$(free_port)"
sandbox_port="$(free_port)"
while [ "$sandbox_port" = "$port" ]; do sandbox_port="$(free_port)"; done

echo "==> starting the stack on 127.0.0.1:$port" >&2
# A quota far above what Schemathesis sends, so that operations are tested instead of
# returning 429 (the default quota is 100 requests per second with bursts of 200).
DATAORCH__RATE_LIMIT__DEFAULT__PER_SECOND=100000 DATAORCH__RATE_LIMIT__DEFAULT__BURST=100000 \
  "$root/target/debug/dataorch" dev --port "$port" --sandbox-port "$sandbox_port" \
  --data-dir "$work/data" >"$work/stack.log" 2>&1 &
stack_pid=$!

token=""
for _ in $(seq 1 600); do
  token="$(sed -n 's/^ *API key  *\([^ ]*\)$/\1/p' "$work/stack.log" | head -n 1)"
  [ -n "$token" ] && break
  if ! kill -0 "$stack_pid" 2>/dev/null; then
    echo "error: the stack exited before printing an API key; its log follows" >&2
    cat "$work/stack.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$token" ]; then
  echo "error: the stack printed no API key within 60 s; its log follows" >&2
  cat "$work/stack.log" >&2
  exit 1
fi
base="http://127.0.0.1:$port"

# --- Ids that exist ----------------------------------------------------------------------------

# Registers three sample applications and starts a run of the funding template for each.
# Then writes a Schemathesis config whose dictionaries put these ids into half of the
# generated path parameters and execute and continue bodies, so that the success paths are
# tested too.
echo "==> registering sample applications and starting runs" >&2
BASE="$base" TOKEN="$token" CONFIG="$work/schemathesis.toml" "$python_cmd" - <<'PY'
import json
import os
import time
import urllib.request

base, token = os.environ["BASE"], os.environ["TOKEN"]

def call(method, path, body=None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)

with open("samples/applications.json") as file:
    samples = json.load(file)[:3]
application_ids, log_ids = [], []
for sample in samples:
    application = call("POST", "/api/v2/applications", sample)["data"]
    application_ids.append(application["id"])
    log = call("POST", "/api/v2/data_orchestration/execute",
               {"template_id": "smb-funding", "application_id": application["id"]})["data"]
    log_ids.append(log["id"])
template_ids = [template["id"] for template in call("GET", "/api/v2/data_orchestration/templates")["data"]]
template_ids += ["smb-funding"]

# Give the runs time to reach their steps, so that logs with steps are served.
deadline = time.time() + 20
while time.time() < deadline:
    logs = [call("GET", f"/api/v2/applications/{a}/data_orch/{l}")["data"]
            for a, l in zip(application_ids, log_ids)]
    if all(log["status"] >= 3 for log in logs):
        break
    time.sleep(0.5)
print("    applications:", ", ".join(application_ids))
print("    logs:", ", ".join(f"{log['id']} (status {log['status']})" for log in logs))

def toml_list(values):
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"

with open(os.environ["CONFIG"], "w") as file:
    file.write(f"""
[dictionaries.application_ids]
values = {toml_list(application_ids)}

[dictionaries.template_ids]
values = {toml_list(template_ids)}

[dictionaries.log_ids]
values = {toml_list(log_ids)}

[parameters]
"path.application_id" = {{ dictionary = "application_ids", probability = 0.5 }}
"path.id" = {{ dictionary = "application_ids", probability = 0.5 }}
"path.log_id" = {{ dictionary = "log_ids", probability = 0.5 }}
"body.application_id" = {{ dictionary = "application_ids", probability = 0.5 }}
"body.template_id" = {{ dictionary = "template_ids", probability = 0.5 }}
""")
PY

# --- Schemathesis --------------------------------------------------------------------------------

report_dir="${SCHEMATHESIS_REPORT_DIR:-$work/report}"
seed_args=()
[ -n "${SCHEMATHESIS_SEED:-}" ] && seed_args=(--seed "$SCHEMATHESIS_SEED")

echo "==> schemathesis: $max_examples examples per operation" >&2
status=0
"${schemathesis_cmd[@]}" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "$max_examples" \
  --workers "$workers" \
  --request-timeout 30 \
  --report junit --report-dir "$report_dir" \
  "${seed_args[@]}" || status=$?

if [ "$status" -ne 0 ]; then
  echo "error: schemathesis found failures (exit status $status); the stack's last errors and warnings follow" >&2
  grep -E "ERROR|WARN" "$work/stack.log" | tail -n 20 >&2 || true
fi
exit "$status"

#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 and prints a URL for it that the
# tests can use to create databases. Starts the machine's cluster, or installs one with
# apt-get when none exists. Progress goes to stderr; only the URL goes to stdout.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }

if ! command -v pg_isready >/dev/null 2>&1 && [ ! -d /etc/postgresql ]; then
  echo "installing PostgreSQL with apt-get" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql >/dev/null
fi
export PATH="$PATH:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -n 1)"

if ! ready; then
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  echo "starting PostgreSQL $version" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do ready && break; sleep 0.5; done
  ready || { echo "error: PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
fi

if psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  echo "postgres://postgres@127.0.0.1:5432/test"
  exit 0
fi

# A fresh cluster asks for a password over TCP: set one for a dedicated role.
echo "creating role dataorch and database test" >&2
as_postgres "psql -q -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dataorch') THEN CREATE ROLE dataorch LOGIN CREATEDB PASSWORD 'dataorch'; END IF; END \\\$\\\$;\""
as_postgres "psql -Atc \"SELECT 1 FROM pg_database WHERE datname = 'test'\" | grep -q 1 || createdb -O dataorch test"
echo "postgres://dataorch:dataorch@127.0.0.1:5432/test"

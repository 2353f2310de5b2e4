#!/usr/bin/env bash
# Runs every check and test of sync1688 on a fresh Debian machine: makes sure a
# PostgreSQL server answers on 127.0.0.1:5432 (installing and starting one when needed),
# then formatting, lints, and the whole test suite against PostgreSQL and SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${TEST_POSTGRES_URL:=postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export TEST_POSTGRES_URL

pg_answers() {
  command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432
}

start_clusters() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 0
  pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _; do
    pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start 2>/dev/null || true
  done
}

if ! pg_answers; then
  echo "test.sh: PostgreSQL does not answer on 127.0.0.1:5432; starting it"
  start_clusters
  if ! pg_answers && ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "test.sh: installing PostgreSQL"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    start_clusters
    # A fresh Debian cluster wants a password over TCP: give the test user one.
    for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  fi
  for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
fi
if ! pg_answers; then
  echo "test.sh: PostgreSQL is still not answering on 127.0.0.1:5432; the tests need it" >&2
  exit 1
fi

# The labels tests render PDFs with poppler (pdftoppm, pdfinfo, pdffonts, pdftotext) and
# embed a DejaVu font: they fail without them.
if ! command -v pdftoppm >/dev/null || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  echo "test.sh: installing poppler-utils and fonts-dejavu-core for the labels tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils fonts-dejavu-core >/dev/null
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked --all-targets

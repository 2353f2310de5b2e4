#!/usr/bin/env bash
# The daemon's load tests (tests/fleet_and_soak.rs) at full size, about 40 minutes:
#
#   fleet  200 sandbox accounts synced every minute by 3 daemon processes sharing one
#          PostgreSQL database for 10 minutes; one process killed with SIGKILL half-way.
#   soak   one daemon on a 5-second schedule for 30 minutes while the sandbox's orders
#          keep changing.
#
# CI runs the same tests at a small size through `cargo test --all-targets`. Any size
# variable already set wins over the full size below, e.g.
#   SOAK_SECONDS=600 scripts/load-tests.sh
# Extra arguments go to the test binary, e.g. `scripts/load-tests.sh soak` runs only the
# test whose name contains "soak". The figures are printed at the end of each test; a
# copy of the output is kept in target/load-tests.log. docs/load-tests.md has those of
# one full run.
#
# Needs PostgreSQL like the rest of the suite: TEST_POSTGRES_URL, by default
# postgres://postgres@127.0.0.1:5432/postgres (scripts/test.sh can set one up).
set -euo pipefail
cd "$(dirname "$0")/.."

export FLEET_ACCOUNTS="${FLEET_ACCOUNTS:-200}"
export FLEET_ORDERS="${FLEET_ORDERS:-30}"
export FLEET_INSTANCES="${FLEET_INSTANCES:-3}"
export FLEET_SCHEDULE="${FLEET_SCHEDULE:-0 * * * * *}"
export FLEET_SECONDS="${FLEET_SECONDS:-600}"
export FLEET_LEASE_TTL_SECS="${FLEET_LEASE_TTL_SECS:-60}"
export SOAK_SECONDS="${SOAK_SECONDS:-1800}"
export SOAK_SCHEDULE_SECS="${SOAK_SCHEDULE_SECS:-5}"
export SOAK_ORDERS="${SOAK_ORDERS:-120}"
export SOAK_MUTATION_MS="${SOAK_MUTATION_MS:-1000}"

echo "load-tests.sh: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, started $(date -u +%FT%TZ)"
env | grep -E '^(FLEET|SOAK)_' | sort

# One test at a time: each is a measurement, and the two would share the machine.
cargo test --release --locked --test fleet_and_soak -- --nocapture --test-threads 1 "$@" 2>&1 |
  tee target/load-tests.log

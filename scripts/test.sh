#!/usr/bin/env bash
# The whole test suite, as CI runs it: starts a throwaway PostgreSQL cluster for the database
# fixture tests (scripts/pg.sh: initdb + pg_ctl in a temp dir, loopback only), runs every test
# of the workspace with DATABASE_URL set, and stops PostgreSQL afterwards, even on failure.
# redis-server is installed when missing (scripts/redis.sh); the queue tests start and stop
# their own servers. Chromium is installed when missing (scripts/browser.sh), for the browser
# tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch="$(mktemp -d "${TMPDIR:-/tmp}/shardtest-ci.XXXXXX")"
chmod 755 "$scratch"  # the server runs as the postgres user when we are root
trap 'rm -rf "$scratch"' EXIT
export SHARDTEST_PG_DIR="$scratch/pg"

# The queue tests start their own redis-server processes; make sure the binary is there.
bash scripts/redis.sh install
# The browser tests (tests/health_page.rs) need chromium: installed here when missing.
bash scripts/browser.sh

bash scripts/pg.sh run -- cargo test --workspace --all-features --locked "$@"

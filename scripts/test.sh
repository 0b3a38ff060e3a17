#!/usr/bin/env bash
# The whole test suite, as CI runs it: starts a throwaway PostgreSQL cluster for the database
# fixture tests (and always stops it), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -x scripts/pg.sh ]] || [[ -f scripts/pg.sh ]]; then
    pg_state="$(mktemp -d "${TMPDIR:-/tmp}/shardtest-pg.XXXXXX")"
    trap 'bash scripts/pg.sh stop "$pg_state" >/dev/null 2>&1 || true; rm -rf "$pg_state"' EXIT
    eval "$(bash scripts/pg.sh start "$pg_state")"
    echo "test.sh: PostgreSQL running for the tests at ${DATABASE_URL:-?}"
fi

cargo test --workspace --locked "$@"

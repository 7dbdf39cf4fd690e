#!/usr/bin/env bash
# test.sh — every test: unit, PostGIS, embedded NATS, end to end, and short fuzz runs.
# Called by `make test` after scripts/services.sh has made PostGIS available.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10000x}

# Test databases are created on this server (pgtest), one per test package, and dropped after.
if [ -z "${CORRIDOR_TEST_DATABASE_URL:-}" ]; then
  if [ -n "${DATABASE_URL:-}" ] && psql "$DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1; then
    export CORRIDOR_TEST_DATABASE_URL="$DATABASE_URL"
  else
    export CORRIDOR_TEST_DATABASE_URL="postgres://localhost:5432/postgres?sslmode=disable"
  fi
fi

echo "== go vet"
$GO vet ./...
echo "== go test"
$GO test -count=1 -timeout 8m ./...
echo "== browser test of the monitoring screen (headless chromium)"
if [ "${CORRIDOR_SKIP_WEB_TEST:-}" = 1 ]; then echo "skipped (CORRIDOR_SKIP_WEB_TEST=1)"; else bash scripts/web-test.sh; fi
echo "== short fuzz runs ($FUZZTIME executions each)"
bash scripts/fuzz.sh "$FUZZTIME"

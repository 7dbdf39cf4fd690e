#!/usr/bin/env bash
# web-test.sh — the monitoring screen's browser test (issue 9), run by scripts/test.sh.
#
# Installs Debian's chromium and a CJK font when absent, playwright-core from the pinned
# web/tools/package-lock.json, builds the binary, starts `corridor serve --demo` on random free
# ports (a fresh database created here and dropped after, embedded NATS, JT/T 808 off) and drives
# the screen with web/tools/e2e.mjs. Screenshots go to web-artifacts/ (gitignored).
#   WEB_TEST_MODE=bench runs the render benchmark (web/tools/bench.mjs) against the same setup.
#   WEB_TEST_SCRIPT=path runs another driver instead of web/tools/e2e.mjs (same environment).
# The test serves web/testdata/tiny.pmtiles as the base map (CORRIDOR_BASEMAP_URL); the benchmark
# runs with the bundled base map only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GO=${GO:-go}
MODE=${WEB_TEST_MODE:-test}
log() { printf 'web-test: %s\n' "$*" >&2; }

# 1. Chromium, a CJK font (Chinese screenshots) and playwright-core.
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qiE 'wqy|noto sans cjk' || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then log "need root to apt-get install ${need[*]}"; exit 1; fi
  log "installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! [ -f web/tools/node_modules/playwright-core/package.json ] || \
   [ "$(node -p "require('./web/tools/node_modules/playwright-core/package.json').version" 2>/dev/null)" != \
     "$(node -p "require('./web/tools/package-lock.json').packages['node_modules/playwright-core'].version")" ]; then
  (cd web/tools && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# 2. The binary, a fresh database, free ports.
mkdir -p bin web-artifacts
$GO build -o bin/corridor-webtest ./cmd/corridor
BASE_URL=${CORRIDOR_TEST_DATABASE_URL:-postgres://localhost:5432/postgres?sslmode=disable}
DB=corridor_webtest_$$_$RANDOM
psql "$BASE_URL" -qAtc "create database $DB" >/dev/null
DB_URL=$(node -e "const u=new URL(process.argv[1]);u.pathname='/$DB';console.log(u.href)" "$BASE_URL")
psql "$DB_URL" -qAtc 'create extension if not exists postgis' >/dev/null
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
HTTP_PORT=$(free_port); NATS_PORT=$(free_port)
DATA=$(mktemp -d)
TOKEN=webtest-admin-$(node -e "console.log(require('crypto').randomBytes(12).toString('hex'))")
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  psql "$BASE_URL" -qAtc "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT

BASEMAP=
[ "$MODE" = bench ] || BASEMAP=$ROOT/web/testdata/tiny.pmtiles
DATABASE_URL=$DB_URL CORRIDOR_BASEMAP_URL=$BASEMAP CORRIDOR_HTTP_ADDR=127.0.0.1:$HTTP_PORT CORRIDOR_EMBEDDED_NATS_ADDR=127.0.0.1:$NATS_PORT \
  CORRIDOR_JT808_ADDR=off CORRIDOR_DATA_DIR=$DATA CORRIDOR_ADMIN_TOKEN=$TOKEN CORRIDOR_LOG_LEVEL=warn NATS_URL= \
  bin/corridor-webtest serve --demo >web-artifacts/serve.log 2>&1 &
PID=$!
for _ in $(seq 1 150); do
  curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || { log "corridor serve exited:"; tail -20 web-artifacts/serve.log >&2; exit 1; }
  sleep 0.2
done
curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null || { log "not ready"; tail -20 web-artifacts/serve.log >&2; exit 1; }

export CORRIDOR_URL=http://127.0.0.1:$HTTP_PORT CORRIDOR_TOKEN=$TOKEN ARTIFACTS=$ROOT/web-artifacts
if [ "$MODE" = bench ]; then
  node web/tools/bench.mjs
else
  node ${WEB_TEST_SCRIPT:-web/tools/e2e.mjs}
fi

#!/usr/bin/env bash
# run.sh BIN [ARGS] — serve Corridor on :8080 for `make run`.
# Uses DATABASE_URL (default: the local database that services.sh prepared) and, when a NATS
# server already answers on 127.0.0.1:4222 and NATS_URL is unset, that server instead of a second
# (embedded) one.
set -euo pipefail
BIN=$1; shift || true
if [ -z "${NATS_URL:-}" ] && (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  if timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/4222; head -c 4 <&3' 2>/dev/null | grep -q INFO; then
    export NATS_URL=nats://127.0.0.1:4222
    echo "run: using the NATS server already on 127.0.0.1:4222" >&2
  fi
fi
export CORRIDOR_LOG_FORMAT=${CORRIDOR_LOG_FORMAT:-text}
exec "$BIN" serve "$@"

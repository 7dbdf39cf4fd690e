#!/usr/bin/env bash
# services.sh — make PostgreSQL with PostGIS available for Corridor, on a bare Debian machine.
#
#   DATABASE_URL set and reachable  -> use it (only checks PostGIS can be enabled there).
#   otherwise                        -> the local Debian PostgreSQL: install postgresql and
#                                       postgresql-<ver>-postgis-3 with apt when missing, start the
#                                       cluster, create the database and the postgis extension.
# NATS needs nothing here: `corridor serve` embeds a JetStream server unless NATS_URL is set.
# Idempotent, and fast (well under a second) when everything is already up.
set -euo pipefail

DB_NAME=${CORRIDOR_DB_NAME:-corridor}
log() { printf 'services: %s\n' "$*" >&2; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"; else su postgres -c "$(printf '%q ' "$@")"; fi
  else
    "$@"
  fi
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then log "need root to apt-get install $*"; exit 1; fi
  log "installing $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${_APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; _APT_UPDATED=1; fi
  apt-get install -y -qq "$@" >/dev/null
}

if [ -n "${DATABASE_URL:-}" ]; then
  if psql "$DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1; then
    if psql "$DATABASE_URL" -Atqc "select 1 from pg_available_extensions where name='postgis'" | grep -q 1; then
      psql "$DATABASE_URL" -qc 'create extension if not exists postgis' >/dev/null 2>&1 || true
      log "using DATABASE_URL (PostGIS available)"
      exit 0
    fi
    log "DATABASE_URL is reachable but PostGIS is not available on that server"; exit 1
  fi
  log "DATABASE_URL is set but not reachable; falling back to the local PostgreSQL"
fi

# 1. PostgreSQL server
if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  apt_install postgresql postgresql-contrib
fi
PGVER=$(ls /etc/postgresql | sort -V | tail -n1)

# 2. PostGIS for that server version
if [ ! -f "/usr/share/postgresql/$PGVER/extension/postgis.control" ]; then
  apt_install "postgresql-$PGVER-postgis-3"
fi

# 3. Cluster running
if ! pg_lsclusters -h 2>/dev/null | awk -v v="$PGVER" '$1==v && $2=="main" {print $4}' | grep -q online; then
  log "starting PostgreSQL $PGVER"
  pg_ctlcluster --skip-systemctl-redirect "$PGVER" main start 2>/dev/null || pg_ctlcluster "$PGVER" main start
fi
for _ in $(seq 1 50); do as_postgres psql -Atqc 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done

# 4. Role for the current user (trust auth on this machine kind), database and extension
ME=$(id -un)
if [ "$ME" != postgres ]; then
  as_postgres psql -qc "do \$\$ begin if not exists (select 1 from pg_roles where rolname='$ME') then create role \"$ME\" login superuser; end if; end \$\$" >/dev/null
fi
if ! as_postgres psql -Atqc "select 1 from pg_database where datname='$DB_NAME'" | grep -q 1; then
  as_postgres createdb -O "$ME" "$DB_NAME"
fi
PGOPTIONS='-c client_min_messages=warning' as_postgres psql -d "$DB_NAME" -qc 'create extension if not exists postgis' >/dev/null
log "PostgreSQL $PGVER with PostGIS ready (database $DB_NAME)"

#!/usr/bin/env bash
# A PostgreSQL server for the hub's database tests (issue 16): Debian's cluster running, a
# `cctv_test` role owning a `cctv_test` database, and that role let in without a password from
# 127.0.0.1 only. Idempotent: a cluster that already runs is left as it is (its port, its other
# databases and rules); only what is missing is added. Needs root or sudo (called by
# scripts/install-deps.sh after the postgresql packages are installed).
# It prints the URL the tests use (postgresql://cctv_test@127.0.0.1:5432/cctv_test here);
# CCTV_TEST_PG_PORT picks another cluster's port.
set -euo pipefail

ROLE=cctv_test
DATABASE=cctv_test
HBA_LINE="host    $DATABASE    $ROLE    127.0.0.1/32    trust    # cctv tests (scripts/setup-test-postgres.sh)"

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  echo "setup-test-postgres: PostgreSQL is not installed (apt-get install postgresql); skipped"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
  as_postgres() { (cd / && runuser -u postgres -- "$@"); }
else
  as_root() { sudo "$@"; }
  as_postgres() { (cd / && sudo -u postgres "$@"); }
fi

PORT="${CCTV_TEST_PG_PORT:-5432}"
clusters() { pg_lsclusters --no-header | awk '{ print $1, $2, $3, $4 }'; }

# The cluster on $PORT (started if down); else any running one; else the first one there is,
# started; else a new one.
cluster=$(clusters | awk -v port="$PORT" '$3 == port { print; exit }')
[ -n "$cluster" ] || cluster=$(clusters | awk '$4 ~ /^online/ { print; exit }')
[ -n "$cluster" ] || cluster=$(clusters | head -n1)
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
  echo "setup-test-postgres: creating cluster $version/main"
  as_root pg_createcluster "$version" main
  cluster=$(clusters | head -n1)
fi
read -r version name port status <<<"$cluster"
if [[ "$status" != online* ]]; then
  echo "setup-test-postgres: starting cluster $version/$name on port $port"
  as_root pg_ctlcluster "$version" "$name" start
fi

psql_admin() { as_postgres psql -X -q -p "$port" -v ON_ERROR_STOP=1 -At "$@"; }

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]; then
  echo "setup-test-postgres: creating role $ROLE"
  psql_admin -c "CREATE ROLE $ROLE LOGIN CREATEDB"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != "1" ]; then
  echo "setup-test-postgres: creating database $DATABASE"
  psql_admin -c "CREATE DATABASE $DATABASE OWNER $ROLE"
fi

url="postgresql://$ROLE@127.0.0.1:$port/$DATABASE"
can_log_in() { PGCONNECT_TIMEOUT=5 psql -X -w "$url" -Atc "SELECT 1" >/dev/null 2>&1; }
if ! can_log_in; then
  hba=$(psql_admin -c "SHOW hba_file")
  if ! grep -qF "$HBA_LINE" "$hba"; then
    echo "setup-test-postgres: letting $ROLE in from 127.0.0.1 without a password ($hba)"
    # First matching rule wins: put ours at the top, for this role and database only.
    as_root sed -i "1i $HBA_LINE" "$hba"
  fi
  as_root pg_ctlcluster "$version" "$name" reload
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    can_log_in && break
    sleep 0.5
  done
fi
if ! can_log_in; then
  echo "setup-test-postgres: cannot log in as $url" >&2
  exit 1
fi
echo "setup-test-postgres: ready at $url (cluster $version/$name)"

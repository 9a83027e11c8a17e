#!/usr/bin/env bash
# Starts Debian's PostgreSQL server (installed by .ci/run) and creates the test role and
# database; prints the URL for PGHD_TEST_POSTGRES_URL. Idempotent.
set -euo pipefail
# Only the URL goes to stdout: pg_ctlcluster and friends print notes such as "Removed
# stale pid file." that would otherwise end up in the captured URL.
exec 3>&1 1>&2
# `su postgres` keeps the working directory, which the postgres user may not be allowed
# into (a clone under a private temporary directory): work from the root.
cd /
# (fd 3 is closed for the commands below so that the server it starts does not hold it.)
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
  pg_lsclusters -h | grep -q . || pg_createcluster "$version" main 3>&-
  pg_ctlcluster "$version" main start 3>&-
fi
for _ in $(seq 1 30); do
  su postgres -c "psql -qAtc 'SELECT 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -qAtc \"SELECT 1 FROM pg_roles WHERE rolname = 'pghd'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE ROLE pghd LOGIN PASSWORD 'pghd-test'\""
su postgres -c "psql -qAtc \"SELECT 1 FROM pg_database WHERE datname = 'pghd_test'\"" | grep -q 1 \
  || su postgres -c "createdb -O pghd pghd_test"
echo "postgresql://pghd:pghd-test@127.0.0.1/pghd_test" >&3

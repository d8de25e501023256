#!/usr/bin/env bash
# Drops what earlier test runs left behind: their databases and Redis keys.
set -uo pipefail
for db in $(psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'antrean_t_%'" 2>/dev/null); do
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1
done
redis-cli -h 127.0.0.1 -p 6379 --scan --pattern 't*:q:{*' 2>/dev/null \
  | xargs -r -n 500 redis-cli -h 127.0.0.1 -p 6379 del >/dev/null 2>&1
exit 0

#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on loopback, starting them (and installing the Debian
# packages) when they do not. Used by `make up` and `make test`. Touches nothing when
# DATABASE_URL / REDIS_URL point at other hosts.
set -euo pipefail

DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/antrean}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

local_url() { [[ "$1" == *"@127.0.0.1"* || "$1" == *"@localhost"* || "$1" == *"//127.0.0.1"* || "$1" == *"//localhost"* ]]; }

install() {
  echo "installing $*" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 || {
    as_root apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
  }
}

postgres_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

if local_url "$DATABASE_URL" && ! postgres_up; then
  fresh=0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    install postgresql postgresql-client
    fresh=1
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ "$fresh" = 1 ]; then
    # Local development only: loopback connections as any user without a password.
    hba=/etc/postgresql/$version/main/pg_hba.conf
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    as_root sed -i -E 's/^(local\s+all\s+postgres\s+)\S+/\1trust/' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 60); do postgres_up && break; sleep 0.5; done
  postgres_up || { echo "PostgreSQL did not start" >&2; exit 1; }
  echo "started PostgreSQL $version" >&2
fi

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }

if local_url "$REDIS_URL" && ! redis_up; then
  command -v redis-server >/dev/null || install redis-server redis-tools
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/antrean.log
  for _ in $(seq 1 40); do redis_up && break; sleep 0.25; done
  redis_up || { echo "Redis did not start" >&2; exit 1; }
  echo "started Redis" >&2
fi

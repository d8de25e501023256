#!/usr/bin/env bash
# Compile-time checked SQL: `sqlx.sh prepare` writes each service's query metadata
# (services/<name>/.sqlx, committed) from a scratch database migrated to the service's own
# schema; `sqlx.sh check` fails if any of it is missing or stale. Libraries and binaries only:
# test code uses no query macros, and a service's dev-dependencies (other services) would be
# checked against the wrong schema. Builds read only the committed metadata
# (SQLX_OFFLINE=true in .cargo/config.toml), so they need no database.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-check}
command -v sqlx >/dev/null || cargo install sqlx-cli --version '^0.8' --no-default-features \
  --features postgres,rustls --locked
base=${SQLX_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/antrean_sqlx}
sqlx database create --database-url "$base"
# The services whose SQL is checked, each with the schema its connections use.
for service in ${SQLX_SERVICES:-identity quota booking notification gateway}; do
  psql -q "$base" -c "CREATE SCHEMA IF NOT EXISTS \"$service\""
  url="$base?options=-c%20search_path%3D$service"
  sqlx migrate run --source "services/$service/migrations" --database-url "$url" >/dev/null
  (
    cd "services/$service"
    if [ "$mode" = prepare ]; then
      DATABASE_URL=$url cargo sqlx prepare
    else
      DATABASE_URL=$url cargo sqlx prepare --check
    fi
  )
done

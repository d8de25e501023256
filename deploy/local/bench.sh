#!/usr/bin/env bash
# `make bench`: a fresh database and Redis key prefix, the five release services started as
# `make up` starts them, the load generator against them, then everything stopped again.
# Bench-only settings: no JSON API rate limits (one client address sends everything), the
# Cloud API stand-in of the generator as the WhatsApp target, and the Cloud API's upgraded
# per-number throughput (1,000 messages/s) instead of the default tier's.
set -euo pipefail
cd "$(dirname "$0")/../.."

base=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/antrean}
export DATABASE_URL="${base%/*}/antrean_bench"
export REDIS_KEY_PREFIX="antrean-bench:"
psql "${base%/*}/postgres" -qc "DROP DATABASE IF EXISTS antrean_bench WITH (FORCE)" >/dev/null
redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" --scan --pattern 'antrean-bench:*' \
  | xargs -r -n 500 redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379}" unlink >/dev/null

cloud_api=127.0.0.1:18090
export API_RATE_PER_CLIENT=100000000 API_RATE_PER_PHONE=100000000 API_RATE_BOOKINGS=100000000
export API_RATE_VERIFICATIONS=100000000 API_RATE_CODES_PER_PHONE=100000000
export API_RATE_LOOKUPS=100000000 API_RATE_LOOKUPS_PER_PHONE=100000000
export WHATSAPP_RATE_PER_SENDER=100000000
export WHATSAPP_SANDBOX_URL="http://$cloud_api" WHATSAPP_MAX_MPS=1000
# The bench clients call the gRPC ports directly, as no deployed caller could: plaintext.
LOCAL_TLS=off PROFILE=release deploy/local/up.sh
trap 'deploy/local/down.sh >/dev/null' EXIT
# Let the services settle before the idle memory is read.
sleep 2
"${CARGO_TARGET_DIR:-target}/release/antrean-bench" --cloud-api "$cloud_api" "$@"

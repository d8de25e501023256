#!/usr/bin/env bash
# Builds and starts the five services in the background (logs and pids in .run/), against
# DATABASE_URL and REDIS_URL, then waits until every one answers. `make down` stops them.
set -euo pipefail
cd "$(dirname "$0")/../.."

"deploy/local/services.sh"

PROFILE=${PROFILE:-dev}
target=${CARGO_TARGET_DIR:-target}
dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
cargo build --profile "$PROFILE" --bins -q

mkdir -p .run
"deploy/local/down.sh" >/dev/null 2>&1 || true

# Mutual TLS on every gRPC hop: a development CA and one certificate per process in
# .run/tls (kept while current). LOCAL_TLS=off runs plaintext, every caller trusted.
tls_env() { :; }
if [ "${LOCAL_TLS:-on}" != off ]; then
  "$target/$dir/antrean-dev-ca" .run/tls
  tls="$PWD/.run/tls"
  tls_env() { echo "TLS_CA_FILE=$tls/ca.crt TLS_CERT_FILE=$tls/$1.crt TLS_KEY_FILE=$tls/$1.key"; }
fi

# Start order does not matter (clients connect lazily); identity, quota and booking create
# the database and their schemas and run their migrations (seed data included) on start.
declare -A ports=([identity]=50051 [quota]=50052 [booking]=50053 [notification]=50054 [gateway]=8080)
for svc in identity quota booking notification gateway; do
  # shellcheck disable=SC2046 # the variables are words on purpose
  nohup env $(tls_env "$svc") "$target/$dir/antrean-$svc" >".run/$svc.log" 2>&1 &
  echo $! >".run/$svc.pid"
done

for svc in identity quota booking notification gateway; do
  port=${ports[$svc]}
  for _ in $(seq 1 120); do
    if ! kill -0 "$(cat ".run/$svc.pid")" 2>/dev/null; then
      echo "antrean-$svc exited; last lines of .run/$svc.log:" >&2
      tail -n 20 ".run/$svc.log" >&2
      exit 1
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.5
  done
done
curl -fsS http://127.0.0.1:8080/healthz >/dev/null

cat <<MSG
antrean is running (gRPC: mutual TLS with the certificates in .run/tls unless LOCAL_TLS=off):
  identity      grpc://127.0.0.1:50051
  quota         grpc://127.0.0.1:50052
  booking       grpc://127.0.0.1:50053
  notification  grpc://127.0.0.1:50054
  gateway       http://127.0.0.1:8080/  (portal; JSON API under /api/v1, OpenAPI at /api/v1/openapi.json)
Logs in .run/*.log; stop with: make down
MSG

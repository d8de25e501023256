#!/usr/bin/env bash
# Stops the services `make up` started (SIGTERM: they drain in-flight requests first).
set -uo pipefail
cd "$(dirname "$0")/../.."
for f in .run/*.pid; do
  [ -e "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
done
echo "antrean stopped"

#!/usr/bin/env bash
# The InstaVM service's start command (`run` in instavm.yaml). Builds the ingress and spawner
# runtime layouts with the script the Docker images use, starts a local Redis unless REDIS_URL
# names one, then runs the spawner and the ingress side by side. When either ends, the other is
# stopped and the service exits non-zero, so the platform's health check and restart take over.
set -euo pipefail
cd "$(dirname "$0")/.."

# A placeholder: the service's vault swaps it for the real key on requests to api.instavm.io.
: "${INSTAVM_API_KEY:=INSTAVM_API_KEY_FROM_VAULT}"
: "${PORT:=8000}"
: "${HOST:=0.0.0.0}"
: "${RUNTIME_DIR:=/tmp/cma-fleet-runtime}"
: "${REDIS_DATA_DIR:=/var/lib/cma-fleet-redis}"

start_local_redis() {
  command -v redis-server >/dev/null 2>&1 ||
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server)
  mkdir -p "$REDIS_DATA_DIR"
  # The same settings as docker-compose.yml: never evict a queue key, persist every second.
  redis-server --port 6379 --bind 127.0.0.1 --dir "$REDIS_DATA_DIR" --daemonize yes \
    --maxmemory-policy noeviction --appendonly yes --appendfsync everysec
}

if [ -z "${REDIS_URL:-}" ]; then start_local_redis; fi
: "${REDIS_URL:=redis://127.0.0.1:6379}"
export INSTAVM_API_KEY PORT HOST REDIS_URL

command -v pnpm >/dev/null 2>&1 || npm install -g pnpm@10.34.9
pnpm install --frozen-lockfile
rm -rf "$RUNTIME_DIR"
scripts/build-runtime.sh "$RUNTIME_DIR" spawner ingress

(cd "$RUNTIME_DIR/spawner" && exec node dist/main.js) &
spawner=$!
(cd "$RUNTIME_DIR/ingress" && exec node dist/main.js) &
ingress=$!

stop_both() { kill -TERM "$spawner" "$ingress" 2>/dev/null || true; }
trap stop_both TERM INT
wait -n "$spawner" "$ingress" || true
stop_both
wait || true
exit 1

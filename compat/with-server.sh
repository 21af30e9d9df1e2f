#!/usr/bin/env bash
# Runs a command against a real opencvm server: `compat/with-server.sh <command> [args…]`.
#
# The server is `npm start` (embedded PostgreSQL, the simulated dstack host) on a free port of 127.0.0.1,
# with a fresh data directory that is removed afterwards. The command runs with:
#   OPENCVM_URL              http://127.0.0.1:<port>
#   PHALA_CLOUD_API_PREFIX   $OPENCVM_URL/api/v1   (what Phala's SDKs and CLI read)
#   PHALA_CLOUD_API_KEY      the bootstrap workspace's API key
#   OPENCVM_ADMIN_KEY        the operator's admin key (the admin API)
# and its exit status is this script's. The server's output goes to $OPENCVM_DATA_DIR/server.log, printed if
# the server does not come up or the command fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] || { echo "usage: compat/with-server.sh <command> [args…]" >&2; exit 2; }

data="$(mktemp -d "${TMPDIR:-/tmp}/opencvm-compat.XXXXXX")"
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
export OPENCVM_URL="http://127.0.0.1:${port}"
export PHALA_CLOUD_API_PREFIX="${OPENCVM_URL}/api/v1"
export PHALA_CLOUD_API_KEY="phak_$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))')"
export OPENCVM_ADMIN_KEY="$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')"

(
  cd "$root"
  PORT="$port" HOST=127.0.0.1 OPENCVM_DATA_DIR="$data" OPENCVM_API_KEY="$PHALA_CLOUD_API_KEY" \
    OPENCVM_ADMIN_KEY="$OPENCVM_ADMIN_KEY" OPENCVM_SIM_BOOT_MS="${OPENCVM_SIM_BOOT_MS:-300}" \
    OPENCVM_RECONCILE_MS="${OPENCVM_RECONCILE_MS:-500}" \
    exec node --import tsx packages/server/src/main.ts
) >"$data/server.log" 2>&1 &
server=$!

stop() {
  kill -TERM "$server" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server" 2>/dev/null || true
  rm -rf "$data"
}
trap stop EXIT

for _ in $(seq 1 600); do
  if curl -fs -o /dev/null "$OPENCVM_URL/healthz"; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then echo "opencvm did not start:" >&2; cat "$data/server.log" >&2; exit 1; fi
  sleep 0.1
done
curl -fs -o /dev/null "$OPENCVM_URL/healthz" || { echo "opencvm did not answer /healthz in 60 s:" >&2; cat "$data/server.log" >&2; exit 1; }

set +e
"$@"
status=$?
set -e
if [ $status -ne 0 ]; then echo "--- opencvm server log (last 60 lines) ---" >&2; tail -60 "$data/server.log" >&2; fi
exit $status

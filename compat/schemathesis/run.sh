#!/usr/bin/env bash
# schemathesis (property-based API testing, from PyPI) against opencvm: the server's own OpenAPI document
# (GET /api/v1/openapi.json) and a real server (compat/with-server.sh), every operation, authenticated
# (X-API-Key; X-Admin-Key for /api/v1/admin/*). Configuration: schemathesis.toml; the error-envelope check:
# hooks.py. One worker: hypothesis is not thread-safe everywhere (two workers gave a sporadic internal
# FlakyFailure), and one keeps the run repeatable. Prints "schemathesis: N/M operations passed" and exits non-zero on any failure.
#
#   compat/schemathesis/run.sh [extra schemathesis run options…]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"

# The virtual environment, rebuilt when requirements.txt changed since it was made.
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/schemathesis" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$here/requirements.txt"
  echo "$want" >"$stamp"
fi

# The rate limits are off for this server: schemathesis sends hundreds of requests a minute from one address
# and one key, and a 429 would only hide what the operation answers. (The limits have their own Node tests.)
export OPENCVM_RATE_LIMIT_PUBLIC=0 OPENCVM_RATE_LIMIT_MUTATIONS=0
export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
report="$(mktemp -d "${TMPDIR:-/tmp}/opencvm-schemathesis.XXXXXX")"
trap 'rm -rf "$report"' EXIT

cd "$root"
set +e
compat/with-server.sh bash -c '
  "$0/bin/schemathesis" --config-file "$1/schemathesis.toml" run "$PHALA_CLOUD_API_PREFIX/openapi.json" \
    --checks all --workers 1 --report junit --report-junit-path "$2/junit.xml" --no-color "${@:3}"
' "$venv" "$here" "$report" "$@"
status=$?
set -e

# The pass count: operations whose every case passed every check, of the operations tested.
python3 - "$report/junit.xml" "$status" <<'PY'
import sys, xml.etree.ElementTree as ET
path, status = sys.argv[1], int(sys.argv[2])
try:
    cases = list(ET.parse(path).getroot().iter("testcase"))
except (OSError, ET.ParseError):
    print(f"schemathesis: no report (exit status {status})")
    sys.exit(0)
failed = lambda c: c.find("failure") is not None or c.find("error") is not None
stateful = [c for c in cases if c.get("name", "").startswith("Stateful")]
ops = [c for c in cases if c not in stateful and c.find("skipped") is None]
bad = [c for c in ops if failed(c)]
line = f"schemathesis: {len(ops) - len(bad)}/{len(ops)} operations passed"
if stateful:
    line += ", stateful " + ("failed" if any(failed(c) for c in stateful) else "passed")
print(line)
for c in bad + [c for c in stateful if failed(c)]:
    print(f"  failed: {c.get('name')}")
PY
exit $status

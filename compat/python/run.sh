#!/usr/bin/env bash
# The Python suite: Phala's official `phala-cloud` SDK (PyPI) against a real opencvm server.
#   compat/python/run.sh [pytest args…]
# Creates compat/python/.venv (python3 -m venv) when it is missing or was made from another requirements.txt,
# installs the pinned requirements into it, then runs pytest through compat/with-server.sh, which starts the
# server and sets PHALA_CLOUD_API_PREFIX / PHALA_CLOUD_API_KEY (what the SDK reads). Prints the pass count.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "compat/python: creating $venv from requirements.txt" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # --no-deps: every dependency is pinned in requirements.txt (see its header for why pysha3 is left out).
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$here/requirements.txt"
  echo "$want" >"$stamp"
fi

cd "$here"
exec "$here/../with-server.sh" "$venv/bin/python" -m pytest -p no:cacheprovider "$@"

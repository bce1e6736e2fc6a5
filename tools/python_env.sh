#!/usr/bin/env bash
# Creates the project's virtual environment .venv/ (git-ignored) and installs
# api/python/requirements.txt into it. Idempotent: pip runs only when the requirements changed
# since the last install (a hash kept in .venv/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
req=api/python/requirements.txt
[[ -x .venv/bin/python ]] || python3 -m venv .venv
want=$(sha256sum "$req" | cut -d' ' -f1)
if [[ "$(cat .venv/.ckptdb-requirements 2>/dev/null || true)" != "$want" ]]; then
  echo "python_env: installing $req into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" > .venv/.ckptdb-requirements
fi

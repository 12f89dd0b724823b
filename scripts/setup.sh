#!/usr/bin/env bash
# Create .venv and install kdnb with its dev tools. Idempotent: skips pip when settings.ini and setup.py are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.kdnb-installed
want=$(cat settings.ini setup.py scripts/setup.sh | sha256sum | cut -d' ' -f1)
quiet() { "$@" 2>&1 | sed '/is ignored: it is neither a file nor a directory/d'; }  # this machine's pip config warns per package
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # The CPU build of torch first: a plain `torch` requirement would pull several GB of CUDA packages.
  quiet .venv/bin/python -m pip install -q --upgrade pip
  quiet .venv/bin/python -m pip install -q "torch==2.13.0" || quiet .venv/bin/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
  quiet .venv/bin/python -m pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi

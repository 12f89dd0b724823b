#!/usr/bin/env bash
# Create .venv and install kdnb with its dev tools. Idempotent: skips pip when settings.ini and setup.py are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.kdnb-installed
want=$(cat settings.ini setup.py scripts/setup.sh | sha256sum | cut -d' ' -f1)
# this machine's pip config warns per package; pip also lists PyLate's pins, which are left out on purpose (below)
quiet() { "$@" 2>&1 | sed '/is ignored: it is neither a file nor a directory/d; /dependency resolver does not currently take into account/d; /^pylate .* requires /d'; }
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # The CPU build of torch first: a plain `torch` requirement would pull several GB of CUDA packages.
  quiet .venv/bin/python -m pip install -q --upgrade pip
  quiet .venv/bin/python -m pip install -q "torch==2.13.0" || quiet .venv/bin/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
  quiet .venv/bin/python -m pip install -q -e ".[dev]"
  # PyLate's PLAID index (the ColBERT chapter) runs here; PyLate's own pins would bring back sentence-transformers 5 and a
  # fast-plaid built for torch 2.11, so it comes without them, with what the index needs (ninja compiles its kernels).
  quiet .venv/bin/python -m pip install -q --no-deps "pylate==1.6.0" "fastkmeans==0.5.0" "ujson==5.12.0"
  quiet .venv/bin/python -m pip install -q "ninja==1.11.1.4"
  echo "$want" > "$stamp"
fi
# PyLate itself, with sentence-transformers 5 as it pins, in its own environment: tests/test_colbert.py checks there that a
# saved ColBERT student loads in pylate.models.ColBERT, and tests/bench/bench_colbert.py trains the peer there.
[ -x .venv-pylate/bin/python ] || "$PY" -m venv .venv-pylate
if [ "$(cat .venv-pylate/.kdnb-installed 2>/dev/null)" != "$want" ]; then
  quiet .venv-pylate/bin/python -m pip install -q --upgrade pip
  quiet .venv-pylate/bin/python -m pip install -q "torch==2.13.0" || quiet .venv-pylate/bin/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
  quiet .venv-pylate/bin/python -m pip install -q "sentence-transformers==5.3.0" "transformers==5.3.0" "datasets>=2.20.0" "accelerate>=0.31.0" \
    "pandas>=2.2.1" "ujson==5.12.0" "ninja==1.11.1.4" "fastkmeans==0.5.0"
  quiet .venv-pylate/bin/python -m pip install -q --no-deps "pylate==1.6.0"   # without fast-plaid: its wheels are built for torch 2.11
  echo "$want" > .venv-pylate/.kdnb-installed
fi

#!/usr/bin/env bash
# The main job: set up, build the offline model zoo, and run the experiment on the default data.
# usage: KDNB_DATA=../shared/data bash scripts/main.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export KDNB_DATA=${KDNB_DATA:-$(cd .. && pwd)/shared/data}
bash scripts/setup.sh
. .venv/bin/activate
python -m kdnb.zoo build
mkdir -p outputs/teacher_rerank
papermill --log-output nbs/experiments/teacher_rerank.ipynb outputs/teacher_rerank/teacher_rerank.ipynb -p out_dir outputs/teacher_rerank
cat outputs/teacher_rerank/results.md

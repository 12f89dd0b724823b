#!/usr/bin/env bash
# The main job: set up, build the offline model zoo, and run the experiment on the default data.
# usage: KDNB_DATA=../shared/data bash scripts/main.sh
set -euo pipefail
. "$(dirname "$0")/env.sh"   # KDNB_DATA made absolute before the cd (it may be relative to the caller)
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
python -m kdnb.zoo build
# answer keys: imported from outputs/answer_keys/ (published, checked against the local teacher on a sample), then reused:
# SciFact-train (training, and dev), DL21 (dev), DL19 (the teacher's row of the DL19 re-ranking table)
python -m kdnb.answer_key build scifact-train-bm25 dl21-bm25 dl19-bm25
mkdir -p outputs/main
papermill --log-output nbs/experiments/distill.ipynb outputs/main/distill.ipynb -p out_dir outputs/main
cat outputs/main/report.md

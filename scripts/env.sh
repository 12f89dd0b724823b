# Sourced by the README's commands (scripts/main.sh, .ci/run) before they change folder: the environment
# they share. KDNB_DATA may be relative to the folder the command was typed in; it is made absolute here,
# since the notebooks run from nbs/. Default: the shared data folder beside the checkout.
_kdnb_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_kdnb_data=${KDNB_DATA:-$_kdnb_root/../shared/data}
if ! KDNB_DATA=$(cd "$_kdnb_data" 2>/dev/null && pwd); then
  echo "KDNB_DATA=$_kdnb_data: no such folder (from $(pwd)); point KDNB_DATA at the folder that holds the collections" >&2
  exit 1
fi
export KDNB_DATA PYTHONUNBUFFERED=1 MPLBACKEND=Agg TOKENIZERS_PARALLELISM=false
unset _kdnb_root _kdnb_data

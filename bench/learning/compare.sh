#!/usr/bin/env bash
# Compares leadq's trainer with scikit-learn's LogisticRegression:
#   1. X Education leads (leakage columns dropped) on sklearn's stratified 80/20 split
#      (random_state=42): CV AUC, holdout AUC, log loss, fit seconds, side by side;
#   2. a synthetic 1,000,000 x 50 data set drawn from known weights: training time (both
#      single-threaded), holdout AUC, and leadq's peak memory.
#
# Usage: bench/learning/compare.sh [LEADS_CSV]
#   LEADS_CSV defaults to ../shared/datasets/x-education/Leads.csv (relative to the repo root).
#   ROWS=200000 bench/learning/compare.sh   for a quicker synthetic run.
# Installs pinned scikit-learn, numpy and pandas into .venv/ at the repository root if absent.
# Python is used here only, never in the product or its tests.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
LEADS="${1:-../shared/datasets/x-education/Leads.csv}"
ROWS="${ROWS:-1000000}"
COLS="${COLS:-50}"
OUT="${OUT:-$ROOT/target/bench-learning}"
VENV="$ROOT/.venv"
PINS=(scikit-learn==1.9.1 numpy==2.4.6 pandas==3.1.1 threadpoolctl==3.8.0)

if [ ! -f "$LEADS" ]; then
  echo "compare.sh: $LEADS not found (pass the path of Leads.csv)" >&2
  exit 2
fi
if ! "$VENV/bin/python" - <<'PY' 2>/dev/null; then
import sklearn, numpy, pandas, threadpoolctl
assert sklearn.__version__ == "1.9.1", sklearn.__version__
PY
  echo "compare.sh: installing ${PINS[*]} into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "${PINS[@]}"
fi

# One thread everywhere: BLAS, OpenMP, and our trainer (which is single-threaded anyway).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 VECLIB_MAXIMUM_THREADS=1

cargo build --release --quiet -p leadq
mkdir -p "$OUT"
exec "$VENV/bin/python" "$ROOT/bench/learning/compare.py" \
  --leadq "$ROOT/target/release/leadq" --leads "$LEADS" --out "$OUT" --rows "$ROWS" --cols "$COLS"

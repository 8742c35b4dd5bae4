#!/usr/bin/env bash
# The prepared device check on a bare CUDA machine (torch, transformers, sentencepiece, pandas, numpy; no
# Snakemake, DVC or MLflow): benchmarks/gpu_check.sh [OUT_DIR] [more flags of python -m benchmarks.gpu_check].
# Writes OUT_DIR/gpu_check.json (default gpu_check_out) and prints a summary; stops after BUDGET_S + 60 s at most.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu_check_out}
shift $(($# > 0 ? 1 : 0))
budget=${BUDGET_S:-480}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export GPT1_TRACKING=0 MLFLOW_DISABLE_TELEMETRY=true # nothing here tracks; in case a future import does
exec timeout --kill-after=15 $((budget + 60)) "${PYTHON:-python}" -m benchmarks.gpu_check --out "$out" --budget-s "$budget" "$@"

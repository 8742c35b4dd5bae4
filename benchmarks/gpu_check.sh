#!/usr/bin/env bash
# The prepared device check on a bare CUDA machine (torch, transformers, sentencepiece, pandas, numpy; no
# Snakemake, DVC or MLflow): benchmarks/gpu_check.sh [OUT_DIR] [more flags of python -m benchmarks.gpu_check].
# Writes OUT_DIR/gpu_check.json (default ./gpu_check_out) and prints a summary. Sections start while BUDGET_S
# (default 450) lasts; at BUDGET_S + 30 s (8 minutes) an interrupt stops the run, keeping the sections done.
set -euo pipefail
out=$(realpath -m "${1:-gpu_check_out}") # before the cd: relative to where it was called from
shift $(($# > 0 ? 1 : 0))
cd "$(dirname "$0")/.."
budget=${BUDGET_S:-450}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export GPT1_TRACKING=0 MLFLOW_DISABLE_TELEMETRY=true # nothing here tracks; in case a future import does
exec timeout --signal=INT --kill-after=15 $((budget + 30)) "${PYTHON:-python3}" -m benchmarks.gpu_check --out "$out" --budget-s "$budget" "$@"

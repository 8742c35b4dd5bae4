#!/usr/bin/env bash
# Fine-tuning settings against pre-training's effect, on a pretrained model that second_corpus.sh (or the same
# targets of the default run) left in OUT_DIR/project: reruns the full model and w/o pre-training on the five
# Table 5 tasks with data, and STS-B's transfer at 0 layers, under finetune settings given as YAML, keeping the
# pretraining; then Table 5, Figure 2 and scripts/pretraining_effect.py's tests, in OUT_DIR/NAME.
#
#   experiments/hour/finetune_settings.sh OUT_DIR NAME '{batch_size: 8}'
#
# The first call moves the original run's records to results/metrics.original, so each setting starts clean.
set -euo pipefail
here=$(realpath "$(dirname "$0")")
root=$(realpath "$here/../..")
out=$(realpath "$1") name=$2 finetune=$3
cd "$out/project"
export PATH="$root/.venv/bin:$PATH" PYTHONPATH="$out/project" MLFLOW_DISABLE_TELEMETRY=true
export GPT1_DATA_MIRROR="${GPT1_DATA_MIRROR:-$root/../shared/data}" MLFLOW_TRACKING_URI="sqlite:///$out/project/mlflow.db"
[ -d results/metrics.original ] || mv results/metrics results/metrics.original
rm -rf results/metrics results/finetune results/curves
{ cat "$out/config.yaml"; echo "finetune: $finetune"; } > "$out/config_$name.yaml"
source "$here/effect_runs.sh"
mkdir -p "$out/$name"
/usr/bin/time -f "wall %e s" snakemake "${effect_targets[@]}" --cores 2 --configfile "$out/config_$name.yaml" \
    > "$out/$name/snakemake.log" 2>&1
tail -1 "$out/$name/snakemake.log"
grep -c "^rule pretrain" "$out/$name/snakemake.log" && echo "pretraining reran: not the same model" && exit 1
cp -r results/metrics "$out/$name/metrics"
effect_report "$out/$name" "$out/$name"

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
root=$(realpath "$(dirname "$0")/../..")
out=$(realpath "$1") name=$2 finetune=$3
cd "$out/project"
export PATH="$root/.venv/bin:$PATH" PYTHONPATH="$out/project" MLFLOW_DISABLE_TELEMETRY=true
export GPT1_DATA_MIRROR="${GPT1_DATA_MIRROR:-$root/../shared/data}" MLFLOW_TRACKING_URI="sqlite:///$out/project/mlflow.db"
[ -d results/metrics.original ] || mv results/metrics results/metrics.original
rm -rf results/metrics results/finetune results/curves
{ cat "$out/config.yaml"; echo "finetune: $finetune"; } > "$out/config_$name.yaml"
tasks="cola sst2 mrpc stsb rte"
targets=()
for task in $tasks; do
    for seed in 42 43 44; do
        targets+=("results/metrics/full/$task-seed$seed.json" "results/metrics/ablation/no_pretraining/$task-seed$seed.json")
    done
done
for seed in 42 43 44; do targets+=("results/metrics/transfer/layers0/stsb-seed$seed.json"); done
mkdir -p "$out/$name"
/usr/bin/time -f "wall %e s" snakemake "${targets[@]}" --cores 2 --configfile "$out/config_$name.yaml" \
    > "$out/$name/snakemake.log" 2>&1
tail -1 "$out/$name/snakemake.log"
grep -c "^rule pretrain" "$out/$name/snakemake.log" && echo "pretraining reran: not the same model" && exit 1
mkdir -p "$out/$name/zero_shot_none"
gpt1 tables --metrics-dir results/metrics/full --out-dir "$out/$name/tables" --metrics "$out/$name/tables_flat.json"
gpt1 table5 --metrics-dir results/metrics --out-dir "$out/$name/tables" --metrics "$out/$name/table5_flat.json"
gpt1 figure2 --metrics-dir results/metrics --zero-shot-dir "$out/$name/zero_shot_none" \
    --lstm-zero-shot-dir "$out/$name/zero_shot_none" --out-dir "$out/$name/figures" --metrics "$out/$name/figure2_flat.json"
cp -r results/metrics "$out/$name/metrics"
cat "$out/$name/tables/table5.md"
python scripts/pretraining_effect.py "$out/$name" || true

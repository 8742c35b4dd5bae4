#!/usr/bin/env bash
# The time of one fine-tuning run per task, with the working tree's code, on one thread, over an existing
# experiment's pretrained model (800 examples, lr 2.5e-4, seed 42). Usage, from the repository root:
#   PROJECT=/tmp/exp4/project OUT=/tmp/speed experiments/default_profile/finetune_speed.sh stsb rte
set -euo pipefail
root=$(pwd)
out=$(realpath -m "${OUT:?a folder for the records}")
mkdir -p "$out"
cd "${PROJECT:?the project folder of an experiment run by run.sh}"
export PYTHONPATH="$root" OMP_NUM_THREADS=1 MLFLOW_TRACKING_URI="sqlite:///$out/mlflow.db" MLFLOW_DISABLE_TELEMETRY=true
for task in "$@"; do
  /usr/bin/time -f "$task wall %e s" "$root/.venv/bin/python" -m gpt1 finetune --task "$task" --seed 42 \
    --variant full --task-dir "results/tasks/$task" --checkpoint results/pretrain/model.pt \
    --tokenizer results/bpe/bpe.model --out "$out/$task.json" --curves "$out/$task.csv" --work-dir "$out/work-$task" \
    --lr 0.00025 --batch_size 32 --micro_batch_size 0 --epochs 3 --warmup 0.002 --lm_coef 0.5 --clf_dropout 0.1 --weight_decay 0.01 \
    --grad_clip 1.0 --max_train_examples 800 --min_train_examples 100 --device auto 2>&1 | grep -E "wall|INFO.*:"
done

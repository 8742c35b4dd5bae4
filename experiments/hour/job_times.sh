#!/usr/bin/env bash
# One fine-tuning job per task on the stand-in mirror, alone, one thread (as Snakemake runs them): what each of
# the tasks a user with internet gets costs, before sizing the default profile around it.
#
#   experiments/hour/job_times.sh RUN_DIR STANDIN_MIRROR OUT [variant] > experiments/hour/job_times.log
#
# Runs this checkout's code. RUN_DIR: a finished default run, whose results/pretrain/model.pt and
# results/bpe/bpe.model are fine-tuned from; STANDIN_MIRROR: `python -m benchmarks.standin` output; OUT: a
# scratch folder. Columns: the job's wall time, its record's wall_s (setup and imports excluded), training
# examples, evaluated examples per split.
set -euo pipefail
run_dir=$(realpath "$1")
mirror=$(realpath "$2")
out=$(realpath -m "$3")
variant=${4:-full}
mkdir -p "$out"
export MLFLOW_TRACKING_URI=sqlite:///$out/mlflow.db
flags=$(python -c 'from gpt1.params import load, cli_flags; print(cli_flags(load()["finetune"]))')
echo "| task | job | wall_s | trained on | evaluated on | status |"
echo "|---|---|---|---|---|---|"
for task in qqp mnli qnli snli scitail race; do
    if [ ! -f "$out/tasks/$task/status.json" ]; then
        GPT1_DATA_MIRROR=$mirror gpt1 download-task --task "$task" --out-dir "$out/tasks/$task" 2>/dev/null
    fi
    start=$(date +%s.%N)
    OMP_NUM_THREADS=1 gpt1 finetune --task "$task" --seed 42 --variant "$variant" --task-dir "$out/tasks/$task" \
        --checkpoint "$run_dir/results/pretrain/model.pt" --tokenizer "$run_dir/results/bpe/bpe.model" \
        --out "$out/metrics/$task.json" --curves "$out/curves/$task.csv" --work-dir "$out/work/$variant-$task" \
        $flags --log-file "$out/logs/$task.log" 2>/dev/null
    end=$(date +%s.%N)
    python - "$task" "$start" "$end" "$out/metrics/$task.json" <<'PY'
import json, sys
task, start, end, path = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
r = json.load(open(path))
evals = ", ".join(f"{s} {v['n']}" for s, v in r.get("results", {}).items())
print(f"| {task} | {end - start:.0f} s | {r.get('wall_s', '')} s | {r.get('n_train', '')} | {evals} | {r['status']} |", flush=True)
PY
    rm -rf "$out/work/$variant-$task"
done

#!/usr/bin/env bash
# The run a user with internet gets (issue 25), timed: a fresh clone of COMMIT runs the README's main job on a
# complete mirror, the shared mirror's files plus stand-ins at the official sizes for the task files it lacks
# (python -m benchmarks.standin). Writes into OUT_DIR the Snakemake log, /usr/bin/time -v's report, the
# per-stage table (scripts/stage_times.py) and scripts/pretraining_effect.py's tests, which leave the
# stand-in tasks out (the real tasks' records are those of a run on the mirror alone).
#
#   GPT1_DATA_MIRROR=../shared/data experiments/hour/timed_run.sh OUT_DIR [COMMIT]
#
# Run it alone: other work on the cores slows pretraining up to 10 times (experiments/threads). The clone uses
# this checkout's virtual environment (its install is not part of the time).
set -euo pipefail
root=$(realpath "$(dirname "$0")/../..")
out=$(realpath -m "$1")
mirror=$(realpath "${GPT1_DATA_MIRROR:-$root/../shared/data}")
mkdir -p "$out"
git clone -q --no-local "$root" "$out/project"
git -C "$out/project" checkout -q "${2:-HEAD}"
cd "$out/project"
export PATH="$root/.venv/bin:$PATH" PYTHONPATH="$out/project" MLFLOW_DISABLE_TELEMETRY=true
python -m benchmarks.standin "$out/standin" --mirror "$mirror" > "$out/standin.log" 2>&1
GPT1_DATA_MIRROR="$out/standin" /usr/bin/time -v -o "$out/time.log" snakemake --cores all > "$out/snakemake.log" 2>&1
python scripts/stage_times.py "$out/snakemake.log" > "$out/stage_times.md"
python scripts/pretraining_effect.py results > "$out/effect.log" || true
grep -E "Elapsed|Maximum resident" "$out/time.log"
cat "$out/stage_times.md" "$out/effect.log"

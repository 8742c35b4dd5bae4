#!/usr/bin/env bash
# STS-B's two training targets (finetune.stsb_target) on the sample profile: the full model and its
# no-pretraining twin, seeds 42-44, with soft labels, then with regression, in one fresh copy of the project
# (pretraining runs once; only STS-B's fine-tunings rerun). Usage, from the repository root with the data
# mirror: experiments/stsb_target/run.sh OUT_DIR. Writes OUT_DIR/<target>/ (the records), OUT_DIR/*.log, and
# prints the Pearson correlations and pre-training's gain per target.
set -euo pipefail
source "$(dirname "$0")/../project_copy.sh" "$1"
runs=()
for seed in 42 43 44; do
  runs+=("results/metrics/full/stsb-seed$seed.json" "results/metrics/ablation/no_pretraining/stsb-seed$seed.json")
done
for target in soft_labels regression; do
  /usr/bin/time -f "wall %e s" snakemake "${runs[@]}" --cores 2 \
    --configfile "$root/experiments/stsb_target/$target.yaml" > "$out/$target.log" 2>&1
  mkdir -p "$out/$target" && cp -r results/metrics/full results/metrics/ablation "$out/$target/"
done
python - "$out" <<'PY'
import json, statistics, sys
from pathlib import Path

out = Path(sys.argv[1])
for target in ("soft_labels", "regression"):
    pearson = {
        variant: [json.loads((out / target / folder / f"stsb-seed{s}.json").read_text())["metrics"]["pearson"] * 100
                  for s in (42, 43, 44)]
        for variant, folder in (("full", "full"), ("no_pretraining", "ablation/no_pretraining"))
    }
    gains = [a - b for a, b in zip(pearson["full"], pearson["no_pretraining"])]
    cells = [f"{v} {statistics.mean(p):.1f} ± {statistics.stdev(p):.1f} ({', '.join(f'{x:.1f}' for x in p)})"
             for v, p in pearson.items()]
    print(f"{target}: {'; '.join(cells)}; gain {statistics.mean(gains):+.1f} ± {statistics.stdev(gains):.1f}")
PY

#!/usr/bin/env bash
# Does pre-training's effect hold on a smaller corpus (issue 25, part 4)? The sample profile, its pretraining
# budget (2,000 updates, no longer capped at one pass) unchanged, on the 12 smallest of the mirror's 25 novels
# (about 8 MB of text against 28: a quarter of the training tokens), through the real workflow in a fresh copy
# of the project: pretraining, the full model and w/o pre-training on the five Table 5 tasks with data, and
# Figure 2's STS-B transfer at 0 layers; then Table 5, Figure 2 and scripts/pretraining_effect.py's tests.
#
#   GPT1_DATA_MIRROR=../shared/data experiments/hour/second_corpus.sh OUT_DIR
set -euo pipefail
here=$(realpath "$(dirname "$0")")
source "$here/../project_copy.sh" "$1"
books="$out/books"
mkdir -p "$books"
# shellcheck disable=SC2012  # the names have no spaces
ls -S "$GPT1_DATA_MIRROR/books/british-novels/"*.txt | tail -12 | xargs -I{} ln -sf {} "$books/"
source "$here/effect_runs.sh"
cat > "$out/config.yaml" <<YAML
corpus: {source: $books}
runs: {tasks: [${effect_tasks// /, }], zero_shot: [cola, sst2, dprd]}
ablation: {variants: [no_pretraining], tasks: [${effect_tasks// /, }]}
transfer: {layers: [0], tasks: [stsb]}
YAML
/usr/bin/time -f "wall %e s" snakemake "${effect_targets[@]}" --cores 2 --configfile "$out/config.yaml" > "$out/snakemake.log" 2>&1
tail -1 "$out/snakemake.log" > "$out/time.log"
cat results/pretrain/metrics.json
effect_report results "$out"

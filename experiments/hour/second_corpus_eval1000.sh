#!/usr/bin/env bash
# The second corpus's three tests under the sample profile's evaluation sample of 1,000 examples (2,000 before
# commit ba75871), after second_corpus.sh and finetune_settings.sh's b8_n400 in OUT_DIR. Of the five tasks only
# CoLA's dev (1,043) and STS-B's (1,500) are larger than 1,000, so only their runs and STS-B's transfer are
# rerun; SST-2's, MRPC's and RTE's records are b8_n400's, which scored the same examples.
#
#   experiments/hour/second_corpus_eval1000.sh /tmp/second_corpus
set -euo pipefail
here=$(realpath "$(dirname "$0")")
out=$(realpath "$1") name=b8_n400_e1000
EFFECT_TASKS="cola stsb" "$here/finetune_settings.sh" "$out" $name \
    '{batch_size: 8, max_train_examples: 400, max_eval_examples: 1000}' > /dev/null
for record in "$out"/b8_n400/metrics/{full,ablation/no_pretraining}/{sst2,mrpc,rte}-seed*.json; do
    copy="$out/$name/metrics/${record#"$out"/b8_n400/metrics/}"
    mkdir -p "$(dirname "$copy")"
    cp "$record" "$copy"
done
cd "$out/project"
export PATH="$here/../../.venv/bin:$PATH" PYTHONPATH="$out/project"
source "$here/effect_runs.sh"
effect_report "$out/$name" "$out/$name" "$out/$name/metrics"

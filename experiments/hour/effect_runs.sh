# Sourced by second_corpus.sh, finetune_settings.sh and second_corpus_eval1000.sh: the runs
# scripts/pretraining_effect.py's tests need, on the five Table 5 tasks with data in the mirror (the full model
# and w/o pre-training, seeds 42-44, and STS-B's transfer at 0 layers), and the report made from them. Run from
# the project copy. EFFECT_TASKS="cola" runs those tasks only (and the transfer runs only with stsb among them).
effect_tasks=${EFFECT_TASKS:-cola sst2 mrpc stsb rte}
effect_targets=()
for task in $effect_tasks; do
    for seed in 42 43 44; do
        effect_targets+=("results/metrics/full/$task-seed$seed.json" "results/metrics/ablation/no_pretraining/$task-seed$seed.json")
    done
done
if [[ " $effect_tasks " == *" stsb "* ]]; then
    for seed in 42 43 44; do effect_targets+=("results/metrics/transfer/layers0/stsb-seed$seed.json"); done
fi

# effect_report RESULTS FLAT_DIR [METRICS]: Tables 2-4, Table 5 and Figure 2 of METRICS (results/metrics) into
# RESULTS/tables and RESULTS/figures (their flat metrics into FLAT_DIR), then Table 5 and the tests, printed.
effect_report() {
    local results=$1 flat=$2 metrics=${3:-results/metrics}
    mkdir -p "$results/zero_shot_none"
    gpt1 tables --metrics-dir "$metrics/full" --out-dir "$results/tables" --metrics "$flat/tables_flat.json"
    gpt1 table5 --metrics-dir "$metrics" --out-dir "$results/tables" --metrics "$flat/table5_flat.json"
    gpt1 figure2 --metrics-dir "$metrics" --zero-shot-dir "$results/zero_shot_none" \
        --lstm-zero-shot-dir "$results/zero_shot_none" --out-dir "$results/figures" --metrics "$flat/figure2_flat.json"
    cat "$results/tables/table5.md"
    python scripts/pretraining_effect.py "$results" || true
}

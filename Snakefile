# gpt1: GPT-1 from raw text to the paper's tables. `snakemake --cores all` runs the sample profile;
# `--config profile=paper` selects another profile of params.yaml.
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/tables.smk"


rule all:
    input:
        "results/pretrain/model.pt",
        "results/pretrain/metrics.json",
        expand("results/metrics/{task}.json", task=config["finetune"]["tasks"]),
        "results/tables/tables.json",

# gpt1: GPT-1 from raw text to the paper's tables. `snakemake --cores all` runs the sample profile;
# `--config profile=paper` selects another profile of params.yaml, `--config profile=openai-gpt` fine-tunes
# OpenAI's released weights instead of pretraining (runs.init).
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


# `snakemake --report report.html`: Tables 2-5, Figure 2 and the summary, each with its caption
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/openai.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/report.smk"


# Everything: Tables 2-5, Figure 2 and results/summary.md, which shows them all.
rule all:
    input:
        "results/summary.md",

from gpt1.gpu_slots import gpus_needed, visible_devices

# GPUs: a fine-tuning job on CUDA asks for `gpu=1` and takes a GPU of its own (gpt1.gpu_slots); on the CPU
# it asks for none, and fine-tunings run as many at once as --cores allows. `--resources gpu=N` runs at most
# N GPU jobs at once. Without it Snakemake would not count GPUs at all (a resource not provided is not
# limited), so a local run on a machine with GPUs is given as many as it sees; a run given --jobs (a
# cluster's, or -j here) is left alone, and a job that finds every GPU held waits for one.
LOCAL_RUN = workflow.resource_settings.nodes is None  # Snakemake asks for --jobs to run on a cluster
if LOCAL_RUN and "gpu" not in workflow.global_resources.keys() and visible_devices():
    workflow.global_resources["gpu"] = len(visible_devices())


wildcard_constraints:
    task="[a-z0-9_]+",
    seed=r"\d+",
    layers=r"\d+",
    variant="no_pretraining|no_aux_lm",


# DPRD, the Winograd-style heuristic's set, is scored zero-shot only: it is no task of runs.tasks, so its
# download is a rule (and DVC stage) of its own. The same command as download_task.
ruleorder: download_dprd > download_task


rule download_task:
    input:
        code=code(
            "gpt1/stages/download_task.py",
            "gpt1/stages/common.py",
            "gpt1/download.py",
            "gpt1/files.py",
            "gpt1/logfile.py",
            "gpt1/params.py",
            "gpt1/progress.py",
            "gpt1/tracking.py",
            "gpt1/tasks",
        ),
    output:
        data=directory("results/tasks/{task}/data"),
        status="results/tasks/{task}/status.json",
    log:
        "results/logs/download_task_{task}.log",
    conda:
        "../envs/gpt1.yaml"
    shell:
        "gpt1 download-task --task {wildcards.task} --out-dir results/tasks/{wildcards.task} --log-file {log}"


FINETUNE_CODE = code(
    "gpt1/stages/finetune.py",
    "gpt1/stages/common.py",
    "gpt1/architectures.py",
    "gpt1/batching.py",
    "gpt1/config.py",
    "gpt1/device.py",
    "gpt1/download.py",
    "gpt1/files.py",
    "gpt1/gpu_slots.py",
    "gpt1/logfile.py",
    "gpt1/lstm.py",
    "gpt1/model.py",
    "gpt1/params.py",
    "gpt1/progress.py",
    "gpt1/tracking.py",
    "gpt1/weights.py",
    "gpt1/tasks",
    "gpt1/text",
    "gpt1/training",
)


# One fine-tuning run: a task, a seed and a variant (gpt1.config.Variant): `full` for Tables 2-4,
# Table 5's ablations and LSTM row, Figure 2's `layers<K>`. The four rules differ only in where their files
# go (and finetune_lstm in the model it starts from). The checkpoint and tokenizer are gpt1's pretraining's or
# the released weights' (runs.init, common.smk).
rule finetune:
    input:
        code=FINETUNE_CODE,
        data="results/tasks/{task}/data",
        status="results/tasks/{task}/status.json",
        model=START["model"],
        tokenizer=START["tokenizer"],
    output:
        metrics="results/metrics/full/{task}-seed{seed}.json",
        curves="results/curves/full/{task}-seed{seed}.csv",
    log:
        "results/logs/finetune/full/{task}-seed{seed}.log",
    conda:
        "../envs/gpt1.yaml"
    threads: 1
    resources:
        gpu=gpus_needed(config["finetune"]["device"]),
    params:
        finetune=cli_flags(config["finetune"]),
        variant=variant,
    shell:
        "gpt1 finetune --task {wildcards.task} --seed {wildcards.seed} --variant {params.variant}"
        " --task-dir results/tasks/{wildcards.task} --checkpoint {input.model} --tokenizer {input.tokenizer}"
        " --out {output.metrics} --curves {output.curves}"
        " --work-dir results/finetune/{params.variant}/{wildcards.task}-seed{wildcards.seed}"
        " {params.finetune} --log-file {log}"


use rule finetune as finetune_ablation with:
    output:
        metrics="results/metrics/ablation/{variant}/{task}-seed{seed}.json",
        curves="results/curves/ablation/{variant}/{task}-seed{seed}.csv",
    log:
        "results/logs/finetune/{variant}/{task}-seed{seed}.log",


use rule finetune as finetune_transfer with:
    output:
        metrics="results/metrics/transfer/layers{layers}/{task}-seed{seed}.json",
        curves="results/curves/transfer/layers{layers}/{task}-seed{seed}.csv",
    log:
        "results/logs/finetune/layers{layers}/{task}-seed{seed}.log",


# Table 5's LSTM row: the LSTM baseline's pretraining fine-tuned as the full model is (variant lstm), with its
# BPE (gpt1's: under runs.init openai-gpt too, since the LSTM is pretrained on gpt1's corpus).
use rule finetune as finetune_lstm with:
    input:
        code=FINETUNE_CODE,
        data="results/tasks/{task}/data",
        status="results/tasks/{task}/status.json",
        model="results/pretrain_lstm/model.pt",
        tokenizer="results/bpe/bpe.model",
    output:
        metrics="results/metrics/ablation/lstm/{task}-seed{seed}.json",
        curves="results/curves/ablation/lstm/{task}-seed{seed}.csv",
    log:
        "results/logs/finetune/lstm/{task}-seed{seed}.log",
    params:
        finetune=cli_flags(config["finetune"]),
        variant="lstm",


rule download_dprd:
    input:
        code=rules.download_task.input.code,
    output:
        data=directory("results/tasks/dprd/data"),
        status="results/tasks/dprd/status.json",
    log:
        "results/logs/download_task_dprd.log",
    conda:
        "../envs/gpt1.yaml"
    shell:
        "gpt1 download-task --task dprd --out-dir results/tasks/dprd --log-file {log}"

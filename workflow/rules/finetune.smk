wildcard_constraints:
    task="[a-z0-9_]+",
    seed=r"\d+",
    layers=r"\d+",
    variant="no_pretraining|no_aux_lm",


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


# One fine-tuning run: a task, a seed and a variant (gpt1.config.Variant): `full` for Tables 2-4,
# Table 5's ablations, Figure 2's `layers<K>`. The three rules differ only in where their files go. The
# checkpoint and tokenizer are gpt1's pretraining's or the released weights' (runs.init, common.smk).
rule finetune:
    input:
        code=code(
            "gpt1/stages/finetune.py",
            "gpt1/stages/common.py",
            "gpt1/batching.py",
            "gpt1/config.py",
            "gpt1/device.py",
            "gpt1/download.py",
            "gpt1/files.py",
            "gpt1/logfile.py",
            "gpt1/model.py",
            "gpt1/params.py",
            "gpt1/progress.py",
            "gpt1/tracking.py",
            "gpt1/weights.py",
            "gpt1/tasks",
            "gpt1/text",
            "gpt1/training",
        ),
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

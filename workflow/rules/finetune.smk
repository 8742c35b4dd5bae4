wildcard_constraints:
    task="[a-z0-9_]+",
    seed=r"\d+",
    layers=r"\d+",
    variant="no_pretraining|no_aux_lm",


rule download_task:
    input:
        code=["gpt1/download.py", "gpt1/tasks/data.py", "gpt1/tasks/registry.py"],
    output:
        data=directory("results/tasks/{task}/data"),
        status="results/tasks/{task}/status.json",
    params:
        profile=config["profile"],
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/download_task_{task}.log",
    shell:
        "gpt1 download-task --profile {params.profile} --task {wildcards.task}"
        " --out-dir results/tasks/{wildcards.task} --log-file {log}"


# One fine-tuning run: a task, a seed and a variant (gpt1.config.Variant): `full` for Tables 2-4,
# Table 5's ablations, Figure 2's `layers<K>`. The three rules differ only in where their files go. The
# checkpoint and tokenizer are gpt1's pretraining's or the released weights' (finetune.init, common.smk).
rule finetune:
    input:
        code=[
            "gpt1/device.py",
            "gpt1/finetune.py",
            "gpt1/finetune_stage.py",
            "gpt1/metrics.py",
            "gpt1/tasks/readers.py",
            "gpt1/tokenizers.py",
            "gpt1/transform.py",
        ],
        data="results/tasks/{task}/data",
        status="results/tasks/{task}/status.json",
        model=START["model"],
        tokenizer=START["tokenizer"],
    output:
        metrics="results/metrics/full/{task}-seed{seed}.json",
        curves="results/curves/full/{task}-seed{seed}.csv",
    params:
        profile=config["profile"],
        f=config["finetune"],
        variant="full",
    threads: 1
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/finetune/full/{task}-seed{seed}.log",
    shell:
        "gpt1 finetune --profile {params.profile} --task {wildcards.task} --variant {params.variant}"
        " --seed {wildcards.seed} --task-dir results/tasks/{wildcards.task}"
        " --checkpoint {input.model} --tokenizer {input.tokenizer} --out {output.metrics} --curves {output.curves}"
        " --work-dir results/finetune/{params.variant}/{wildcards.task}-seed{wildcards.seed}"
        " --lr {params.f[lr]} --batch-size {params.f[batch_size]} --epochs {params.f[epochs]}"
        " --warmup {params.f[warmup]} --lm-coef {params.f[lm_coef]} --clf-dropout {params.f[clf_dropout]}"
        " --weight-decay {params.f[weight_decay]} --grad-clip {params.f[grad_clip]}"
        " --max-train-examples {params.f[max_train_examples]} --min-train-examples {params.f[min_train_examples]}"
        " --device {params.f[device]} --log-file {log}"


use rule finetune as finetune_ablation with:
    output:
        metrics="results/metrics/ablation/{variant}/{task}-seed{seed}.json",
        curves="results/curves/ablation/{variant}/{task}-seed{seed}.csv",
    params:
        profile=config["profile"],
        f=config["finetune"],
        variant=lambda wildcards: wildcards.variant,
    log:
        "results/logs/finetune/{variant}/{task}-seed{seed}.log",


use rule finetune as finetune_transfer with:
    output:
        metrics="results/metrics/transfer/layers{layers}/{task}-seed{seed}.json",
        curves="results/curves/transfer/layers{layers}/{task}-seed{seed}.csv",
    params:
        profile=config["profile"],
        f=config["finetune"],
        variant=lambda wildcards: f"layers{wildcards.layers}",
    log:
        "results/logs/finetune/layers{layers}/{task}-seed{seed}.log",

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


rule finetune:
    input:
        code=[
            "gpt1/device.py",
            "gpt1/finetune.py",
            "gpt1/finetune_stage.py",
            "gpt1/metrics.py",
            "gpt1/tasks/readers.py",
            "gpt1/transform.py",
        ],
        data="results/tasks/{task}/data",
        status="results/tasks/{task}/status.json",
        model="results/pretrain/model.pt",
        bpe="results/bpe/bpe.model",
    output:
        metrics="results/metrics/{task}.json",
    params:
        profile=config["profile"],
        f=config["finetune"],
    threads: 1
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/finetune_{task}.log",
    shell:
        "gpt1 finetune --profile {params.profile} --task {wildcards.task} --task-dir results/tasks/{wildcards.task}"
        " --checkpoint {input.model} --bpe-model {input.bpe} --out {output.metrics}"
        " --work-dir results/finetune/{wildcards.task}"
        " --lr {params.f[lr]} --batch-size {params.f[batch_size]} --epochs {params.f[epochs]}"
        " --warmup {params.f[warmup]} --lm-coef {params.f[lm_coef]} --clf-dropout {params.f[clf_dropout]}"
        " --weight-decay {params.f[weight_decay]} --grad-clip {params.f[grad_clip]}"
        " --max-train-examples {params.f[max_train_examples]} --min-train-examples {params.f[min_train_examples]}"
        " --seed {params.f[seed]} --device {params.f[device]} --init {params.f[init]} --log-file {log}"

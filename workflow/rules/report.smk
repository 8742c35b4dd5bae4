rule tables:
    input:
        code=["gpt1/paper.py", "gpt1/tables.py"],
        metrics=full_runs(config["finetune"]["tasks"]),
    output:
        tables=expand("results/tables/table{n}.{ext}", n=[2, 3, 4], ext=["md", "csv", "tex"]),
        summary="results/tables/tables.json",
    params:
        profile=config["profile"],
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/tables.log",
    shell:
        "gpt1 tables --profile {params.profile} --metrics-dir results/metrics/full --out-dir results/tables"
        " --log-file {log}"


# Table 5, the ablations: `snakemake --cores all table5`.
rule table5:
    input:
        code=["gpt1/paper.py", "gpt1/tables.py", "gpt1/table5.py"],
        # every full run, as DVC's folder dependency: the full row shows all of Table 5's columns that ran,
        # not only the ablated tasks, and must not be written before they finish
        full=full_runs(config["finetune"]["tasks"]),
        ablation=expand(
            "results/metrics/ablation/{variant}/{task}-seed{seed}.json",
            variant=config["ablation"]["variants"],
            task=config["ablation"]["tasks"],
            seed=config["finetune"]["seeds"],
        ),
    output:
        tables=expand("results/tables/table5.{ext}", ext=["md", "csv", "tex"]),
        summary="results/tables/table5.json",
    params:
        profile=config["profile"],
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/table5.log",
    shell:
        "gpt1 table5 --profile {params.profile} --metrics-dir results/metrics --out-dir results/tables --log-file {log}"


# Figure 2 (right): every pretraining snapshot scored; under finetune.init openai-gpt, the released model
# (one point).
rule zero_shot:
    input:
        code=["gpt1/tokenizers.py", "gpt1/zero_shot.py"],
        snapshots=START["snapshots"],
        tokenizer=START["tokenizer"],
        data="results/tasks/{task}/data",
        status="results/tasks/{task}/status.json",
    output:
        "results/zero_shot/{task}.json",
    params:
        profile=config["profile"],
        z=config["zero_shot"],
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/zero_shot_{task}.log",
    shell:
        "gpt1 zero-shot --profile {params.profile} --task {wildcards.task} --task-dir results/tasks/{wildcards.task}"
        " --snapshots {input.snapshots} --tokenizer {input.tokenizer} --max-examples {params.z[max_examples]}"
        " --out {output} --log-file {log}"


rule figure2:
    input:
        code=["gpt1/figures.py"],
        full=full_runs(config["transfer"]["tasks"]),
        transfer=expand(
            "results/metrics/transfer/layers{layers}/{task}-seed{seed}.json",
            layers=config["transfer"]["layers"],
            task=config["transfer"]["tasks"],
            seed=config["finetune"]["seeds"],
        ),
        zero_shot=expand("results/zero_shot/{task}.json", task=config["zero_shot"]["tasks"]),
    output:
        png="results/figures/figure2.png",
        data="results/figures/figure2.json",
    params:
        profile=config["profile"],
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/figure2.log",
    shell:
        "gpt1 figure2 --profile {params.profile} --metrics-dir results/metrics --zero-shot-dir results/zero_shot"
        " --out-dir results/figures --log-file {log}"


rule summary:
    input:
        code=["gpt1/summary.py"],
        pretrain=START["pretrain_metrics"],  # none under finetune.init: openai-gpt
        tables=rules.tables.output,
        table5=rules.table5.output,
        figure=rules.figure2.output,
    output:
        "results/summary.md",
    params:
        profile=config["profile"],
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/summary.log",
    shell:
        "gpt1 summary --profile {params.profile} --results-dir results --out {output} --log-file {log}"

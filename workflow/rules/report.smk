from gpt1.gpu_slots import gpus_needed


rule tables:
    input:
        code=code(
            "gpt1/stages/tables.py",
            "gpt1/stages/common.py",
            "gpt1/files.py",
            "gpt1/params.py",
            "gpt1/tracking.py",
            "gpt1/report",
        ),
        metrics=full_runs(config["runs"]["tasks"]),
    output:
        tables=report(
            expand("results/tables/table{n}.{ext}", n=[2, 3, 4], ext=["md", "csv", "tex"]),
            caption="../report/tables.rst",
            category="Tables",
        ),
        summary="results/tables/tables.json",
        flat_metrics="metrics/tables.json",
        curves=directory("results/curves/tasks"),
    log:
        "results/logs/tables.log",
    conda:
        "../envs/gpt1.yaml"
    shell:
        "gpt1 tables --metrics-dir results/metrics/full --out-dir results/tables --metrics {output.flat_metrics}"
        " --curves-dir {output.curves} --log-file {log}"


# Table 5, the ablations: `snakemake --cores all table5`.
rule table5:
    input:
        code=code(
            "gpt1/stages/table5.py",
            "gpt1/stages/common.py",
            "gpt1/files.py",
            "gpt1/params.py",
            "gpt1/tracking.py",
            "gpt1/report",
        ),
        # every full run, as DVC's folder dependency: the full row shows all of Table 5's columns that ran,
        # not only the ablated tasks, and must not be written before they finish
        full=full_runs(config["runs"]["tasks"]),
        ablation=expand(
            "results/metrics/ablation/{variant}/{task}-seed{seed}.json",
            variant=[*config["ablation"]["variants"], "lstm"],  # the LSTM's row: rule finetune_lstm
            task=config["ablation"]["tasks"],
            seed=config["runs"]["seeds"],
        ),
    output:
        tables=report(
            expand("results/tables/table5.{ext}", ext=["md", "csv", "tex"]),
            caption="../report/table5.rst",
            category="Tables",
        ),
        summary="results/tables/table5.json",
        flat_metrics="metrics/table5.json",
    log:
        "results/logs/table5.log",
    conda:
        "../envs/gpt1.yaml"
    shell:
        "gpt1 table5 --metrics-dir results/metrics --out-dir results/tables --metrics {output.flat_metrics}"
        " --log-file {log}"


# Figure 2 (right): every pretraining snapshot scored; under runs.init openai-gpt, the released model
# (one point).
rule zero_shot:
    input:
        code=code(
            "gpt1/stages/zero_shot.py",
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
            "gpt1/tasks",
            "gpt1/text",
            "gpt1/training",
        ),
        snapshots=START["snapshots"],
        tokenizer=START["tokenizer"],
        data="results/tasks/{task}/data",
        status="results/tasks/{task}/status.json",
    output:
        "results/zero_shot/{task}.json",
    log:
        "results/logs/zero_shot_{task}.log",
    conda:
        "../envs/gpt1.yaml"
    resources:
        gpu=gpus_needed(config["zero_shot"]["device"]),  # one per job on CUDA, as fine-tuning (gpt1.gpu_slots)
    params:
        zero_shot=cli_flags(config["zero_shot"]),
    shell:
        "gpt1 zero-shot --task {wildcards.task} --task-dir results/tasks/{wildcards.task}"
        " --snapshots {input.snapshots} --tokenizer {input.tokenizer} --out {output} {params.zero_shot}"
        " --log-file {log}"


# Figure 2 (right), the dashed curves: the LSTM baseline's snapshots, scored by the same heuristics.
use rule zero_shot as zero_shot_lstm with:
    input:
        code=rules.zero_shot.input.code,
        snapshots="results/pretrain_lstm/snapshots",
        tokenizer="results/bpe/bpe.model",
        data="results/tasks/{task}/data",
        status="results/tasks/{task}/status.json",
    output:
        "results/zero_shot_lstm/{task}.json",
    log:
        "results/logs/zero_shot_lstm_{task}.log",


rule figure2:
    input:
        code=code(
            "gpt1/stages/figure2.py",
            "gpt1/stages/common.py",
            "gpt1/download.py",
            "gpt1/files.py",
            "gpt1/logfile.py",
            "gpt1/params.py",
            "gpt1/progress.py",
            "gpt1/tracking.py",
            "gpt1/report",
            "gpt1/tasks",
        ),
        full=full_runs(config["transfer"]["tasks"]),
        transfer=expand(
            "results/metrics/transfer/layers{layers}/{task}-seed{seed}.json",
            layers=config["transfer"]["layers"],
            task=config["transfer"]["tasks"],
            seed=config["runs"]["seeds"],
        ),
        zero_shot=expand("results/zero_shot/{task}.json", task=config["runs"]["zero_shot"]),
        zero_shot_lstm=expand("results/zero_shot_lstm/{task}.json", task=config["runs"]["zero_shot"]),
    output:
        png=report("results/figures/figure2.png", caption="../report/figure2.rst", category="Figures"),
        data="results/figures/figure2.json",
        flat_metrics="metrics/figure2.json",
    log:
        "results/logs/figure2.log",
    conda:
        "../envs/gpt1.yaml"
    shell:
        "gpt1 figure2 --metrics-dir results/metrics --zero-shot-dir results/zero_shot"
        " --lstm-zero-shot-dir results/zero_shot_lstm --out-dir results/figures --metrics {output.flat_metrics}"
        " --log-file {log}"


rule summary:
    input:
        code=code(
            "gpt1/stages/summary.py",
            "gpt1/stages/common.py",
            "gpt1/files.py",
            "gpt1/params.py",
            "gpt1/tracking.py",
            "gpt1/report",
        ),
        pretrain=START["pretrain_metrics"],  # none under runs.init: openai-gpt
        pretrain_lstm="results/pretrain_lstm/metrics.json",
        tables=rules.tables.output.tables,  # not the curves (dvc plots)
        tables_summary=rules.tables.output.summary,
        tables_metrics=rules.tables.output.flat_metrics,
        table5=rules.table5.output,
        figure=rules.figure2.output,
    output:
        report("results/summary.md", caption="../report/summary.rst", category="Summary"),
    log:
        "results/logs/summary.log",
    conda:
        "../envs/gpt1.yaml"
    shell:
        "gpt1 summary --results-dir results --out {output} --log-file {log}"

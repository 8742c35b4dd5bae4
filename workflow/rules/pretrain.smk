from gpt1.gpu_slots import gpus_needed


rule pretrain:
    input:
        code=code(
            "gpt1/stages/pretrain.py",
            "gpt1/stages/common.py",
            "gpt1/architectures.py",
            "gpt1/config.py",
            "gpt1/device.py",
            "gpt1/files.py",
            "gpt1/gpu_slots.py",
            "gpt1/launch.py",
            "gpt1/logfile.py",
            "gpt1/lstm.py",
            "gpt1/model.py",
            "gpt1/params.py",
            "gpt1/progress.py",
            "gpt1/report/__init__.py",
            "gpt1/report/flat.py",
            "gpt1/tracking.py",
            "gpt1/text",
            "gpt1/training",
        ),
        train="results/tokens/train.bin",
        val="results/tokens/val.bin",
        meta="results/tokens/meta.json",
    output:
        model="results/pretrain/model.pt",
        metrics="results/pretrain/metrics.json",
        train_curve="results/pretrain/train_curve.csv",
        val_curve="results/pretrain/val_curve.csv",
        flat_metrics="metrics/pretrain.json",
        snapshots=directory("results/pretrain/snapshots"),
    log:
        "results/logs/pretrain.log",
    conda:
        "../envs/gpt1.yaml"
    threads: os.cpu_count()  # all the cores it is given (Snakemake lowers it to --cores)
    resources:
        **multi_node(config["pretrain"]),
        gpu=gpus_needed(config["pretrain"]["device"], config["pretrain"]["processes"]),  # torchrun's, one each
    params:
        launcher=launcher(config["pretrain"]),
        model=cli_flags(config["model"]),
        pretrain=cli_flags(config["pretrain"]),
    shell:
        "{params.launcher} -m gpt1 pretrain"
        " --tokens-dir results/tokens --out-dir results/pretrain --metrics {output.flat_metrics}"
        " {params.model} {params.pretrain} --log-file {log}"


# Table 5's and Figure 2's LSTM baseline: the same tokens, batches and schedule as pretrain (gpt1/lstm.py).
rule pretrain_lstm:
    input:
        code=code(
            "gpt1/stages/pretrain_lstm.py",
            "gpt1/stages/pretrain.py",
            "gpt1/stages/common.py",
            "gpt1/architectures.py",
            "gpt1/config.py",
            "gpt1/device.py",
            "gpt1/files.py",
            "gpt1/gpu_slots.py",
            "gpt1/launch.py",
            "gpt1/logfile.py",
            "gpt1/lstm.py",
            "gpt1/model.py",
            "gpt1/params.py",
            "gpt1/progress.py",
            "gpt1/report/__init__.py",
            "gpt1/report/flat.py",
            "gpt1/tracking.py",
            "gpt1/text",
            "gpt1/training",
        ),
        train="results/tokens/train.bin",
        val="results/tokens/val.bin",
        meta="results/tokens/meta.json",
    output:
        model="results/pretrain_lstm/model.pt",
        metrics="results/pretrain_lstm/metrics.json",
        train_curve="results/pretrain_lstm/train_curve.csv",
        val_curve="results/pretrain_lstm/val_curve.csv",
        flat_metrics="metrics/pretrain_lstm.json",
        snapshots=directory("results/pretrain_lstm/snapshots"),
    log:
        "results/logs/pretrain_lstm.log",
    conda:
        "../envs/gpt1.yaml"
    threads: os.cpu_count()
    resources:
        **multi_node(config["pretrain"]),
        gpu=gpus_needed(config["pretrain"]["device"], config["pretrain"]["processes"]),
    params:
        launcher=launcher(config["pretrain"]),
        n_ctx=config["model"]["n_ctx"],
        lstm=cli_flags(config["lstm"]),
        pretrain=cli_flags(config["pretrain"]),
    shell:
        "{params.launcher} -m gpt1 pretrain-lstm"
        " --tokens-dir results/tokens --out-dir results/pretrain_lstm --metrics {output.flat_metrics}"
        " --n-ctx {params.n_ctx} {params.lstm} {params.pretrain} --log-file {log}"

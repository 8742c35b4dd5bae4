rule pretrain:
    input:
        code=code(
            "gpt1/stages/pretrain.py",
            "gpt1/stages/common.py",
            "gpt1/config.py",
            "gpt1/device.py",
            "gpt1/files.py",
            "gpt1/model.py",
            "gpt1/params.py",
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
        curves="results/pretrain/curves.csv",
        snapshots=directory("results/pretrain/snapshots"),
    log:
        "results/logs/pretrain.log",
    conda:
        "../envs/gpt1.yaml"
    threads: workflow.cores
    params:
        processes=config["pretrain"]["processes"],
        model=cli_flags(config["model"]),
        pretrain=cli_flags(config["pretrain"]),
    shell:
        "torchrun --standalone --nproc-per-node {params.processes} -m gpt1 pretrain"
        " --tokens-dir results/tokens --out-dir results/pretrain {params.model} {params.pretrain} --log-file {log}"

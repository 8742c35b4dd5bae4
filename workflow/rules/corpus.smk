rule download_corpus:
    input:
        code=code(
            "gpt1/stages/download_corpus.py",
            "gpt1/stages/common.py",
            "gpt1/config.py",
            "gpt1/download.py",
            "gpt1/files.py",
            "gpt1/logfile.py",
            "gpt1/params.py",
            "gpt1/progress.py",
            "gpt1/tracking.py",
            "gpt1/text",
        ),
    output:
        raw=directory("results/corpus/raw"),
        train="results/corpus/train.txt",
        val="results/corpus/val.txt",
        manifest="results/corpus/manifest.json",
    log:
        "results/logs/download_corpus.log",
    conda:
        "../envs/gpt1.yaml"
    params:
        corpus=cli_flags(config["corpus"]),
    shell:
        "gpt1 download-corpus {params.corpus} --out-dir results/corpus --log-file {log}"


rule train_bpe:
    input:
        code=code(
            "gpt1/stages/train_bpe.py",
            "gpt1/stages/common.py",
            "gpt1/config.py",
            "gpt1/files.py",
            "gpt1/params.py",
            "gpt1/tracking.py",
            "gpt1/text",
        ),
        text="results/corpus/train.txt",
        manifest="results/corpus/manifest.json",
    output:
        model="results/bpe/bpe.model",
        form="results/bpe/bpe.json",
    log:
        "results/logs/train_bpe.log",
    conda:
        "../envs/gpt1.yaml"
    params:
        bpe=cli_flags(config["bpe"]),
    shell:
        "gpt1 train-bpe {params.bpe} --text {input.text} --manifest {input.manifest} --model {output.model}"
        " --log-file {log}"


rule encode_corpus:
    input:
        code=code(
            "gpt1/stages/encode_corpus.py",
            "gpt1/stages/common.py",
            "gpt1/files.py",
            "gpt1/logfile.py",
            "gpt1/params.py",
            "gpt1/progress.py",
            "gpt1/tracking.py",
            "gpt1/text",
        ),
        model="results/bpe/bpe.model",
        train="results/corpus/train.txt",
        val="results/corpus/val.txt",
    output:
        train="results/tokens/train.bin",
        val="results/tokens/val.bin",
        meta="results/tokens/meta.json",
    log:
        "results/logs/encode_corpus.log",
    conda:
        "../envs/gpt1.yaml"
    shell:
        "gpt1 encode-corpus --bpe-model {input.model} --corpus-dir results/corpus --out-dir results/tokens"
        " --log-file {log}"

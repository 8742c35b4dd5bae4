rule download_corpus:
    input:
        code=["gpt1/corpus.py", "gpt1/download.py"],
    output:
        raw=directory("results/corpus/raw"),
        train="results/corpus/train.txt",
        val="results/corpus/val.txt",
        manifest="results/corpus/manifest.json",
    params:
        profile=config["profile"],
        corpus=config["corpus"],
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/download_corpus.log",
    shell:
        "gpt1 download-corpus --profile {params.profile} --source {params.corpus[source]}"
        " --val-fraction {params.corpus[val_fraction]} --seed {params.corpus[seed]}"
        " --out-dir results/corpus --log-file {log}"


rule train_bpe:
    input:
        code=["gpt1/bpe.py"],
        text="results/corpus/train.txt",
    output:
        model="results/bpe/bpe.model",
    params:
        profile=config["profile"],
        bpe=config["bpe"],
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/train_bpe.log",
    shell:
        "gpt1 train-bpe --profile {params.profile} --text {input.text} --vocab-size {params.bpe[vocab_size]}"
        " --max-sentences {params.bpe[max_sentences]} --seed {params.bpe[seed]} --model {output.model} --log-file {log}"


rule encode_corpus:
    input:
        code=["gpt1/bpe.py", "gpt1/encode.py"],
        model="results/bpe/bpe.model",
        train="results/corpus/train.txt",
        val="results/corpus/val.txt",
    output:
        train="results/tokens/train.bin",
        val="results/tokens/val.bin",
        meta="results/tokens/meta.json",
    params:
        profile=config["profile"],
    conda:
        "../envs/gpt1.yaml"
    log:
        "results/logs/encode_corpus.log",
    shell:
        "gpt1 encode-corpus --profile {params.profile} --bpe-model {input.model} --corpus-dir results/corpus"
        " --out-dir results/tokens --log-file {log}"

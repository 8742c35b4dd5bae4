# runs.init: openai-gpt. OpenAI's released GPT-1, downloaded at pinned revisions (GPT1_DATA_MIRROR and
# HF_ENDPOINT honoured) and converted into a gpt1 checkpoint, with its BPE vocabulary beside it.
rule import_openai_gpt:
    input:
        code=code(
            "gpt1/stages/import_openai_gpt.py",
            "gpt1/stages/common.py",
            "gpt1/config.py",
            "gpt1/download.py",
            "gpt1/files.py",
            "gpt1/logfile.py",
            "gpt1/model.py",
            "gpt1/params.py",
            "gpt1/progress.py",
            "gpt1/released.py",
            "gpt1/text/__init__.py",
            "gpt1/text/task_tokens.py",
            "gpt1/tracking.py",
            "gpt1/weights.py",
        ),
    output:
        model="results/openai-gpt/model.pt",
        vocab=directory("results/openai-gpt/vocab"),
    log:
        "results/logs/import_openai_gpt.log",
    conda:
        "../envs/gpt1.yaml"
    shell:
        "gpt1 import-openai-gpt --model {output.model} --vocab-dir {output.vocab}"
        " --download-dir results/openai-gpt/download --log-file {log}"

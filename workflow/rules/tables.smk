rule tables:
    input:
        code=["gpt1/paper.py", "gpt1/tables.py"],
        metrics=expand("results/metrics/{task}.json", task=config["finetune"]["tasks"]),
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
        "gpt1 tables --profile {params.profile} --metrics-dir results/metrics --out-dir results/tables"
        " --log-file {log}"

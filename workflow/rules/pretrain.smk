from gpt1.gpu_slots import gpus_needed


def launcher(pretrain):
    """torchrun on this machine; with pretrain.nodes > 1, on each node of the SLURM job, which gpt1.launch
    renders from the job's environment (one srun task a node)."""
    per_node = pretrain["processes"] // pretrain["nodes"]
    if pretrain["nodes"] == 1:
        return f"torchrun --standalone --nproc-per-node {per_node}"
    return f"srun --ntasks-per-node=1 python -m gpt1.launch --nproc-per-node {per_node} --"


def multi_node(pretrain):
    """What snakemake-executor-plugin-slurm needs to give a job several nodes and run its command as it is (its
    `srun` spreads one task a node): `mpi` keeps the job step from wrapping the command in a one-task srun,
    `tasks` is one a node, and tasks_per_gpu 0 keeps the plugin from turning `tasks` into --ntasks-per-gpu."""
    nodes = pretrain["nodes"]
    return {"nodes": nodes, "mpi": "srun", "tasks": nodes, "tasks_per_gpu": 0} if nodes > 1 else {}


rule pretrain:
    input:
        code=code(
            "gpt1/stages/pretrain.py",
            "gpt1/stages/common.py",
            "gpt1/config.py",
            "gpt1/device.py",
            "gpt1/files.py",
            "gpt1/launch.py",
            "gpt1/logfile.py",
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

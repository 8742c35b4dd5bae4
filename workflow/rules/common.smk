# params.yaml with the selected profile applied, then everything set with --configfile or --config, and
# validated: a bad key fails here, named.
import os
from contextlib import ExitStack
from pathlib import Path

from gpt1 import tracking
from gpt1.files import exclusive
from gpt1.params import PROFILE_ENV, cli_flags, resolve, validate

config.update(resolve(workflow.config_settings.overwrite_config))
validate(config)
os.environ[PROFILE_ENV] = config["profile"]  # a label for MLflow and the tables, not a parameter


# One run at a time in results/: Snakemake's own lock lets two runs started at the same instant both in.
# Taken when jobs are about to run (never for a dry run), held until this process ends, also by kill -9.
RESULTS_LOCK = ExitStack()


# Also when jobs are about to run: the MLflow run that their runs nest under (gpt1.tracking), closed at the end.
onstart:
    RESULTS_LOCK.enter_context(exclusive(Path("results")))
    tracking.open_pipeline_run("snakemake")


onsuccess:
    tracking.close_pipeline_run("FINISHED")


onerror:
    tracking.close_pipeline_run("FAILED")


def code(*paths):
    """A stage's code: files as given, and every .py file of each folder (Snakemake compares a folder's own
    modification time, not its files'; DVC, which hashes folders, lists the folders themselves)."""
    files = []
    for path in map(Path, paths):
        files += sorted(str(p) for p in path.rglob("*.py")) if path.is_dir() else [str(path)]
    return files


def variant(wildcards):
    """A fine-tuning run's variant (gpt1.config.Variant), from the wildcards of its output path."""
    if "layers" in wildcards.keys():
        return f"layers{wildcards.layers}"
    return wildcards.get("variant", "full")


def full_runs(tasks):
    """The full model's metrics files for `tasks`, one per seed."""
    return expand("results/metrics/full/{task}-seed{seed}.json", task=tasks, seed=config["runs"]["seeds"])


# Where fine-tuning and zero-shot start (runs.init): gpt1's own pretraining and BPE model, or OpenAI's
# released weights and BPE vocabulary (rule import_openai_gpt), which need no corpus, BPE or pretraining.
STARTS = {
    "pretrained": {
        "model": "results/pretrain/model.pt",
        "tokenizer": "results/bpe/bpe.model",
        "snapshots": "results/pretrain/snapshots",
        "pretrain_metrics": "results/pretrain/metrics.json",
    },
    "openai-gpt": {
        "model": "results/openai-gpt/model.pt",
        "tokenizer": "results/openai-gpt/vocab",
        "snapshots": "results/openai-gpt/model.pt",  # zero-shot scores the released model: one point
        "pretrain_metrics": [],
    },
}
START = STARTS[config["runs"]["init"]]


def launcher(pretrain):
    """torchrun on this machine; with pretrain.nodes > 1, on each node of the SLURM job, which gpt1.launch
    renders from the job's environment (one srun task a node)."""
    per_node = pretrain["processes"] // pretrain["nodes"]
    if pretrain["nodes"] == 1:
        return f"torchrun --standalone --nproc-per-node {per_node}"
    # --nodes: the executor plugin's job step drops the allocation's SLURM_* variables: without it, srun runs on
    # one node
    return f"srun --nodes={pretrain['nodes']} --ntasks-per-node=1 python -m gpt1.launch --nproc-per-node {per_node} --"


def multi_node(pretrain):
    """What snakemake-executor-plugin-slurm needs to give a job several nodes and run its command as it is (its
    `srun` spreads one task a node): `mpi` keeps the job step from wrapping the command in a one-task srun,
    `tasks` is one a node, and tasks_per_gpu 0 keeps the plugin from turning `tasks` into --ntasks-per-gpu."""
    nodes = pretrain["nodes"]
    return {"nodes": nodes, "mpi": "srun", "tasks": nodes, "tasks_per_gpu": 0} if nodes > 1 else {}

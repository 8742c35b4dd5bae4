# params.yaml with the selected profile applied (then anything set with --configfile or --config), and
# validated: a bad key fails here, named.
from pathlib import Path

from gpt1.params import resolve, validate

config.update(resolve(config, Path("params.yaml")))
validate(config)


def full_runs(tasks):
    """The full model's metrics files for `tasks`, one per seed."""
    return expand("results/metrics/full/{task}-seed{seed}.json", task=tasks, seed=config["finetune"]["seeds"])


# Where fine-tuning and zero-shot start (finetune.init): gpt1's own pretraining and BPE model, or OpenAI's
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
START = STARTS[config["finetune"]["init"]]

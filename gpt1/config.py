"""Every stage's settings: plain dataclasses, free of torch so the CLI starts fast.

Each dataclass is one group of params.yaml (PARAM_GROUPS); its field names are the group's keys and the
schema's. A stage takes its group as flags (`--lr 0.001`), which DVC renders from `${finetune}` and
Snakemake from `gpt1.params.cli_flags(config["finetune"])`. The defaults are the paper's values, for
code that builds a config itself; the command line has none: every flag is required.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar


@dataclass
class CorpusConfig:
    """params.yaml's `corpus` group (the download_corpus stage)."""

    GROUP: ClassVar[str] = "corpus"

    source: str = "bookcorpus"
    """A corpus of gpt1.text.corpus's registry (british-novels, bookcorpus) or a directory of .txt files."""
    val_fraction: float = 0.01
    """Share of documents held out for validation."""
    seed: int = 0


@dataclass
class BPEConfig:
    """params.yaml's `bpe` group (the train_bpe stage)."""

    GROUP: ClassVar[str] = "bpe"

    vocab_size: int = 40478
    """Pieces, the three task tokens and the 256 byte fallbacks included."""
    max_sentences: int = 10_000_000
    """Paragraphs sampled to train the BPE model."""
    seed: int = 0


@dataclass
class GPTConfig:
    """params.yaml's `model` group: the model's shape. The defaults are the paper's model (116,534,784
    parameters)."""

    GROUP: ClassVar[str] = "model"

    NOT_PARAMS: ClassVar[tuple[str, ...]] = ("vocab_size",)
    """Fields that come from elsewhere than params.yaml: the vocabulary is the tokenizer's."""

    vocab_size: int = 40478
    """Tokens in the vocabulary, task tokens included when the tokenizer reserves them."""
    n_ctx: int = 512
    """Context length: the number of learned position embeddings."""
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    n_inner: int = 3072
    """Width of the feed-forward layer."""
    dropout: float = 0.1
    """Dropout on embeddings, attention weights and residual branches."""
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    """Standard deviation of the N(0, init_std) initialisation of every weight matrix and embedding."""

    def __post_init__(self) -> None:
        from gpt1.params import check_group_rules

        check_group_rules("model", self.to_dict())

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LSTMConfig:
    """params.yaml's `lstm` group: the LSTM baseline of Table 5 and Figure 2 (gpt1.lstm). The paper gives one
    layer of 2,048 units; the rest is ours (docs/lstm.md). The defaults are the paper profile's."""

    GROUP: ClassVar[str] = "lstm"

    NOT_PARAMS: ClassVar[tuple[str, ...]] = ("vocab_size", "n_ctx")
    """The vocabulary is the tokenizer's; the context, the transformer's (model.n_ctx): both read the same
    windows of the same tokens."""

    vocab_size: int = 40478
    n_ctx: int = 512
    """The longest sequence it is given (pretraining's windows, fine-tuning's truncation)."""
    n_layer: int = 1
    n_hidden: int = 2048
    """Units of each LSTM layer (the paper's "2048 unit LSTM")."""
    n_embd: int = 768
    """Width of the token embedding and of the LSTM's projected output, which the tied LM head and the task
    heads read."""
    dropout: float = 0.1
    """Dropout on the embeddings and on the LSTM's output."""
    init_std: float = 0.1
    """N(0, init_std) for the embedding and for the task heads built on it."""
    pretrain_lr: float = 1e-3
    """Its pretraining's peak learning rate, in place of pretrain.lr (the transformer's); the schedule, batches
    and updates are pretrain's."""

    def to_dict(self) -> dict:
        return {"architecture": "lstm", **asdict(self)}


@dataclass
class PretrainConfig:
    """params.yaml's `pretrain` group."""

    GROUP: ClassVar[str] = "pretrain"

    NOT_PARAMS: ClassVar[tuple[str, ...]] = ()

    batch_size: int = 64
    """Sequences per optimizer update, summed over processes."""
    micro_batch_size: int = 16
    """Sequences per forward pass in each process; the rest of the batch is gradient accumulation."""
    lr: float = 2.5e-4
    warmup_steps: int = 2000
    epochs: float = 100.0
    max_steps: int = 0
    """Cap on the number of updates; 0 for none."""
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    eval_interval: int = 2000
    """Updates between validation passes; a checkpoint is written at each."""
    eval_batches: int = 50
    log_interval: int = 50
    snapshot_interval: int = 0
    """Updates between weight snapshots kept in snapshots/ (Figure 2's zero-shot curves); 0: the final one only."""
    seed: int = 1337
    device: str = "auto"
    compile: str = "none"
    """torch.compile mode, or none."""
    processes: int = 1
    """torchrun processes (GPUs, or CPU processes with gloo); the run checks that it got this many."""
    nodes: int = 1
    """Machines the processes are spread over, processes / nodes on each: more than 1 under SLURM only
    (gpt1.launch starts torchrun on each node of the job)."""


@dataclass
class FinetuneConfig:
    """params.yaml's `finetune` group: one fine-tuning run's hyperparameters (the paper's by default)."""

    GROUP: ClassVar[str] = "finetune"

    NOT_PARAMS: ClassVar[tuple[str, ...]] = ("seed", "variant")
    """Set per run by the workflow (runs.seeds, the ablations and Figure 2's layer counts)."""

    lr: float = 6.25e-5
    batch_size: int = 32
    """Examples per update (a similarity example is 2 sequences, a multiple-choice one k)."""
    micro_batch_size: int = 0
    """Examples per forward pass; the update accumulates the batch's gradients (0: the whole batch at once)."""
    epochs: int = 3
    warmup: float = 0.002
    """Share of the updates spent warming up linearly; then linear decay to 0."""
    stsb_target: str = "soft_labels"
    """STS-B's training target: `soft_labels` (a distribution over the scores 0-5, as the released code's
    encoding) or `regression` (gpt1.training.targets)."""
    lm_coef: float = 0.5
    """λ in L3 = L2 + λ L1: weight of the auxiliary language-modelling loss; 0 turns it off."""
    clf_dropout: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    """AdamW's betas and eps: the released code's (the paper names none)."""
    max_train_examples: int = 0
    """Train on a seeded random subset of this many examples; 0 for all."""
    min_train_examples: int = 100
    """Fewer training examples than this (a mirror's format slice) and the task is reported as not run."""
    max_eval_examples: int = 0
    """Evaluate on a seeded random sample of this many examples of each split (the same for every run);
    0 for all."""
    seed: int = 42
    device: str = "auto"
    variant: str = "full"
    """What the run takes from pretraining (gpt1.training.variants): Table 5's ablations, Figure 2's layer
    counts."""


@dataclass
class ZeroShotConfig:
    """params.yaml's `zero_shot` group (the zero_shot stage)."""

    GROUP: ClassVar[str] = "zero_shot"

    max_examples: int = 0
    """A seeded sample of this many examples of each task's evaluation split; 0 for all."""
    seed: int = 0
    device: str = "auto"


PARAM_GROUPS = {
    cls.GROUP: cls
    for cls in (CorpusConfig, BPEConfig, GPTConfig, LSTMConfig, PretrainConfig, FinetuneConfig, ZeroShotConfig)
}
"""params.yaml's groups that are stage settings, each with its dataclass. The other groups (runs, ablation,
transfer) say which runs the tables and figures need."""

"""What a fine-tuning run takes from pretraining (params.yaml's `finetune.variant`): the full model, Table 5's
ablations or Figure 2's layer counts. gpt1.training.finetune loads a checkpoint's weights by it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """A fine-tuning run's relation to pretraining.

    `full`: every pretrained weight and the auxiliary LM objective. Table 5's ablations: `no_pretraining`
    (the checkpoint's shape, fresh N(0, 0.02) weights), `no_aux_lm` (lambda = 0) and `lstm` (every weight of
    the LSTM baseline's pretraining, with the auxiliary LM objective). Figure 2 (left): `layers<K>`, the
    pretrained embeddings and first K blocks, the rest fresh.
    """

    name: str
    layers: int | None
    """Pretrained blocks transferred with the embeddings; None: all; -1: nothing at all."""
    aux_lm: bool
    architecture: str = "transformer"
    """The architecture of the checkpoint it fine-tunes (gpt1.architectures)."""

    @classmethod
    def parse(cls, name: str, n_layer: int) -> Variant:
        if name == "full":
            return cls(name, None, True)
        if name == "no_pretraining":
            return cls(name, -1, True)
        if name == "no_aux_lm":
            return cls(name, None, False)
        if name == "lstm":
            return cls(name, None, True, "lstm")
        if name.startswith("layers") and name[6:].isdigit() and int(name[6:]) <= n_layer:
            return cls(name, int(name[6:]), True)
        raise ValueError(
            f"finetune variant {name!r}: use full, no_pretraining, no_aux_lm, lstm or layers<K> "
            f"with K at most the model's {n_layer} layers"
        )

    def transfers(self, key: str) -> bool:
        """Whether the pretrained tensor `key` (a state-dict key) is loaded."""
        if self.layers is None or key.startswith(("tokens_embed.", "positions_embed.")):
            return self.layers != -1
        return key.startswith("h.") and int(key.split(".")[1]) < self.layers

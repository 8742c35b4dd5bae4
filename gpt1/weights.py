"""OpenAI's released GPT-1 weights: import them into a gpt1 checkpoint, export a checkpoint to Hugging Face.

Two layouts are read, told apart by the files in the directory:

- "hf": Hugging Face's openai-community/openai-gpt, `config.json` + `model.safetensors` (or
  `pytorch_model.bin`, read with `torch.load(weights_only=True)` only);
- "original": openai/finetune-transformer-lm's `model/` folder, `params_shapes.json` + `params_0.npy` ...
  `params_9.npy`: every tensor flattened and concatenated in the order of params_shapes.json, then cut into
  ten files. That order is positions, tokens, then per block c_attn w, b, c_proj w, b, ln_1 g, b, c_fc w,
  b, c_proj w, b, ln_2 g, b (docs/paper.md, Released code; the variables in the order train.py creates them).

Both store the projections as Conv1D weights, [in, out] (the original with a leading 1); gpt1's nn.Linear
wants [out, in]. The release holds no rows for the three task tokens: OpenAI's train.py appends them at
fine-tuning, drawn from N(0, 0.02), and so does `import_weights` (`task_tokens`). gpt1.released downloads
the release at pinned revisions.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gpt1.config import GPTConfig
from gpt1.files import atomic_save, atomic_write_bytes, atomic_write_json, load_weights_file
from gpt1.model import GPT
from gpt1.text.task_tokens import N_TASK_TOKENS

log = logging.getLogger(__name__)

# Each block's tensors in the original release's order: (our name, the release's shape without the
# layer's leading 1, as a function of n_embd and n_inner).
_BLOCK_LAYOUT: tuple[tuple[str, Callable[[int, int], tuple[int, ...]]], ...] = (
    ("attn.c_attn.weight", lambda d, f: (d, 3 * d)),
    ("attn.c_attn.bias", lambda d, f: (3 * d,)),
    ("attn.c_proj.weight", lambda d, f: (d, d)),
    ("attn.c_proj.bias", lambda d, f: (d,)),
    ("ln_1.weight", lambda d, f: (d,)),
    ("ln_1.bias", lambda d, f: (d,)),
    ("mlp.c_fc.weight", lambda d, f: (d, f)),
    ("mlp.c_fc.bias", lambda d, f: (f,)),
    ("mlp.c_proj.weight", lambda d, f: (f, d)),
    ("mlp.c_proj.bias", lambda d, f: (d,)),
    ("ln_2.weight", lambda d, f: (d,)),
    ("ln_2.bias", lambda d, f: (d,)),
)
N_PARAM_FILES = 10  # the release cut its concatenated tensors into params_0.npy ... params_9.npy
HF_PREFIX = "transformer."
SOURCE = "openai-gpt"


def is_conv1d_weight(name: str) -> bool:
    """Whether a state-dict entry is stored [in, out] by transformers' Conv1D and the release."""
    return name.endswith(".weight") and any(f".{layer}." in name for layer in ("c_attn", "c_proj", "c_fc"))


# --- reading either layout ------------------------------------------------------------------------


def detect_format(src: Path) -> str:
    """ "hf" or "original", from the files in `src`."""
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"{src} is not a directory: pass the folder holding the released weights")
    hf_weights = ("model.safetensors", "pytorch_model.bin")
    hf = (src / "config.json").is_file() and any((src / name).is_file() for name in hf_weights)
    original = (src / "params_shapes.json").is_file()
    if hf and original:
        raise ValueError(
            f"{src} holds both Hugging Face (config.json) and original (params_shapes.json) weights: keep one"
        )
    if hf:
        return "hf"
    if original:
        return "original"
    raise FileNotFoundError(
        f"{src} holds neither config.json + model.safetensors (Hugging Face) nor params_shapes.json + "
        "params_*.npy (openai/finetune-transformer-lm): download the released weights there"
    )


def read_released(src: Path, n_head: int = 12) -> tuple[GPTConfig, dict[str, torch.Tensor], str]:
    """The model config, gpt1 state dict and format of the weights in `src`. `n_head` is needed by the
    original layout only (its shapes do not say it)."""
    fmt = detect_format(src)
    cfg, state = read_hf(src) if fmt == "hf" else read_original(src, n_head)
    check_state(state, cfg, src)
    return cfg, state, fmt


def check_state(state: dict[str, torch.Tensor], cfg: GPTConfig, src: Path) -> None:
    """Raise ValueError unless `state` has exactly gpt1's keys and shapes for `cfg`."""
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in GPT(cfg).state_dict().items()}
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise ValueError(f"{src}: weights missing {missing[:5]}, unexpected {unexpected[:5]}: not a GPT-1 checkpoint")
    for name, shape in expected.items():
        if tuple(state[name].shape) != shape:
            raise ValueError(f"{src}: {name} has shape {tuple(state[name].shape)}, the config implies {shape}")


def read_hf(src: Path) -> tuple[GPTConfig, dict[str, torch.Tensor]]:
    cfg = config_from_hf(json.loads((src / "config.json").read_text(encoding="utf-8")), src / "config.json")
    return cfg, state_from_hf(read_hf_tensors(src))


def config_from_hf(hf: dict, path: Path) -> GPTConfig:
    """GPTConfig from transformers' OpenAIGPTConfig fields."""
    if hf.get("model_type", "openai-gpt") != "openai-gpt":
        raise ValueError(f"{path}: model_type {hf['model_type']!r} is not openai-gpt")
    if hf.get("afn", "gelu") != "gelu":  # transformers' OpenAIGPT "gelu" is the tanh approximation, as ours
        raise ValueError(f"{path}: activation {hf['afn']!r} is not supported; gpt1's model uses gelu (tanh)")
    n_embd = hf.get("n_embd", 768)
    return GPTConfig(
        vocab_size=hf.get("vocab_size", 40478),
        n_ctx=hf.get("n_positions", hf.get("n_ctx", 512)),
        n_layer=hf.get("n_layer", 12),
        n_head=hf.get("n_head", 12),
        n_embd=n_embd,
        n_inner=4 * n_embd,  # transformers' OpenAIGPT fixes the feed-forward width
        dropout=hf.get("resid_pdrop", 0.1),
        layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
        init_std=hf.get("initializer_range", 0.02),
    )


def read_hf_tensors(src: Path) -> dict[str, torch.Tensor]:
    """model.safetensors, else pytorch_model.bin loaded without unpickling arbitrary objects."""
    if (src / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(src / "model.safetensors")
    return load_weights_file(src / "pytorch_model.bin")


def state_from_hf(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers' OpenAIGPT tensors as gpt1's state dict: prefix dropped, Conv1D weights transposed,
    causal-mask buffers and the tied LM head left out."""
    state = {}
    for key, tensor in tensors.items():
        name = key.removeprefix(HF_PREFIX)
        if re.fullmatch(r"h\.\d+\.attn\.bias", name) or name == "lm_head.weight":
            continue
        tensor = tensor.to(torch.float32)
        state[name] = tensor.T.contiguous() if is_conv1d_weight(name) else tensor
    head, embed = tensors.get("lm_head.weight"), state.get("tokens_embed.weight")
    if head is not None and embed is not None and not torch.equal(head.float(), embed):
        raise ValueError("lm_head.weight differs from tokens_embed.weight: gpt1's LM head is tied to the embedding")
    return state


def read_original(src: Path, n_head: int = 12) -> tuple[GPTConfig, dict[str, torch.Tensor]]:
    shapes = read_shapes(src / "params_shapes.json")
    cfg = config_from_shapes(shapes, n_head, src / "params_shapes.json")
    arrays = split_concatenated(load_param_files(src), shapes, src)
    names = ["positions_embed.weight", "tokens_embed.weight"]
    names += [f"h.{i}.{name}" for i in range(cfg.n_layer) for name, _ in _BLOCK_LAYOUT]
    state = {}
    for name, array in zip(names, arrays):
        tensor = torch.from_numpy(np.array(array, dtype=np.float32))
        if tensor.dim() == 3:  # a 1x1 convolution, [1, in, out]
            tensor = tensor[0]
        state[name] = tensor.T.contiguous() if is_conv1d_weight(name) else tensor
    return cfg, state


def read_shapes(path: Path) -> list[tuple[int, ...]]:
    try:
        shapes = json.loads(path.read_text(encoding="utf-8"))
        return [tuple(int(n) for n in shape) for shape in shapes]
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path} is not a JSON list of shapes ({err}): fetch it again") from None


def config_from_shapes(shapes: list[tuple[int, ...]], n_head: int, path: Path) -> GPTConfig:
    """The model the release's shapes describe, checked against the block layout."""
    if len(shapes) < 2 or len(shapes[0]) != 2 or (len(shapes) - 2) % len(_BLOCK_LAYOUT):
        raise ValueError(f"{path}: {len(shapes)} shapes are not positions, tokens and {len(_BLOCK_LAYOUT)} per block")
    (n_ctx, n_embd), (vocab_size, _) = shapes[0], shapes[1]
    c_fc = 2 + [name for name, _ in _BLOCK_LAYOUT].index("mlp.c_fc.weight")  # [1, n_embd, n_inner]
    n_inner = shapes[c_fc][-1] if len(shapes) > c_fc else 4 * n_embd
    expected = [(n_ctx, n_embd), (vocab_size, n_embd)]
    n_layer = (len(shapes) - 2) // len(_BLOCK_LAYOUT)
    for _ in range(n_layer):
        expected += [shape(n_embd, n_inner) for _, shape in _BLOCK_LAYOUT]
    for i, (got, want) in enumerate(zip(shapes, expected)):
        if (got[1:] if len(got) == 3 and got[0] == 1 else got) != want:  # [1, in, out]: a 1x1 convolution
            raise ValueError(f"{path}: tensor {i} has shape {list(got)}, the GPT-1 layout expects {list(want)}")
    return GPTConfig(vocab_size=vocab_size, n_ctx=n_ctx, n_layer=n_layer, n_head=n_head, n_embd=n_embd, n_inner=n_inner)


def load_param_files(src: Path) -> np.ndarray:
    """params_0.npy ... params_9.npy concatenated into one flat float32 array."""
    files = [src / f"params_{i}.npy" for i in range(N_PARAM_FILES)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{src} has params_shapes.json but not {', '.join(missing)}: download them there")
    return np.concatenate([np.load(p, allow_pickle=False).ravel() for p in files])


def split_concatenated(flat: np.ndarray, shapes: list[tuple[int, ...]], src: Path) -> list[np.ndarray]:
    sizes = [int(np.prod(shape)) for shape in shapes]
    if flat.size != sum(sizes):
        raise ValueError(f"{src}: the params_*.npy files hold {flat.size} numbers, params_shapes.json {sum(sizes)}")
    pieces = np.split(flat, np.cumsum(sizes)[:-1])
    return [piece.reshape(shape) for piece, shape in zip(pieces, shapes)]


# --- the gpt1 checkpoint --------------------------------------------------------------------------


def add_task_token_rows(
    cfg: GPTConfig, state: dict[str, torch.Tensor], n: int, seed: int
) -> tuple[GPTConfig, dict[str, torch.Tensor]]:
    """Append `n` token-embedding rows drawn from N(0, init_std), as OpenAI's train.py does for the task
    tokens, which then take ids vocab_size ... vocab_size + n - 1."""
    if n == 0:
        return cfg, state
    embed = state["tokens_embed.weight"]
    rows = torch.randn(n, cfg.n_embd, generator=torch.Generator().manual_seed(seed)) * cfg.init_std
    state = state | {"tokens_embed.weight": torch.cat([embed, rows.to(embed.dtype)])}
    return GPTConfig(**(cfg.to_dict() | {"vocab_size": cfg.vocab_size + n})), state


def import_weights(src: Path, out: Path, task_tokens: int = N_TASK_TOKENS, n_head: int = 12, seed: int = 0) -> dict:
    """Write the released weights in `src` as a gpt1 checkpoint `out`, the layout pretraining's model.pt
    has, plus where the weights came from. Returns the checkpoint's description."""
    src, out = Path(src), Path(out)
    cfg, state, fmt = read_released(src, n_head)
    cfg, state = add_task_token_rows(cfg, state, task_tokens, seed)
    about = {"source": SOURCE, "source_format": fmt, "task_token_rows": task_tokens}
    checkpoint = {"model_config": cfg.to_dict(), "model": state, "step": None, "mlflow_run_id": None} | about
    atomic_save(checkpoint, out)
    n_params = sum(t.numel() for t in state.values())
    log.info("imported %s (%s layout, %d parameters) -> %s", src, fmt, n_params, out)
    return about | {"parameters": n_params, "model_config": cfg.to_dict()}


# --- export to Hugging Face -----------------------------------------------------------------------


def hf_config(cfg: GPTConfig) -> dict:
    """transformers' OpenAIGPTConfig fields for `cfg`."""
    if cfg.n_inner != 4 * cfg.n_embd:
        raise ValueError(
            f"n_inner {cfg.n_inner} is not 4 x n_embd ({4 * cfg.n_embd}): "
            "transformers' OpenAIGPT cannot hold that feed-forward width"
        )
    return {
        "architectures": ["OpenAIGPTLMHeadModel"],
        "model_type": "openai-gpt",
        "vocab_size": cfg.vocab_size,
        "n_positions": cfg.n_ctx,
        "n_embd": cfg.n_embd,
        "n_layer": cfg.n_layer,
        "n_head": cfg.n_head,
        "afn": "gelu",
        "resid_pdrop": cfg.dropout,
        "embd_pdrop": cfg.dropout,
        "attn_pdrop": cfg.dropout,
        "layer_norm_epsilon": cfg.layer_norm_eps,
        "initializer_range": cfg.init_std,
    }


def hf_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """gpt1's state dict as OpenAIGPTLMHeadModel's: prefixed, Conv1D weights [in, out]. The LM head is
    left out: transformers ties it to the token embedding on loading."""
    return {
        HF_PREFIX + name: (t.T if is_conv1d_weight(name) else t).detach().to("cpu", torch.float32).contiguous()
        for name, t in state.items()
    }


def export_hf(checkpoint: Path, out_dir: Path) -> Path:
    """Write `checkpoint` (a gpt1 model.pt) as config.json + model.safetensors in `out_dir`, each file
    atomically."""
    from safetensors.torch import save

    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} not found: run pretrain or import-weights first")
    saved = load_weights_file(checkpoint)
    if "model_config" not in saved or "model" not in saved:
        raise ValueError(f"{checkpoint} has no model_config and model: not a gpt1 model checkpoint")
    cfg = GPTConfig(**saved["model_config"])
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_dir / "model.safetensors", save(hf_state(saved["model"]), metadata={"format": "pt"}))
    atomic_write_json(out_dir / "config.json", hf_config(cfg))
    log.info("exported %s -> %s", checkpoint, out_dir)
    return out_dir


def to_transformers(model: GPT):
    """The same weights in transformers' OpenAIGPTLMHeadModel, in eval mode (transformers needed)."""
    import transformers

    hf = transformers.OpenAIGPTLMHeadModel(transformers.OpenAIGPTConfig(**hf_config(model.config))).eval()
    missing, unexpected = hf.load_state_dict(hf_state(model.state_dict()), strict=False)
    if unexpected or missing != ["lm_head.weight"]:
        raise ValueError(f"transformers' OpenAIGPT refused the weights: missing {missing}, unexpected {unexpected}")
    hf.tie_weights()
    return hf

"""The pretrain stage's MLflow run, on a tiny model in a real store."""

import shlex
from dataclasses import asdict

from conftest import TINY, tiny_run
from gpt1 import tracking
from gpt1.cli import build_parser
from gpt1.model import GPT
from gpt1.params import cli_flags


def test_the_runs_size_is_params_and_its_measurements_metrics(pattern_tokens, tmp_path, monkeypatch):
    """How many updates, tokens and parameters a run has are constants of it: params, one value each. The
    validation loss and the speed are measured: metrics, `final_` for the end's."""
    monkeypatch.chdir(tmp_path)  # MLflow's artifacts in ./mlruns
    model = {k: v for k, v in asdict(TINY).items() if k != "vocab_size"}
    argv = [
        *("pretrain", "--tokens-dir", str(pattern_tokens), "--out-dir", str(tmp_path / "out")),
        *("--metrics", str(tmp_path / "flat.json"), *shlex.split(cli_flags(model))),
        *shlex.split(cli_flags(asdict(tiny_run(max_steps=4, eval_interval=4)))),
    ]
    args = build_parser().parse_args(argv)
    args.run(args)

    from mlflow import MlflowClient

    client = MlflowClient(tracking.tracking_uri())
    (run,) = client.search_runs([client.get_experiment_by_name(tracking.EXPERIMENT).experiment_id])
    params, metrics = run.data.params, run.data.metrics
    size = (params["steps"], params["tokens"], params["parameters"])
    assert size == ("4", str(4 * 8 * 16), str(GPT(TINY).num_parameters()))  # 4 updates of 8 x 16 tokens
    assert {"final_val_loss", "final_val_ppl", "final_tokens_per_s", "final_wall_s_this_run"} == {
        k for k in metrics if k.startswith("final_")
    }

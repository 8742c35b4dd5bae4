"""A stage's log file (`--log-file`, which every Snakemake rule and DVC stage passes) holds its whole output:
the start banner, log lines, progress off a terminal, what C code writes, tracebacks; a rerun appends.

The log is written by the stage itself (gpt1.logfile), not by the orchestrator: DVC runs the very command
lines Snakemake runs (tests/workflow compares them, --log-file included), so the Snakemake test below covers
DVC's logs too.
"""

import dataclasses
import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from conftest import TINY, project_env, tiny_run, write_token_dir
from gpt1.config import FinetuneConfig, GPTConfig
from gpt1.model import GPT
from gpt1.params import cli_flags
from gpt1.progress import INTERVAL_ENV, Progress
from gpt1.tasks import TASKS, Example
from gpt1.training.finetune import finetune
from gpt1.training.zero_shot import continuation_logprobs


def pretrain_argv(tokens_dir, out_dir, log_file, **changes) -> list[str]:
    """`gpt1 pretrain` for TINY on the CPU (tiny_run), with `changes` over its settings."""
    model = {k: v for k, v in TINY.to_dict().items() if k != "vocab_size"}
    settings = dataclasses.asdict(tiny_run(**changes))
    flags = cli_flags(model) + " " + cli_flags(settings)
    paths = ["--tokens-dir", str(tokens_dir), "--out-dir", str(out_dir), "--metrics", f"{out_dir}/flat.json"]
    return ["gpt1", "pretrain", *paths, *flags.split()] + [
        "--log-file",
        str(log_file),
    ]


def run(argv: list[str], cwd, **env) -> subprocess.CompletedProcess:
    """A command with stdout and stderr as pipes (not a terminal), as under nohup, CI or a cluster."""
    return subprocess.run(
        argv, cwd=cwd, env=project_env(cwd) | env, capture_output=True, text=True, timeout=300, check=False
    )


def test_an_unexpected_error_leaves_its_traceback_in_the_log_and_a_rerun_appends(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / "meta.json").write_text(json.dumps({"dtype": "uint16"}))  # no vocab_size
    log_file = tmp_path / "logs" / "pretrain.log"
    for _ in range(2):
        done = run(pretrain_argv(tokens, tmp_path / "out", log_file), tmp_path, GPT1_TRACKING="0")
        assert done.returncode == 1
        assert "Traceback" in done.stderr and "KeyError: 'vocab_size'" in done.stderr  # the terminal has it too
    log = log_file.read_text()
    assert log.count("Traceback (most recent call last)") == 2 and log.count("KeyError: 'vocab_size'") == 2
    assert log.count("INFO started: gpt1 pretrain --tokens-dir") == 2  # both runs, the first kept
    assert log.count("INFO parameters: ") == 2 and "versions: gpt1 0.1.0" in log


def test_an_expected_error_stays_one_line_in_the_log(tmp_path):
    log_file = tmp_path / "bpe.log"
    argv = ["gpt1", "train-bpe", "--vocab_size", "500", "--max_sentences", "5", "--seed", "0"]
    argv += ["--text", "t.txt", "--manifest", "m.json", "--model", "bpe.model", "--log-file", str(log_file)]
    done = run(argv, tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = [line for line in log_file.read_text().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "bpe.max_sentences: 5 is less than the minimum of 101" in errors[0]
    assert "Traceback" not in log_file.read_text()


def test_what_c_code_writes_reaches_the_log_even_when_the_process_is_killed(tmp_path):
    """fd-level output (C's write and buffered printf), a bar redrawn with carriage returns (its last state
    only), and a SIGKILL right after writing: the copier outlives the stage and loses nothing."""
    code = textwrap.dedent(
        """
        import ctypes, os, signal, sys
        from pathlib import Path
        from gpt1.logfile import teed

        libc = ctypes.CDLL(None)
        with teed(Path(sys.argv[1])):
            libc.printf(b"printf to stdout\\n")  # buffered by C when stdout is a pipe
            libc.write(2, b"written by C to fd 2\\n", 21)
            print("from python", flush=True)
            sys.stderr.write("\\rbar 1/3\\rbar 2/3\\rbar 3/3\\n")
        with teed(Path(sys.argv[2])):
            print("the last words", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = run([sys.executable, "-c", code, str(tmp_path / "a.log"), str(tmp_path / "b.log")], tmp_path)
    assert done.returncode == -9
    lines = (tmp_path / "a.log").read_text().splitlines()  # stdout's and stderr's, each in order
    assert sorted(lines) == ["bar 3/3", "from python", "printf to stdout", "written by C to fd 2"]
    assert "printf to stdout" in done.stdout and "written by C to fd 2" in done.stderr  # the terminal's copy
    assert "bar 1/3" in done.stderr and "bar 2/3" in done.stderr  # the terminal sees every redraw
    assert (tmp_path / "b.log").read_text() == "the last words\n"


def test_pretraining_logs_its_banner_and_progress_off_a_terminal_and_a_resumed_run_appends(pattern_tokens, tmp_path):
    log_file = tmp_path / "pretrain.log"
    argv = pretrain_argv(pattern_tokens, tmp_path / "out", log_file)
    stopped = run([*argv, "--stop-after", "6"], tmp_path, GPT1_TRACKING="0")  # the default interval, 30 s
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    first_run = log_file.read_text()
    assert re.findall(r"gpt1\.progress INFO pretrain: +(\d+)% (\d+)/12", first_run) == [("0", "0"), ("50", "6")]
    done = run(argv, tmp_path, GPT1_TRACKING="0", **{INTERVAL_ENV: "0"})  # a line at every update
    assert done.returncode == 0, done.stderr[-3000:]
    log = log_file.read_text()
    assert log.startswith(first_run) and log.count("INFO started: gpt1 pretrain") == 2
    assert "data: 11,100 training and 1,480 validation tokens (vocabulary 64)" in log
    assert "12 updates of 8 x 16 tokens" in log and "resuming after update 6" in log
    assert re.search(r"model: [\d,]+ parameters; device cpu \(\d+ threads\), 1 process\(es\), torch ", log)
    second_run = re.findall(r"gpt1\.progress INFO pretrain: +\d+% (\d+)/12", log[len(first_run) :])
    assert list(dict.fromkeys(second_run)) == [str(step) for step in range(6, 13)]  # the end's overall rate: again
    assert re.search(r"pretrain: 100% 12/12 \[[\d:]+<00:00, +[\d.]+(step/s|s/step), loss=[\d.]+, lr=", log)
    assert "step 12: val loss" in log


def test_a_bad_progress_interval_is_named(monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "-1")
    with pytest.raises(ValueError, match=f"{INTERVAL_ENV}='-1': give the seconds between progress lines in the log"):
        Progress("pretrain", 10)


def test_fine_tuning_evaluation_and_zero_shot_scoring_log_their_progress(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    caplog.set_level("INFO")
    cfg = GPTConfig(vocab_size=8, n_ctx=16, n_layer=1, n_head=2, n_embd=16, n_inner=32)
    torch.save({"model_config": cfg.to_dict(), "model": GPT(cfg).state_dict()}, tmp_path / "model.pt")

    class Words:
        start_id, delimiter_id, extract_id, vocab_size = 5, 6, 7, 8

        def encode(self, texts):
            return [[{"a": 0, "b": 1, "c": 2}[w] for w in text.split()] for text in texts]

    examples = [Example("a b c" if i % 2 else "c b", label=i % 2) for i in range(20)]
    train_cfg = FinetuneConfig(lr=1e-3, batch_size=4, epochs=2, warmup=0.1, seed=0, device="cpu")
    finetune(TASKS["sst2"], examples, {"dev": examples[:6]}, tmp_path / "model.pt", Words(), train_cfg, tmp_path / "w")
    log = caplog.text
    assert "sst2: 20 training examples, evaluated on dev (6); 10 updates (2 epochs of 5), from the start" in log
    assert re.search(r"finetune sst2: 100% 10/10 \[.*, loss=[\d.]+\]", log)
    assert "evaluate sst2 dev: 100% 6/6" in log and re.search(r"sst2 dev: 6 examples in [\d.]+ s: \{'accuracy'", log)

    continuation_logprobs(GPT(cfg).eval(), [([0, 1], [2, 2])] * 5, cfg.n_ctx)
    assert "zero-shot scoring: 100% 5/5" in caplog.text


def test_a_snakemake_rules_log_holds_the_stages_traceback(tmp_path):
    """A rule as the workflow writes it (`log:` passed as --log-file) whose stage fails unexpectedly."""
    tokens = write_token_dir(tmp_path / "tokens", np.zeros(100), np.zeros(100), vocab_size=64)
    (tokens / "meta.json").write_text(json.dumps({"dtype": "uint16"}))  # no vocab_size
    command = " ".join(pretrain_argv("tokens", "out", "{log}"))
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            f"""
            rule pretrain:
                input: "tokens/meta.json"
                output: "out/model.pt"
                log: "logs/pretrain.log"
                shell: "{command}"
            """
        )
    )
    done = run([sys.executable, "-m", "snakemake", "--cores", "1", "out/model.pt"], tmp_path, GPT1_TRACKING="0")
    assert done.returncode != 0
    log = (tmp_path / "logs" / "pretrain.log").read_text()
    assert "INFO started: gpt1 pretrain" in log and "KeyError: 'vocab_size'" in log and "Traceback" in log

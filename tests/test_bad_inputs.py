"""Bad input, as a hostile or careless user gives it: each ends in a one-line error naming the key, file or
update (or a clearly reported "not run"), before any work, and nothing that existed before is lost."""

import errno
import io
import json
import shlex
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import BIN, FIXTURES, ROOT, STAGE_GROUPS, TINY, project_copy, project_env, snakemake_jobs, tiny_run
from gpt1 import cli
from gpt1.config import FinetuneConfig
from gpt1.params import SCHEMA_FILE, ParamsError, cli_flags, load, profile_label
from gpt1.stages.finetune import NotRun, task_data
from gpt1.tasks.readers import read_split
from gpt1.training import checkpoint
from gpt1.training.diverged import Diverged
from gpt1.training.pretrain import pretrain

SMOKE = load(profile="smoke")


def stage_argv(command: str, tmp_path, tokens_dir=None, **changes) -> list[str]:
    """`gpt1 <command>` with the smoke profile's flags, `changes` over them, and paths under tmp_path."""
    out = tmp_path / "out"
    paths = {
        "download-corpus": ["--out-dir", out],
        "train-bpe": ["--text", tmp_path / "train.txt", "--manifest", tmp_path / "manifest.json", "--model", out],
        "pretrain": [
            *("--tokens-dir", tokens_dir or tmp_path / "tokens", "--out-dir", out),
            *("--metrics", tmp_path / "flat.json"),
        ],
        "finetune": [
            *("--task", "sst2", "--seed", "42", "--variant", "full", "--task-dir", tmp_path / "task"),
            *("--checkpoint", tmp_path / "model.pt", "--tokenizer", tmp_path / "bpe.model", "--out", out),
            *("--curves", tmp_path / "curves.csv", "--work-dir", tmp_path / "work"),
        ],
        "zero-shot": [
            *("--task", "sst2", "--task-dir", tmp_path / "task", "--snapshots", tmp_path / "snapshots"),
            *("--tokenizer", tmp_path / "bpe.model", "--out", out),
        ],
    }[command]
    flags = []
    for group in STAGE_GROUPS[command]:
        values = SMOKE[group] | {k: v for k, v in changes.items() if k in SMOKE[group]}
        flags += shlex.split(cli_flags(values))
    return [command, *map(str, paths), *flags]


def one_line_error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    message = str(exit_.value.code)
    assert "\n" not in message and "Traceback" not in capsys.readouterr().err
    return message


BAD_VALUES = [
    ("pretrain", {"lr": float("inf")}, "pretrain.lr: inf is not a finite number"),
    ("pretrain", {"lr": float("nan")}, "pretrain.lr: nan is not a finite number"),
    ("pretrain", {"max_steps": -5}, "pretrain.max_steps: -5 is less than the minimum of 0"),
    ("pretrain", {"eval_interval": 0}, "pretrain.eval_interval: 0 is less than the minimum of 1"),
    ("pretrain", {"batch_size": 0}, "pretrain.batch_size: 0 is less than the minimum of 1"),
    ("pretrain", {"micro_batch_size": 3}, "pretrain.batch_size (8) must split evenly"),
    ("pretrain", {"device": "tpu"}, "pretrain.device: 'tpu': a device is auto, cpu, cuda, cuda:N or mps"),
    ("pretrain", {"n_head": 3}, "model.n_embd (32) must be divisible by model.n_head (3)"),
    ("pretrain", {"dropout": 1.5}, "model.dropout: 1.5 is greater than the maximum of 1"),
    ("finetune", {"epochs": 0}, "finetune.epochs: 0 is less than the minimum of 1"),
    ("finetune", {"batch_size": 0}, "finetune.batch_size: 0 is less than the minimum of 1"),
    ("finetune", {"lr": float("inf")}, "finetune.lr: inf is not a finite number"),
    ("finetune", {"device": "tpu"}, "finetune.device: 'tpu': a device is auto, cpu, cuda, cuda:N or mps"),
    ("download-corpus", {"source": "books$(touch MARKER)"}, "corpus.source: 'books$(touch MARKER)': a name or"),
    ("download-corpus", {"val_fraction": 1.0}, "corpus.val_fraction: 1.0 is greater than or equal to the maximum"),
    ("train-bpe", {"max_sentences": 5}, "bpe.max_sentences: 5 is less than the minimum of 101"),
    ("train-bpe", {"vocab_size": 70000}, "bpe.vocab_size: 70000 is greater than the maximum of 65535"),
    ("zero-shot", {"max_examples": -1}, "zero_shot.max_examples: -1 is less than the minimum of 0"),
    ("pretrain", {"seed": 2**70}, f"pretrain.seed: {2**70}: a seed is a whole number from 0 to 4294967295"),
    ("zero-shot", {"seed": -1}, "zero_shot.seed: -1: a seed is a whole number from 0 to 4294967295"),
    ("download-corpus", {"source": "tests/fixtures/books\n"}, "corpus.source: 'tests/fixtures/books\\n': a name or"),
    ("finetune", {"device": "cpu\n"}, "finetune.device: 'cpu\\n': a device is auto, cpu, cuda, cuda:N or mps"),
]


@pytest.mark.parametrize(("command", "changes", "expected"), BAD_VALUES, ids=[str(c) for _, c, _ in BAD_VALUES])
def test_a_bad_flag_is_refused_naming_its_key_before_any_work(
    command, changes, expected, pattern_tokens, tmp_path, capsys
):
    argv = stage_argv(command, tmp_path, pattern_tokens, **changes)
    message = one_line_error(argv, capsys)
    assert message.startswith(f"gpt1 {command}: ") and expected in message
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()
    assert not list(tmp_path.rglob("MARKER")) and not (ROOT / "MARKER").exists()


COMMANDS = {group: command for command, groups in STAGE_GROUPS.items() for group in groups}
"""The stage that takes each group as flags."""


def out_of_schema() -> list[tuple[str, str, object]]:
    """(group, key, value) for every number in a stage's group: not finite, and just outside each bound."""
    schema = yaml.safe_load(SCHEMA_FILE.read_text())["properties"]
    cases = []
    for group in COMMANDS:
        for key, rule in schema[group]["properties"].items():
            if rule.get("type") not in ("number", "integer"):
                continue
            step = 1 if rule["type"] == "integer" else 0.5
            bad = [float("inf"), float("nan")] if rule["type"] == "number" else []
            bad += [rule[k] - step for k in ("minimum",) if k in rule] + [
                rule[k] + step for k in ("maximum",) if k in rule
            ]
            bad += [rule[k] for k in ("exclusiveMinimum", "exclusiveMaximum") if k in rule]
            cases += [(group, key, value) for value in bad]
    return cases


@pytest.mark.parametrize(("group", "key", "value"), out_of_schema())
def test_every_number_outside_the_schema_is_refused_by_its_stage(group, key, value, pattern_tokens, tmp_path, capsys):
    """What the schema says, each stage checks of its own flags (so DVC and `gpt1` by hand refuse it too)."""
    message = one_line_error(stage_argv(COMMANDS[group], tmp_path, pattern_tokens, **{key: value}), capsys)
    assert message.startswith(f"gpt1 {COMMANDS[group]}: {group}.{key}: ")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("group", "changes", "expected"),
    [
        ("pretrain", {"lr": float("inf")}, "pretrain.lr: inf is not a finite number"),
        ("pretrain", {"micro_batch_size": 3}, "pretrain.batch_size (8) must split evenly"),
        ("finetune", {"epochs": 0}, "finetune.epochs: 0 is less than the minimum of 1"),
        ("corpus", {"source": "books$(touch MARKER)"}, "corpus.source: 'books$(touch MARKER)': a name or"),
        ("corpus", {"source": "tests/fixtures/books\n"}, "corpus.source: 'tests/fixtures/books\\n': a name or"),
        ("runs", {"seeds": [-1]}, "runs.seeds.0: -1: a seed is a whole number from 0 to 4294967295"),
        ("runs", {"tasks": []}, "runs.tasks: [] should be non-empty"),
    ],
)
def test_snakemake_refuses_the_same_values_before_any_job(group, changes, expected, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"profile": "smoke", group: changes}))
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "--configfile", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode != 0 and expected in done.stderr + done.stdout
    assert not (ROOT / "MARKER").exists()


RUNS_DVC_READS = {
    "seed-1": ("seeds", [-1], "params.yaml: runs.seeds.0: -1: a seed is a whole number from 0 to 4294967295"),
    "no-seeds": ("seeds", [], "params.yaml: runs.seeds: [] should be non-empty"),
    "no-tasks": ("tasks", [], "params.yaml: runs.tasks: [] should be non-empty"),
}


@pytest.mark.parametrize(("key", "value", "expected"), RUNS_DVC_READS.values(), ids=RUNS_DVC_READS)
def test_dvc_refuses_what_snakemake_refuses_before_any_work(key, value, expected, tmp_path):
    """`dvc repro` on a fresh clone: dvc.yaml's foreach and matrix read runs.tasks and runs.seeds where no
    stage's flags see them, so the first stage to run checks params.yaml whole, as the Snakefile does. (A
    newline in corpus.source never reaches a stage: DVC runs a cmd line by line, and the shell fails on the
    broken quote.)"""
    project = project_copy(tmp_path)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["runs"][key] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = set((project / "results").rglob("*"))
    dvc = subprocess.run([f"{BIN}/dvc", "repro"], capture_output=True, text=True, cwd=project, env=project_env(project))
    assert dvc.returncode != 0 and expected in dvc.stdout + dvc.stderr, dvc.stdout + dvc.stderr
    written = {path.relative_to(project / "results") for path in set((project / "results").rglob("*")) - before}
    assert {path.parts[0] for path in written} <= {"logs"}, written


def test_nested_config_numbers_are_read_as_numbers():
    """`--config 'pretrain={lr: 0.0001, max_steps: 7}'`: Snakemake hands over strings; they run as numbers."""
    jobs = snakemake_jobs("--config", "profile=smoke", "pretrain={lr: 1e-4, max_steps: 7}", "runs={seeds: [5]}")
    assert " --lr 0.0001 " in jobs["pretrain"]["cmd"] and " --max_steps 7 " in jobs["pretrain"]["cmd"]
    assert {name for name in jobs if name.startswith("finetune@sst2")} == {"finetune@sst2-5"}


def test_dvc_refuses_a_profile_profiles_yaml_does_not_have(tmp_path, monkeypatch, capsys):
    """`dvc exp run -S profile=papr` would run the sample's values under that name: the stage refuses it."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text()) | {"profile": "papr"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "profiles.yaml").write_text((ROOT / "profiles.yaml").read_text())
    monkeypatch.delenv("GPT1_PROFILE", raising=False)
    monkeypatch.chdir(tmp_path)  # where DVC runs the stage
    with pytest.raises(
        ParamsError, match=r"params.yaml: profile: unknown profile 'papr'; choose one of sample, .*paper"
    ):
        profile_label()
    message = one_line_error(stage_argv("download-corpus", tmp_path), capsys)
    assert "unknown profile 'papr'" in message


def test_injection_through_both_orchestrators_never_runs(tmp_path):
    """A parameter string with a command substitution, through Snakemake and `dvc repro`: refused by the
    schema (Snakemake) or by the stage's own check of its flags (DVC, which quotes it); the marker never
    appears. And a string that reached a shell would arrive quoted: both renderings of a group are inert."""
    project = project_copy(tmp_path)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["corpus"]["source"] = "tests/fixtures/books$(touch MARKER)"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env_run = {"capture_output": True, "text": True, "cwd": project, "env": project_env(project)}
    snakemake = subprocess.run([f"{BIN}/snakemake", "--cores", "1", "results/corpus/manifest.json"], **env_run)
    dvc = subprocess.run([f"{BIN}/dvc", "repro", "download_corpus"], **env_run)
    assert snakemake.returncode != 0 and "corpus.source" in snakemake.stderr + snakemake.stdout
    assert dvc.returncode != 0, dvc.stdout + dvc.stderr
    assert "corpus.source" in (project / "results" / "logs" / "download_corpus.log").read_text()
    assert not list(project.rglob("MARKER"))

    from dvc.parsing.interpolate import to_str

    for rendered in (cli_flags({"source": "$(touch MARKER)"}), to_str({"source": "`touch MARKER`"})):
        subprocess.run(f"printf '%s' {rendered}", shell=True, cwd=tmp_path, check=True)
    assert not list(tmp_path.rglob("MARKER"))


@pytest.mark.parametrize("seed", ["-1", str(2**70)])
def test_a_fine_tuning_seed_outside_the_schema_is_refused_naming_the_flag(seed, tmp_path, capsys):
    """finetune's --seed is one of runs.seeds, checked against the same range."""
    argv = stage_argv("finetune", tmp_path)
    argv[argv.index("--seed") + 1] = seed
    message = one_line_error(argv, capsys)
    assert message == f"gpt1 finetune: --seed: {seed}: a seed is a whole number from 0 to 4294967295 (2**32 - 1)"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["tables", "table5", "figure2"])
def test_a_metrics_folder_that_is_not_there_is_refused_not_reported_as_not_run(command, tmp_path, capsys):
    missing = tmp_path / "metrics"
    argv = [command, "--metrics-dir", str(missing), "--out-dir", str(tmp_path / "out")]
    argv += ["--metrics", str(tmp_path / "flat.json")]
    if command == "figure2":
        argv += ["--zero-shot-dir", str(tmp_path), "--lstm-zero-shot-dir", str(tmp_path)]
    message = one_line_error(argv, capsys)
    assert message == f"gpt1 {command}: --metrics-dir {missing}: no such folder"
    assert not (tmp_path / "out").exists() and not (tmp_path / "flat.json").exists()


@pytest.mark.parametrize(("command", "task"), [("finetune", "rte"), ("zero-shot", "cola")])
def test_another_tasks_folder_is_refused_naming_both_tasks(command, task, tmp_path, capsys):
    """`--task rte --task-dir results/tasks/sst2`: its status.json says whose data it holds."""
    write_sst2(tmp_path / "task" / "data", ["a dull film .\t0\n"])
    status = {"task": "sst2", "status": "ok", "splits": ["train", "dev"], "verified": True}
    (tmp_path / "task" / "status.json").write_text(json.dumps(status))
    argv = stage_argv(command, tmp_path)
    argv[argv.index("--task") + 1] = task
    message = one_line_error(argv, capsys)
    assert message == (
        f"gpt1 {command}: --task-dir {tmp_path / 'task'} holds sst2's data (its status.json says so), "
        f"not {task}'s: pass --task-dir results/tasks/{task}"
    )
    assert not (tmp_path / "out").exists()


def test_a_nan_loss_stops_pretraining_naming_the_update_and_writes_nothing(pattern_tokens, tmp_path):
    cfg = tiny_run(
        micro_batch_size=8, lr=1e9, warmup_steps=0, max_steps=20, eval_interval=5, eval_batches=1, grad_clip=0.0
    )
    with pytest.raises(Diverged, match=r"pretrain: the training loss is (nan|inf) at update \d+: lower pretrain.lr"):
        pretrain(TINY, cfg, pattern_tokens, tmp_path)
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "metrics.json").exists()


def write_sst2(task_dir, dev_rows: list[str]) -> None:
    folder = task_dir / "glue" / "SST-2"
    folder.mkdir(parents=True)
    (folder / "train.tsv").write_text("sentence\tlabel\n" + "a fine film .\t1\n" * 120)
    (folder / "dev.tsv").write_text("sentence\tlabel\n" + "".join(dev_rows))


def test_an_empty_evaluation_split_is_named_before_training(tmp_path):
    write_sst2(tmp_path, [])
    status = {"status": "ok", "splits": ["train", "dev"], "verified": True}
    with pytest.raises(ValueError, match=r"glue/SST-2/dev.tsv: no SST-2 dev examples"):
        task_data("sst2", tmp_path, status, FinetuneConfig())


def test_an_sts_b_score_outside_0_to_5_is_named_with_its_line(tmp_path):
    folder = tmp_path / "glue" / "STS-B"
    folder.mkdir(parents=True)
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    (folder / "dev.tsv").write_text(
        header + "0\tg\tf\ty\t0\ts\ts\tA man.\tA man.\t5.000\n1\tg\tf\ty\t1\ts\ts\tA.\tB.\t7.5\n"
    )
    with pytest.raises(ValueError, match=r"STS-B/dev.tsv, line 3: score '7.5' is outside 0-5"):
        read_split("stsb", "dev", tmp_path)


def test_a_missing_story_cloze_test_set_is_not_run_never_dev_instead(tmp_path):
    source = FIXTURES / "smoke_tasks" / "story_cloze"
    (tmp_path / "story_cloze").mkdir()
    for path in source.glob("*val*"):
        (tmp_path / "story_cloze" / path.name).write_bytes(path.read_bytes())
    status = {"status": "ok", "splits": ["train", "dev"], "verified": True}
    with pytest.raises(NotRun, match="no labelled test split .*the split the paper reports"):
        task_data("story_cloze", tmp_path, status, FinetuneConfig(min_train_examples=1))


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_checkpoint_is_a_one_line_error_and_is_kept(damage, pattern_tokens, tmp_path):
    cfg = tiny_run(micro_batch_size=8, max_steps=8, eval_interval=4, eval_batches=1)
    pretrain(TINY, cfg, pattern_tokens, tmp_path, stop_after=4)
    path = tmp_path / checkpoint.FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a checkpoint" * 10)
    damaged = path.read_bytes()
    with pytest.raises(ValueError, match=rf"{path}: cannot be loaded \(.*\); it is truncated, corrupt") as error:
        pretrain(TINY, cfg, pattern_tokens, tmp_path)
    assert "\n" not in str(error.value) and path.read_bytes() == damaged


def test_a_bpe_vocabulary_larger_than_the_text_allows_is_one_line(tmp_path, capsys):
    text = tmp_path / "train.txt"
    text.write_text("a small corpus of a few words, said the reader.\n" * 50)
    (tmp_path / "manifest.json").write_text(json.dumps({"text_form": "raw"}))
    message = one_line_error(stage_argv("train-bpe", tmp_path, vocab_size=5000), capsys)
    assert "bpe.vocab_size 5000: sentencepiece cannot train on" in message and "Vocabulary size too high" in message
    assert not (tmp_path / "out").exists()


class FullDisk(io.BytesIO):
    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    """Fine-tuning a task without data writes its "not run" record; the disk is full (a pretend one: the real
    ones are in test_disk_full.py)."""
    (tmp_path / "task").mkdir()
    (tmp_path / "task" / "status.json").write_text(json.dumps({"status": "missing", "reason": "no files"}))

    def open_on_a_full_disk(path, *args, **kwargs):
        return FullDisk() if str(path).endswith(".tmp") else open(path, *args, **kwargs)

    monkeypatch.setattr("gpt1.files.open", open_on_a_full_disk, raising=False)
    message = one_line_error(stage_argv("finetune", tmp_path), capsys)
    assert message.startswith(f"gpt1 finetune: {tmp_path / 'curves.csv'}: no space left on device writing it")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_a_device_this_machine_lacks_is_one_line(pattern_tokens, tmp_path, capsys):
    message = one_line_error(stage_argv("pretrain", tmp_path, pattern_tokens, device="cuda:1"), capsys)
    assert (
        message
        == f"gpt1 pretrain: device 'cuda:1': this torch ({torch.__version__}) sees no CUDA device; use auto or cpu"
    )
    assert not (tmp_path / "out" / "model.pt").exists()

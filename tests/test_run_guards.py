"""What keeps runs from trampling each other: a stage dies with its orchestrator, and two runs never write one
output at once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BIN, project_copy, project_env
from gpt1 import cli, lifeline
from gpt1.files import Busy, exclusive


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting for init to reap it is not)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.parametrize("orchestrated", [True, False])
def test_a_stage_whose_orchestrator_is_killed_stops_too(orchestrated):
    """As torchrun starts a worker: in a session of its own, so killing the parent's process group misses it.
    A stage started by hand (no orchestrator's variable set), e.g. under nohup, outlives its shell."""
    worker = "from gpt1.lifeline import watch_parent; watch_parent(0.1); import time; time.sleep(120)"
    env = {k: v for k, v in os.environ.items() if k not in lifeline.ORCHESTRATED_BY}
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys\n"
            f"worker = subprocess.Popen([sys.executable, '-c', {worker!r}], start_new_session=True)\n"
            "print(worker.pid, flush=True)\n"
            "worker.wait()",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env | ({"TORCHELASTIC_RUN_ID": "test"} if orchestrated else {}),
    )
    worker_pid = int(parent.stdout.readline())
    time.sleep(2)  # the worker has started its watch
    assert alive(worker_pid)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + (20 if orchestrated else 2)
    while alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(worker_pid) != orchestrated
    if not orchestrated:
        os.kill(worker_pid, signal.SIGKILL)


def test_a_second_run_on_the_same_output_is_refused_naming_the_first(tmp_path, capsys):
    work_dir = tmp_path / "work"
    argv = [
        *("finetune", "--task", "sst2", "--seed", "42", "--variant", "full", "--task-dir", str(tmp_path)),
        *("--checkpoint", "m.pt", "--tokenizer", "b.model", "--out", str(tmp_path / "out.json")),
        *("--curves", str(tmp_path / "c.csv"), "--work-dir", str(work_dir)),
        *("--lr", "1e-4", "--batch_size", "4", "--micro_batch_size", "0", "--epochs", "1", "--warmup", "0.1"),
        *("--lm_coef", "0.5"),
        *("--clf_dropout", "0.1", "--weight_decay", "0.01", "--grad_clip", "1", "--max_train_examples", "0"),
        *("--adam_beta1", "0.9", "--adam_beta2", "0.999", "--adam_eps", "1e-8"),
        *("--min_train_examples", "1", "--max_eval_examples", "0", "--stsb_target", "soft_labels", "--device", "cpu"),
    ]
    with exclusive(work_dir, "finetune"), pytest.raises(SystemExit) as exit_:  # the first run, still going
        cli.main(argv)
    message = str(exit_.value.code)
    assert message == (
        f"gpt1 finetune: {work_dir}: another run (process {os.getpid()}) is writing it; "
        "wait for that run to end or stop it"
    )
    assert not (tmp_path / "out.json").exists()
    with exclusive(work_dir, "finetune"):  # released when the first run ends
        pass


def test_two_stages_writing_into_one_folder_run_side_by_side(tmp_path):
    """tables and table5 both write their own files into results/tables: Snakemake starts them together."""
    tables = tmp_path / "tables"
    with exclusive(tables, "tables"), exclusive(tables, "table5"):  # both held at once
        pass
    with exclusive(tables, "table5"), pytest.raises(Busy, match="another run"), exclusive(tables, "table5"):
        pass


def test_a_lock_is_released_when_its_holder_is_killed(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pathlib import Path; from gpt1.files import exclusive; import time\n"
            f"with exclusive(Path({str(tmp_path / 'out')!r})):\n"
            "    print('held', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(Busy, match=rf"another run \(process {holder.pid}\)"), exclusive(tmp_path / "out"):
        pass
    holder.kill()
    holder.wait()
    with exclusive(tmp_path / "out"):
        pass


def test_a_second_snakemake_run_in_the_same_project_is_refused_before_any_job(tmp_path):
    """Snakemake's own lock lets two runs started at the same instant both in; the results lock does not."""
    project = project_copy(tmp_path)
    with exclusive(project / "results"):  # a first run, going
        done = subprocess.run(
            [f"{BIN}/snakemake", "results/corpus/manifest.json", "--cores", "1", "--config", "profile=smoke"],
            cwd=project,
            capture_output=True,
            text=True,
            env=project_env(project),
        )
    assert done.returncode != 0
    assert f"results: another run (process {os.getpid()}) is writing it" in done.stderr
    assert not (project / "results" / "corpus").exists()

"""gpt1.threads: OpenMP threads wait passively when other work shares the cores, spin when they are idle."""

import os
import subprocess
import sys
import time

import pytest

from gpt1.threads import choose_wait_policy

BUSY = "while True: pass"


@pytest.fixture
def environment(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return monkeypatch


def test_other_work_on_the_cores_makes_threads_wait_passively(environment):
    loops = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2)]
    try:
        time.sleep(0.5)
        line = choose_wait_policy()
    finally:
        for loop in loops:
            loop.kill()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert line.startswith("OpenMP threads wait passively: other work kept ")


def test_a_users_policy_and_a_single_thread_are_left_alone(environment):
    environment.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert choose_wait_policy() is None and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    environment.delenv("OMP_WAIT_POLICY")
    environment.setenv("OMP_NUM_THREADS", "1")  # as Snakemake sets it for a one-thread job
    assert choose_wait_policy() is None and "OMP_WAIT_POLICY" not in os.environ

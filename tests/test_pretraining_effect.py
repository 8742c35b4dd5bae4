"""scripts/pretraining_effect.py on hand-written table5.json and figure2.json records."""

import json

import pytest

from scripts.pretraining_effect import checks


def gain(ours, sd, columns=None):
    return {"ours": ours, "sd": sd, "per_seed": {}, "columns": columns}


def write_run(results, avg, tasks, transfer, zero_shot):
    (results / "tables").mkdir(parents=True)
    (results / "figures").mkdir()
    table5 = {"gain": {"Avg": avg, **tasks}}
    (results / "tables" / "table5.json").write_text(json.dumps(table5))
    (results / "tables" / "tables.json").write_text(json.dumps({"standin": []}))
    figure2 = {"transfer": {"sst2": transfer}, "zero_shot": zero_shot}
    (results / "figures" / "figure2.json").write_text(json.dumps(figure2))


def layers(*points):
    return [{"layers": k, "mean": mean, "sd": sd, "seeds": 3} for k, (mean, sd) in enumerate(points)]


@pytest.mark.parametrize(
    ("avg", "tasks", "transfer", "verdicts"),
    [
        # the 600-example run of experiments/default_profile: Avg and 3 tasks pass, the transfer curve does not
        (
            gain(2.2, 0.38, "5 of 8"),
            {"SST2": gain(1.3, 0.3), "MRPC": gain(1.0, 0.9), "STSB": gain(8.8, 6.0), "RTE": gain(-0.3, 4.4)},
            layers((50.1, 1.7), (51.8, 1.6)),
            [True, True, False],
        ),
        # a gain of exactly twice its sd, two tasks above theirs, and a rise beyond both spreads
        (
            gain(2.0, 1.0, "5 of 8"),
            {"SST2": gain(3.0, 1.0), "CoLA": gain(0.0, 0.0), "STSB": gain(8.8, 6.0), "QQP": gain(None, None)},
            layers((50.0, 1.0), (52.0, 1.5), (55.0, 2.0)),
            [False, False, True],
        ),
    ],
)
def test_the_verdicts_follow_the_numbers(tmp_path, avg, tasks, transfer, verdicts):
    zero_shot = {
        "sst2": {"metric": "accuracy", "n": 500, "points": [{"step": 0, "value": 0.48}, {"step": 9, "value": 0.6}]}
    }
    write_run(tmp_path, avg, tasks, transfer, zero_shot)
    lines = checks(tmp_path)
    assert [ok for ok, _ in lines[:3]] == verdicts
    # 0.48 -> 0.60 on 500 examples: 2 se of the difference is 0.062
    assert lines[3][0] is None and lines[3][1].endswith("rises beyond sampling error")


def record(task, accuracy, seed, **extra):
    result = {"n": 100, "metrics": {"accuracy": accuracy}}
    return {"task": task, "status": "done", "split": "dev", "results": {"dev": result}, "seed": seed, **extra}


def test_a_run_on_stand_in_data_is_checked_on_its_real_tasks_only(tmp_path):
    """Stand-in columns (for timing, at chance) are left out of Table 5's tests, which are rebuilt without them."""
    zero_shot = {
        "sst2": {"metric": "accuracy", "n": 500, "points": [{"step": 0, "value": 0.5}, {"step": 9, "value": 0.5}]}
    }
    write_run(tmp_path, gain(0.0, 0.0), {}, layers((50.0, 1.0), (55.0, 1.0)), zero_shot)
    (tmp_path / "tables" / "tables.json").write_text(json.dumps({"standin": ["qnli"]}))
    for folder, sst2, qnli in (("full", 0.60, 0.30), ("ablation/no_pretraining", 0.50, 0.90)):
        (tmp_path / "metrics" / folder).mkdir(parents=True)
        for seed, shift in ((42, 0.0), (43, 0.02)):
            for task, accuracy, extra in (("sst2", sst2, {}), ("qnli", qnli, {"standin_data": ["train.tsv"]})):
                path = tmp_path / "metrics" / folder / f"{task}-seed{seed}.json"
                path.write_text(json.dumps(record(task, accuracy + shift, seed, **extra)))
    lines = checks(tmp_path)
    assert lines[0] == (None, "Stand-in data (left out of Table 5's tests): qnli")
    ok, text = lines[1]
    assert ok is True and text.startswith("Table 5 Avg (1 of 8): gain +10.0 ± 0.0")  # SST-2's alone, not QNLI's -60
    assert "QNLI" not in lines[2][1]

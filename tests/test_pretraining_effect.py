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

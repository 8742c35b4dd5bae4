"""The flat metrics files DVC shows: one number per key, only for what ran, taken from the report's own JSON."""

import json

from report.test_tables import done, write_metrics

from gpt1.report import flat
from gpt1.report.table5 import build_table5
from gpt1.report.tables import build_tables


def test_keys_read_as_names():
    """As the task ids where a column is a task (`sst2`, `stsb`); a split's letter kept apart (`mnli_m`)."""
    assert flat.key("SST-2") == "sst2" and flat.key("STS-B") == "stsb" and flat.key("MNLI-m") == "mnli_m"
    assert flat.key("Story Cloze") == "story_cloze" and flat.key("RACE-h") == "race_h" and flat.key("GLUE") == "glue"


def test_pretraining_keeps_the_loss_perplexity_and_tokens():
    metrics = {"steps": 30, "tokens": 7680, "val_loss": 5.50007855, "val_ppl": 244.711155, "tokens_per_s": 1.0}
    numbers = {"val_loss": 5.5001, "val_ppl": 244.7112, "tokens": 7680}
    assert flat.from_pretraining("pretrain_lstm", metrics) == {"pretrain_lstm": numbers}  # under its stage


def test_tables_hold_the_mean_of_each_column_that_ran(tmp_path):
    runs = {f"sst2-seed{seed}": done("sst2", {"accuracy": value}, seed=seed) for seed, value in ((42, 0.5), (43, 0.75))}
    build_tables(write_metrics(tmp_path / "full", runs), tmp_path / "tables", "smoke")
    summary = json.loads((tmp_path / "tables" / "tables.json").read_text())
    # the rest did not run: no key, never a 0; the GLUE score is over the columns that ran
    assert flat.from_tables(summary) == {"table4": {"sst2": 62.5, "glue": 62.5}}  # no table2 nor table3


def test_table5_holds_each_rows_average_and_the_gain(tmp_path):
    metrics = tmp_path / "metrics"
    scores = {42: (0.8, 0.5), 43: (0.7, 0.6)}
    write_metrics(
        metrics / "full", {f"s{seed}": done("sst2", {"accuracy": a}, seed=seed) for seed, (a, _) in scores.items()}
    )
    fresh = {f"s{seed}": done("sst2", {"accuracy": b}, seed=seed) for seed, (_, b) in scores.items()}
    write_metrics(metrics / "ablation" / "no_pretraining", fresh)
    build_table5(metrics, tmp_path / "tables", "smoke")
    numbers = flat.from_table5(json.loads((tmp_path / "tables" / "table5.json").read_text()))
    assert numbers == {"table5": {"avg_full": 75.0, "avg_no_pretraining": 55.0, "pretraining_gain": 20.0}}


def test_figure2_holds_the_transfer_scores_and_the_last_zero_shot_point_of_each_architecture():
    data = {
        "transfer": {"sst2": [{"layers": 0, "mean": 46.875, "sd": 1.0, "seeds": 2}, {"layers": 2, "mean": 60.0}]},
        "zero_shot": {
            "sst2": {"points": [{"step": 0, "value": 0.5}, {"step": 30, "value": 0.625}]},
            "cola": {"points": []},
        },
    }
    assert flat.from_figure2(data) == {
        "figure2": {"sst2_layers0": 46.875, "sst2_layers2": 60.0, "zero_shot_sst2": 0.625}
    }
    data["zero_shot"]["dprd"] = {"points": [{"step": 0, "value": 0.5}, {"step": 30, "value": 0.53125}]}
    data["zero_shot_lstm"] = {"dprd": {"points": [{"step": 0, "value": 0.5}, {"step": 20, "value": 0.515625}]}}
    assert flat.from_figure2(data)["figure2"] == {
        "sst2_layers0": 46.875,
        "sst2_layers2": 60.0,
        "zero_shot_sst2": 0.625,
        "zero_shot_dprd": 0.5312,  # 4 digits
        "zero_shot_lstm_dprd": 0.5156,
    }
    assert flat.from_figure2({"transfer": {}}) == {}  # nothing ran: no empty table

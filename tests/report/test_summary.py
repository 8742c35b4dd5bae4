import json

from gpt1.report.summary import lstm_lines, standin_warning


def test_the_lstm_baselines_pretraining_is_summarised_when_it_ran(tmp_path):
    metrics = tmp_path / "pretrain_lstm" / "metrics.json"
    assert lstm_lines(metrics) == []
    metrics.parent.mkdir()
    figures = {"parameters": 2879488, "steps": 2000, "tokens": 4096000, "tokens_per_s": 6321.4}
    metrics.write_text(json.dumps(figures | {"val_loss": 4.5, "val_ppl": 90.0171}))
    lines = lstm_lines(metrics)
    assert "## The LSTM baseline's pretraining" in lines
    assert "- Model: 2,879,488 parameters; 2,000 updates, 4,096,000 tokens (6,321 tokens/s)." in lines
    assert "- Validation loss 4.5000, perplexity 90.0 (the same tokens as the transformer's)." in lines


def test_a_run_on_stand_in_data_says_so_at_the_top(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "tables.json").write_text(json.dumps({"standin": []}))
    assert standin_warning(tmp_path) == []
    (tmp_path / "tables" / "tables.json").write_text(json.dumps({"standin": ["mnli", "qqp"]}))
    (line, _) = standin_warning(tmp_path)
    assert line.startswith("**STAND-IN DATA, NOT RESULTS: mnli, qqp ran on generated stand-ins")

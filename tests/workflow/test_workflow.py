"""The smoke profile through real Snakemake, real DVC and real MLflow, in a copy of the project."""

import json
import re
import zipfile

import pandas as pd
import pytest
import yaml

from conftest import FAKE_GPUS, dry_run_jobs, project_copy, run
from gpt1.tracking import (
    DVC_BASELINE_TAG,
    DVC_EXPERIMENT_TAG,
    GIT_COMMIT_TAG,
    PARENT_RUN_TAG,
    PIPELINE_TAG,
    SOURCE_NAME_TAG,
)
from scripts import stage_times

pytestmark = pytest.mark.slow
STAGES = [
    "download_corpus",
    "train_bpe",
    "encode_corpus",
    "pretrain",
    "pretrain_lstm",
    "download_task",
    "finetune",
    "zero_shot",
    "tables",
    "table5",
    "figure2",
    "summary",
]
SMOKE_TASKS = ["sst2", "rte", "stsb", "story_cloze"]  # one task of each input transformation
SEEDS = ["42", "43"]
# (variant, task) of the smoke profile's runs besides the full model's: Table 5's and Figure 2's
EXTRA_RUNS = [("no_pretraining", "sst2"), ("no_aux_lm", "sst2"), ("lstm", "sst2"), ("layers0", "sst2")]
OUTPUTS = [
    "results/corpus/train.txt",
    "results/bpe/bpe.model",
    "results/tokens/train.bin",
    "results/pretrain/model.pt",
    "results/pretrain/metrics.json",
    "results/pretrain/train_curve.csv",
    "results/pretrain/val_curve.csv",
    "metrics/pretrain.json",
    "metrics/tables.json",
    "metrics/table5.json",
    "metrics/figure2.json",
    "results/pretrain/snapshots/step0000000.pt",
    "results/pretrain/snapshots/step0000030.pt",
    "results/pretrain_lstm/model.pt",
    "results/pretrain_lstm/snapshots/step0000030.pt",
    "metrics/pretrain_lstm.json",
    *[f"results/tables/table{n}.{ext}" for n in (2, 3, 4, 5) for ext in ("md", "csv", "tex")],
    "results/figures/figure2.png",
    "results/zero_shot/sst2.json",
    "results/zero_shot/dprd.json",
    "results/zero_shot_lstm/sst2.json",
    "results/zero_shot_lstm/dprd.json",
    "results/summary.md",
]


def tracking_uri(project) -> str:
    return f"sqlite:///{project / 'mlflow.db'}"


def tracked_runs(project):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri(project))
    experiment = client.get_experiment_by_name("gpt1")
    return client, client.search_runs([experiment.experiment_id])


def check_outputs_and_tracking(project):
    for name in OUTPUTS:
        assert (project / name).stat().st_size > 0, name
    for task in SMOKE_TASKS:
        for seed in SEEDS:
            record = json.loads((project / "results" / "metrics" / "full" / f"{task}-seed{seed}.json").read_text())
            assert record["status"] == "done" and record["metrics"] and record["seed"] == int(seed), task
    table4 = (project / "results" / "tables" / "table4.md").read_text()
    assert "SST-2" in table4 and " ± " in table4 and "SST-2 2 (42, 43)" in table4
    table5 = pd.read_csv(project / "results" / "tables" / "table5.csv").set_index(["row", "column"])
    sst2 = table5.loc[("no_pretraining", "SST2")]
    assert sst2["status"] == "done" and sst2["seeds"] == 2 and sst2["sd"] >= 0
    lstm = table5.loc[("lstm", "SST2")]
    assert lstm["status"] == "done" and lstm["seeds"] == 2
    assert "gpt1 w/o pre-training" in (project / "results" / "tables" / "table5.md").read_text()
    zero_shot = json.loads((project / "results" / "zero_shot" / "sst2.json").read_text())
    assert [p["step"] for p in zero_shot["points"]] == [0, 15, 30]
    lstm_zero_shot = json.loads((project / "results" / "zero_shot_lstm" / "sst2.json").read_text())
    assert [p["step"] for p in lstm_zero_shot["points"]] == [0, 15, 30] and lstm_zero_shot["architecture"] == "lstm"
    assert "![Figure 2" in (project / "results" / "summary.md").read_text()
    client, runs = tracked_runs(project)
    assert client.get_experiment_by_name("gpt1").tags["mlflow.experimentKind"] == "custom_model_development"  # runs
    (parent,) = [r for r in runs if "stage" not in r.data.tags]  # the invocation's, named for it
    stage_runs = [r for r in runs if r != parent]
    group = parent.info.run_name
    assert group.startswith(("snakemake-", "dvc-exp-smoke-")) and parent.data.tags[PIPELINE_TAG] == group
    assert all(r.data.tags[PIPELINE_TAG] == group for r in stage_runs)
    if group.startswith("dvc-exp-"):  # the experiment's name and the commit it was made from, on every run
        assert {(r.data.tags[DVC_EXPERIMENT_TAG], len(r.data.tags[DVC_BASELINE_TAG])) for r in runs} == {("smoke", 40)}
    assert all(r.data.tags[PARENT_RUN_TAG] == parent.info.run_id for r in stage_runs)
    by_stage = {r.data.tags["stage"]: r for r in stage_runs}
    assert set(by_stage) == set(STAGES)
    names = {r.info.run_name for r in stage_runs}
    assert {"pretrain", "pretrain_lstm", "tables", "zero_shot/sst2", "zero_shot/sst2/lstm", "zero_shot/dprd"} <= names
    assert {f"download_task/{task}" for task in SMOKE_TASKS} <= names
    (commit,) = {r.data.tags[GIT_COMMIT_TAG] for r in runs}
    assert re.fullmatch("[0-9a-f]{40}", commit) and {r.data.tags[SOURCE_NAME_TAG] for r in stage_runs} >= {
        "gpt1 finetune",
        "gpt1 pretrain",
    }
    finetunes = [r for r in stage_runs if r.data.tags["stage"] == "finetune"]
    expected = [("full", t, s) for t in SMOKE_TASKS for s in SEEDS] + [(v, t, s) for v, t in EXTRA_RUNS for s in SEEDS]
    assert sorted(r.info.run_name for r in finetunes) == sorted(f"finetune/{t}/{v}/seed{s}" for v, t, s in expected)
    assert sorted((r.data.tags["ablation"], r.data.tags["task"], r.data.tags["seed"]) for r in finetunes) == sorted(
        expected
    )
    for r in finetunes:  # the LSTM's runs start from its own pretraining
        pretrained_by = by_stage["pretrain_lstm" if r.data.tags["ablation"] == "lstm" else "pretrain"]
        assert r.data.tags["pretrain_run_id"] == pretrained_by.info.run_id
    for r in finetunes:  # its metrics record and its curve
        record = f"{r.data.tags['task']}-seed{r.data.tags['seed']}"
        assert {a.path for a in client.list_artifacts(r.info.run_id)} == {f"{record}.json", f"{record}.csv"}
        assert r.data.tags["path.out"].endswith(f"/{record}.json") and "out" not in r.data.params
    summary = by_stage["summary"]
    artifacts = {a.path for a in client.list_artifacts(summary.info.run_id)}
    assert {"summary.md", "table2.md", "table5.tex", "figure2.png"} <= artifacts
    assert "table5_avg_full" in summary.data.metrics
    assert all(r.info.status == "FINISHED" and r.data.tags["profile"] == "smoke" for r in runs)
    pretrain = by_stage["pretrain"]
    assert pretrain.data.params["n_layer"] == "2"
    assert pretrain.data.tags["path.out_dir"] == "results/pretrain" and "out_dir" not in pretrain.data.params
    pretrain_artifacts = {a.path for a in client.list_artifacts(pretrain.info.run_id)}
    assert pretrain_artifacts == {"metrics.json", "train_curve.csv", "val_curve.csv", "pretrain.json"}
    assert [m.step for m in client.get_metric_history(pretrain.info.run_id, "val_ppl")] == [10, 20, 30]
    assert len(client.get_metric_history(pretrain.info.run_id, "train_loss")) == 6
    assert pretrain.data.metrics["final_val_ppl"] > 1
    assert pretrain.data.params["steps"] == "30" and "final_steps" not in pretrain.data.metrics  # a constant: a param
    assert by_stage["train_bpe"].data.tags["bpe_model"] == "results/bpe/bpe.model"
    assert pretrain.data.tags["checkpoint"] == "results/pretrain/model.pt"
    for r in runs:  # project-relative paths: the runs compare across clones and machines
        for name, value in (r.data.tags | r.data.params).items():
            assert not value.startswith("/") and str(project) not in value, (r.info.run_name, name, value)
    return runs


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory):
    project = project_copy(tmp_path_factory.mktemp("dvc"))
    smoke = run(["gpt1", "profile", "smoke"], project).stdout.split()
    run(["dvc", "exp", "run", "--name", "smoke", *smoke], project)  # the README's profile selection
    return project


def test_snakemake_runs_the_chain_then_has_nothing_to_do(snakemake_project):
    check_outputs_and_tracking(snakemake_project)
    again = run(["snakemake", "--cores", "2", "--config", "profile=smoke"], snakemake_project)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_snakemake_gives_fine_tunings_that_run_at_once_gpus_of_their_own(snakemake_project):
    """The smoke run saw two GPUs (FAKE_GPUS): Snakemake ran at most two GPU jobs at once, and each fine-tuning
    claimed one (gpt1.gpu_slots), as did the one-process pretraining and each zero-shot job. Two fine-tunings
    whose logs overlap in time held different GPUs; both GPUs were used."""
    log = sorted((snakemake_project / ".snakemake" / "log").glob("*.snakemake.log"))[0]  # the run's, not a rerun's
    provided = re.search(r"^Provided resources: (.*)$", log.read_text(), re.M).group(1)
    assert re.search(r"\bgpu\W+(gpu\W+)?2\b", provided), provided  # gpu=2, written gpu=Resource("gpu", 2)
    logs = snakemake_project / "results" / "logs"
    for path in [logs / "pretrain.log", logs / "pretrain_lstm.log", logs / "zero_shot_sst2.log"]:
        assert len(re.findall(r"GPU slot \d of 2: CUDA_VISIBLE_DEVICES=[35]\b", path.read_text())) == 1, path
    held = []  # (when the GPU was claimed, the log's last time: it was still held, GPU)
    stamp = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "
    for path in (snakemake_project / "results" / "logs" / "finetune").rglob("*.log"):
        text = path.read_text()
        claims = re.findall(stamp + r".*GPU slot \d of 2: CUDA_VISIBLE_DEVICES=(\d)", text, re.M)
        assert len(claims) == 1, path
        held.append((claims[0][0], re.findall(stamp, text, re.M)[-1], claims[0][1]))
    assert len(held) == len(SMOKE_TASKS) * len(SEEDS) + len(EXTRA_RUNS) * len(SEEDS)
    assert {gpu for _, _, gpu in held} == set(FAKE_GPUS.split(","))
    for i, (start, end, gpu) in enumerate(held):
        assert all(gpu != other for s, e, other in held[i + 1 :] if s < end and start < e), "two jobs, one GPU"


def test_snakemake_report_holds_the_tables_figure_and_summary_with_captions(snakemake_project):
    run(["snakemake", "--report", "report.zip", "--config", "profile=smoke"], snakemake_project)
    with zipfile.ZipFile(snakemake_project / "report.zip") as archive:
        names = archive.namelist()
        text = "".join(
            archive.read(name).decode("utf-8", "replace") for name in names if name.endswith((".html", ".js"))
        )
    for result in ("table2.md", "table4.csv", "table5.tex", "figure2.png", "summary.md"):
        assert any(name.endswith(result) for name in names), result
    for caption in ("Tables 2, 3 and 4 of the paper", "Table 5 of the paper", "Figure 2 of the paper", "smoke"):
        assert caption in text, caption


def test_stage_times_reads_every_job_of_the_run_from_snakemakes_log(snakemake_project):
    """scripts/stage_times.py, which docs/default-profile.md's per-stage times come from, on the smoke run's own log."""
    (log,) = sorted((snakemake_project / ".snakemake" / "log").glob("*.snakemake.log"))[:1]
    jobs = stage_times.job_times(log.read_text().splitlines())
    counts = {name: sum(1 for job in jobs if job[0] == name) for name in STAGES}
    assert counts["pretrain"] == counts["train_bpe"] == counts["table5"] == 1
    assert counts["finetune"] == len(SMOKE_TASKS) * len(SEEDS)
    assert all(start <= end for _, start, end in jobs)
    assert stage_times.table(jobs).splitlines()[-1].startswith(f"| whole run | {len(jobs)} |")


def test_dvc_runs_the_chain_then_is_up_to_date(dvc_project):
    check_outputs_and_tracking(dvc_project)
    again = run(["dvc", "repro"], dvc_project)
    assert "up to date" in again.stdout + again.stderr
    assert "val_ppl" in run(["dvc", "metrics", "show"], dvc_project).stdout
    plots = json.loads(run(["dvc", "plots", "show", "--json", "--split"], dvc_project).stdout)["data"]
    assert "results/figures/figure2.png" in plots
    # fine-tuning: a panel per task (not per run), a line per seed, a point per logged interval of each run
    assert {k for k in plots if "curves" in k} == {f"results/curves/tasks/{task}.csv" for task in SMOKE_TASKS}
    for task in SMOKE_TASKS:
        (panel,) = plots[f"results/curves/tasks/{task}.csv"]
        points = [(row["seed"], int(row["step"])) for row in panel["anchor_definitions"]["<DVC_METRIC_DATA>"]]
        logged = []
        for seed in SEEDS:
            record = json.loads((dvc_project / f"results/metrics/full/{task}-seed{seed}.json").read_text())
            logged += [(seed, point["step"]) for point in record["curves"]]
        assert points == logged and len(logged) >= len(SEEDS), task
    run(["dvc", "plots", "show"], dvc_project)  # its page, in dvc_plots/: ignored
    assert (dvc_project / "dvc_plots" / "index.html").exists()
    assert "dvc_plots" not in run(["git", "status", "--porcelain"], dvc_project).stdout


# docs/dvc.md's `dvc exp show` recipe: the parameters that differ between the rows (not the code's and data's
# hashes), each experiment's profile and two headline numbers (the GLUE score, Table 5's average)
EXP_SHOW = [
    "--only-changed",
    "--drop",
    ".*/|Created|pretrain(_lstm)?\\.(val_|tokens)|table|figure2",
    "--keep",
    "profile$|table4\\.glue$|table5\\.avg_full$",
]


def shown_metrics(project) -> dict[str, dict]:
    """`dvc exp show --json`: the baseline commit's row and each experiment's, by name -> {metrics file -> its
    numbers, or the error DVC met reading it}."""
    rows = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    (baseline,) = [row for row in rows if row["rev"] != "workspace"]
    revisions = [("baseline", baseline)] + [(exp["name"], exp["revs"][0]) for exp in baseline["experiments"] or []]
    return {
        name: {file: metrics.get("data") or metrics.get("error") for file, metrics in rev["data"]["metrics"].items()}
        for name, rev in revisions
    }


def test_each_dvc_experiment_keeps_its_metrics(dvc_project):
    """docs/dvc.md's way: the run committed (dvc.lock and metrics/), then two experiments beside it. The flat
    metrics files are in git, so each experiment's commit holds them: `dvc exp show` has numbers for the
    baseline and every experiment, not only for the workspace."""
    run(["git", "add", "dvc.lock", "metrics", "params.yaml"], dvc_project)
    run(["git", "commit", "-qm", "smoke run"], dvc_project)
    try:
        for name, examples in (("four-examples", 4), ("eight-examples", 8)):  # zero-shot, Figure 2, summary
            run(["dvc", "exp", "run", "--name", name, "-S", f"zero_shot.max_examples={examples}"], dvc_project)
        shown = shown_metrics(dvc_project)
        changed = run(["dvc", "exp", "show", "--csv", "--only-changed"], dvc_project).stdout.splitlines()[0]
        every = run(["dvc", "exp", "show", "--csv"], dvc_project).stdout.splitlines()[0].split(",")
        recipe = run(["env", "COLUMNS=120", "dvc", "exp", "show", "--no-pager", *EXP_SHOW], dvc_project).stdout
    finally:  # the other tests' workspace: the committed run
        run(["git", "checkout", "--", "params.yaml", "dvc.lock", "metrics"], dvc_project)
        run(["dvc", "checkout"], dvc_project)
    assert set(shown) == {"baseline", "four-examples", "eight-examples"}
    flat = {"metrics/pretrain.json", "metrics/pretrain_lstm.json", "metrics/tables.json", "metrics/table5.json"}
    flat.add("metrics/figure2.json")
    for name, metrics in shown.items():
        assert set(metrics) == flat, name
        # each file's numbers under the name of what they come from: the columns read `table5.avg_full`
        assert {file: set(numbers) for file, numbers in metrics.items()} == {
            "metrics/pretrain.json": {"pretrain"},
            "metrics/pretrain_lstm.json": {"pretrain_lstm"},
            "metrics/tables.json": {"table2", "table3", "table4"},
            "metrics/table5.json": {"table5"},
            "metrics/figure2.json": {"figure2"},
        }, name
        numbers = {f"{group}.{k}": v for file in metrics.values() for group, n in file.items() for k, v in n.items()}
        assert all(isinstance(v, (int, float)) for v in numbers.values()), name
        assert numbers["pretrain.val_ppl"] > 1 and numbers["pretrain_lstm.val_ppl"] > 1, name
        assert {"table4.sst2", "table4.glue", "table5.avg_full", "table5.avg_lstm"} <= set(numbers), name
    assert shown["four-examples"]["metrics/tables.json"] == shown["baseline"]["metrics/tables.json"]
    assert not any(column.startswith("profiles.") for column in every)  # choices, not a run's values
    # docs/dvc.md's side-by-side view: what differs, the changed parameter and what it changed
    assert "zero_shot.max_examples" in changed.split(",") and len(changed.split(",")) < 20, changed
    # docs/dvc.md's recipe, at 120 columns: each experiment's profile, changed parameter and headline numbers, whole
    assert all(len(line) <= 120 for line in recipe.splitlines()) and "…" not in recipe, recipe
    for column in ("Experiment", "profile", "zero_shot.max_examples", "table4.glue", "table5.avg_full"):
        assert column in recipe, column
    assert "four-examples" in recipe and "eight-examples" in recipe and "gpt1/" not in recipe, recipe


def test_dvc_plots_of_pretraining_have_no_blank_cells(dvc_project):
    shown = json.loads(run(["dvc", "plots", "show", "--json", "--split"], dvc_project).stdout)["data"]
    (loss,) = shown["pretraining_loss"]
    by_line = {}
    for row in loss["anchor_definitions"]["<DVC_METRIC_DATA>"]:
        by_line.setdefault(row["filename::field"], []).append(row["dvc_inferred_y_value"])
    assert set(by_line) == {"train_curve.csv::train_loss", "val_curve.csv::val_loss"}
    for line, values in by_line.items():
        assert values and all(value not in ("", None) and float(value) > 0 for value in values), line


def test_a_clone_with_dvc_pull_is_up_to_date(dvc_project, tmp_path):
    """docs/dvc.md's remote: results committed as dvc.lock and metrics/, data pushed; a clone pulls and has
    nothing to rerun."""
    storage = tmp_path / "storage"
    run(["dvc", "remote", "add", "-d", "storage", str(storage)], dvc_project)
    run(["git", "add", "dvc.lock", "metrics", "params.yaml", ".dvc/config"], dvc_project)
    run(["git", "commit", "-qm", "the storage remote"], dvc_project)
    run(["dvc", "push"], dvc_project)
    assert any(storage.rglob("*"))
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(dvc_project), str(clone)], tmp_path)
    run(["dvc", "pull"], clone)
    assert json.loads(run(["dvc", "status", "--json"], clone).stdout) == {}
    assert (clone / "results" / "tables" / "table5.md").read_text() == (
        dvc_project / "results/tables/table5.md"
    ).read_text()
    # Snakemake judges by the files' times, which a pull sets in no order (a dry run here planned 23 of 28 jobs,
    # pretraining included): docs/dvc.md's one command marks the pulled outputs up to date, in the DAG's order
    run(["snakemake", "--touch", "--cores", "1"], clone)
    again = run(["snakemake", "-n"], clone)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout
    assert json.loads(run(["dvc", "status", "--json"], clone).stdout) == {}  # the same content: DVC agrees


def numbers(value, path="") -> dict[str, object]:
    """A JSON document flattened to {path: leaf}."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in numbers(item, f"{path}/{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in numbers(item, f"{path}/{i}").items()}
    return {path: value}


def test_snakemake_and_dvc_write_the_same_tables(snakemake_project, dvc_project):
    """Same seeds, same commands: the same tables. Snakemake gives each fine-tuning run one thread and DVC
    all cores, which changes the order of float sums, so raw metrics may differ in their last digits (4e-3
    on the x100 scale was seen); the one-decimal tables agree cell for cell."""
    for name in [f"results/tables/table{n}.{ext}" for n in (2, 3, 4, 5) for ext in ("md", "csv", "tex")]:
        assert (snakemake_project / name).read_text() == (dvc_project / name).read_text(), name
    for name in ["results/tables/tables.json", "results/tables/table5.json"]:
        ours, theirs = (numbers(json.loads((p / name).read_text())) for p in (snakemake_project, dvc_project))
        assert ours.keys() == theirs.keys(), name
        for key, value in ours.items():
            assert theirs[key] == (pytest.approx(value, abs=0.05) if isinstance(value, float) else value), key


def dvc_changed(project) -> set[str]:
    """The stages `dvc status` says would run."""
    return set(json.loads(run(["dvc", "status", "--json"], project).stdout))


def test_a_new_seed_schedules_only_its_runs_and_a_renamed_profile_none(snakemake_project, dvc_project):
    new_runs = {
        "finetune@sst2-44",
        "finetune@rte-44",
        "finetune@stsb-44",
        "finetune@story_cloze-44",
        "finetune_ablation@no_pretraining-sst2-44",
        "finetune_ablation@no_aux_lm-sst2-44",
        "finetune_lstm@sst2-44",
        "finetune_transfer@0-sst2-44",
    }
    report = {"tables", "table5", "figure2", "summary"}  # they read every run: the new ones too
    (snakemake_project / "seeds.yaml").write_text("runs:\n  seeds: [42, 43, 44]\n")
    dry = run(["snakemake", "-n", "-p", "--config", "profile=smoke", "--configfile", "seeds.yaml"], snakemake_project)
    assert set(dry_run_jobs(dry.stdout)) == new_runs | report

    params, profiles = dvc_project / "params.yaml", dvc_project / "profiles.yaml"
    before, profiles_before = params.read_text(), profiles.read_text()
    try:
        more_seeds = yaml.safe_load(before)
        assert more_seeds["runs"]["seeds"] == [42, 43]  # the smoke profile's, which `dvc exp run -S` set
        more_seeds["runs"]["seeds"] = [42, 43, 44]
        params.write_text(yaml.safe_dump(more_seeds, sort_keys=False))
        assert dvc_changed(dvc_project) == new_runs
        # the smoke profile copied under a new name and selected: the same values, so nothing to run
        copied = yaml.safe_load(profiles_before)
        copied["mine"] = copied["smoke"]
        profiles.write_text(yaml.safe_dump(copied, sort_keys=False))
        params.write_text(before.replace("profile: smoke", "profile: mine"))
        assert dvc_changed(dvc_project) == set()
        (snakemake_project / "profiles.yaml").write_text(profiles.read_text())
        again = run(["snakemake", "-n", "--config", "profile=mine"], snakemake_project)
        assert "Nothing to be done" in again.stdout + again.stderr
    finally:
        params.write_text(before)
        profiles.write_text(profiles_before)
        run(["git", "checkout", "profiles.yaml"], snakemake_project)

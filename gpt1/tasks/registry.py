"""The paper's 12 fine-tuning tasks (TASKS) and the set its Winograd heuristic scores zero-shot (ZERO_SHOT_TASKS:
DPRD): what each is, where its data comes from, and how its files are read.

A task's data lives in `<data_dir>/<Task.folder>/`, laid out exactly as the official archive extracts
(GLUE's `<TASK>/` under `glue/`, `snli_1.0/`, `SciTailV1.1/`, `RACE/`, `DPRD/`, and `story_cloze/` for
the two Story Cloze CSVs). A local mirror (GPT1_DATA_MIRROR) uses the same layout, so a mirror can serve as a
data_dir as it is.
"""

from __future__ import annotations

from gpt1.download import MIRROR_ENV
from gpt1.tasks.spec import (
    SPLITS,
    STORY_CLOZE_ENV,
    Format,
    Part,
    Resplit,
    Source,
    Split,
    Task,
)


def get_task(task_id: str) -> Task:
    """The registered task `task_id` (a fine-tuning task or a zero-shot set); ValueError naming the known ids
    otherwise."""
    known = TASKS | ZERO_SHOT_TASKS
    try:
        return known[task_id]
    except KeyError:
        raise ValueError(f"unknown task {task_id!r}; choose one of {', '.join(known)}") from None


def where_to_get(task: Task) -> str:
    """One clause saying how to obtain a task's data (for TaskDataMissing messages)."""
    if task.access == "registration":
        files = sorted({part.path for split in task.splits for part in split.parts})
        return (
            f"{task.name} is available only by registration at {task.homepage}; put the CSV files "
            f"{' and '.join(repr(name) for name in files)} in a directory, set {STORY_CLOZE_ENV} to it "
            f"and run gpt1.tasks.download_task({task.id!r}, data_dir)"
        )
    urls = ", ".join(source.url for source in task.sources)
    return (
        f"run gpt1.tasks.download_task({task.id!r}, data_dir) to fetch it from {urls}, "
        f"or set {MIRROR_ENV} to a local copy laid out as the official archives extract"
    )


# --------------------------------------------------------------------------------------------------
# Sources. URLs and sha256s as recorded by huggingface/datasets (the download_checksums of
# datasets/<name>/dataset_infos.json at commit 040102f100964a33fd334e2695f1c493fa6b92db; the URLs are
# those of datasets/<name>/<name>.py). The URLs carry no version: the sha256 is the pin.

_GLUE = "https://dl.fbaipublicfiles.com/glue/data/"
# datasets/glue/dataset_infos.json: one zip per task, holding the folder <TASK>/ (QNLIv2.zip holds QNLI/,
# QQP-clean.zip holds QQP/).
_GLUE_ARCHIVES = {
    "cola": ("CoLA.zip", "f212fcd832b8f7b435fb991f101abf89f96b933ab400603bf198960dfc32cbff"),
    "sst2": ("SST-2.zip", "d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa"),
    "stsb": ("STS-B.zip", "e60a6393de5a8b5b9bac5020a1554b54e3691f9d600b775bd131e613ac179c85"),
    "qqp": ("QQP-clean.zip", "40e7c862c04eb26ee04b67fd900e76c45c6ba8e6d8fab4f8f1f8072a1a3fbae0"),
    "mnli": ("MNLI.zip", "e7c1d896d26ed6caf700110645df426cc2d8ebf02a5ab743d5a5c68ac1c83633"),
    "qnli": ("QNLIv2.zip", "e634e78627a29adaecd4f955359b22bf5e70f2cbd93b493f2d624138a0c0e5f5"),
    "rte": ("RTE.zip", "6bf86de103ecd335f3441bd43574d23fef87ecc695977a63b82d5efb206556ee"),
}


def _glue_source(task_id: str) -> tuple[Source, ...]:
    filename, sha256 = _GLUE_ARCHIVES[task_id]
    return (Source(_GLUE + filename, sha256, filename),)


# GLUE does not host MRPC: its download_glue_data.py (and HF's glue.py) fetch the SentEval copies of the
# Microsoft files and GLUE's list of dev pair ids, then cut train/dev (gpt1.tasks.data.build_mrpc).
# sha256s from datasets/glue/dataset_infos.json ("mrpc" download_checksums).
_MRPC_SOURCES = (
    Source(
        "https://dl.fbaipublicfiles.com/senteval/senteval_data/msr_paraphrase_train.txt",
        "60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89",
        "msr_paraphrase_train.txt",
    ),
    Source(
        "https://dl.fbaipublicfiles.com/senteval/senteval_data/msr_paraphrase_test.txt",
        "a04e271090879aaba6423d65b94950c089298587d9c084bf9cd7439bd785f784",
        "msr_paraphrase_test.txt",
    ),
    Source(
        _GLUE + "mrpc_dev_ids.tsv",
        "971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7",
        "dev_ids.tsv",
    ),
)

# datasets/snli/dataset_infos.json.
_SNLI_SOURCE = Source(
    "https://nlp.stanford.edu/projects/snli/snli_1.0.zip",
    "afb3d70a5af5d8de0d9d81e2637e0fb8c22d1235c2749d83125ca43dab0dbd3e",
    "snli_1.0.zip",
)
# datasets/scitail/dataset_infos.json (the URL of datasets/scitail/scitail.py).
_SCITAIL_SOURCE = Source(
    "http://data.allenai.org.s3.amazonaws.com/downloads/SciTailV1.1.zip",
    "3fccd37350a94ca280b75998568df85fc2fc62843a3198d644fcbf858e6943d5",
    "SciTailV1.1.zip",
)
# datasets/race/dataset_infos.json (the URL of datasets/race/race.py).
_RACE_SOURCE = Source(
    "http://www.cs.cmu.edu/~glai1/data/race/RACE.tar.gz",
    "b2769cc9fdc5c546a693300eb9a966cec6870bd349fbc44ed5225f8ad33006e5",
    "RACE.tar.gz",
)

# DPRD as its authors distribute it (Vincent Ng's page at UT Dallas). The sha256s are those of the copy in
# namisan/mt-dnn (hnn/data/DPRD, commit fd9b2265, whose resource.txt names this page as its origin), the
# same bytes as bliuag/A-Solution-for-Winograd-Schema-Challenge's; not yet checked against the page itself.
_DPRD = "http://www.hlt.utdallas.edu/~vince/data/emnlp12/"
_DPRD_SOURCES = (
    Source(_DPRD + "train.c.txt", "bc0a54b3ca1009d8d5b2ca5a221086aee2b0fc5cd03b22b9dfa9cdf44c629cec", "train.c.txt"),
    Source(_DPRD + "test.c.txt", "cf1cf025e1d59a5b363e6dcfbd5a13aae8a9830831ac16fd7f865aca7a1559d8", "test.c.txt"),
)

STORY_CLOZE_REGISTRATION = "https://cs.rochester.edu/nlp/rocstories/"
STORY_CLOZE_VAL = "cloze_test_val__spring2016 - cloze_test_ALL_val.csv"
STORY_CLOZE_TEST = "cloze_test_test__spring2016 - cloze_test_ALL_test.csv"
STORY_CLOZE_SEED = 3535999445  # the released code's seed, used for its train/dev split

# --------------------------------------------------------------------------------------------------
# Registry

_NLI3 = ("entailment", "neutral", "contradiction")
_NLI2 = ("entailment", "not_entailment")


def _glue_splits(dev: str = "dev.tsv") -> tuple[Split, ...]:
    return (Split("train", (Part("train.tsv"),)), Split("dev", (Part(dev),)))


def _tsv(text: str | int, text_b: str | int | None, label: str | int, label_type: str, **kw) -> Format:
    return Format("tsv", text, text_b, label, label_type, **kw)  # type: ignore[arg-type]


def _race_split(name: str) -> Split:
    return Split(name, (Part(f"{name}/middle", "middle"), Part(f"{name}/high", "high")))


TASKS: dict[str, Task] = {
    task.id: task
    for task in (
        # Table 4: semantic similarity and classification.
        Task(
            "cola",
            "CoLA",
            "classification",
            ("unacceptable", "acceptable"),
            ("matthews",),
            4,
            folder="glue/CoLA",
            # No header: source, label, original-label mark, sentence.
            format=_tsv(3, None, 1, "index", header=False, n_columns=4),
            splits=_glue_splits(),
            access="archive",
            sources=_glue_source("cola"),
            archive_root="CoLA",
            homepage="https://nyu-mll.github.io/CoLA/",
        ),
        Task(
            "sst2",
            "SST-2",
            "classification",
            ("negative", "positive"),
            ("accuracy",),
            4,
            folder="glue/SST-2",
            format=_tsv("sentence", None, "label", "index"),
            splits=_glue_splits(),
            access="archive",
            sources=_glue_source("sst2"),
            archive_root="SST-2",
            homepage="https://nlp.stanford.edu/sentiment/",
        ),
        Task(
            "mrpc",
            "MRPC",
            "similarity",
            ("not_paraphrase", "paraphrase"),
            ("f1", "accuracy"),
            4,
            folder="glue/MRPC",
            format=_tsv("#1 String", "#2 String", "Quality", "index"),
            splits=_glue_splits(),
            access="files",
            sources=_MRPC_SOURCES,
            homepage="https://www.microsoft.com/en-us/download/details.aspx?id=52398",
        ),
        Task(
            "stsb",
            "STS-B",
            "similarity",
            None,
            ("pearson", "spearman"),
            4,
            folder="glue/STS-B",
            format=_tsv("sentence1", "sentence2", "score", "score", score_range=(0.0, 5.0)),
            splits=_glue_splits(),
            access="archive",
            sources=_glue_source("stsb"),
            archive_root="STS-B",
            homepage="http://ixa2.si.ehu.es/stswiki/index.php/STSbenchmark",
        ),
        Task(
            "qqp",
            "QQP",
            "similarity",
            ("not_duplicate", "duplicate"),
            ("f1", "accuracy"),
            4,
            folder="glue/QQP",
            format=_tsv("question1", "question2", "is_duplicate", "index"),
            splits=_glue_splits(),
            access="archive",
            sources=_glue_source("qqp"),
            archive_root="QQP",
            homepage="https://data.quora.com/First-Quora-Dataset-Release-Question-Pairs",
        ),
        # Table 2: natural language inference.
        Task(
            "mnli",
            "MNLI",
            "entailment",
            _NLI3,
            ("accuracy",),
            2,
            folder="glue/MNLI",
            format=_tsv("sentence1", "sentence2", "gold_label", "name"),
            splits=(
                Split("train", (Part("train.tsv"),)),
                Split("dev", (Part("dev_matched.tsv", "matched"), Part("dev_mismatched.tsv", "mismatched"))),
            ),
            access="archive",
            sources=_glue_source("mnli"),
            archive_root="MNLI",
            subsets=("matched", "mismatched"),
            homepage="https://cims.nyu.edu/~sbowman/multinli/",
        ),
        Task(
            "qnli",
            "QNLI",
            "entailment",
            _NLI2,
            ("accuracy",),
            2,
            folder="glue/QNLI",
            format=_tsv("question", "sentence", "label", "name"),
            splits=_glue_splits(),
            access="archive",
            sources=_glue_source("qnli"),
            archive_root="QNLI",
            homepage="https://rajpurkar.github.io/SQuAD-explorer/",
        ),
        Task(
            "rte",
            "RTE",
            "entailment",
            _NLI2,
            ("accuracy",),
            2,
            folder="glue/RTE",
            format=_tsv("sentence1", "sentence2", "label", "name"),
            splits=_glue_splits(),
            access="archive",
            sources=_glue_source("rte"),
            archive_root="RTE",
            homepage="https://aclweb.org/aclwiki/Recognizing_Textual_Entailment",
        ),
        Task(
            "snli",
            "SNLI",
            "entailment",
            _NLI3,
            ("accuracy",),
            2,
            folder="snli_1.0",
            format=Format("jsonl", "sentence1", "sentence2", "gold_label", "name", drop_labels=("-",)),
            splits=tuple(Split(s, (Part(f"snli_1.0_{s}.jsonl"),)) for s in SPLITS),
            access="archive",
            sources=(_SNLI_SOURCE,),
            archive_root="snli_1.0",
            homepage="https://nlp.stanford.edu/projects/snli/",
        ),
        Task(
            "scitail",
            "SciTail",
            "entailment",
            ("entails", "neutral"),
            ("accuracy",),
            2,
            folder="SciTailV1.1",
            # tsv_format: premise, hypothesis, label; no header.
            format=_tsv(0, 1, 2, "name", header=False, n_columns=3),
            splits=tuple(Split(s, (Part(f"tsv_format/scitail_1.0_{s}.tsv"),)) for s in SPLITS),
            access="archive",
            sources=(_SCITAIL_SOURCE,),
            archive_root="SciTailV1.1",
            homepage="https://allenai.org/data/scitail",
        ),
        # Table 3: question answering and commonsense reasoning.
        Task(
            "race",
            "RACE",
            "multiple_choice",
            ("A", "B", "C", "D"),
            ("accuracy",),
            3,
            folder="RACE",
            format=Format("race"),
            splits=tuple(_race_split(s) for s in SPLITS),
            access="archive",
            sources=(_RACE_SOURCE,),
            archive_root="RACE",
            subsets=("middle", "high"),
            homepage="https://www.cs.cmu.edu/~glai1/data/race/",
        ),
        Task(
            "story_cloze",
            "Story Cloze",
            "multiple_choice",
            ("1", "2"),
            ("accuracy",),
            3,
            folder="story_cloze",
            format=Format("story_cloze"),
            splits=(
                Split("train", (Part(STORY_CLOZE_VAL),), Resplit(STORY_CLOZE_SEED, 374, 1871, "train")),
                Split("dev", (Part(STORY_CLOZE_VAL),), Resplit(STORY_CLOZE_SEED, 374, 1871, "dev")),
                Split("test", (Part(STORY_CLOZE_TEST),)),
            ),
            access="registration",
            homepage=STORY_CLOZE_REGISTRATION,
        ),
    )
}

ZERO_SHOT_TASKS: dict[str, Task] = {
    task.id: task
    for task in (
        # Figure 2 (right), the Winograd heuristic: never fine-tuned, so not among TASKS (the tables' columns).
        Task(
            "dprd",
            "DPRD",
            "multiple_choice",
            ("candidate 1", "candidate 2"),
            ("accuracy",),
            0,
            folder="DPRD",
            format=Format("dprd"),
            splits=(Split("train", (Part("train.c.txt"),)), Split("test", (Part("test.c.txt"),))),
            access="plain",
            sources=_DPRD_SOURCES,
            homepage=_DPRD,
        ),
    )
}

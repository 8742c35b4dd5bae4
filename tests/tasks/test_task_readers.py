"""The task registry and readers: hand-written fixtures in the official formats, malformed rows, and the
real data of ../shared/data where it is there."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURES as FIXTURES_DIR
from conftest import SHARED_DATA
from gpt1.tasks import TASKS, Example, TaskDataMissing, available_splits, read_split
from gpt1.tasks.readers import read_story_cloze
from gpt1.tasks.registry import STORY_CLOZE_REGISTRATION, STORY_CLOZE_TEST, STORY_CLOZE_VAL
from gpt1.tasks.spec import METRICS

FIXTURES = FIXTURES_DIR / "tasks"


# --------------------------------------------------------------------------------------------------
# Registry


def test_registry_matches_the_paper():
    assert list(TASKS) == [
        "cola",
        "sst2",
        "mrpc",
        "stsb",
        "qqp",
        "mnli",
        "qnli",
        "rte",
        "snli",
        "scitail",
        "race",
        "story_cloze",
    ]
    kinds = {task.id: task.kind for task in TASKS.values()}
    assert kinds == {
        "cola": "classification",
        "sst2": "classification",
        "mnli": "entailment",
        "snli": "entailment",
        "scitail": "entailment",
        "qnli": "entailment",
        "rte": "entailment",
        "stsb": "similarity",
        "qqp": "similarity",
        "mrpc": "similarity",
        "race": "multiple_choice",
        "story_cloze": "multiple_choice",
    }
    tables = {task.id: task.table for task in TASKS.values()}
    assert {t for t, n in tables.items() if n == 2} == {"mnli", "snli", "scitail", "qnli", "rte"}
    assert {t for t, n in tables.items() if n == 3} == {"race", "story_cloze"}
    assert {t for t, n in tables.items() if n == 4} == {"cola", "sst2", "mrpc", "stsb", "qqp"}
    assert TASKS["cola"].metrics == ("matthews",)
    assert TASKS["mrpc"].metrics == TASKS["qqp"].metrics == ("f1", "accuracy")
    assert TASKS["stsb"].metrics == ("pearson", "spearman")
    assert TASKS["stsb"].labels is None
    assert TASKS["cola"].labels == ("unacceptable", "acceptable")
    assert TASKS["mrpc"].labels == ("not_paraphrase", "paraphrase")
    assert TASKS["qqp"].labels == ("not_duplicate", "duplicate")
    assert TASKS["mnli"].labels == TASKS["snli"].labels == ("entailment", "neutral", "contradiction")
    assert TASKS["qnli"].labels == TASKS["rte"].labels == ("entailment", "not_entailment")
    assert TASKS["scitail"].labels == ("entails", "neutral")
    for task in TASKS.values():
        assert set(task.metrics) <= set(METRICS)
        assert task.splits and set(task.split_names) <= {"train", "dev", "test"}
        if task.access != "registration":
            assert task.sources and all(len(s.sha256) == 64 for s in task.sources)


def test_glue_test_split_has_no_labels_and_unknown_task():
    with pytest.raises(ValueError, match="no labelled split 'test'"):
        read_split("cola", "test", FIXTURES)
    with pytest.raises(ValueError, match="unknown task 'cola2'"):
        read_split("cola2", "dev", FIXTURES)


# --------------------------------------------------------------------------------------------------
# Readers on the fixtures


def test_cola_no_header():
    assert read_split("cola", "train", FIXTURES) == [
        Example("The cat slept on the warm windowsill.", label=1),
        Example("Slept the cat windowsill the on.", label=0),
        Example('She said "maybe" and left.', label=1),
        Example("Him gave the book to she.", label=0),
    ]
    assert len(read_split("cola", "dev", FIXTURES)) == 2  # no final newline


def test_sst2_quotes_survive():
    assert read_split("sst2", "train", FIXTURES) == [
        Example("a warm , funny little film ", label=1),
        Example('the " twist " arrives two hours too late ', label=0),
        Example('an " odd , bold picture that never settles ', label=1),  # an unbalanced quote
        Example("flat and forgettable ", label=0),
    ]


def test_mrpc_header_after_bom():
    assert read_split("mrpc", "dev", FIXTURES) == [
        Example("Rain is expected across the valley .", "The valley museum opens at nine .", label=0),
        Example("The team won its third straight game .", "The team has now won three games in a row .", label=1),
    ]
    assert read_split("mrpc", "train", FIXTURES)[0].text_b == 'On Tuesday the council passed the " new " budget .'


def test_stsb_scores():
    train = read_split("stsb", "train", FIXTURES)
    assert train == [
        Example("A dog runs in a field.", "A dog is running through grass.", label=4.2),
        Example('He called it "a mistake".', "The weather was mild.", label=0.0),
        Example("Two kids play chess.", "Children are playing chess.", label=5.0),
    ]
    assert all(isinstance(example.label, float) for example in train)


def test_qqp_qnli_rte():
    assert read_split("qqp", "dev", FIXTURES) == [
        Example('What does "serendipity" mean?', "What is the meaning of serendipity?", label=1)
    ]
    assert read_split("qnli", "train", FIXTURES) == [
        Example("When did the mill close?", "The mill closed in 1921 after a fire.", label=0),
        Example("Who built the tower?", "The tower is 40 metres tall.", label=1),
    ]
    assert read_split("rte", "train", FIXTURES)[1] == Example(
        'The firm, known as "Acme", moved to Leeds.', "Acme is based in Paris.", label=1
    )


def test_mnli_columns_by_name_and_dev_subsets():
    assert read_split("mnli", "train", FIXTURES) == [
        Example("The lamp was still on at dawn.", "Someone left a light on.", label=0),
        Example("The museum is closed on Mondays.", "The museum opens every day.", label=2),
        Example("She bought a red bicycle.", "She likes cycling.", label=1),
    ]
    assert read_split("mnli", "dev", FIXTURES) == [
        Example("The door creaked open.", "The door moved.", label=0, subset="matched"),
        Example("We thank you for your gift.", "We never received a gift.", label=2, subset="mismatched"),
        Example("The report ran to ten pages.", "The report was well received.", label=1, subset="mismatched"),
    ]


def test_snli_drops_rows_without_gold_label():
    assert read_split("snli", "dev", FIXTURES) == [
        Example("A boy kicks a ball in the park.", "A child is playing outside.", label=0),
        Example("A boy kicks a ball in the park.", "The boy is asleep.", label=2),
        Example("A woman reads on a bench.", 'The book is titled "Rain".', label=1),
    ]


def test_scitail_tsv_format():
    assert read_split("scitail", "dev", FIXTURES) == [
        Example(
            "Water boils at 100 degrees Celsius at sea level.",
            "At sea level, water boils at 100 degrees Celsius.",
            label=0,
        ),
        Example("Plants need light to make food.", "Rocks are formed from cooled magma.", label=1),
    ]
    assert read_split("scitail", "train", FIXTURES)[0].text == 'The "red planet" is Mars.'


def test_race_one_example_per_question():
    dev = read_split("race", "dev", FIXTURES)
    article = "Tom has a small garden. Every morning he waters the tomatoes before school."
    assert dev[:2] == [
        Example(
            f"{article} When does Tom water the tomatoes?",
            choices=("In the evening", "Before school", "After lunch", "At night"),
            label=1,
            subset="middle",
        ),
        Example(
            f"{article} Tom's garden is  _  .", choices=("big", "small", "far away", "new"), label=1, subset="middle"
        ),
    ]
    # Files in numeric order (1, 2, 10), middle before high.
    assert [e.label for e in dev] == [1, 1, 0, 2, 1]
    assert [e.subset for e in dev] == ["middle"] * 4 + ["high"]
    assert dev[2].text == "Ann keeps a diary. What does Ann keep?"


def test_story_cloze_test_and_seeded_split():
    test = read_split("story_cloze", "test", FIXTURES)
    assert test[0] == Example(
        "Eli wrote a letter. He bought a stamp. He walked to the post office. He mailed the letter.",
        choices=("Eli felt good about it.", "Eli ate the letter."),
        label=0,
    )
    assert [e.label for e in test] == [0, 1, 0]
    train, dev = read_split("story_cloze", "train", FIXTURES), read_split("story_cloze", "dev", FIXTURES)
    # 10 rows: ceil(10 * 374 / 1871) = 2 to dev, the rest to train; disjoint, together the whole file.
    assert (len(train), len(dev)) == (8, 2)
    stories = [e.text.split(".")[0] for e in train + dev]
    assert len(set(stories)) == 10
    assert dev == read_split("story_cloze", "dev", FIXTURES)  # seeded: the same every time
    assert any('"It smells great," said her brother.' in e.text for e in train + dev)  # CSV quoting undone


def test_available_splits_on_fixtures():
    assert available_splits("cola", FIXTURES) == ["train", "dev"]
    assert available_splits("snli", FIXTURES) == ["train", "dev"]
    assert available_splits("race", FIXTURES) == ["dev"]  # RACE/train has middle but no high
    assert available_splits("story_cloze", FIXTURES) == ["train", "dev", "test"]
    assert available_splits("cola", FIXTURES / "nowhere") == []


def test_missing_file_says_where_to_get_it(tmp_path):
    with pytest.raises(TaskDataMissing) as err:
        read_split("rte", "dev", tmp_path)
    message = str(err.value)
    assert str(tmp_path / "glue" / "RTE" / "dev.tsv") in message
    assert "https://dl.fbaipublicfiles.com/glue/data/RTE.zip" in message and "\n" not in message
    with pytest.raises(TaskDataMissing) as err:
        read_split("story_cloze", "test", tmp_path)
    message = str(err.value)
    assert STORY_CLOZE_REGISTRATION in message and "GPT1_STORY_CLOZE_DIR" in message
    assert STORY_CLOZE_VAL in message and STORY_CLOZE_TEST in message and "\n" not in message


# --------------------------------------------------------------------------------------------------
# Malformed rows


def _race_doc(answers: list[str], options: list[list[str]]) -> str:
    questions = [f"Question {i}?" for i in range(len(answers))]
    return json.dumps({"article": "A text.", "questions": questions, "options": options, "answers": answers})


STORY_HEADER = (
    "InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,"
    "RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2,AnswerRightEnding\n"
)

_STORY = f"story_cloze/{STORY_CLOZE_TEST}"

# case -> (task, split, file under data_dir, its content, the line named, a detail of the message)
MALFORMED = {
    "cola-fields": ("cola", "train", "glue/CoLA/train.tsv", "s\t1\t\tFine.\ns\t0\tToo few.\n", "line 2", "3 tab"),
    "cola-label": (
        "cola",
        "train",
        "glue/CoLA/train.tsv",
        "s\t1\t\tFine.\ns\t1\t\tFine.\ns\t2\t\tOdd.\n",
        "line 3",
        "'2'",
    ),
    "sst2-label": ("sst2", "dev", "glue/SST-2/dev.tsv", "sentence\tlabel\ngood\t1\nbad\tneg\n", "line 3", "'neg'"),
    "stsb-score": (
        "stsb",
        "dev",
        "glue/STS-B/dev.tsv",
        "sentence1\tsentence2\tscore\nA.\tB.\t1.0\nA.\tB.\thigh\n",
        "line 3",
        "not a number",
    ),
    "mnli-label": (
        "mnli",
        "train",
        "glue/MNLI/train.tsv",
        "sentence1\tsentence2\tgold_label\nA.\tB.\tmaybe\n",
        "line 2",
        "'maybe'",
    ),
    "rte-header": ("rte", "dev", "glue/RTE/dev.tsv", "index\tpremise\thypothesis\tlabel\n", "line 1", "'sentence1'"),
    "qnli-fields": (
        "qnli",
        "dev",
        "glue/QNLI/dev.tsv",
        'index\tquestion\tsentence\tlabel\n0\tQ?\tA "quoted\tthing".\tentailment\n',
        "line 2",
        "5 tab",
    ),
    "snli-json": (
        "snli",
        "dev",
        "snli_1.0/snli_1.0_dev.jsonl",
        '{"sentence1": "A.", "sentence2": "B.", "gold_label": "neutral"}\n{"sentence1": "A.", \n',
        "line 2",
        "JSON",
    ),
    "snli-label": (
        "snli",
        "dev",
        "snli_1.0/snli_1.0_dev.jsonl",
        '\n{"sentence1": "A.", "sentence2": "B.", "gold_label": "unsure"}\n',
        "line 2",
        "'unsure'",
    ),
    "scitail-fields": (
        "scitail",
        "dev",
        "SciTailV1.1/tsv_format/scitail_1.0_dev.tsv",
        "P.\tH.\tentails\nP.\tH.\n",
        "line 2",
        "2 tab",
    ),
    "story-answer": (
        "story_cloze",
        "test",
        _STORY,
        STORY_HEADER + "x,a,b,c,d,e,f,1\ny,a,b,c,d,e,f,3\n",
        "line 3",
        "'3'",
    ),
    "story-fields": ("story_cloze", "test", _STORY, STORY_HEADER + "x,a,b,c,d,e,1\n", "line 2", "7 comma"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_row_names_file_and_line(case, tmp_path):
    task_id, split, relative, content, line, detail = MALFORMED[case]
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        read_split(task_id, split, tmp_path)
    message = str(err.value)
    assert str(path) in message and line in message and detail in message, message


SNLI_ROW = '{"sentence1": "%s", "sentence2": "B.", "gold_label": "neutral"}\n'


@pytest.mark.parametrize(
    ("task_id", "relative", "first_six", "seventh"),
    [
        ("sst2", "glue/SST-2/dev.tsv", "sentence\tlabel\n" + "a fine film .\t1\n" * 5, "caf\xe9 .\t1\n"),
        ("snli", "snli_1.0/snli_1.0_dev.jsonl", SNLI_ROW % "A." * 6, SNLI_ROW % "Caf\xe9."),
    ],
)
def test_a_byte_that_is_not_utf8_is_named_on_its_own_line(task_id, relative, first_six, seventh, tmp_path):
    """A Latin-1 'é' on line 7: the text layer decodes ahead in blocks, so the row being read is not that line."""
    path = tmp_path / relative
    path.parent.mkdir(parents=True)
    path.write_bytes((first_six + seventh).encode("latin-1"))
    with pytest.raises(ValueError, match=rf"{relative}, line 7: not UTF-8 text \(invalid continuation byte\)"):
        read_split(task_id, "dev", tmp_path)


@pytest.mark.parametrize(
    "document, detail",
    [
        (_race_doc(["A", "E"], [["a", "b", "c", "d"]] * 2), "question 2: answer 'E'"),
        (_race_doc(["A"], [["a", "b", "c"]]), "question 1: 3 options"),
        (_race_doc(["A", "B"], [["a", "b", "c", "d"]]), "2 questions, 1 option lists"),
        ('{"article": "A text.",\n "questions": [}', "line 2"),
    ],
)
def test_malformed_race_document(document, detail, tmp_path):
    for subset in ("middle", "high"):
        (tmp_path / "RACE" / "dev" / subset).mkdir(parents=True)
    shutil.copy(FIXTURES / "RACE" / "dev" / "high" / "5.txt", tmp_path / "RACE" / "dev" / "high" / "5.txt")
    path = tmp_path / "RACE" / "dev" / "middle" / "7.txt"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        read_split("race", "dev", tmp_path)
    assert str(path) in str(err.value) and detail in str(err.value), str(err.value)


# --------------------------------------------------------------------------------------------------
# The real data (../shared/data), where it is there

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"no real data at {SHARED_DATA}")

# (task, split) -> examples, where the mirror holds the complete split
# (counts as in docs/paper.md, Tasks and data sets).
COMPLETE = {
    ("cola", "train"): 8551,
    ("cola", "dev"): 1043,
    ("sst2", "train"): 67349,
    ("sst2", "dev"): 872,
    ("mrpc", "train"): 3668,
    ("mrpc", "dev"): 408,
    ("stsb", "train"): 5749,
    ("stsb", "dev"): 1500,
    ("rte", "train"): 2490,
    ("rte", "dev"): 277,
    ("qnli", "dev"): 5463,
    ("story_cloze", "train"): 1497,
    ("story_cloze", "dev"): 374,
    ("story_cloze", "test"): 1871,
}


@needs_shared
@pytest.mark.parametrize("task_id, split", list(COMPLETE), ids=[f"{t}-{s}" for t, s in COMPLETE])
def test_real_counts(task_id, split):
    examples = read_split(task_id, split, SHARED_DATA)
    assert len(examples) == COMPLETE[task_id, split]
    task = TASKS[task_id]
    if task.labels is None:
        assert all(0.0 <= e.label <= 5.0 for e in examples)
    else:
        assert {e.label for e in examples} == set(range(len(task.labels)))


@needs_shared
def test_real_race_dev():
    dev = read_split("race", "dev", SHARED_DATA)
    assert sum(e.subset == "middle" for e in dev) == 1436
    assert sum(e.subset == "high" for e in dev) == 3451
    assert all(len(e.choices) == 4 and 0 <= e.label < 4 for e in dev)


@needs_shared
def test_real_story_cloze_split_is_the_released_codes():
    train = read_split("story_cloze", "train", SHARED_DATA)
    dev = read_split("story_cloze", "dev", SHARED_DATA)
    rows = list(read_story_cloze(SHARED_DATA / "story_cloze" / STORY_CLOZE_VAL, TASKS["story_cloze"].labels))
    assert len(rows) == 1871 and len(read_split("story_cloze", "test", SHARED_DATA)) == 1871
    # The released code: sklearn's train_test_split(..., test_size=374, random_state=3535999445), whose
    # test part starts with row indices 1058, 198, 1174, 806, 127 (checked against sklearn once).
    for index in (1058, 198, 1174, 806, 127):
        assert rows[index] in dev and rows[index] not in train
    assert sorted(train + dev, key=rows.index) == rows


@needs_shared
def test_real_snli_dev_slice_drops_unlabelled():
    # The mirror holds the first 1,289 rows of the official dev file (1,288 newlines, none at the end);
    # 16 of them have no gold label.
    assert len(read_split("snli", "dev", SHARED_DATA)) == 1273


@needs_shared
def test_real_slices_parse_and_available_splits():
    assert {e.subset for e in read_split("mnli", "dev", SHARED_DATA)} == {"matched", "mismatched"}
    assert read_split("qqp", "train", SHARED_DATA) and read_split("scitail", "dev", SHARED_DATA)
    available = {task_id: available_splits(task_id, SHARED_DATA) for task_id in TASKS}
    assert available == {
        "cola": ["train", "dev"],
        "sst2": ["train", "dev"],
        "mrpc": ["train", "dev"],
        "stsb": ["train", "dev"],
        "qqp": ["train", "dev"],
        "mnli": ["train", "dev"],
        "qnli": ["train", "dev"],
        "rte": ["train", "dev"],
        "snli": ["dev"],
        "scitail": ["dev"],
        "race": ["dev"],
        "story_cloze": ["train", "dev", "test"],
    }

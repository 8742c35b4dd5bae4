"""sha256 of task files as their official releases hold them, for the copies no archive hash vouches for: a
mirror's extracted folder (GPT1_DATA_MIRROR) and Story Cloze's registered CSVs.

Taken on 2026-11-30 from the files as GLUE's archives and the 2016 Story Cloze release extract (the
development mirror's SHA256SUMS). A split file not listed here (QNLI's training set, MNLI, QQP, SNLI,
SciTail, RACE, whose full files the project has not hashed) is copied as it is and marked unverified. DPRD's
are the sha256s its download is pinned by (gpt1.tasks.registry), so a mirror's copy is checked against them.
"""

from gpt1.tasks.registry import ZERO_SHOT_TASKS

PINNED_FILES: dict[str, dict[str, str]] = {
    "cola": {
        "train.tsv": "cb368ebeb9f27d7ad03720d27ddc95687a311bdb100781a2fe59a5f5b1bc0624",
        "dev.tsv": "8c013e21dc39957cac37378d87bebe225b694a0d5fe13eded66c2856628833fd",
    },
    "sst2": {
        "train.tsv": "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
        "dev.tsv": "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
    },
    "stsb": {
        "train.tsv": "41c4d978b6162abdcada7e49a982211954cca5459c228db478af333124b257a2",
        "dev.tsv": "fe7dc0632a5033562f3cadff991f6e8d9b9b6311861660e78c3c82eb7db67f59",
    },
    "rte": {
        "train.tsv": "41e3a9b063433392343fad9e962cf2f58b681c78d8f71592f4186f0837246c5c",
        "dev.tsv": "80230dfa1347282e7b532b06a1004a76a710087541189bf874223ddf0e3819fb",
    },
    "qnli": {
        "dev.tsv": "ac19409dcb04631eaaa094bdebdcf621086bc352503dfb6a1a648b614986f4fd",
    },
    "story_cloze": {
        "cloze_test_val__spring2016 - cloze_test_ALL_val.csv": (
            "b1490dd866bb30c136004d6ebda5ffcf39aafa4535a36e61b24673ff96235854"
        ),
        "cloze_test_test__spring2016 - cloze_test_ALL_test.csv": (
            "9c74e954269bb5651a8635ead7c74b574e205e396d4d1074b755b969f613f396"
        ),
    },
    "dprd": {source.filename: source.sha256 for source in ZERO_SHOT_TASKS["dprd"].sources},
}
"""task id -> {file path inside the task's folder -> sha256}."""

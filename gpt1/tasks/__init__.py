"""The data layer for the paper's 12 fine-tuning tasks and DPRD (scored zero-shot only): registry, readers,
downloads, metrics. What runs a model on them lives in gpt1.training.

from gpt1.tasks import TASKS, read_split, available_splits, download_task
download_task("cola", data_dir)                 # fetch + extract (or copy from GPT1_DATA_MIRROR)
train = read_split("cola", "train", data_dir)   # list[Example]
"""

from gpt1.tasks.data import build_mrpc, download_task, extract_zip
from gpt1.tasks.readers import available_splits, read_split
from gpt1.tasks.registry import TASKS, ZERO_SHOT_TASKS, get_task
from gpt1.tasks.spec import (
    METRICS,
    SPLITS,
    STORY_CLOZE_ENV,
    Example,
    Format,
    Part,
    Resplit,
    Source,
    Split,
    Task,
    TaskDataMissing,
)

__all__ = [
    "METRICS",
    "SPLITS",
    "STORY_CLOZE_ENV",
    "TASKS",
    "Example",
    "Format",
    "Part",
    "Resplit",
    "Source",
    "Split",
    "Task",
    "TaskDataMissing",
    "ZERO_SHOT_TASKS",
    "available_splits",
    "build_mrpc",
    "download_task",
    "extract_zip",
    "get_task",
    "read_split",
]

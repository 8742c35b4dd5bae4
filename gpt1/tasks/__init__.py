"""The data layer for the paper's 12 fine-tuning tasks and DPRD (scored zero-shot only): registry, readers,
downloads, metrics. What runs a model on them lives in gpt1.training.

from gpt1.tasks import TASKS, read_split, available_splits, download_task
download_task("cola", data_dir)                 # fetch + extract (or copy from GPT1_DATA_MIRROR)
train = read_split("cola", "train", data_dir)   # list[Example]
"""

from gpt1.tasks.data import download_task
from gpt1.tasks.readers import available_splits, read_split
from gpt1.tasks.registry import TASKS, ZERO_SHOT_TASKS, get_task
from gpt1.tasks.spec import Example, Task, TaskDataMissing

__all__ = [
    "TASKS",
    "ZERO_SHOT_TASKS",
    "Example",
    "Task",
    "TaskDataMissing",
    "available_splits",
    "download_task",
    "get_task",
    "read_split",
]

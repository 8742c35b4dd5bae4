import math

import numpy as np
import pytest

from gpt1.batching import by_length, training_batches


def padded(lengths, batches) -> int:
    return sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)


@pytest.mark.parametrize("n", [1, 31, 256, 1000])
def test_an_epoch_has_every_example_once_in_as_many_batches_as_plain_shuffling(n):
    lengths = np.random.default_rng(0).integers(1, 100, size=n).tolist()
    batches = training_batches(lengths, 32, np.random.default_rng(1))
    assert sorted(i for batch in batches for i in batch) == list(range(n))
    assert len(batches) == math.ceil(n / 32) and all(len(batch) <= 32 for batch in batches)


def test_training_batches_pad_less_than_plain_shuffling_and_differ_by_seed():
    lengths = np.random.default_rng(0).lognormal(3, 0.6, size=1600).astype(int).tolist()
    order = np.random.default_rng(1).permutation(1600).tolist()
    plain = [order[i : i + 32] for i in range(0, 1600, 32)]
    bucketed = training_batches(lengths, 32, np.random.default_rng(1))
    assert padded(lengths, bucketed) < 0.7 * padded(lengths, plain)
    assert bucketed != training_batches(lengths, 32, np.random.default_rng(2))
    assert bucketed == training_batches(lengths, 32, np.random.default_rng(1))


def test_inference_batches_go_shortest_first_and_cover_every_index():
    lengths = [5, 1, 9, 3, 3, 7]
    batches = list(by_length(lengths, 4))
    assert batches == [[1, 3, 4, 0], [5, 2]]

import numpy as np
import pytest
import torch

from gpt1.tasks import TASKS
from gpt1.training.targets import SCORE_CLASSES, n_outputs, predictions, soft_labels, task_loss

STSB = TASKS["stsb"]


def released_encoding(scores: list[float], n_class: int = 6) -> np.ndarray:
    """The released code's stsb_label_encoding (finetune-transformer-lm, utils.py), written out from its
    definition: class floor(y) gets floor(y) - y + 1 and class floor(y) + 1 gets y - floor(y)."""
    encoded = np.zeros((len(scores), n_class), dtype=np.float32)
    for row, y in enumerate(scores):
        for i in range(n_class):
            if i == np.floor(y) + 1:
                encoded[row, i] = y - np.floor(y)
            if i == np.floor(y):
                encoded[row, i] = np.floor(y) - y + 1
    return encoded


SCORES = [0.0, 0.2, 1.0, 2.5, 3.6, 3.8, 4.0, 4.75, 5.0]


def test_soft_labels_are_the_released_codes_encoding():
    np.testing.assert_allclose(soft_labels(torch.tensor(SCORES)).numpy(), released_encoding(SCORES), atol=1e-6)


def test_a_soft_label_is_a_distribution_whose_expected_score_is_the_score():
    target = soft_labels(torch.tensor(SCORES))
    torch.testing.assert_close(target.sum(-1), torch.ones(len(SCORES)))
    torch.testing.assert_close(target @ SCORE_CLASSES, torch.tensor(SCORES))


def test_the_target_decides_the_heads_width():
    assert n_outputs(STSB, "soft_labels") == 6 and n_outputs(STSB, "regression") == 1
    assert n_outputs(TASKS["mrpc"], "soft_labels") == 2 and n_outputs(TASKS["race"], "soft_labels") == 1


def test_soft_label_loss_is_the_kl_divergence_up_to_the_targets_entropy():
    torch.manual_seed(0)
    logits, scores = torch.randn(4, 6), torch.tensor([0.4, 2.0, 3.3, 5.0])
    target = soft_labels(scores)
    kl = torch.nn.functional.kl_div(logits.log_softmax(-1), target, reduction="batchmean")
    entropy = -(target * target.clamp_min(1e-12).log()).sum(-1).mean()
    torch.testing.assert_close(task_loss(STSB, logits, scores), kl + entropy)


def test_regression_loss_is_squared_error_on_the_score_over_5():
    outputs = torch.tensor([[0.2], [0.9]])
    expected = ((0.2 - 1.0 / 5) ** 2 + (0.9 - 4.5 / 5) ** 2) / 2
    assert task_loss(STSB, outputs, torch.tensor([1.0, 4.5])).item() == pytest.approx(expected, abs=1e-7)


def test_predicted_score_is_the_expected_score_or_the_scaled_output():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [-50.0, -50.0, -50.0, 50.0, -50.0, -50.0]])
    assert predictions(STSB, logits).tolist() == pytest.approx([2.5, 3.0], abs=1e-5)
    assert predictions(STSB, torch.tensor([[0.5], [0.1]])).tolist() == pytest.approx([2.5, 0.5])

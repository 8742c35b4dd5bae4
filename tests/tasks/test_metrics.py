"""gpt1.tasks.metrics.score against independent computations from each metric's definition (numpy only, plus
scipy.stats.rankdata for tied ranks)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from gpt1.tasks.metrics import score
from gpt1.tasks.spec import METRICS

TOL = 1e-12

BINARY = [
    ([0, 1, 1, 0, 1, 0, 0, 1], [0, 1, 0, 0, 1, 1, 0, 1]),
    ([1, 1, 1, 0, 0, 1, 0, 1, 1, 0], [1, 0, 1, 0, 1, 1, 1, 1, 0, 0]),
    ([0, 0, 0, 0, 1, 1, 1], [0, 0, 1, 0, 1, 0, 1]),
    ([1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]),  # all wrong: accuracy 0, MCC -1
    ([1, 0, 0, 1, 1], [1, 0, 0, 1, 1]),  # all right: accuracy 1, F1 1, MCC 1
]
MULTICLASS = [
    ([0, 1, 2, 2, 1, 0, 2, 1, 0], [0, 2, 2, 1, 1, 0, 2, 0, 0]),
    ([2, 2, 1, 0, 0, 1, 2, 0], [2, 1, 1, 0, 2, 1, 2, 0]),
]
REAL = [
    ([0.0, 1.2, 2.5, 3.1, 4.8, 5.0, 2.2], [0.3, 1.0, 2.9, 2.7, 4.1, 4.9, 2.0]),
    ([3.6, 0.0, 4.2, 2.25, 1.8, 5.0, 2.25, 0.4], [3.1, 0.5, 3.9, 2.0, 2.6, 4.4, 1.7, 0.4]),  # ties in y_true
    ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2.0, 1.0, 4.0, 3.0, 6.0, 5.0]),
    ([1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 4.0], [0.5, 0.2, 0.2, 0.9, 0.7, 0.9, 0.1]),  # ties in both
    ([0.1, 0.4, 0.2, 0.8], [-2.0, -0.5, -1.5, 3.0]),
]


def _confusion(y_true, y_pred):
    t, p = np.asarray(y_true), np.asarray(y_pred)
    tp = float(np.sum((t == 1) & (p == 1)))
    tn = float(np.sum((t == 0) & (p == 0)))
    fp = float(np.sum((t == 0) & (p == 1)))
    fn = float(np.sum((t == 1) & (p == 0)))
    return tp, tn, fp, fn


def ref_accuracy(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def ref_f1(y_true, y_pred):
    """2PR / (P + R) = 2TP / (2TP + FP + FN); 0 when there is no true positive."""
    tp, _, fp, fn = _confusion(y_true, y_pred)
    return 2 * tp / (2 * tp + fp + fn)


def ref_matthews_binary(y_true, y_pred):
    tp, tn, fp, fn = _confusion(y_true, y_pred)
    return (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))


def ref_matthews_general(y_true, y_pred):
    """Gorodkin's R_K from the confusion matrix C (rows: true, columns: predicted)."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    k = int(max(t.max(), p.max())) + 1
    c = np.zeros((k, k))
    np.add.at(c, (t, p), 1)
    s, correct = c.sum(), np.trace(c)
    t_k, p_k = c.sum(axis=1), c.sum(axis=0)
    return (correct * s - p_k @ t_k) / np.sqrt((s**2 - p_k @ p_k) * (s**2 - t_k @ t_k))


def ref_pearson(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    dx, dy = x - x.mean(), y - y.mean()
    return float(np.sum(dx * dy) / np.sqrt(np.sum(dx * dx) * np.sum(dy * dy)))


def ref_spearman(x, y):
    return ref_pearson(rankdata(x), rankdata(y))


def close(metric, y_true, y_pred, expected):
    got = score(metric, y_true, y_pred)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=0, abs=TOL), (metric, y_true, y_pred)


@pytest.mark.parametrize("y_true, y_pred", BINARY)
def test_binary_metrics(y_true, y_pred):
    close("accuracy", y_true, y_pred, ref_accuracy(y_true, y_pred))
    close("f1", y_true, y_pred, ref_f1(y_true, y_pred))
    close("matthews", y_true, y_pred, ref_matthews_binary(y_true, y_pred))
    # the binary formula is the general one's two-class case
    assert ref_matthews_binary(y_true, y_pred) == pytest.approx(ref_matthews_general(y_true, y_pred), abs=TOL)


def test_binary_values_by_hand():
    # TP=3 TN=3 FP=1 FN=1 -> accuracy 6/8, F1 = 6/8, MCC = (9 - 1) / sqrt(4**4) = 0.5
    y_true, y_pred = BINARY[0]
    close("accuracy", y_true, y_pred, 0.75)
    close("f1", y_true, y_pred, 0.75)
    close("matthews", y_true, y_pred, 0.5)
    close("accuracy", *BINARY[3], 0.0)
    close("matthews", *BINARY[3], -1.0)
    for metric in ("accuracy", "f1", "matthews"):
        close(metric, *BINARY[4], 1.0)


def test_f1_is_of_the_positive_class():
    y_true, y_pred = [1, 1, 0, 0, 0, 0], [1, 0, 1, 1, 0, 0]  # class 1: TP=1 FP=2 FN=1 -> 2*1/(2+2+1) = 0.4
    close("f1", y_true, y_pred, 0.4)
    # class 0 would give TP=2 FP=1 FN=2 -> 4/7; the score is not that
    assert score("f1", y_true, y_pred) != pytest.approx(4 / 7)


@pytest.mark.parametrize("y_true, y_pred", MULTICLASS)
def test_multiclass_accuracy_and_matthews(y_true, y_pred):
    close("accuracy", y_true, y_pred, ref_accuracy(y_true, y_pred))
    close("matthews", y_true, y_pred, ref_matthews_general(y_true, y_pred))


@pytest.mark.parametrize("y_true, y_pred", REAL)
def test_correlations(y_true, y_pred):
    close("pearson", y_true, y_pred, ref_pearson(y_true, y_pred))
    close("spearman", y_true, y_pred, ref_spearman(y_true, y_pred))


def test_correlation_values_by_hand():
    close("pearson", [1.0, 2.0, 3.0], [2.0, 4.0, 6.0], 1.0)
    close("pearson", [1.0, 2.0, 3.0], [3.0, 2.0, 1.0], -1.0)
    # monotone but not linear: Spearman 1, Pearson below 1
    x, y = [1.0, 2.0, 3.0, 4.0], [1.0, 8.0, 27.0, 64.0]
    close("spearman", x, y, 1.0)
    assert score("pearson", x, y) < 1.0
    close("pearson", x, y, ref_pearson(x, y))


def test_accepts_numpy_arrays():
    y_true, y_pred = REAL[1]
    close("pearson", np.array(y_true), np.array(y_pred), ref_pearson(y_true, y_pred))
    y_true, y_pred = BINARY[1]
    close("matthews", np.array(y_true), np.array(y_pred), ref_matthews_binary(y_true, y_pred))


def test_every_registered_metric_is_known():
    for metric in METRICS:
        score(metric, [0, 1, 1, 0], [0, 1, 0, 0])


@pytest.mark.parametrize("metric", ["auc", "Accuracy", "", "f1_macro"])
def test_unknown_metric_raises(metric):
    with pytest.raises(ValueError, match="unknown metric"):
        score(metric, [0, 1], [0, 1])

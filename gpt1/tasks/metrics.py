"""Task metrics, from scikit-learn and scipy. Values are fractions (accuracy 0.913), not percentages."""

from __future__ import annotations

from collections.abc import Sequence


def score(metric: str, y_true: Sequence, y_pred: Sequence) -> float:
    """One metric of predictions against gold labels (F1 of the positive class, label 1)."""
    from scipy import stats
    from sklearn import metrics

    if metric == "accuracy":
        return float(metrics.accuracy_score(y_true, y_pred))
    if metric == "f1":
        return float(metrics.f1_score(y_true, y_pred))
    if metric == "matthews":
        return float(metrics.matthews_corrcoef(y_true, y_pred))
    if metric == "pearson":
        return float(stats.pearsonr(y_true, y_pred).statistic)
    if metric == "spearman":
        return float(stats.spearmanr(y_true, y_pred).statistic)
    raise ValueError(f"unknown metric {metric!r}")

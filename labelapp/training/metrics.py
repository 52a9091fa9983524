"""Honest per-version metrics from plain arrays: agreement with unseen labels, per-class precision/recall, confusion."""

from __future__ import annotations

import numpy as np


def agreement(true: np.ndarray, predicted: np.ndarray) -> float | None:
    """Share of rows where the prediction equals the label; ``None`` when there are no rows."""
    if len(true) == 0:
        return None
    return float(np.mean(np.asarray(true) == np.asarray(predicted)))


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [num_classes, num_classes]: rows are the true class index, columns the predicted one."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def per_class_report(matrix: np.ndarray, class_names: dict[int, str]) -> dict[str, dict[str, float | int | None]]:
    """``{name: {"precision", "recall", "support"}}`` from a confusion matrix; ``None`` where undefined (0/0)."""
    report: dict[str, dict[str, float | int | None]] = {}
    for index, name in sorted(class_names.items()):
        true_positive = int(matrix[index, index])
        predicted = int(matrix[:, index].sum())
        support = int(matrix[index, :].sum())
        report[name] = {
            "precision": true_positive / predicted if predicted else None,
            "recall": true_positive / support if support else None,
            "support": support,
        }
    return report

"""Stage 1 — the model and the data: size, inputs, quality on the given data, class balance."""
from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from .predictions import Predictions
from .subject import Subject, describe_inputs


def overview(subject: Subject, predictions: Predictions) -> dict[str, Any]:
    """Facts about the model and the data, as plain values (JSON-ready).

    Classification with labels: accuracy, balanced accuracy, the majority-class rate (what a
    model that always says the commonest class scores), per-class counts, the confusion matrix.
    Regression with labels: RMSE, MAE and R^2.
    """
    from sklearn import metrics

    facts: dict[str, Any] = {
        "model": model_facts(subject),
        "data": {"source": subject.data.source, "inputs": describe_inputs(subject.data), "layout": subject.layout,
                 "rows": len(subject.data), "skipped": list(subject.data.skipped),
                 "categorical columns": list((subject.data.categories or {}).keys())},
        "task": subject.task,
    }
    labels = predictions.labels
    if labels is None:
        facts["quality"] = {"note": "no labels given: accuracy cannot be measured"}
        return facts
    if subject.task == "regression":
        facts["quality"] = {"rmse": float(np.sqrt(metrics.mean_squared_error(labels, predictions.predicted))),
                            "mae": float(metrics.mean_absolute_error(labels, predictions.predicted)),
                            "r2": float(metrics.r2_score(labels, predictions.predicted))}
        return facts
    classes = list(range(len(subject.class_names)))
    counts = np.bincount(labels.astype(int), minlength=len(classes))
    facts["quality"] = {
        "accuracy": float(metrics.accuracy_score(labels, predictions.predicted)),
        "balanced accuracy": float(metrics.balanced_accuracy_score(labels, predictions.predicted)),
        "majority-class rate": float(counts.max() / counts.sum()),
    }
    facts["class balance"] = {subject.class_names[c]: int(counts[c]) for c in classes if counts[c] or len(classes) <= 20}
    if len(classes) <= 20:
        facts["confusion"] = metrics.confusion_matrix(labels, predictions.predicted, labels=classes).tolist()
    return facts


def model_facts(subject: Subject) -> dict[str, Any]:
    """Kind, size and origin of the model."""
    model = subject.model
    facts: dict[str, Any] = {"name": subject.name, "kind": type(model).__name__,
                             "access": "black box (outputs only)" if subject.black_box else "gradients and layers"}
    if isinstance(model, nn.Module):
        facts["parameters"] = int(sum(p.numel() for p in model.parameters()))
        facts["layers with parameters"] = sum(1 for m in model.modules() if any(True for _ in m.parameters(recurse=False)))
    facts.update({k: v for k, v in subject.source.items() if isinstance(v, (str, int, float, bool))})
    if subject.task == "classification":
        facts["classes"] = len(subject.class_names)
    return facts

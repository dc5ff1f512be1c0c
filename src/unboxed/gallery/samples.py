"""Which inputs of a zoo model the gallery explains, and the labels under them."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..model import adapt

def pick_samples(zoo_model, n: int) -> list[int]:
    """`n` held-out samples, taking classes in turn (first of each class, then second, ...) when labels are known."""
    total = len(zoo_model.inputs)
    n = min(int(n), total)
    if zoo_model.labels is None:
        return list(range(n))
    labels = np.asarray(zoo_model.labels)
    queues = [list(np.flatnonzero(labels == c)) for c in dict.fromkeys(labels.tolist())]
    chosen: list[int] = []
    while len(chosen) < n:
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(int(queue.pop(0)))
    return chosen


def take(inputs, rows: Sequence[int]):
    """Rows of a zoo model's inputs: a tensor indexed, or a list of texts picked.

    >>> take(["a", "b", "c"], [2, 0]), take(torch.arange(3), [2, 0]).tolist()
    (['c', 'a'], [2, 0])
    """
    return inputs[list(rows)] if isinstance(inputs, torch.Tensor) else [inputs[i] for i in rows]


def probabilities(zoo_model, inputs) -> torch.Tensor:
    """The model's class probabilities: its outputs when they are probabilities (scikit-learn's
    predict_proba), else their softmax (logits of torch models).

    >>> from unboxed import zoo
    >>> round(probabilities(zoo.load("breast_cancer_mlp"), torch.zeros(1, 30)).sum().item(), 6)
    1.0
    """
    adapter = adapt(zoo_model.model)
    batch = adapter.check_inputs(inputs) if isinstance(inputs, torch.Tensor) else np.asarray(inputs, dtype=str)
    outputs = adapter.outputs(batch).detach().cpu().double()
    if bool(outputs.min() >= 0) and torch.allclose(outputs.sum(1), torch.ones(len(outputs), dtype=outputs.dtype), atol=1e-6):
        return outputs
    return torch.softmax(outputs, dim=1)


def sample_labels(zoo_model, rows: Sequence[int], inputs) -> list[str]:
    """A line or two per sample: its name or row, the true class if known, and the prediction."""
    confidence, predicted = probabilities(zoo_model, inputs).max(dim=1)
    names = zoo_model.class_names
    labels = []
    for i, row in enumerate(rows):
        name = zoo_model.sample_names[row] if zoo_model.sample_names else f"#{row}"
        truth = f", true {names[int(zoo_model.labels[row])]}" if zoo_model.labels is not None else ""
        pred = _short(names[int(predicted[i])])
        labels.append(f"{name}{truth}\npredicted {pred} ({float(confidence[i]):.0%})")
    return labels


def _short(text: str, width: int = 22) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"

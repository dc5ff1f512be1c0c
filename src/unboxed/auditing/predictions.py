"""The model's predictions on the audited data, computed once and shared by every stage."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..model import adapt
from .subject import Subject


@dataclass
class Predictions:
    """`outputs` (n, k) raw model outputs; for classification `probabilities` (n, k), `predicted`
    class and `confidence` (its probability) and `margin` (top minus runner-up); for regression
    `predicted` holds the values and the rest is None. `labels`: the true classes or values, if known."""

    outputs: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray | None = None
    confidence: np.ndarray | None = None
    margin: np.ndarray | None = None
    labels: np.ndarray | None = None

    @property
    def correct(self) -> np.ndarray | None:
        """Whether each prediction is right (classification with labels), else None."""
        return None if self.labels is None or self.probabilities is None else self.predicted == self.labels


def predict(subject: Subject) -> Predictions:
    """Run the model over all the data (batched by the adapter).

    >>> from unboxed.dataset import Dataset
    >>> subject = Subject.create("m", torch.nn.Linear(2, 3), Dataset(torch.zeros(4, 2), "tabular"))
    >>> p = predict(subject); p.probabilities.shape, bool(np.allclose(p.probabilities.sum(1), 1))
    ((4, 3), True)
    """
    adapter = adapt(subject.model)
    inputs = subject.inputs
    batch = adapter.check_inputs(inputs) if isinstance(inputs, torch.Tensor) else np.asarray(inputs, dtype=str)
    with torch.no_grad():
        outputs = adapter.outputs(batch).detach().cpu().double()
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    labels = None if subject.labels is None else subject.labels.detach().cpu().numpy()
    if subject.task == "regression":
        return Predictions(outputs=outputs.numpy(), predicted=outputs[:, 0].numpy(), labels=labels)
    probabilities = as_probabilities(outputs)
    top = torch.topk(probabilities, k=min(2, probabilities.shape[1]), dim=1).values
    margin = top[:, 0] - top[:, 1] if top.shape[1] > 1 else top[:, 0]
    return Predictions(outputs=outputs.numpy(), predicted=probabilities.argmax(1).numpy(), probabilities=probabilities.numpy(),
                       confidence=top[:, 0].numpy(), margin=margin.numpy(), labels=labels)


def as_probabilities(outputs: torch.Tensor) -> torch.Tensor:
    """Outputs that already are probabilities (scikit-learn's predict_proba) as they are, else their softmax.

    >>> as_probabilities(torch.tensor([[0.2, 0.8]], dtype=torch.float64)).tolist(), as_probabilities(torch.zeros(1, 2)).tolist()
    ([[0.2, 0.8]], [[0.5, 0.5]])
    """
    ones = torch.ones(len(outputs), dtype=outputs.dtype)
    if bool(outputs.min() >= 0) and torch.allclose(outputs.sum(1), ones, atol=1e-6):
        return outputs
    return torch.softmax(outputs, dim=1)

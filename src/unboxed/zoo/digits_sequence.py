"""A 1-D CNN on scikit-learn's handwritten digits read as sequences: the 8x8 image row by row, 64 steps."""
from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from torch import nn

from .base import ZooModel
from .training import cached_classifier, init_weights, split

LENGTH = 64
BACKGROUND_ROWS = 50  # training sequences that maskers may draw removed steps from


class DigitsSequenceCNN(nn.Module):
    """Two 1-D conv layers (kernel 5) over the 64-step sequence, max-pool, average pool to 8 steps, linear head.

    >>> DigitsSequenceCNN()(torch.zeros(2, LENGTH)).shape
    torch.Size([2, 10])
    """

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv1, self.relu1 = nn.Conv1d(1, 16, 5, padding=2), nn.ReLU()
        self.pool = nn.MaxPool1d(2)
        self.conv2, self.relu2 = nn.Conv1d(16, 32, 5, padding=2), nn.ReLU()
        self.gap = nn.AdaptiveAvgPool1d(8)
        self.fc = nn.Linear(32 * 8, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x[:, None, :] - 0.3) / 0.4  # (n, 64) pixels in [0, 1] -> one centred channel
        x = self.relu2(self.conv2(self.pool(self.relu1(self.conv1(x)))))
        return self.fc(self.gap(x).flatten(1))


def digits_sequence(seed: int = 0, epochs: int = 15) -> ZooModel:
    """The digits 1-D CNN (cached) and its held-out sequences (n, 64) of pixels in [0, 1];
    `background` is 50 training sequences. To switch steps off as LEMNA does, use
    `TabularMasker(fill=0.0)` (a blank pixel).

    >>> zoo = digits_sequence()
    >>> zoo.inputs.shape[1], zoo.layout, zoo.facts["test_accuracy"] > 0.95
    (64, 'sequence', True)
    """
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)  # images flattened row by row
    y = torch.tensor(data.target, dtype=torch.long)
    train, test = split(len(y), 0.25, seed, data.target)
    model = init_weights(DigitsSequenceCNN(), seed)
    facts = cached_classifier("digits_sequence", {"seed": seed, "epochs": epochs, "version": 1}, model, x, y, train, test,
                              epochs=epochs, lr=5e-3, batch_size=64, seed=seed)
    return ZooModel(
        name="digits_sequence", model=model, inputs=x[test], labels=y[test], class_names=[str(d) for d in range(10)],
        layout="sequence", facts=facts, feature_names=[f"t{t} (row {t // 8}, col {t % 8})" for t in range(LENGTH)],
        background=x[train[:BACKGROUND_ROWS]],
    )

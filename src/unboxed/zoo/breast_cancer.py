"""An MLP on scikit-learn's breast-cancer data (a medical task): standardised features in, 2 logits out."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from torch import nn

from .base import ZooModel
from .training import cached_classifier, init_weights, split

BACKGROUND_ROWS = 50  # training rows that maskers draw removed features from: cost grows linearly with them


class BreastCancerMLP(nn.Module):
    def __init__(self, n_features: int = 30, hidden: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def breast_cancer_mlp(seed: int = 0, epochs: int = 60) -> ZooModel:
    """The breast-cancer MLP (cached) and its held-out rows, standardised with the training statistics;
    `background` is 50 training rows (drawn at random by the seeded split).

    >>> zoo = breast_cancer_mlp()
    >>> zoo.facts["test_accuracy"] > 0.93, tuple(zoo.background.shape)
    (True, (50, 30))
    """
    data = load_breast_cancer()
    train, test = split(len(data.target), 0.25, seed, data.target)
    mean, std = data.data[train].mean(0), data.data[train].std(0)
    x = torch.tensor((data.data - mean) / std, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.long)
    model = init_weights(BreastCancerMLP(x.shape[1]), seed)
    facts = cached_classifier("breast_cancer_mlp", {"seed": seed, "epochs": epochs, "version": 1}, model, x, y, train, test,
                              epochs=epochs, lr=3e-3, batch_size=32, seed=seed, weight_decay=1e-4)
    facts = {**facts, "feature_mean": np.round(mean, 6).tolist(), "feature_std": np.round(std, 6).tolist()}
    return ZooModel(
        name="breast_cancer_mlp", model=model, inputs=x[test], labels=y[test], class_names=[str(name) for name in data.target_names],
        layout="tabular", facts=facts, feature_names=[str(name) for name in data.feature_names],
        background=x[train[:BACKGROUND_ROWS]],
    )

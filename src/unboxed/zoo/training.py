"""Seeded, deterministic initialisation and training loops shared by the zoo's small models."""
from __future__ import annotations

import math
from contextlib import contextmanager, nullcontext
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from .cache import cached_weights


def init_weights(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialise every Linear/Conv layer (PyTorch's default scheme) from a local generator."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                bound = 1 / math.sqrt(fan_in)
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    return model


def fit_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
                   batch_size: int, seed: int, weight_decay: float = 0.0) -> None:
    """Adam on cross-entropy with seeded shuffling; leaves the model in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for rows in order.split(batch_size):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x[rows]), y[rows]).backward()
            optimiser.step()
        schedule.step()
    model.eval()
    for param in model.parameters():
        param.grad = None


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def split(n: int, test_fraction: float, seed: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test indices."""
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(n), test_size=test_fraction, random_state=seed, stratify=labels)


def cached_classifier(name: str, recipe: dict, model: nn.Module, x: torch.Tensor, y: torch.Tensor, train: np.ndarray,
                      test: np.ndarray, *, epochs: int, lr: float, batch_size: int, seed: int, weight_decay: float = 0.0,
                      single_thread: bool = False, held_out: torch.Tensor | None = None,
                      more_facts: Callable[[nn.Module], dict] | None = None) -> dict:
    """`model` trained on x[train] by `fit_classifier`, or its weights loaded from the cache for
    (name, recipe); left in eval mode. Returns the facts: held-out accuracy on x[test] (against
    `held_out` labels when given), the training size, and `more_facts(model)` when training."""
    def train_model(net: nn.Module) -> dict:
        with one_thread() if single_thread else nullcontext():
            fit_classifier(net, x[train], y[train], epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                           weight_decay=weight_decay)
        labels = y[test] if held_out is None else held_out
        facts = {"test_accuracy": accuracy(net, x[test], labels), "train_size": len(train)}
        return {**facts, **(more_facts(net) if more_facts is not None else {})}

    facts = cached_weights(name, recipe, model, train_model)
    model.eval()
    return facts


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread for a while: small models gain nothing from threads, and on a busy
    2-core machine their spinning made training up to 10x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

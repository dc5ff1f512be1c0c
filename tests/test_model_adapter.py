"""The adapter leaves the model exactly as it was, batches under the budget, and takes black boxes."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

import unboxed
from unboxed.attribution import (
    Deconvolution, GuidedBackprop, InputXGradient, IntegratedGradients, Saliency, SmoothGrad,
)

GRADIENT_METHODS = [
    (Saliency, {}), (InputXGradient, {}), (IntegratedGradients, {"n_steps": 4}), (GuidedBackprop, {}),
    (Deconvolution, {}), (SmoothGrad, {"n_samples": 3}),
]


class BatchNormNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.norm = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.fc(self.drop(torch.relu(self.norm(self.conv(x)))).flatten(1))


def snapshot(model):
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "modes": [m.training for m in model.modules()],
        "requires": [p.requires_grad for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "grad_ids": [id(p.grad) for p in model.parameters()],
    }


def assert_unchanged(model, before):
    after = snapshot(model)
    assert before["state"].keys() == after["state"].keys()
    for key in before["state"]:
        assert torch.equal(before["state"][key], after["state"][key]), key
    assert after["modes"] == before["modes"]
    assert after["requires"] == before["requires"]
    assert after["grad_ids"] == before["grad_ids"]
    for old, new in zip(before["grads"], after["grads"]):
        assert (old is None and new is None) or torch.equal(old, new)
    for module in model.modules():
        for hooks in ("_forward_hooks", "_backward_hooks", "_forward_pre_hooks", "_backward_pre_hooks"):
            assert not getattr(module, hooks), f"{hooks} left on {type(module).__name__}"


def prepared_model():
    model = BatchNormNet()
    model.train()  # BatchNorm would update running stats, dropout would randomise, if left so
    model.conv.weight.requires_grad_(False)
    model.fc.weight.grad = torch.full_like(model.fc.weight, 0.25)
    return model


@pytest.mark.parametrize("method,settings", GRADIENT_METHODS)
def test_model_unchanged_after_method(method, settings):
    model = prepared_model()
    before = snapshot(model)
    inputs = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    first = method(model, **settings).explain(inputs, target=1).values
    assert_unchanged(model, before)
    second = method(model, **settings).explain(inputs, target=1).values
    np.testing.assert_allclose(first, second, atol=1e-6)  # eval mode inside: dropout off


@pytest.mark.parametrize("method,settings", GRADIENT_METHODS)
def test_model_unchanged_when_method_raises_midway(method, settings):
    model = prepared_model()
    before = snapshot(model)
    calls = {"n": 0}

    def failing_target(outputs):
        calls["n"] += 1
        if calls["n"] > 1:  # target resolution passes; the explanation fails inside
            raise RuntimeError("boom")
        return outputs[:, 0]

    inputs = torch.randn(4, 1, 8, 8)
    with pytest.raises(RuntimeError, match="boom"):
        method(model, **settings).explain(inputs, target=failing_target)
    assert_unchanged(model, before)


def test_hooks_removed_when_forward_raises_inside_preserved():
    model = prepared_model()
    before = snapshot(model)
    adapter = unboxed.adapt(model)
    with pytest.raises(ValueError):
        with adapter.preserved():
            model.fc.register_forward_hook(lambda *args: None)
            model.conv.register_full_backward_hook(lambda *args: None)
            model.conv.weight.requires_grad_(True)
            model.fc.weight.grad = None
            model.norm.running_mean += 1
            raise ValueError("inside")
    assert_unchanged(model, before)


def test_memory_budget_sets_chunk_size_and_results_do_not_depend_on_it(digits):
    small = unboxed.adapt(digits.model, memory_budget=200_000)
    large = unboxed.adapt(digits.model, memory_budget=10**9)
    inputs = digits.inputs[:12]
    assert small.chunk_size(inputs, with_grad=True) < 12 <= large.chunk_size(inputs, with_grad=True)
    a = IntegratedGradients(small, n_steps=10).explain(inputs).values
    b = IntegratedGradients(large, n_steps=10).explain(inputs).values
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_chunks_follow_the_budget(digits):
    """Every model call stays within the chunk size the budget allows."""
    sizes = []
    handle = digits.model.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    try:
        adapter = unboxed.adapt(digits.model, memory_budget=300_000)
        limit = adapter.chunk_size(digits.inputs[:1], with_grad=True)
        IntegratedGradients(adapter, n_steps=16).explain(digits.inputs[:5])
    finally:
        handle.remove()
    assert max(sizes) <= max(limit, 5) and sum(sizes) >= 5 * 16


def test_black_box_callable_and_sklearn_predict(cancer):
    x = cancer.inputs.numpy()
    clf = LogisticRegression(max_iter=500).fit(x, cancer.labels.numpy())
    adapter = unboxed.adapt(clf)
    np.testing.assert_allclose(adapter.predict(x).numpy(), clf.predict_proba(x), atol=1e-6)
    assert not adapter.has_gradients
    callable_adapter = unboxed.adapt(lambda batch: batch.sum(axis=1))
    np.testing.assert_allclose(callable_adapter.predict(x)[:, 0].numpy(), x.sum(1), rtol=1e-5)


def test_layer_lookup(digits):
    adapter = unboxed.adapt(digits.model)
    assert adapter.layer("conv3") is digits.model.conv3
    with pytest.raises(unboxed.LayerNotFoundError, match="did you mean 'conv3'"):
        adapter.layer("conv_3")


def test_fingerprint_tracks_weights():
    model = nn.Linear(3, 2)
    first = unboxed.adapt(model).fingerprint()
    assert unboxed.adapt(model).fingerprint() == first
    with torch.no_grad():
        model.weight[0, 0] += 1
    assert unboxed.adapt(model).fingerprint() != first


def test_regression_model_with_single_output():
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    inputs = torch.randn(3, 4)
    result = IntegratedGradients(model, n_steps=64).explain(inputs)
    assert result.target == [0, 0, 0]
    with torch.no_grad():
        gap = (model(inputs) - model(torch.zeros_like(inputs)))[:, 0]
    np.testing.assert_allclose(result.values.sum(1), gap.numpy(), atol=1e-4)

"""Occlusion: agreement with Captum, exact values on linear models, black boxes, chunking, errors, model hygiene."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import close
import torch
from torch import nn

import unboxed
from unboxed import adapt
from unboxed.attribution import Occlusion
from unboxed.attribution.occlusion import window_geometry
from unboxed.errors import InputError
from unboxed.targets import Target

captum_attr = pytest.importorskip("captum.attr")




def captum_occlusion(model, x, target, window, stride, baselines=None):
    return captum_attr.Occlusion(model).attribute(
        x, sliding_window_shapes=window, strides=stride, baselines=baselines, target=target, perturbations_per_eval=512
    ).detach()


# --- agreement with Captum ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "window, stride, captum_window, captum_stride",
    [
        ((1, 4, 4), (1, 2, 2), (1, 4, 4), (1, 2, 2)),  # overlapping windows
        ((1, 5, 3), (1, 3, 2), (1, 5, 3), (1, 3, 2)),  # windows cut at the border
        ((6, 6), 4, (1, 6, 6), (1, 4, 4)),  # short form: all channels, one integer stride
    ],
)
def test_matches_captum_on_digits(digits_batch, window, stride, captum_window, captum_stride):
    model, x, t = digits_batch
    ours = Occlusion(model, window=window, stride=stride).explain(x, t)
    theirs = captum_occlusion(model, x, t, captum_window, captum_stride)
    close(ours.values, theirs)
    assert np.abs(ours.values).max() > 0
    np.testing.assert_allclose(ours.scores, model(x).gather(1, t[:, None])[:, 0].detach(), rtol=1e-5)


def test_matches_captum_with_an_image_baseline(digits_batch):
    model, x, t = digits_batch
    baseline = torch.linspace(0, 1, 32)[None, None, :].expand(1, 32, 32)  # one sample's shape
    ours = Occlusion(model, window=(1, 4, 4), stride=(1, 4, 4), baseline=baseline).explain(x, t).values
    theirs = captum_occlusion(model, x, t, (1, 4, 4), (1, 4, 4), baselines=baseline[None].expand_as(x))
    close(ours, theirs)


def test_matches_captum_on_efficientnet(effnet_batch):
    model, x, t = effnet_batch
    ours = Occlusion(model, window=(56, 56)).explain(x, t).values  # stride = window: 16 patches
    theirs = captum_occlusion(model, x, t, (3, 56, 56), (3, 56, 56))
    close(ours, theirs)
    assert ours.shape == tuple(x.shape)


# --- exact values -------------------------------------------------------------------------------
def test_linear_model_window_one_is_weight_times_input():
    generator = torch.Generator().manual_seed(0)
    model = nn.Linear(6, 3).double()
    x = torch.randn(10, 6, generator=generator, dtype=torch.float64)
    target = torch.arange(10) % 3
    values = Occlusion(model, window=1).explain(x, target).values
    expected = (model.weight[target] * x).detach().numpy()
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-12)
    # a baseline b gives w * (x - b); overlapping windows of an additive model average window sums
    b = torch.randn(6, generator=generator, dtype=torch.float64)
    shifted = Occlusion(model, window=1, baseline=b).explain(x, target).values
    np.testing.assert_allclose(shifted, (model.weight[target] * (x - b)).detach().numpy(), rtol=1e-12, atol=1e-12)
    wide = Occlusion(model, window=2, stride=1).explain(x, target).values
    terms = expected
    sums = terms[:, :-1] + terms[:, 1:]  # drop of window starting at j covers j, j+1
    reference = np.zeros_like(terms)
    reference[:, 0], reference[:, -1] = sums[:, 0], sums[:, -1]
    reference[:, 1:-1] = (sums[:, :-1] + sums[:, 1:]) / 2
    np.testing.assert_allclose(wide, reference, rtol=1e-12, atol=1e-12)


def test_black_box_callable_equals_torch(digits_batch):
    model, x, t = digits_batch

    def black_box(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(batch)).numpy()

    torch_result = Occlusion(model, window=(1, 4, 4), stride=(1, 4, 4)).explain(x, t).values
    box_result = Occlusion(black_box, window=(1, 4, 4), stride=(1, 4, 4)).explain(x.numpy(), t).values
    close(box_result, torch_result, rtol=1e-5)
    assert unboxed.get_method("occlusion") is Occlusion
    assert [m.name for m in unboxed.methods(access="black-box")].count("occlusion") == 1


def test_scikit_learn_model():
    from sklearn.linear_model import LogisticRegression

    generator = np.random.default_rng(0)
    X = generator.normal(size=(60, 4))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    values = Occlusion(clf, window=1).explain(X[:5], target=1).values
    occluded = np.repeat(X[:5, None, :], 4, axis=1)
    occluded[:, np.arange(4), np.arange(4)] = 0.0
    expected = clf.predict_proba(X[:5])[:, 1:] - clf.predict_proba(occluded.reshape(-1, 4))[:, 1].reshape(5, 4)
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)


def test_chunks_are_bounded_and_every_window_is_evaluated_once(digits_batch, capsys):
    model, x, t = digits_batch
    x, t = x[:4], t[:4]  # f(x) fits in one chunk of 7
    sizes = []

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, batch):
            sizes.append(len(batch))
            return self.inner(batch)

    adapter = adapt(Recorder(), batch_size=7)
    values, extras = Occlusion(adapter, window=(8, 8), show_progress=True).attribute(x, Target(index=t))
    assert max(sizes) <= 7
    n_windows = 16
    # f(x) once, then one evaluation per (sample, window) pair, in full chunks but the last
    assert sum(sizes) == len(x) + len(x) * n_windows
    assert sizes[1:-1] == [7] * (len(sizes) - 2)
    close(values, Occlusion(model, window=(8, 8)).explain(x, t).values, rtol=1e-5)
    assert "occlusion" in capsys.readouterr().err  # the progress bar


def test_window_geometry_rules():
    assert window_geometry((3, 32, 32), (4, 4), None) == ((3, 4, 4), (3, 4, 4))
    assert window_geometry((3, 32, 32), (1, 4, 4), (1, 2, 2)) == ((1, 4, 4), (1, 2, 2))
    assert window_geometry((3, 32, 32), (4, 4), 2) == ((3, 4, 4), (3, 2, 2))
    assert window_geometry((3, 32, 32), None, None) == ((1, 1, 1), (1, 1, 1))
    assert window_geometry((10,), 3, 2) == ((3,), (2,))
    assert window_geometry((5, 7), (7,), (7,)) == ((5, 7), (5, 7))


# --- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings, message",
    [
        ({"window": (1, 40, 4)}, "larger than the input"),
        ({"window": (1, 1, 4, 4)}, "has 4 dims but each sample has only 3"),
        ({"window": 4}, "ambiguous"),
        ({"window": (1, 0, 4)}, "integer >= 1"),
        ({"window": (4, 4), "stride": (8, 8)}, "never occluded"),
        ({"window": (1, 4, 4), "stride": (1, 8, 4)}, "never occluded"),
        ({"window": (4, 4), "stride": (1, 2, 2)}, "one entry per window dim"),
        ({"window": (4, 4), "baseline": torch.zeros(2, 32, 32)}, "does not broadcast"),
        ({"window": "big"}, "integer >= 1"),
    ],
)
def test_bad_settings_are_explained(digits_batch, settings, message):
    model, x, t = digits_batch
    with pytest.raises(InputError, match=message):
        Occlusion(model, **settings).explain(x[:1], t[:1])


# --- the model is left as it was --------------------------------------------------------------
def _hooks(model):
    return [
        (name, attr) for name, m in model.named_modules()
        for attr in ("_forward_hooks", "_backward_hooks", "_forward_pre_hooks", "_backward_pre_hooks")
        if getattr(m, attr)
    ]


def test_model_unchanged_also_when_the_target_raises_midway(digits_batch):
    model, x, t = digits_batch
    model = copy.deepcopy(model).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Occlusion(model, window=(8, 8)).explain(x, t)
    calls = []

    def target(out):
        calls.append(1)
        if len(calls) > 2:  # after target resolution and f(x): inside the window chunks
            raise RuntimeError("target failed")
        return out[:, 0]

    with pytest.raises(RuntimeError, match="target failed"):
        Occlusion(model, window=(8, 8)).explain(x, target)
    assert len(calls) == 3
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert _hooks(model) == [] and all(m.training for m in model.modules())
    assert all(p.requires_grad and p.grad is None for p in model.parameters())

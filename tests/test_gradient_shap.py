"""GradientSHAP / expected gradients: exact on linear models, convergence to integrated gradients
averaged over the background (Captum as the oracle), the completeness gap, seeds and batch sizes,
and clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from unboxed import adapt
from unboxed.attribution import GradientSHAP
from unboxed.attribution.gradient_shap import draw_baselines
from unboxed.errors import InputError, ModelAccessError

captum_attr = pytest.importorskip("captum.attr")


def test_linear_model_gets_weight_times_distance_from_the_background_mean(linear):
    model, x = linear
    background = torch.randn(5, 5, generator=torch.Generator().manual_seed(1))
    result = GradientSHAP(model, background, n_samples=20).explain(x, target=2)  # 20 = 4 rounds of the 5 rows
    expected = model.weight[2] * (x - background.mean(0))
    np.testing.assert_allclose(result.values, expected.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(result.base, model(background)[:, 2].mean().item(), atol=1e-5)
    np.testing.assert_allclose(result.base + result.values.sum(1), result.scores, atol=1e-4)  # complete, exactly
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-4)


def test_baselines_cycle_through_the_background():
    which = draw_baselines(3, 4, 10, torch.Generator().manual_seed(0))
    assert which.shape == (10, 3)
    for row in range(3):
        counts = torch.bincount(which[:, row], minlength=4)
        assert int(counts.min()) >= 2 and int(counts.max()) <= 3  # 10 draws over 4 rows: 2 or 3 each
        assert sorted(which[:4, row].tolist()) == [0, 1, 2, 3]  # each round is a permutation


def integrated_gradients_over_background(model, x, background, target):
    """E_x'[IG(x, x')]: the expectation GradientSHAP estimates, by Captum with a fine quadrature."""
    ig = captum_attr.IntegratedGradients(model)
    per_baseline = [
        ig.attribute(x, baselines=row[None].expand_as(x), target=target, n_steps=64, method="gausslegendre")
        for row in background
    ]
    return torch.stack(per_baseline).mean(0).detach().double().numpy()


def test_converges_to_integrated_gradients_averaged_over_the_background(cancer):
    model, x, background = cancer.model, cancer.inputs[:6], cancer.inputs[-8:]
    expected = integrated_gradients_over_background(model, x, background, 1)
    errors, gaps = [], []
    for n_samples in (8, 80, 800):
        result = GradientSHAP(model, background, n_samples=n_samples).explain(x, target=1)
        errors.append(float(np.sqrt(np.mean((result.values - expected) ** 2))))
        gaps.append(float(np.mean(np.abs(result.delta))))
        np.testing.assert_allclose(result.delta, result.values.sum(1) - (result.scores - result.base), atol=1e-5)
    assert errors[0] > errors[1] > errors[2] and errors[2] < errors[0] / 4
    assert gaps[0] > gaps[2] and gaps[2] < gaps[0] / 3  # the completeness gap falls with more samples
    np.testing.assert_allclose(result.base, model(background)[:, 1].mean().item(), atol=1e-5)
    scale = np.abs(expected).max()
    assert errors[2] < 0.02 * scale


def test_agrees_with_captum_gradient_shap_in_expectation(cancer):
    model, x, background = cancer.model, cancer.inputs[:4], cancer.inputs[-8:]
    torch.manual_seed(0)  # Captum draws from the global generators: its estimate is the noisier one
    theirs = captum_attr.GradientShap(model).attribute(x, baselines=background, n_samples=2000, stdevs=0.0, target=1)
    ours = GradientSHAP(model, background, n_samples=2000).explain(x, target=1).values
    theirs = theirs.detach().double().numpy()
    scale = np.abs(theirs).max()
    assert np.abs(ours - theirs).max() < 0.08 * scale
    assert np.abs(ours - theirs).max() > 1e-6  # two estimates, not one computation


def test_input_noise_is_used_and_averages_out_on_a_linear_model(linear):
    model, x = linear
    background = torch.randn(4, 5, generator=torch.Generator().manual_seed(2))
    plain = GradientSHAP(model, background, n_samples=400).explain(x, target=0).values
    noisy = GradientSHAP(model, background, n_samples=400, stdevs=0.3).explain(x, target=0).values
    assert np.abs(noisy - plain).max() > 1e-4  # the noise is there...
    np.testing.assert_allclose(noisy, plain, atol=0.1)  # ...and zero-mean


def test_same_seed_same_result_whatever_the_batch_size(cancer):
    model, x, background = cancer.model, cancer.inputs[:5], cancer.inputs[-6:]
    default = GradientSHAP(model, background, n_samples=12, stdevs=0.1, seed=5).explain(x, target=0)
    small = GradientSHAP(adapt(model, batch_size=7), background, n_samples=12, stdevs=0.1, seed=5).explain(x, target=0)
    np.testing.assert_allclose(small.values, default.values, rtol=0, atol=1e-6)
    other = GradientSHAP(model, background, n_samples=12, stdevs=0.1, seed=6).explain(x, target=0)
    assert np.abs(other.values - default.values).max() > 1e-4


def test_clear_errors(cancer, linear):
    with pytest.raises(InputError, match=r"background rows have shape \(29,\) but the inputs' rows have \(30,\)"):
        GradientSHAP(cancer.model, cancer.inputs[:5, :29]).explain(cancer.inputs[:2], target=0)
    with pytest.raises(InputError, match="n_samples"):
        GradientSHAP(cancer.model, cancer.inputs[:5], n_samples=0).explain(cancer.inputs[:2], target=0)
    with pytest.raises(InputError, match="stdevs"):
        GradientSHAP(cancer.model, cancer.inputs[:5], stdevs=-1.0).explain(cancer.inputs[:2], target=0)
    with pytest.raises(ModelAccessError, match="gradient_shap needs gradients"):
        GradientSHAP(lambda b: b.sum(1), np.zeros((3, 2)))

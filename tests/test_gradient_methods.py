"""Exact values on analytic models, axioms of IG, and agreement with Captum."""
import numpy as np
import pytest
import torch
from captum.attr import Deconvolution as CaptumDeconvolution
from captum.attr import GuidedBackprop as CaptumGuidedBackprop
from captum.attr import IntegratedGradients as CaptumIG
from captum.attr import Saliency as CaptumSaliency
from conftest import assert_close_relative

import unboxed
from unboxed.attribution import (
    Deconvolution, GuidedBackprop, InputXGradient, IntegratedGradients, Saliency, SmoothGrad,
)
from unboxed.attribution.integrated_gradients import RULES


def test_saliency_on_linear_model_is_the_weights(linear):
    model, inputs = linear
    result = Saliency(model, absolute=False).explain(inputs, target=2)
    np.testing.assert_allclose(result.values, model.weight[2].detach().expand(4, 5).numpy(), atol=1e-6)
    assert np.all(Saliency(model).explain(inputs, target=2).values >= 0)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("baseline", ["zeros", 0.7, "tensor"])
def test_ig_on_linear_model_is_input_minus_baseline_times_weights(linear, rule, baseline):
    model, inputs = linear
    if baseline == "tensor":
        baseline = torch.linspace(-1, 1, 5)
    reference = torch.zeros(5) if isinstance(baseline, str) else torch.as_tensor(baseline).expand(5)
    result = IntegratedGradients(model, n_steps=7, rule=rule, baselines=baseline).explain(inputs, target=1)
    expected = (inputs - reference) * model.weight[1].detach()
    np.testing.assert_allclose(result.values, expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(result.delta, 0, atol=1e-5)


def test_input_x_gradient_on_linear_model(linear):
    model, inputs = linear
    result = InputXGradient(model).explain(inputs, target=0)
    np.testing.assert_allclose(result.values, (inputs * model.weight[0]).detach().numpy(), atol=1e-6)


def test_ig_completeness_on_breast_cancer_mlp(cancer):
    inputs = cancer.inputs[:20]
    result = IntegratedGradients(cancer.model, n_steps=64).explain(inputs, target=1)
    with torch.no_grad():
        gap = cancer.model(inputs)[:, 1] - cancer.model(torch.zeros_like(inputs))[:, 1]
    sums = result.values.reshape(20, -1).sum(1)
    relative = np.abs(sums - gap.numpy()) / np.abs(gap.numpy()).clip(1e-6)
    assert relative.max() < 1e-2
    np.testing.assert_allclose(result.delta, sums - gap.numpy(), atol=1e-4)


def test_ig_delta_reports_a_coarse_quadrature(cancer):
    inputs = cancer.inputs[:10]
    coarse = IntegratedGradients(cancer.model, n_steps=2, rule="riemann_left").explain(inputs, target=1)
    fine = IntegratedGradients(cancer.model, n_steps=64).explain(inputs, target=1)
    assert np.abs(coarse.delta).mean() > 10 * np.abs(fine.delta).mean()


def test_ig_with_several_baselines_averages_them(cancer):
    inputs = cancer.inputs[:5]
    both = IntegratedGradients(cancer.model, n_steps=16, baselines=["zeros", 0.5]).explain(inputs, target=1).values
    zeros = IntegratedGradients(cancer.model, n_steps=16, baselines="zeros").explain(inputs, target=1).values
    half = IntegratedGradients(cancer.model, n_steps=16, baselines=0.5).explain(inputs, target=1).values
    np.testing.assert_allclose(both, (zeros + half) / 2, atol=1e-6)


@pytest.mark.parametrize("baseline", ["blur", "uniform"])
def test_ig_blur_and_uniform_baselines_converge(digits, baseline):
    def gap(n_steps):
        result = IntegratedGradients(digits.model, n_steps=n_steps, baselines=baseline).explain(digits.inputs[:3])
        return np.abs(result.delta).max() / np.abs(result.scores).max()

    coarse, fine = gap(8), gap(128)
    assert fine < 1e-2 and fine < coarse / 2


def _permuted_twin(mlp: torch.nn.Module) -> torch.nn.Module:
    """Same function, different weights: permute hidden units and rescale them (ReLU is positively homogeneous)."""
    twin = type(mlp)(mlp.net[0].in_features)
    twin.load_state_dict(mlp.state_dict())
    first, second = twin.net[0], twin.net[2]
    order = torch.randperm(first.out_features, generator=torch.Generator().manual_seed(3))
    scale = torch.linspace(0.5, 2.0, first.out_features)
    with torch.no_grad():
        first.weight.copy_(first.weight[order] * scale[:, None])
        first.bias.copy_(first.bias[order] * scale)
        second.weight.copy_(second.weight[:, order] / scale)
    return twin


def test_ig_implementation_invariance(cancer):
    twin = _permuted_twin(cancer.model)
    assert not torch.equal(twin.net[0].weight, cancer.model.net[0].weight)
    inputs = cancer.inputs[:10]
    torch.testing.assert_close(twin(inputs), cancer.model(inputs), atol=1e-5, rtol=1e-5)
    ours = IntegratedGradients(cancer.model, n_steps=32).explain(inputs, target=0).values
    theirs = IntegratedGradients(twin, n_steps=32).explain(inputs, target=0).values
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_target_forms_agree(cancer):
    inputs = cancer.inputs[:6]
    per_sample = torch.tensor([0, 1, 0, 1, 1, 0])
    by_index = Saliency(cancer.model, absolute=False).explain(inputs, target=per_sample).values
    by_callable = Saliency(cancer.model, absolute=False).explain(
        inputs, target=lambda out: out.gather(1, per_sample[:, None])[:, 0]
    ).values
    np.testing.assert_allclose(by_index, by_callable, atol=1e-7)
    predicted = Saliency(cancer.model).explain(inputs)
    assert predicted.target == cancer.model(inputs).argmax(1).tolist()


# --- agreement with Captum --------------------------------------------------------------------------

def test_digits_cnn_agrees_with_captum(digits):
    model, inputs = digits.model, digits.inputs[:8]
    target = 3
    assert_close_relative(Saliency(model).explain(inputs, target=target).values, CaptumSaliency(model).attribute(inputs, target=target))
    ig = IntegratedGradients(model, n_steps=50, rule="gausslegendre").explain(inputs, target=target).values
    assert_close_relative(ig, CaptumIG(model).attribute(inputs, target=target, n_steps=50, method="gausslegendre"))
    for rule in ("riemann_left", "riemann_right", "riemann_middle"):
        ours = IntegratedGradients(model, n_steps=20, rule=rule).explain(inputs, target=target).values
        assert_close_relative(ours, CaptumIG(model).attribute(inputs, target=target, n_steps=20, method=rule))
    # Captum 0.9's trapezoid weights are 1/n (ends 1/2n), summing to (n-1)/n instead of 1, so its
    # IG is ours scaled by (n-1)/n and misses completeness by 1/n; ours is exact on linear models.
    trapezoid = IntegratedGradients(model, n_steps=20, rule="riemann_trapezoid").explain(inputs, target=target).values
    captum = CaptumIG(model).attribute(inputs, target=target, n_steps=20, method="riemann_trapezoid")
    assert_close_relative(trapezoid * 19 / 20, captum)
    assert_close_relative(GuidedBackprop(model).explain(inputs, target=target).values,
                          CaptumGuidedBackprop(model).attribute(inputs, target=target))
    assert_close_relative(Deconvolution(model).explain(inputs, target=target).values,
                          CaptumDeconvolution(model).attribute(inputs, target=target))


def test_efficientnet_agrees_with_captum(effnet):
    model, inputs = effnet.model, effnet.inputs
    assert_close_relative(Saliency(model).explain(inputs, target=967).values, CaptumSaliency(model).attribute(inputs, target=967))
    ours = IntegratedGradients(model, n_steps=8).explain(inputs, target=967).values
    theirs = CaptumIG(model).attribute(inputs, target=967, n_steps=8, internal_batch_size=8)
    assert_close_relative(ours, theirs)


def test_efficientnet_predicts_espresso_on_coffee(effnet):
    assert effnet.class_names[int(effnet.model(effnet.inputs[:1]).argmax())] == "espresso"


# --- SmoothGrad --------------------------------------------------------------------------------------

def test_smoothgrad_seed_determines_noise(digits):
    inputs = digits.inputs[:3]
    first = SmoothGrad(digits.model, n_samples=6, seed=5).explain(inputs).values
    again = SmoothGrad(unboxed.adapt(digits.model, batch_size=4), n_samples=6, seed=5).explain(inputs).values
    other = SmoothGrad(digits.model, n_samples=6, seed=6).explain(inputs).values
    np.testing.assert_allclose(first, again, atol=1e-6)
    assert np.abs(first - other).max() > 1e-3


def test_smoothgrad_variants_relations(digits):
    inputs = digits.inputs[:2]
    settings = dict(n_samples=5, seed=0, absolute=False)
    mean = SmoothGrad(digits.model, variant="smoothgrad", **settings).explain(inputs, target=1).values
    square = SmoothGrad(digits.model, variant="smoothgrad_sq", **settings).explain(inputs, target=1).values
    var = SmoothGrad(digits.model, variant="vargrad", **settings).explain(inputs, target=1).values
    np.testing.assert_allclose(var, square - mean**2, atol=1e-6)
    assert var.min() >= -1e-7


def test_smoothgrad_without_noise_is_the_wrapped_method(digits):
    inputs = digits.inputs[:2]
    smooth = SmoothGrad(digits.model, method="integrated_gradients", n_samples=2, noise_level=0.0, n_steps=8).explain(inputs)
    plain = IntegratedGradients(digits.model, n_steps=8).explain(inputs)
    np.testing.assert_allclose(smooth.values, plain.values, atol=1e-6)

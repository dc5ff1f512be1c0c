"""Robustness metrics: sensitivity (Yeh et al.), local Lipschitz estimate, seed stability."""
import pytest
import torch

from unboxed import get_method
from unboxed.errors import InputError, ModelAccessError
from unboxed.evaluate import AverageSensitivity, LocalLipschitzEstimate, MaxSensitivity, SeedStability, get_metric
from unboxed.model import adapt


def documented_noise(shape, radius, n_samples, seed):
    """The noise the metrics document: uniform in [-radius, radius], drawn (n_samples, *shape) in float64."""
    generator = torch.Generator().manual_seed(seed)
    return (2 * torch.rand((n_samples, *shape), generator=generator, dtype=torch.float64) - 1) * radius


@pytest.fixture
def linear_one(linear):
    model, inputs = linear
    return model, inputs, 1  # target class 1: phi = w_1 (saliency) or x * w_1 (input x gradient)


def test_registered_with_direction():
    for name in ("max_sensitivity", "average_sensitivity", "local_lipschitz_estimate"):
        assert get_metric(name).higher_is_better is False and get_metric(name).category == "robustness"
    assert get_metric("seed_stability").higher_is_better is True


def test_saliency_of_a_linear_model_is_constant_so_its_sensitivity_is_zero(linear_one):
    model, inputs, target = linear_one
    for metric in (MaxSensitivity(radius=0.5, n_samples=8), AverageSensitivity(radius=0.5, n_samples=8)):
        for settings in ({"absolute": False}, {"absolute": True}):
            result = metric.evaluate(model, inputs, target=target, method=("saliency", settings))
            assert result.scores.tolist() == [0.0] * len(inputs)


def test_input_x_gradient_sensitivity_of_a_linear_model_is_noise_times_weights(linear_one):
    model, inputs, target = linear_one
    radius, n_samples, seed = 0.1, 64, 3
    w = model.weight[target].detach().double()
    # phi(x + delta) - phi(x) = delta * w exactly: the largest / mean norm over the documented draws
    expected = (documented_noise(inputs.shape, radius, n_samples, seed) * w).norm(dim=2)
    settings = {"radius": radius, "n_samples": n_samples, "seed": seed}
    high = MaxSensitivity(**settings).evaluate(model, inputs, target=target, method="input_x_gradient")
    mean = AverageSensitivity(**settings).evaluate(model, inputs, target=target, method="input_x_gradient")
    torch.testing.assert_close(torch.tensor(high.scores), expected.amax(0), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(torch.tensor(mean.scores), expected.mean(0), rtol=1e-5, atol=1e-7)
    bound = radius * float(w.norm())
    assert (high.scores <= bound + 1e-6).all() and (high.scores > 0.6 * bound).all()  # near the bound with 64 draws
    assert (mean.scores < high.scores).all()


def test_relative_sensitivity_divides_by_the_norm_of_the_explanation(linear_one):
    model, inputs, target = linear_one
    absolute = MaxSensitivity(radius=0.1, n_samples=16).evaluate(model, inputs, target=target, method="input_x_gradient")
    relative = MaxSensitivity(radius=0.1, n_samples=16, relative=True).evaluate(model, inputs, target=target,
                                                                                method="input_x_gradient")
    norms = (inputs * model.weight[target]).detach().double().norm(dim=1)
    torch.testing.assert_close(torch.tensor(relative.scores), torch.tensor(absolute.scores) / norms, rtol=1e-5, atol=1e-8)


def test_local_lipschitz_of_input_x_gradient_on_a_linear_model(linear_one):
    model, inputs, target = linear_one
    radius, n_samples, seed = 0.05, 32, 1
    w = model.weight[target].detach().double()
    noise = documented_noise(inputs.shape, radius, n_samples, seed)
    expected = ((noise * w).norm(dim=2) / noise.norm(dim=2)).amax(0)  # ||delta * w|| / ||delta||
    result = LocalLipschitzEstimate(radius=radius, n_samples=n_samples, seed=seed).evaluate(model, inputs, target=target,
                                                                                            method="input_x_gradient")
    torch.testing.assert_close(torch.tensor(result.scores), expected, rtol=1e-5, atol=1e-7)
    assert (result.scores <= float(w.abs().max()) + 1e-6).all() and (result.scores >= float(w.abs().min()) - 1e-6).all()


def test_all_noisy_copies_go_to_the_method_in_one_explain_call(digits_batch):
    model, images, classes = digits_batch
    method = get_method("saliency")(model)
    calls = []
    original = method.explain

    def counting(inputs, target=None, **kwargs):
        calls.append(len(inputs))
        return original(inputs, target=target, **kwargs)

    method.explain = counting
    MaxSensitivity(n_samples=5).evaluate(model, images, target=classes, explanation=original(images, target=classes), method=method)
    assert calls == [5 * len(images)]


def test_same_seed_same_scores_whatever_the_batch_size(digits_batch):
    model, images, classes = digits_batch
    metric = MaxSensitivity(radius=0.05, n_samples=4, seed=7)
    whole = metric.evaluate(model, images, target=classes, method="saliency").scores
    chunked = metric.evaluate(adapt(model, batch_size=3), images, target=classes, method="saliency").scores
    torch.testing.assert_close(torch.tensor(chunked), torch.tensor(whole), rtol=1e-4, atol=1e-6)
    other = MaxSensitivity(radius=0.05, n_samples=4, seed=8).evaluate(model, images, target=classes, method="saliency").scores
    assert not torch.allclose(torch.tensor(other), torch.tensor(whole))


def test_a_smoother_method_is_less_sensitive(digits_batch):
    model, images, classes = digits_batch
    metric = AverageSensitivity(radius=0.05, n_samples=3, relative=True)
    plain = metric.evaluate(model, images, target=classes, method="saliency").summary
    smoothed = metric.evaluate(model, images, target=classes, method=("smoothgrad", {"n_samples": 16, "noise_level": 0.2})).summary
    assert smoothed < plain


def test_bad_settings_and_inputs_get_clear_errors(linear_one):
    model, inputs, target = linear_one
    with pytest.raises(InputError, match="n_samples"):
        MaxSensitivity(n_samples=0).evaluate(model, inputs, target=target, method="saliency")
    with pytest.raises(InputError, match="radius"):
        AverageSensitivity(radius=-0.1).evaluate(model, inputs, target=target, method="saliency")
    with pytest.raises(InputError, match="relative"):
        MaxSensitivity(relative="yes").evaluate(model, inputs, target=target, method="saliency")
    explanation = get_method("saliency")(model).explain(inputs, target=target)
    with pytest.raises(InputError, match="method"):
        MaxSensitivity().evaluate(model, inputs, target=target, explanation=explanation)
    with pytest.raises(ModelAccessError, match="gradients"):
        MaxSensitivity().evaluate(lambda x: x.sum(1, keepdims=True), inputs.numpy(), target=0, method="saliency")


# --- seed stability ---------------------------------------------------------------------------
def test_seed_stability_is_the_mean_pairwise_top_k_overlap(digits_batch):
    model, images, classes = digits_batch
    settings = {"n_samples": 3, "noise_level": 0.3}
    k = 50
    result = SeedStability(n_seeds=3, k=k, seed=10).evaluate(model, images, target=classes, method=("smoothgrad", settings))
    tops = []
    for seed in (10, 11, 12):
        values = torch.tensor(get_method("smoothgrad")(model, seed=seed, **settings).explain(images, target=classes).values)
        order = values.abs().reshape(len(images), -1).argsort(dim=1, descending=True, stable=True)[:, :k]
        tops.append([set(row.tolist()) for row in order])
    expected = [sum(len(tops[i][row] & tops[j][row]) / k for i, j in ((0, 1), (0, 2), (1, 2))) / 3 for row in range(len(images))]
    torch.testing.assert_close(torch.tensor(result.scores), torch.tensor(expected, dtype=torch.float64))
    assert 0 < result.summary < 1


def test_more_smoothing_samples_give_more_stable_maps(digits_batch):
    model, images, classes = digits_batch
    metric = SeedStability(n_seeds=3, k=0.05)
    few = metric.evaluate(model, images, target=classes, method=("smoothgrad", {"n_samples": 2, "noise_level": 0.3})).summary
    many = metric.evaluate(model, images, target=classes, method=("smoothgrad", {"n_samples": 24, "noise_level": 0.3})).summary
    noiseless = metric.evaluate(model, images, target=classes, method=("smoothgrad", {"n_samples": 2, "noise_level": 0.0})).summary
    assert few < many < 1.0 and noiseless == 1.0


def test_seed_stability_leaves_the_method_alone_and_refuses_deterministic_methods(digits_batch):
    model, images, classes = digits_batch
    method = get_method("smoothgrad")(model, n_samples=2, seed=123)
    SeedStability(n_seeds=2).evaluate(model, images, target=classes, method=method)
    assert method.seed == 123
    with pytest.raises(InputError, match="deterministic"):
        SeedStability().evaluate(model, images, target=classes, method="saliency")
    with pytest.raises(InputError, match="n_seeds"):
        SeedStability(n_seeds=1).evaluate(model, images, target=classes, method=method)
    with pytest.raises(InputError, match="k"):
        SeedStability(k=1.5).evaluate(model, images, target=classes, method=method)

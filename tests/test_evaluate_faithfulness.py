"""Faithfulness metrics: exact values and orderings on linear models, agreement with Quantus where
the metric is deterministic, determinism under any batch size, clear errors, and the digits CNN."""
import warnings

import numpy as np
import pytest
import torch

import unboxed
from unboxed.errors import InputError
from unboxed.evaluate import (ROAD, Comprehensiveness, Deletion, FaithfulnessCorrelation, Infidelity,
                              Insertion, Metric, PixelFlipping, Sufficiency, get_metric)
from unboxed.evaluate.faithfulness_correlation import random_subsets
from unboxed.evaluate.imputation import linear_imputation
from unboxed.evaluate.infidelity import shapley_kernel_sizes
from unboxed.maskers import ImageMasker, TabularMasker, TextMasker


@pytest.fixture
def linear_model():
    """One-output linear model with bias, 10 features, 6 rows, and its weights."""
    generator = torch.Generator().manual_seed(1)
    model = torch.nn.Linear(10, 1)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, 10, generator=generator))
        model.bias.fill_(0.5)
    inputs = torch.randn(6, 10, generator=generator)
    return model, inputs, model.weight.detach()[0]


def random_map(shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# --- deletion, insertion, pixel flipping ----------------------------------------------------------
def test_oracle_beats_random_and_reversed_on_every_row(linear_model):
    model, x, w = linear_model
    oracle = w * x  # each feature's exact contribution with baseline 0
    others = {"random": random_map(x.shape), "reversed": -oracle}
    deletion, insertion = Deletion(steps=10), Insertion(steps=10)
    best_deletion = deletion.evaluate(model, x, target=0, explanation=oracle)
    best_insertion = insertion.evaluate(model, x, target=0, explanation=oracle)
    for name, other in others.items():
        assert np.all(best_deletion.scores < deletion.evaluate(model, x, target=0, explanation=other).scores), name
        assert np.all(best_insertion.scores > insertion.evaluate(model, x, target=0, explanation=other).scores), name
    # the curves run from f(x) to f(baseline) (and back for insertion)
    scores = model(x)[:, 0].detach().double().numpy()
    np.testing.assert_allclose(best_deletion.curves[:, 0], scores, rtol=1e-6)
    np.testing.assert_allclose(best_deletion.curves[:, -1], 0.5, rtol=1e-6)
    np.testing.assert_allclose(best_insertion.curves[:, 0], 0.5, rtol=1e-6)
    np.testing.assert_allclose(best_insertion.curves[:, -1], scores, rtol=1e-6)
    assert not best_deletion.higher_is_better and best_insertion.higher_is_better


def test_least_relevant_first_reverses_the_direction(linear_model):
    model, x, w = linear_model
    oracle, noise = w * x, random_map(x.shape)
    lerf = Deletion(steps=10, order="lerf")
    assert lerf.higher_is_better
    assert np.all(lerf.evaluate(model, x, target=0, explanation=oracle).scores
                  > lerf.evaluate(model, x, target=0, explanation=noise).scores)
    # deleting the least relevant t% keeps the most relevant (1 - t)%: the insertion curve read backwards
    insertion = Insertion(steps=10).evaluate(model, x, target=0, explanation=oracle)
    np.testing.assert_allclose(lerf.evaluate(model, x, target=0, explanation=oracle).curves, insertion.curves[:, ::-1], atol=1e-6)


def test_removal_by_baseline_tensor_blur_and_masker():
    model = lambda batch: batch.sum(axis=(1, 2, 3))  # noqa: E731  total brightness
    x = torch.zeros(2, 1, 4, 4)
    x[:, :, 1:3, 1:3] = 1.0
    baseline = torch.full((1, 4, 4), 0.25)
    curve = Deletion(removal=baseline, steps=1).evaluate(model, x, target=0, explanation=x).curves
    np.testing.assert_allclose(curve, [[4.0, 4.0], [4.0, 4.0]])  # everything removed: 16 pixels of 0.25
    blurred = Deletion(removal="blur", steps=1).evaluate(model, x, target=0, explanation=x).curves[:, -1]
    assert np.all((blurred > 0) & (blurred < 4))
    # a 2 x 2 grid masker: four features, the bright square shared by all four cells
    masker = ImageMasker(segmentation="grid", grid=(2, 2), fill=0.0)
    curve = Deletion(removal=masker, steps=4).evaluate(model, x, target=0, explanation=x).curves
    np.testing.assert_allclose(curve, [[4.0, 3.0, 2.0, 1.0, 0.0]] * 2)


def test_a_per_feature_explanation_keeps_its_values_under_its_own_masker(digits_batch):
    model, x, y = digits_batch
    masker = ImageMasker(segmentation="grid", grid=(4, 4), fill=0.0)
    explanation = unboxed.get_method("feature_ablation")(model, masker=masker).explain(x[:3], target=y[:3])
    metric = Deletion(removal=masker)
    attributions = metric.attributions(explanation, x[:3])
    game = metric.game(unboxed.adapt(model), x[:3], unboxed.adapt(model).resolve_target(x[:3], y[:3]))
    np.testing.assert_allclose(metric.feature_values(attributions, game).numpy(), explanation.values, rtol=1e-5, atol=1e-6)


def test_pixel_flipping_agrees_with_quantus(digits_batch):
    quantus = pytest.importorskip("quantus")
    model, x, y = digits_batch
    x, y = x[:4], y[:4]
    attributions = random_map(x.shape, seed=3)  # continuous: no ties, so both orders agree
    ours = PixelFlipping(features_per_step=64).evaluate(model, x, target=y, explanation=attributions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = dict(features_in_step=64, perturb_baseline=0.0, disable_warnings=True)
        theirs = quantus.PixelFlipping(**kwargs)(model=model, x_batch=x.numpy(), y_batch=y.numpy(),
                                                 a_batch=attributions.numpy(), device="cpu", softmax=False)
    np.testing.assert_allclose(ours.curves, np.asarray(theirs), rtol=1e-5, atol=1e-5)
    # Quantus' own AUC calls np.trapz, gone from numpy 2: the same unit-spaced trapezoid rule here
    np.testing.assert_allclose(ours.scores, np.trapezoid(np.asarray(theirs), dx=1.0, axis=1), rtol=1e-5, atol=1e-4)


# --- faithfulness correlation and infidelity ----------------------------------------------------
def test_faithfulness_correlation_is_one_for_the_exact_contributions(linear_model):
    model, x, w = linear_model
    metric = FaithfulnessCorrelation(n_subsets=30, subset_size=3)
    np.testing.assert_allclose(metric.evaluate(model, x, target=0, explanation=w * x).scores, 1.0, atol=1e-6)
    assert np.all(metric.evaluate(model, x, target=0, explanation=random_map(x.shape)).scores < 0.95)


def test_random_subsets_have_their_sizes_stay_within_each_row_and_cover_features_evenly():
    counts = torch.tensor([10, 6])
    sizes = torch.tensor([[3, 7], [5, 1]]).repeat_interleave(500, dim=1)  # (2, 1000)
    subsets = random_subsets(counts, 10, 1000, sizes, torch.Generator().manual_seed(0))
    removed = ~subsets.keep(10).view(2, 1000, 10)
    assert torch.equal(removed.sum(-1), sizes)
    assert not removed[1, :, 6:].any()  # padding features of the shorter row are never drawn
    frequency = removed[0, :500].double().mean(0)  # size 3 of 10: each feature in 30% of the subsets
    assert float((frequency - 0.3).abs().max()) < 0.07
    values = torch.arange(10, dtype=torch.float64).expand(2, 10)
    np.testing.assert_allclose(subsets.sums(values).numpy(), (removed * values[:, None]).sum(-1).numpy())
    # infidelity's subset sizes follow the Shapley kernel: p(k) proportional to 1 / (k (d - k))
    sizes = shapley_kernel_sizes(torch.tensor([4]), 20000, torch.Generator().manual_seed(0))[0]
    np.testing.assert_allclose([float((sizes == k).double().mean()) for k in (1, 2, 3)], [4 / 11, 3 / 11, 4 / 11], atol=0.015)


def test_infidelity_of_exact_shapley_values_under_the_matching_perturbation_is_zero(linear_model):
    model, x, w = linear_model
    b = torch.linspace(-1.0, 1.0, 10)
    shapley = w * (x - b)
    metric = Infidelity(removal=b, n_samples=50)
    assert np.abs(metric.evaluate(model, x, target=0, explanation=shapley).scores).max() < 1e-6
    # the contributions measured from 0 are not the Shapley values for this baseline
    assert metric.evaluate(model, x, target=0, explanation=w * x).scores.min() > 1e-3
    # the method's own Shapley values, with a background data set (interventional: w * (x - mean))
    background = torch.randn(5, 10, generator=torch.Generator().manual_seed(7))
    masker = TabularMasker(background)
    explained = unboxed.get_method("exact_shapley")(model, masker=masker).explain(x, target=0)
    result = Infidelity(removal=masker, n_samples=50).evaluate(model, x, target=0, explanation=explained)
    assert np.abs(result.scores).max() < 1e-6


def test_infidelity_gaussian_and_baseline_perturbations(linear_model):
    model, x, w = linear_model
    gaussian = Infidelity(perturbation="gaussian", n_samples=20)
    gradient = w.expand_as(x)  # I . w is exactly f(x) - f(x - I) for a linear model
    assert gaussian.evaluate(model, x, target=0, explanation=gradient).scores.max() < 1e-9
    assert gaussian.evaluate(model, x, target=0, explanation=w * x).scores.min() > 1e-4
    # "baseline" dots the attributions with x - b: the gradient then matches every removal exactly
    b = torch.linspace(-1.0, 1.0, 10)
    baseline = Infidelity(removal=b, perturbation="baseline", n_samples=20)
    assert baseline.evaluate(model, x, target=0, explanation=gradient).scores.max() < 1e-9
    assert baseline.evaluate(model, x, target=0, explanation=w * (x - b)).scores.min() > 1e-4


def test_random_metrics_are_deterministic_whatever_the_batch_size(digits_batch):
    model, x, y = digits_batch
    attributions = random_map(x.shape)
    small = unboxed.adapt(model, batch_size=7)
    for metric in (FaithfulnessCorrelation(n_subsets=10, seed=4), Infidelity(n_samples=6, seed=4),
                   Infidelity(perturbation="gaussian", n_samples=6, seed=4), ROAD(percentages=(0.2, 0.6), seed=4)):
        first = metric.evaluate(model, x, target=y, explanation=attributions)
        again = metric.evaluate(small, x, target=y, explanation=attributions)
        np.testing.assert_allclose(first.scores, again.scores, rtol=1e-5, atol=1e-6, err_msg=metric.name)
        type(metric)(**{**metric.settings(), "seed": 5})  # settings round-trip into the constructor
    other_seed = FaithfulnessCorrelation(n_subsets=10, seed=5).evaluate(model, x, target=y, explanation=attributions)
    assert not np.allclose(other_seed.scores, FaithfulnessCorrelation(n_subsets=10, seed=4).evaluate(
        model, x, target=y, explanation=attributions).scores)


# --- ROAD -------------------------------------------------------------------------------------------
def test_linear_imputation_agrees_with_quantus():
    perturb = pytest.importorskip("quantus.functions.perturb_func")
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(3, 9, 7, generator=generator, dtype=torch.float64)
    removed = torch.rand(9, 7, generator=generator) < 0.4
    ours = linear_imputation(image[None], removed[None])[0]
    theirs = perturb.noisy_linear_imputation(image.numpy(), np.flatnonzero(removed.numpy()), noise=0.0)
    np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-10)
    # the filled pixels are the weighted mean of their neighbours: a constant image stays constant
    flat = linear_imputation(torch.full((2, 1, 6, 6), 0.3), torch.rand(2, 6, 6, generator=generator) < 0.5)
    np.testing.assert_allclose(flat.numpy(), 0.3, atol=1e-6)


def test_road_imputation_is_batched_and_the_direction_follows_the_order(digits_batch):
    model, x, y = digits_batch
    integrated = unboxed.get_method("integrated_gradients")(model).explain(x, target=y).values
    morf = ROAD(order="morf").evaluate(model, x, target=y, explanation=integrated)
    lerf = ROAD(order="lerf").evaluate(model, x, target=y, explanation=integrated)
    assert not morf.higher_is_better and lerf.higher_is_better
    assert (morf.scores < lerf.scores).mean() >= 0.75
    assert morf.curves.shape == (len(x), 9) and morf.details["accuracy"].shape == (len(x), 9)


# --- comprehensiveness and sufficiency: tables and texts -------------------------------------------
def test_comprehensiveness_and_sufficiency_exact_on_a_table(linear_model):
    model, x, w = linear_model
    oracle = w * x
    metric = Comprehensiveness(fractions=(0.1, 0.3))
    result = metric.evaluate(model, x, target=0, explanation=oracle)
    top = oracle.sort(dim=1, descending=True).values.double()
    np.testing.assert_allclose(result.curves, torch.stack([top[:, 0], top[:, :3].sum(1)], 1).numpy(), rtol=1e-5, atol=1e-6)
    sufficiency = Sufficiency(fractions=(0.1, 0.3)).evaluate(model, x, target=0, explanation=oracle)
    np.testing.assert_allclose(sufficiency.curves, oracle.sum(1, keepdim=True).double().numpy() - result.curves,
                               rtol=1e-5, atol=1e-6)
    noise = random_map(x.shape)
    assert np.all(result.scores >= metric.evaluate(model, x, target=0, explanation=noise).scores)


def test_comprehensiveness_and_sufficiency_on_texts():
    weights = {"good": 2.0, "great": 3.0, "bad": -2.0}

    def sentiment(texts):
        return np.array([sum(weights.get(word, 0.0) for word in text.split()) for text in texts])

    texts = ["a good film with great actors", "bad plot but great music"]
    explanation = unboxed.get_method("feature_ablation")(sentiment, masker=TextMasker()).explain(texts, target=0)
    metric = Comprehensiveness(fractions=(0.15,))  # ceil(0.15 * words) = one word
    oracle = metric.evaluate(sentiment, texts, target=0, explanation=explanation)
    np.testing.assert_allclose(oracle.curves, [[3.0], [3.0]])  # "great" goes first in both
    sufficiency = Sufficiency(fractions=(0.15,)).evaluate(sentiment, texts, target=0, explanation=explanation)
    np.testing.assert_allclose(sufficiency.curves, [[2.0], [-2.0]])  # what is left without "great"
    reversed_values = -explanation.values
    assert np.all(metric.evaluate(sentiment, texts, target=0, explanation=reversed_values).scores < oracle.scores)
    masked = Comprehensiveness(removal=TextMasker(mask_token="UNK"), fractions=(0.15,))
    np.testing.assert_allclose(masked.evaluate(sentiment, texts, target=0, explanation=explanation).curves, [[3.0], [3.0]])


# --- errors -----------------------------------------------------------------------------------------
def test_bad_inputs_get_clear_errors(linear_model, digits_batch):
    model, x, w = linear_model
    with pytest.raises(InputError, match="explanation has shape"):
        Deletion().evaluate(model, x, target=0, explanation=torch.zeros(6, 9))
    with pytest.raises(InputError, match="needs an explanation or a method"):
        Deletion().evaluate(model, x, target=0)
    with pytest.raises(InputError, match="removal must be"):
        Deletion(removal="noise")
    with pytest.raises(InputError, match="for images"):
        Deletion(removal="blur").evaluate(model, x, target=0, explanation=x)
    with pytest.raises(InputError, match="baseline has shape"):
        Deletion(removal=torch.zeros(3)).evaluate(model, x, target=0, explanation=x)
    with pytest.raises(InputError, match="subset_size"):
        FaithfulnessCorrelation(subset_size=10).evaluate(model, x, target=0, explanation=x)
    with pytest.raises(InputError, match="needs images"):
        ROAD().evaluate(model, x, target=0, explanation=x)
    with pytest.raises(InputError, match="percentages"):
        ROAD(percentages=(0.5, 1.0))
    with pytest.raises(InputError, match="perturbation='matching'"):
        Infidelity(removal=TabularMasker(torch.zeros(3, 10)), perturbation="baseline").evaluate(model, x, target=0, explanation=x)
    with pytest.raises(InputError, match="texts"):
        Infidelity(perturbation="gaussian").evaluate(lambda t: np.ones(len(t)), ["a b"], target=0, explanation=[[1.0, 2.0]])
    with pytest.raises(InputError, match="order"):
        Deletion(order="random")
    with pytest.raises(InputError, match="unknown metric"):
        get_metric("delection")

    class ReRuns(Metric):  # a metric that re-runs the method, as the robustness metrics do
        name, category, needs_method = "re_runs", "robustness", True

    with pytest.raises(InputError, match="needs method="):
        ReRuns().evaluate(model, x, target=0, explanation=x)


def test_a_method_can_be_given_instead_of_an_explanation(digits_batch):
    model, x, y = digits_batch
    by_name = Deletion(steps=5).evaluate(model, x[:3], target=y[:3], method="saliency")
    explained = unboxed.get_method("saliency")(model).explain(x[:3], target=y[:3])
    given = Deletion(steps=5).evaluate(model, x[:3], target=y[:3], explanation=explained)
    np.testing.assert_allclose(by_name.scores, given.scores)


# --- a real model -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, settings", [("integrated_gradients", {}),
                                              ("occlusion", {"window": (1, 4, 4), "stride": (1, 4, 4)})])
def test_real_methods_beat_a_random_map_on_the_digits_cnn(digits_batch, method, settings):
    model, x, y = digits_batch
    explained = unboxed.get_method(method)(model, **settings).explain(x, target=y)
    metric = Deletion(steps=16)
    ours = metric.evaluate(model, x, target=y, explanation=explained).scores
    chance = metric.evaluate(model, x, target=y, explanation=random_map(x.shape, seed=11)).scores
    assert (ours < chance).mean() >= 0.75, (ours, chance)
    assert Deletion.higher_is_better is False and get_metric("deletion") is Deletion

"""LIME: the surrogate equals independent weighted fits on the same samples, exact recovery on
linear and additive models, agreement with the `lime` package, lime_tabular's sampling semantics,
images and text, the stability rounds, seeds and chunking, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

import unboxed
from unboxed.attribution import FeatureAblation, Lime, LimeTabularMasker
from unboxed.attribution.coalitions import CoalitionGame
from unboxed.attribution.lime import draw_coalitions
from unboxed.attribution.masked import default_masker
from unboxed.attribution.surrogate import weighted_ridge
from unboxed.errors import InputError
from unboxed.maskers import ImageMasker, TabularMasker
from unboxed.random import torch_generator
from unboxed.targets import resolve_target


def game_for(explainer, inputs, target=None) -> CoalitionGame:
    """The game `explain` builds, so that a test can look at the neighbourhood it samples."""
    masker = explainer.masker or default_masker(inputs, explainer.background)
    checked = masker.check(inputs)
    outputs = explainer.model.outputs(checked)
    return CoalitionGame(explainer.model, masker, checked, resolve_target(target, outputs), masker.features(checked))


@pytest.fixture(scope="module")
def cancer_train(cancer):
    """The breast-cancer MLP's training rows, standardised as the zoo does, and their labels."""
    from sklearn.datasets import load_breast_cancer

    from unboxed.zoo.training import split

    data = load_breast_cancer()
    train, _ = split(len(data.target), 0.25, 0, data.target)
    mean, std = np.array(cancer.facts["feature_mean"]), np.array(cancer.facts["feature_std"])
    return (data.data[train] - mean) / std, data.target[train]


def margin_of(module):
    """A black box: the MLP's logit margin (class 1 - class 0), as numpy in and out."""

    def margin(x):
        with torch.no_grad():
            out = module(torch.as_tensor(np.asarray(x), dtype=torch.float32))
        return (out[:, 1] - out[:, 0]).double().numpy()

    return margin


# --- the surrogate is exactly a weighted ridge / least-squares fit on the sampled neighbourhood ---
@pytest.mark.parametrize("setting", ["discretized", "continuous", "coalitions"])
def test_surrogate_equals_sklearn_ridge_on_the_same_samples(cancer, cancer_train, setting):
    x = cancer.inputs[:4].double()
    if setting == "coalitions":
        lime = Lime(margin_of(cancer.model), masker=TabularMasker(cancer_train[0][:20]), n_samples=300)
    else:
        lime = Lime(margin_of(cancer.model), background=cancer_train[0], n_samples=300,
                    discretize_continuous=setting == "discretized")
    result = lime.explain(x)
    hood = lime.neighbourhood(game_for(lime, x))
    for row in range(len(x)):
        z, y, w = (t[row].numpy() for t in (hood.representation, hood.scores, hood.weights))
        ridge = Ridge(alpha=1.0).fit(z, y, sample_weight=w)
        np.testing.assert_allclose(result.values[row], ridge.coef_, rtol=0, atol=1e-6)
        assert abs(result.surrogate["intercept"][row] - ridge.intercept_) < 1e-6
        assert abs(result.surrogate["r2"][row] - ridge.score(z, y, sample_weight=w)) < 1e-6
    assert result.surrogate["n_samples"] == [300] * 4 and np.allclose(result.base, result.surrogate["intercept"])


def test_least_squares_and_top_k_selection_equal_numpy_and_lime_procedure(cancer, cancer_train):
    x = cancer.inputs[:3].double()
    exact = Lime(margin_of(cancer.model), background=cancer_train[0], n_samples=200, alpha=0.0).explain(x)
    chosen = Lime(margin_of(cancer.model), background=cancer_train[0], n_samples=200, n_features=5).explain(x)
    plain = Lime(margin_of(cancer.model), background=cancer_train[0], n_samples=200)
    hood = plain.neighbourhood(game_for(plain, x))
    for row in range(len(x)):
        z, y, w = (t[row].numpy() for t in (hood.representation, hood.scores, hood.weights))
        # weighted least squares with an intercept, by numpy on the sqrt-weighted design
        design = np.c_[np.ones(len(z)), z] * np.sqrt(w)[:, None]
        solution = np.linalg.lstsq(design, y * np.sqrt(w), rcond=None)[0]
        np.testing.assert_allclose(exact.values[row], solution[1:], rtol=0, atol=1e-6)
        # lime's "highest weights": ridge(0.01) on all, top 5 by |coef * first sample|, ridge(1) refit on them
        first = Ridge(alpha=0.01).fit(z, y, sample_weight=w).coef_
        top = np.sort(np.argsort(-np.abs(first * z[0]))[:5])
        refit = Ridge(alpha=1.0).fit(z[:, top], y, sample_weight=w).coef_
        assert np.flatnonzero(chosen.values[row]).tolist() == top.tolist()
        np.testing.assert_allclose(chosen.values[row, top], refit, rtol=0, atol=1e-6)


def test_batched_ridge_handles_padding_features_and_rank_deficiency():
    generator = torch_generator(1)
    x = torch.randint(0, 2, (2, 30, 4), generator=generator).double()
    y = torch.randn(2, 30, generator=generator, dtype=torch.float64)
    w = torch.rand(2, 30, generator=generator, dtype=torch.float64)
    active = torch.tensor([[True, True, True, False], [True, True, True, True]])
    fit = weighted_ridge(x, y, w, alpha=0.5, active=active)
    alone = Ridge(alpha=0.5).fit(x[0, :, :3].numpy(), y[0].numpy(), sample_weight=w[0].numpy())
    np.testing.assert_allclose(fit.coef[0].numpy(), np.r_[alone.coef_, 0.0], atol=1e-10)
    twin = torch.cat([x[1:, :, :2], x[1:, :, :2]], -1)  # duplicated columns: least squares takes the minimum norm
    lstsq = weighted_ridge(twin, y[1:], w[1:], alpha=0.0).coef[0]
    np.testing.assert_allclose(lstsq[:2].numpy(), lstsq[2:].numpy(), atol=1e-8)


# --- exact recovery on models whose answer is known ---------------------------------------------
def test_recovers_linear_weights_exactly_and_their_ranking():
    weights = np.array([8.0, -4.0, 2.0, -1.0, 0.5, 0.0])
    model = lambda x: x @ weights  # noqa: E731
    background = np.random.default_rng(0).normal(size=(400, 6)) * np.array([1, 1, 1, 1.5, 1, 1])
    x = np.random.default_rng(1).normal(size=(5, 6))
    # continuous sampling: the samples are linear in their standardised values, so least squares is exact
    continuous = Lime(model, background=background, discretize_continuous=False, alpha=0.0, n_samples=100).explain(x)
    np.testing.assert_allclose(continuous.values, np.tile(weights * background.std(0), (5, 1)), atol=1e-9)
    # coalitions of features replaced by 0: coefficient j is w_j * x_j
    masked = Lime(model, masker=TabularMasker(fill=0.0), alpha=0.0, n_samples=100).explain(x)
    np.testing.assert_allclose(masked.values, weights * x, atol=1e-9)
    # lime's default (quartile bins, ridge) keeps only "same quartile as x or not": noisy (R^2 ~ 0.05
    # here), yet the two strongest weights come first, with the sign of the bin (x is just below the median)
    binned = Lime(model, background=background, n_samples=5000).explain(np.median(background, 0, keepdims=True) - 0.01)
    assert np.argsort(-np.abs(binned.values[0]))[:2].tolist() == [0, 1]
    assert np.sign(binned.values[0, :2]).tolist() == [-1.0, 1.0]


def test_top5_agreement_with_the_lime_package(cancer, cancer_train):
    lime_tabular = pytest.importorskip("lime.lime_tabular")
    rows = cancer.inputs[:10].double().numpy()
    margin = margin_of(cancer.model)
    ours = Lime(margin, background=cancer_train[0], n_samples=5000, n_features=5).explain(rows)
    theirs = lime_tabular.LimeTabularExplainer(cancer_train[0], mode="regression", discretize_continuous=True,
                                               feature_selection="highest_weights", random_state=0)
    agreement = []
    for row, values in zip(rows, ours.values):
        explanation = theirs.explain_instance(row, margin, num_features=5, num_samples=5000)
        agreement.append(len({f for f, _ in explanation.local_exp[1]} & set(np.flatnonzero(values).tolist())))
    print(f"top-5 agreement with lime (of 5), 10 breast-cancer rows: {agreement}")
    assert sum(a >= 4 for a in agreement) >= 8 and np.mean(agreement) >= 4


# --- lime_tabular's neighbourhood ---------------------------------------------------------------
def test_tabular_sampler_follows_lime_tabular(cancer_train):
    data = cancer_train[0]
    x = torch.as_tensor(data[:2])
    quartiles = LimeTabularMasker(data)
    representation, values, distances = quartiles.sample(x, 4000, torch_generator(0))
    assert torch.equal(values[:, 0], x) and bool((representation[:, 0] == 1).all()) and bool((distances[:, 0] == 0).all())
    # a feature is 1 when its bin is the row's: a quartile bin is drawn a quarter of the time
    assert abs(float(representation[:, 1:].mean()) - 0.25) < 0.01
    # values drawn in the row's bin stay inside it; distances are euclidean on the binary features
    edges = np.percentile(data, [25, 50, 75], axis=0)
    row_bin = (x.numpy()[:, None, :] > edges[None]).sum(1)
    sample_bin = (values.numpy()[:, :, None, :] > edges[None, None]).sum(2)
    same = representation.numpy() == 1
    assert np.array_equal(same, sample_bin == row_bin[:, None, :])
    np.testing.assert_allclose(distances.numpy(), np.sqrt((1 - representation.numpy()).sum(-1)), atol=1e-12)
    # continuous sampling: N(mean, std) of the training data, or centred on the row
    around_mean = LimeTabularMasker(data, discretize_continuous=False).sample(x, 20000, torch_generator(0))[1]
    np.testing.assert_allclose(around_mean[0].mean(0).numpy(), data.mean(0), atol=0.05)
    np.testing.assert_allclose(around_mean[0].std(0).numpy(), data.std(0), rtol=0.05)
    around_row = LimeTabularMasker(data, discretize_continuous=False, sample_around_instance=True).sample(
        x, 20000, torch_generator(0))[1]
    np.testing.assert_allclose(around_row[1].mean(0).numpy(), x[1].numpy(), atol=0.05)
    # deciles and the entropy discretizer (which needs labels) cut the columns differently
    deciles = LimeTabularMasker(data, discretizer="decile").sample(x, 4000, torch_generator(0))[0]
    assert abs(float(deciles[:, 1:].mean()) - 0.1) < 0.01
    entropy = LimeTabularMasker(data, discretizer="entropy", training_labels=cancer_train[1])
    assert int(entropy.bins.n_bins.max()) <= 8 and bool((entropy.bins.n_bins >= 2).all())


def test_rows_share_lime_tabular_samples_which_do_not_depend_on_the_row(cancer, cancer_train):
    """lime_tabular draws from the training data, not around the row: the rows of one call share one
    draw (the model sees n + rows inputs, not n x rows), each row's answer is the one it gets alone,
    and its neighbourhood is lime's: bins drawn with the training frequencies. Drawn around the
    row, or with shared_samples=False, every row draws its own."""
    x, calls = cancer.inputs[:6].double(), []

    def counted(batch):
        calls.append(len(batch))
        return margin_of(cancer.model)(batch)

    shared = Lime(counted, background=cancer_train[0], n_samples=400, seed=3)
    together = shared.explain(x, target=0)
    assert sum(calls) - len(x) == 399 + len(x)  # the target check's row, the shared draws, then each row
    alone = np.concatenate([shared.explain(x[i : i + 1], target=0).values for i in range(len(x))])
    np.testing.assert_allclose(alone, together.values, rtol=0, atol=1e-6 * np.abs(together.values).max())  # float32 sums
    hood = shared.neighbourhood(game_for(shared, x, target=0))
    same_bin = hood.representation[:, 1:]  # one draw seen from every row: each bin the row's a quarter of the time
    assert abs(float(same_bin.mean()) - 0.25) < 0.02 and not torch.equal(same_bin[0], same_bin[1])
    for settings in ({"shared_samples": False}, {"discretize_continuous": False, "sample_around_instance": True}):
        calls.clear()
        Lime(counted, background=cancer_train[0], n_samples=400, seed=3, **settings).explain(x, target=0)
        assert sum(calls) - len(x) == 400 * len(x)


def test_categorical_columns_draw_training_values():
    data = np.c_[np.repeat([0.0, 1.0, 2.0], [10, 30, 60]), np.linspace(0, 1, 100)]
    masker = LimeTabularMasker(data, categorical_features=[0], discretize_continuous=False)
    representation, values, _ = masker.sample(torch.tensor([[1.0, 0.5]]), 5000, torch_generator(0))
    drawn = values[0, 1:, 0].numpy()
    assert set(np.unique(drawn)) == {0.0, 1.0, 2.0} and abs((drawn == 2.0).mean() - 0.6) < 0.03
    assert np.array_equal(representation[0, 1:, 0].numpy(), (drawn == 1.0).astype(float))


# --- images and text ----------------------------------------------------------------------------
def test_image_lime_recovers_an_additive_model_and_follows_the_cnn(digits):
    x = digits.inputs[:4].double()  # a black box answers in its inputs' dtype: float64 keeps the sums exact
    weights = torch.rand(1, 32, 32, generator=torch_generator(0), dtype=torch.float64).numpy()
    additive = lambda b: (b * weights).sum((1, 2, 3))  # noqa: E731  each superpixel adds its weighted pixels
    masker = ImageMasker(fill=0.0)  # SLIC superpixels
    result = Lime(additive, masker=masker, n_samples=300, alpha=0.0).explain(x)
    segments = torch.as_tensor(result.segments)
    expected = torch.zeros(4, result.values.shape[1], dtype=torch.float64).scatter_add_(
        1, segments.flatten(1), (x[:, 0].double() * torch.as_tensor(weights)).flatten(1))
    np.testing.assert_allclose(result.values, expected.numpy(), atol=1e-6)
    assert result.layout == "image" and result.surrogate["kernel_width"] == 0.25
    # the CNN: LIME's ranking of grid cells follows the score drop of removing each cell alone
    grid = ImageMasker(segmentation="grid", grid=(4, 4), fill=0.0)
    lime = Lime(digits.model, masker=grid, n_samples=500).explain(x)
    ablation = FeatureAblation(digits.model, masker=grid).explain(x)
    from scipy.stats import spearmanr

    correlations = [spearmanr(a, b)[0] for a, b in zip(lime.values, ablation.values)]
    assert np.mean(correlations) > 0.5 and min(lime.surrogate["r2"]) > 0.3


def test_text_lime_ranks_the_deciding_word_first():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    good = ["the food was excellent", "an excellent film", "excellent service and a nice view", "the book is excellent",
            "excellent choice of music", "what an excellent day"]
    bad = ["the food was cold", "a boring film", "slow service and a grey view", "the book is long",
           "odd choice of music", "what a day"]
    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression(C=100)).fit(good + bad, [1] * 6 + [0] * 6)
    texts = ["the service was excellent but the room was small and the view grey",
             "a long film with excellent music and a dull plot"]
    result = Lime(pipeline, n_samples=500).explain(texts, target=1)
    for row in range(2):
        words = result.names_of(row)
        assert words[int(np.argmax(result.values[row]))] == "excellent"
        assert int(np.argmax(np.abs(result.values[row]))) == int(np.argmax(result.values[row]))
    assert result.surrogate["kernel_width"] == 25.0 and result.layout == "text"


def test_coalitions_remove_a_uniform_number_of_features():
    keep = draw_coalitions(torch.tensor([5, 3]), 6000, 5, torch_generator(0))
    removed = (~keep[:, 1:]).sum(-1)
    assert bool(keep[:, 0].all()) and bool(keep[1, :, 3:].all())  # the row itself; padding never removed
    for row, count in enumerate((5, 3)):
        frequency = np.bincount(removed[row].numpy(), minlength=count + 1)[1:] / removed.shape[1]
        np.testing.assert_allclose(frequency, 1 / count, atol=0.02)
    bernoulli = draw_coalitions(torch.tensor([5]), 6000, 5, torch_generator(0), "bernoulli")
    assert abs(float((~bernoulli[:, 1:]).double().mean()) - 0.5) < 0.01


# --- stability rounds ---------------------------------------------------------------------------
def test_until_stable_stops_clear_rows_early_and_counts_their_samples():
    weights = np.array([8.0, 4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    calls = []

    def model(x):
        calls.append(len(x))
        return x @ weights

    x = np.array([[1.0] * 8, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]])  # row 2: five tied features, no clear top 2
    lime = Lime(model, masker=TabularMasker(fill=0.0), n_samples=50, until_stable=True, top_k=2, max_samples=500)
    result = lime.explain(x)
    counts = result.surrogate["n_samples"]
    assert counts[0] == 100 < 500  # top-2 {0, 1} clear after the second round
    assert counts[1] % 50 == 0 and 100 <= counts[1] <= 500
    assert sum(calls) - len(x) == sum(counts)  # one model input per sample drawn, none for stopped rows
    assert set(np.argsort(-np.abs(result.values[0]))[:2]) == {0, 1}


def test_surrogate_record_is_per_row_and_survives_saving(tmp_path, cancer, cancer_train):
    result = Lime(cancer.model, background=cancer_train[0], n_samples=100).explain(cancer.inputs[:3], target=1)
    assert set(result.surrogate) == {"intercept", "r2", "local_prediction", "n_samples", "kernel_width"}
    assert result.surrogate["kernel_width"] == pytest.approx(0.75 * np.sqrt(30))
    loaded = unboxed.load(result.save(tmp_path / "lime"))
    assert loaded.surrogate == result.surrogate
    assert result[1:].surrogate["r2"] == result.surrogate["r2"][1:]


# --- seeds, chunking, registry, errors ----------------------------------------------------------
def test_same_seed_same_result_whatever_the_batch_size(cancer, cancer_train):
    x = cancer.inputs[:4]
    for settings in ({"background": cancer_train[0]}, {"masker": TabularMasker(cancer_train[0][:10])}):
        whole = Lime(cancer.model, n_samples=200, **settings)
        chunked = Lime(unboxed.adapt(cancer.model, batch_size=97), n_samples=200, **settings)
        # the same samples, bit for bit; the model's float32 sums may round differently in other batch sizes
        first, second = whole.neighbourhood(game_for(whole, x)), chunked.neighbourhood(game_for(chunked, x))
        assert torch.equal(first.representation, second.representation) and torch.equal(first.weights, second.weights)
        values = whole.explain(x).values
        np.testing.assert_allclose(chunked.explain(x).values, values, rtol=0, atol=1e-5 * np.abs(values).max())
        other_seed = Lime(cancer.model, n_samples=200, seed=1, **settings).explain(x)
        assert np.abs(other_seed.values - values).max() > 1e-3
    info = unboxed.get_method("lime").info
    assert (info.engagement.value, info.format.value, info.scope.value, info.access.value) == (
        "passive", "attribution", "local", "black-box")


@pytest.mark.parametrize("settings, message", [
    ({"kernel_width": 0.0}, "kernel_width"), ({"kernel_width": -1.0}, "kernel_width"),
    ({"n_samples": 1}, "n_samples"), ({"alpha": -1.0}, "alpha"), ({"n_features": 0}, "n_features"),
    ({"coalitions": "all"}, "coalitions"), ({"discretizer": "tertile"}, "discretizer"),
    ({"discretizer": "entropy"}, "training_labels"), ({"categorical_features": [40]}, "categorical_features"),
    ({"until_stable": True, "n_samples": 100, "max_samples": 150}, "max_samples"), ({"top_k": 0}, "top_k"),
])
def test_bad_settings_raise_clear_errors(settings, message):
    with pytest.raises(InputError, match=message):
        Lime(lambda x: x.sum(1), background=np.zeros((5, 3)), **settings)


def test_bad_inputs_raise_clear_errors():
    lime = Lime(lambda x: x.sum(1), background=np.random.default_rng(0).normal(size=(20, 3)))
    with pytest.raises(InputError, match="3 columns"):
        lime.explain(np.zeros((2, 4)))
    with pytest.raises(InputError, match="background"):
        Lime(lambda x: x.sum(1)).explain(np.zeros((2, 3)))
    with pytest.raises(InputError, match="cannot remove features"):
        FeatureAblation(lambda x: x.sum(1), masker=lime.masker).explain(np.zeros((1, 3)))
    with pytest.raises(InputError, match="non-finite"), np.errstate(invalid="ignore"):
        Lime(lambda x: np.log(x[:, 0] - 100), background=np.zeros((5, 3))).explain(np.full((1, 3), 200.0))

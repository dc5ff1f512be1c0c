"""A model that wants category names: tables reach explanation methods as numbers (category codes), but a
scikit-learn pipeline trained on a DataFrame (OneHotEncoder on strings) wants the names back."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..dataset import Dataset
from ..model import adapt


class NamedCategories:
    """`f(codes) -> scores`: rebuilds the DataFrame the model was trained on (category columns as their
    names, the rest as numbers, the data's column names) and calls the model's scoring method.

    >>> class Shout:  # stands in for a pipeline that only takes names
    ...     def fit(self): ...
    ...     def predict_proba(self, frame): return np.c_[frame["size"].eq("big"), frame["size"].eq("small")].astype(float)
    >>> wrapped = NamedCategories(Shout(), ["size", "weight"], {"size": ["big", "small"]})
    >>> wrapped(np.array([[1.0, 3.5], [0.0, 2.0]])).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """

    def __init__(self, model: Any, columns: list[str], categories: dict[str, list[str]]):
        self.model, self.columns, self.categories = model, list(columns), dict(categories)
        self.score = next(getattr(model, m) for m in ("predict_proba", "decision_function", "predict") if hasattr(model, m))

    def frame(self, codes: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(np.asarray(codes, dtype=np.float64), columns=self.columns)
        for column, names in self.categories.items():
            index = np.clip(np.rint(frame[column].to_numpy()), 0, len(names) - 1).astype(int)
            frame[column] = np.asarray(names, dtype=object)[index]
        return frame

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(self.score(self.frame(codes)))


def with_named_categories(model: Any, data: Dataset) -> tuple[Any, str | None]:
    """`model` as it is when it runs on the data's category codes; wrapped in `NamedCategories` when
    it is a black box that fails on codes but runs on the names. Returns (model, a note or None)."""
    if not data.categories or data.layout != "tabular" or adapt(model).has_gradients or data.feature_names is None:
        return model, None
    probe = data.inputs[:2].numpy()
    try:
        adapt(model).outputs(data.inputs[:2])
        return model, None
    except Exception:  # noqa: BLE001 - any failure on codes: try the names
        pass
    wrapped = NamedCategories(model, data.feature_names, data.categories)
    try:
        wrapped(probe)
    except Exception:  # noqa: BLE001 - neither works: let the usual check report the failure on codes
        return model, None
    return wrapped, (f"the model takes the categorical columns ({', '.join(data.categories)}) by name: the "
                     "explanations still remove and vary them as categories")
